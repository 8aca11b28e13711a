//! Benchmark fixture: passthrough in the plain `list<plain-record>` shape
//! (`sluice:bench/list-transform`), to compare with `passthrough` in the arena
//! shape. Returns its input as is: every cost measured is the boundary's.

// Generated ABI glue: raw pointers into linear memory, `export_name` symbols.
#![allow(unsafe_code)]

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({ world: "list-transform", path: "../bench-wit" });
}

use bindings::PlainRecord;

struct ListPassthrough;

impl bindings::Guest for ListPassthrough {
    fn process(input: Vec<PlainRecord>) -> Vec<PlainRecord> {
        input
    }
}

bindings::export!(ListPassthrough with_types_in bindings);
