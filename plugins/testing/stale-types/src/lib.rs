//! Test fixture: a transform built against an unreleased draft of the
//! contract: `wit/` here has the current package name and version
//! (`sluice:plugin@0.2.0`) but the types of the first draft, before batch
//! entries became flat words. Its interface names match and its items do
//! not; the host must refuse it at load with a message that says so.

// Generated ABI glue: raw pointers into linear memory, `export_name` symbols.
#![allow(unsafe_code)]

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({ world: "transform", path: "wit" });
}

use bindings::exports::sluice::plugin::transformer::{Guest, Transformed};
use bindings::sluice::plugin::types::{Batch, CallError, Config, ConfigError};

struct Stale;

impl Guest for Stale {
    fn open(_config: Config) -> Result<(), ConfigError> {
        Ok(())
    }

    fn process(_input: Batch) -> Result<Transformed, CallError> {
        Err(CallError::Fatal(
            "never called: the host refuses this component".into(),
        ))
    }
}

bindings::export!(Stale with_types_in bindings);
