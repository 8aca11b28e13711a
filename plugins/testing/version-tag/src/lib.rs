//! Test fixture: passes records through with a header `version`. Built with
//! `VERSION_TAG=v1` (or `v2`) in the environment, it stamps that tag and
//! ignores its config, so two builds are two versions of one plugin (the
//! hot-reload tests swap them); built without, it stamps the configured
//! `version` (required).

use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};

/// Tags every record with its configured version.
pub struct VersionTag {
    version: String,
}

impl Transform for VersionTag {
    fn open(config: &Config) -> Result<Self, ConfigError> {
        let configured = config.required_str("version")?;
        Ok(VersionTag {
            version: option_env!("VERSION_TAG").unwrap_or(configured).to_owned(),
        })
    }

    fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
        out.push_ref(&record)
            .header("version", self.version.as_bytes());
        Outcome::Emit
    }
}

sluice_plugin::export_transform!(VersionTag);
