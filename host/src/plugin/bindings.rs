//! Generated bindings for the two plugin worlds. Private: the rest of the host
//! uses the small API in the parent module.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "transform",
});

/// The source world shares the `types` and `log` interfaces generated above.
pub mod source_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "source",
        with: {
            "sluice:plugin/types": super::sluice::plugin::types,
            "sluice:plugin/log": super::sluice::plugin::log,
        },
    });
}

pub use exports::sluice::plugin::transformer::{
    FailureKind as WitFailureKind, Transformed as WitTransformed,
};
pub use sluice::plugin::log;
pub use sluice::plugin::types::{
    Batch as WitBatch, CallError as WitCallError, ConfigError as WitConfigError,
};
pub use source_world::exports::sluice::plugin::source_plugin::Polled as WitPolled;
pub use source_world::{Source as SourceBindings, SourcePre};
