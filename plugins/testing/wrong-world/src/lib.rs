//! Test fixture: a valid component of an unrelated package and world
//! (`sluice-test:wrong-world/greeter`, exporting `greet`). The host must refuse
//! it as a source or a transform, naming what it expected.

// Generated ABI glue: raw pointers into linear memory, `export_name` symbols.
#![allow(unsafe_code)]

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({ world: "greeter", path: "wit" });
}

struct Greeter;

impl bindings::Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

bindings::export!(Greeter with_types_in bindings);
