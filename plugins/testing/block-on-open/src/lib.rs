//! Test fixture: a transform whose `open` connects to `address` (config,
//! `host:port`; it must be granted in `grants.network`) and reads from it.
//! Against a listener that accepts and never writes, `open` blocks in a host
//! call that no deadline can interrupt: the case a stopping host must not
//! wait for. Records pass through unchanged.

use std::io::Read;

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Blocks in `open`, then passes records through.
pub struct BlockOnOpen;

impl Transform for BlockOnOpen {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        let address = config
            .optional_str("address")
            .ok_or_else(|| ConfigError::for_key("address", "`address` (host:port) is required"))?;
        let mut stream = std::net::TcpStream::connect(address)
            .map_err(|e| ConfigError::for_key("address", format!("{address}: {e}")))?;
        let mut byte = [0u8; 1];
        let _ = stream.read(&mut byte);
        Ok(BlockOnOpen)
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        out.push_ref(&record);
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(BlockOnOpen);
