//! Sluice: declarative data pipelines into Kafka, with WebAssembly component
//! plugins for sources and transforms.
//!
//! The modules follow the data: [`spec`] reads pipeline files, [`plugin`]
//! runs the components, [`record`] is what flows between them (the
//! contract's batches), [`flow`] drives one pipeline's source → transforms →
//! sink, [`sink`] produces to Kafka, and [`position`] turns acknowledgements
//! into committed source positions. [`supervisor`] starts, rebuilds and stops
//! flows as [`watch`] reports file changes; everything they tell the outside
//! world is an [`events`] event; [`telemetry`] turns those events into
//! metrics, status and readiness, which [`http`] serves to Kubernetes and
//! Prometheus.

pub mod cli;
pub mod events;
pub mod flow;
pub mod http;
pub mod plugin;
pub mod position;
pub mod record;
pub mod sink;
pub mod source;
pub mod spec;
pub mod supervisor;
pub mod telemetry;
pub mod watch;
