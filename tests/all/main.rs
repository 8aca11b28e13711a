//! Sluice's integration tests: one binary, one module per area, shared helpers
//! in `common/` (wasmtime's `tests/all` layout).
//!
//! Needs the plugins built (`make plugins`) and the `sluice` binary
//! (`cargo build -p sluice`); `make test` does both, and starts real Kafka
//! for the modules that need it.

// Tests may unwrap: a failed unwrap is a failed test with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod crash;
mod edges;
mod error_policy;
mod faults;
mod file_tail;
mod hostile;
mod ingest;
mod kafka_durability;
mod kafka_group;
mod kafka_single;
pub(crate) mod kafka_source;
mod languages;
mod pipeline_files;
mod plugins;
mod positions_topic;
mod quickstart;
pub(crate) mod reload;
mod sidecar;
