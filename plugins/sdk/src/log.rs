//! Logging into the host's structured log (WIT `sluice:plugin/log`).
//!
//! The host adds pipeline, stage and plugin names to every line. Never log
//! configuration values: they may be secrets.
//!
//! Outside WebAssembly (native unit tests) lines go to stderr instead.

pub use crate::bindings::transform::sluice::plugin::log::Level;

/// Writes `message` at `level`.
pub fn emit(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::transform::sluice::plugin::log::emit(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Fine detail, off by default in the host.
pub fn debug(message: &str) {
    emit(Level::Debug, message);
}

/// Normal operation.
pub fn info(message: &str) {
    emit(Level::Info, message);
}

/// Something unexpected that the plugin handled.
pub fn warn(message: &str) {
    emit(Level::Warn, message);
}

/// Something failed.
pub fn error(message: &str) {
    emit(Level::Error, message);
}
