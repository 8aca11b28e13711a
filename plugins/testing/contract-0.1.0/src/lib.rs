//! Test fixture: a passthrough transform built against `sluice:plugin@0.1.0`,
//! the contract before 0.2.0 (null header values, `committed`). `wit/` here
//! is a copy of that contract, kept as it was released. A host that speaks
//! 0.2.0 must refuse this component by its names, saying which version it
//! targets and how to rebuild it.

// Generated ABI glue: raw pointers into linear memory, `export_name` symbols.
#![allow(unsafe_code)]

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({ world: "transform", path: "wit" });
}

use bindings::exports::sluice::plugin::transformer::{Guest, Transformed};
use bindings::sluice::plugin::types::{Batch, CallError, Config, ConfigError};

struct Passthrough;

impl Guest for Passthrough {
    fn open(_config: Config) -> Result<(), ConfigError> {
        Ok(())
    }

    fn process(input: Batch) -> Result<Transformed, CallError> {
        let inputs = input.records.len() / 12;
        Ok(Transformed {
            emitted: vec![1; inputs],
            failures: Vec::new(),
            output: input,
        })
    }
}

bindings::export!(Passthrough with_types_in bindings);
