//! Test fixture: passes records through with a header `version` = the
//! configured `version` (required). Hot-reload tests build it once and load it
//! with two configs, or copy it under two names, to see which one ran.

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Tags every record with its configured version.
pub struct VersionTag {
    version: String,
}

impl Transform for VersionTag {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        Ok(VersionTag {
            version: config.required_str("version")?.to_owned(),
        })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        out.push_ref(&record)
            .header("version", self.version.as_bytes());
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(VersionTag);
