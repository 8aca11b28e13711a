//! Write Sluice plugins in Rust against plain records.
//!
//! Sluice plugins are WebAssembly components built against the WIT package
//! `sluice:plugin@0.2.0`. Batches cross the boundary as one byte arena plus
//! flat lists of `u32` words, which is cheap but unpleasant to program
//! against. This crate hides the words:
//!
//! - a transform implements [`Transform`]: it gets one [`RecordRef`] at a time
//!   (zero-copy `key()`, `value()`, `headers()`, …) and appends its outputs to
//!   an [`Emitter`]; the SDK assembles the per-input emitted counts and the
//!   `reject`/`retry` failures;
//! - a source implements [`Source`]: it appends records to a [`BatchBuilder`]
//!   and returns a [`PollResult`] with its opaque position, and may learn in
//!   [`Source::committed`] which position the host stored;
//! - both read their configuration through [`Config`]'s typed getters, and
//!   unknown keys are refused by name after `open`;
//! - [`export_transform!`] / [`export_source!`] export the type as the
//!   component's world.
//!
//! ```
//! use sluice_plugin::{Config, ConfigError, Emitter, Outcome, RecordRef, Transform};
//!
//! /// Drops records without a key; passes the rest through unchanged.
//! struct RequireKey;
//!
//! impl Transform for RequireKey {
//!     fn open(_config: &Config) -> Result<Self, ConfigError> {
//!         Ok(RequireKey) // no keys accepted: any key is refused by name
//!     }
//!
//!     fn process(&mut self, record: RecordRef<'_>, out: &mut Emitter) -> Outcome {
//!         if record.key().is_some() {
//!             let _ = out.push_ref(&record);
//!         }
//!         Outcome::Emit // zero or one output
//!     }
//! }
//!
//! sluice_plugin::export_transform!(RequireKey);
//! # fn main() {}
//! ```
//!
//! A plugin crate is a `cdylib` built for `wasm32-wasip2`; the result is a
//! component. Everything but the export glue also builds natively, so plugin
//! logic is unit-tested with `cargo test --target x86_64-unknown-linux-gnu`
//! (see [`transform::run_batch`] and [`source::run_poll`]).
//!
//! Panics: the wasm32-wasip2 standard library aborts on panic, which the host
//! sees as a trap (it discards the instance and applies the pipeline's error
//! policy). Return [`Outcome::Reject`], [`ConfigError`] or [`CallError`] for
//! anything a record or a configuration can cause.

pub mod batch;
#[doc(hidden)]
pub mod bindings;
pub mod config;
#[cfg(feature = "json")]
pub mod json;
pub mod log;
pub mod source;
pub mod transform;

use std::fmt;

pub use batch::{
    ArenaWriter, Batch, BatchBuilder, HeaderEntry, Headers, RecordBuilder, RecordEntry, RecordRef,
    Span,
};
pub use config::{Config, ConfigError};
pub use source::{PollResult, Source};
pub use transform::{Emitter, Outcome, Transform};

/// A failure of a whole call, not of one record (WIT `types.call-error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// A passing failure (a dependency unavailable, say): the host retries the
    /// same call later with bounded backoff.
    Retryable(String),
    /// The plugin cannot go on; the pipeline's error policy decides.
    Fatal(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Retryable(m) => write!(f, "retryable: {m}"),
            CallError::Fatal(m) => write!(f, "fatal: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

/// Exports a [`Transform`] implementation as the component's `transform` world.
///
/// Use once, at the root of a `cdylib` crate: `export_transform!(MyTransform);`
#[macro_export]
macro_rules! export_transform {
    ($plugin:ty) => {
        // The ABI glue wit-bindgen generates is `unsafe` (raw linear memory).
        #[allow(unsafe_code)]
        const _: () = {
            struct SluiceTransformExport;

            ::std::thread_local! {
                // Global because the world exports free functions: one
                // component instance (one host Store) is one plugin instance,
                // and this slot is its state. wasm32-wasip2 is single-threaded.
                static INSTANCE: $crate::__private::Slot<$plugin> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            impl $crate::__private::TransformGuest for SluiceTransformExport {
                fn open(
                    config: $crate::__private::WireConfig,
                ) -> ::core::result::Result<(), $crate::ConfigError> {
                    INSTANCE.with(|slot| $crate::__private::transform_open(slot, config))
                }

                fn process(
                    input: $crate::Batch,
                ) -> ::core::result::Result<$crate::transform::wire::Transformed, $crate::CallError>
                {
                    INSTANCE.with(|slot| $crate::__private::transform_process(slot, input))
                }
            }

            $crate::__private::bindings::transform::export_transform_world!(
                SluiceTransformExport with_types_in $crate::__private::bindings::transform
            );
        };
    };
}

/// Exports a [`Source`] implementation as the component's `source` world.
///
/// Use once, at the root of a `cdylib` crate: `export_source!(MySource);`
#[macro_export]
macro_rules! export_source {
    ($plugin:ty) => {
        // The ABI glue wit-bindgen generates is `unsafe` (raw linear memory).
        #[allow(unsafe_code)]
        const _: () = {
            struct SluiceSourceExport;

            ::std::thread_local! {
                // Global because the world exports free functions: one
                // component instance (one host Store) is one plugin instance,
                // and this slot is its state. wasm32-wasip2 is single-threaded.
                static INSTANCE: $crate::__private::Slot<$plugin> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            impl $crate::__private::SourceGuest for SluiceSourceExport {
                fn open(
                    config: $crate::__private::WireConfig,
                    resume: ::core::option::Option<::std::vec::Vec<u8>>,
                ) -> ::core::result::Result<(), $crate::ConfigError> {
                    INSTANCE.with(|slot| $crate::__private::source_open(slot, config, resume))
                }

                fn poll(
                    max_records: u32,
                ) -> ::core::result::Result<$crate::source::wire::Polled, $crate::CallError>
                {
                    INSTANCE.with(|slot| $crate::__private::source_poll(slot, max_records))
                }

                fn committed(
                    position: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<(), $crate::CallError> {
                    INSTANCE.with(|slot| $crate::__private::source_committed(slot, &position))
                }
            }

            $crate::__private::bindings::source::export_source_world!(
                SluiceSourceExport with_types_in $crate::__private::bindings::source
            );
        };
    };
}

/// What the export macros expand against. Not a stable API.
#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;

    pub use crate::bindings;
    pub use crate::bindings::source::exports::sluice::plugin::source_plugin::Guest as SourceGuest;
    pub use crate::bindings::transform::exports::sluice::plugin::transformer::Guest as TransformGuest;
    use crate::{Batch, CallError, Config, ConfigError, Source, Transform};

    /// The contract's `config` type.
    pub type WireConfig = Vec<(String, String)>;

    /// The plugin instance, set by a successful `open`.
    pub type Slot<T> = RefCell<Option<T>>;

    const NOT_OPEN: &str = "called before a successful open";

    /// Builds the [`Config`], opens the plugin, refuses unread keys.
    fn open_with<T>(
        slot: &Slot<T>,
        config: WireConfig,
        open: impl FnOnce(&Config) -> Result<T, ConfigError>,
    ) -> Result<(), ConfigError> {
        *slot.borrow_mut() = None;
        let config = Config::new(config)?;
        let plugin = open(&config)?;
        config.finish()?;
        *slot.borrow_mut() = Some(plugin);
        Ok(())
    }

    pub fn transform_open<T: Transform>(
        slot: &Slot<T>,
        config: WireConfig,
    ) -> Result<(), ConfigError> {
        open_with(slot, config, T::open)
    }

    pub fn transform_process<T: Transform>(
        slot: &Slot<T>,
        input: Batch,
    ) -> Result<crate::transform::wire::Transformed, CallError> {
        let mut guard = slot.borrow_mut();
        let plugin = guard
            .as_mut()
            .ok_or_else(|| CallError::Fatal(format!("process {NOT_OPEN}")))?;
        let inputs = input.len();
        let done = plugin.process_batch(input)?;
        if done.emitted.len() != inputs {
            return Err(CallError::Fatal(format!(
                "plugin returned {} emitted counts for {inputs} input records",
                done.emitted.len()
            )));
        }
        Ok(done)
    }

    pub fn source_open<S: Source>(
        slot: &Slot<S>,
        config: WireConfig,
        resume: Option<Vec<u8>>,
    ) -> Result<(), ConfigError> {
        open_with(slot, config, |config| S::open(config, resume.as_deref()))
    }

    pub fn source_poll<S: Source>(
        slot: &Slot<S>,
        max_records: u32,
    ) -> Result<crate::source::wire::Polled, CallError> {
        let mut guard = slot.borrow_mut();
        let source = guard
            .as_mut()
            .ok_or_else(|| CallError::Fatal(format!("poll {NOT_OPEN}")))?;
        crate::source::run_poll(source, max_records)
    }

    pub fn source_committed<S: Source>(slot: &Slot<S>, position: &[u8]) -> Result<(), CallError> {
        let mut guard = slot.borrow_mut();
        let source = guard
            .as_mut()
            .ok_or_else(|| CallError::Fatal(format!("committed {NOT_OPEN}")))?;
        source.committed(position)
    }
}
