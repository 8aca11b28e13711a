//! Benchmark fixture: the `mask` rule in the plain `list<plain-record>` shape
//! (`sluice:bench/list-transform`), to compare with `mask` in the arena shape.
//!
//! The list world has no `open`, so the configuration is fixed: field `email`,
//! replacement `***` (what `mask` does with `field: email`). The shape has no
//! per-record outcome either: a value that is not a JSON object, or has no
//! `email`, or is null, is returned unchanged.

// Generated ABI glue: raw pointers into linear memory, `export_name` symbols.
#![allow(unsafe_code)]

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({ world: "list-transform", path: "../bench-wit" });
}

#[path = "../../mask/src/masking.rs"]
mod masking;

use bindings::PlainRecord;
use masking::{Masked, Masker};

/// The masked field.
const FIELD: &str = "email";
/// What replaces it.
const REPLACEMENT: &str = "***";

struct ListMask;

impl bindings::Guest for ListMask {
    fn process(mut input: Vec<PlainRecord>) -> Vec<PlainRecord> {
        let mut masker = Masker::new(FIELD, REPLACEMENT);
        for record in &mut input {
            if let Some(value) = &mut record.value {
                let mut bytes = Vec::new();
                let rewritten = match masker.mask(value) {
                    Ok(Masked::Unchanged) | Err(_) => false,
                    Ok(masked) => masker.write(&masked, &mut bytes).is_ok(),
                };
                if rewritten {
                    *value = bytes;
                }
            }
        }
        input
    }
}

bindings::export!(ListMask with_types_in bindings);
