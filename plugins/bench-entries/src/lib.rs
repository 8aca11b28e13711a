//! Benchmark fixture (`sluice:bench/entries`): echoes a batch's arena and
//! record entries in three shapes (flat words, typed scalar entries, entries
//! with options), so the host's boundary benchmark can time the crossing
//! alone for each.

// Generated ABI glue: raw pointers into linear memory, `export_name` symbols.
#![allow(unsafe_code)]

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({ world: "entries", path: "../bench-wit" });
}

use bindings::{OptionalEntry, TypedEntry};

struct Echo;

impl bindings::Guest for Echo {
    fn echo_words(arena: Vec<u8>, records: Vec<u32>) -> (Vec<u8>, Vec<u32>) {
        (arena, records)
    }

    fn echo_typed(arena: Vec<u8>, records: Vec<TypedEntry>) -> (Vec<u8>, Vec<TypedEntry>) {
        (arena, records)
    }

    fn echo_optional(arena: Vec<u8>, records: Vec<OptionalEntry>) -> (Vec<u8>, Vec<OptionalEntry>) {
        (arena, records)
    }
}

bindings::export!(Echo with_types_in bindings);
