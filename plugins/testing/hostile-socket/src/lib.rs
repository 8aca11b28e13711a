//! Test fixture: tries `std::net::TcpStream::connect("127.0.0.1:9")` for every
//! record and rejects the record with what happened: the error text when the
//! host denies the network (the default), or `connected` if it got through.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Tries the network on every record.
pub struct HostileSocket;

impl Transform for HostileSocket {
    fn open(_config: &Config) -> Result<Self, ConfigError> {
        Ok(HostileSocket)
    }

    fn process(&mut self, _record: RecordRef<'_>, _out: &mut Emitter) -> Outcome {
        match std::net::TcpStream::connect("127.0.0.1:9") {
            Err(e) => Outcome::reject(format!("127.0.0.1:9: {e}")),
            Ok(_) => Outcome::reject("127.0.0.1:9: connected"),
        }
    }
}

sluice_plugin::export_transform!(HostileSocket);
