//! The generated WIT bindings, kept in one private module.
//!
//! Both worlds are generated here. `pub_export_macro` makes wit-bindgen emit
//! only an imports-only type section in this library; the full world (with its
//! exports) is emitted where a plugin expands `export_transform!` or
//! `export_source!`, so a plugin crate becomes exactly one of the two worlds.
//!
//! The shared `types` are mapped onto the SDK's own [`crate::batch`] and error
//! types (`with:`), so both worlds and the plugin author see one set of types.

// Generated ABI glue: raw pointers into linear memory, `export_name` symbols.
#![allow(unsafe_code, missing_docs, clippy::all)]

/// Bindings of the `transform` world (and the `log` import both worlds share).
pub mod transform {
    wit_bindgen::generate!({
        world: "transform",
        path: "../../wit",
        with: {
            "sluice:plugin/types@0.2.0/batch": crate::batch::Batch,
            "sluice:plugin/types@0.2.0/config-error": crate::config::ConfigError,
            "sluice:plugin/types@0.2.0/call-error": crate::CallError,
        },
        pub_export_macro: true,
        export_macro_name: "export_transform_world",
        default_bindings_module: "sluice_plugin::__private::bindings::transform",
    });
}

/// Bindings of the `source` world.
pub mod source {
    wit_bindgen::generate!({
        world: "source",
        path: "../../wit",
        with: {
            "sluice:plugin/log@0.2.0": crate::bindings::transform::sluice::plugin::log,
            "sluice:plugin/types@0.2.0/batch": crate::batch::Batch,
            "sluice:plugin/types@0.2.0/config-error": crate::config::ConfigError,
            "sluice:plugin/types@0.2.0/call-error": crate::CallError,
        },
        pub_export_macro: true,
        export_macro_name: "export_source_world",
        default_bindings_module: "sluice_plugin::__private::bindings::source",
        // Both generate! calls live in one crate: keep their custom sections apart.
        type_section_suffix: "source",
    });
}
