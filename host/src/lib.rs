//! Sluice: declarative data pipelines into Kafka, with WebAssembly component
//! plugins for sources and transforms.
//!
//! The modules follow the data: [`spec`] files describe what to run,
//! [`plugin`] runs the components, [`run`] drives source → transforms → sink,
//! [`sink`] produces to Kafka and tracks acknowledgements, and [`position`]
//! keeps the last acknowledged source position. [`telemetry`] turns the
//! [`events`] stream into metrics, status and readiness, which [`http`]
//! serves to Kubernetes and Prometheus.

pub mod cli;
pub mod events;
pub mod http;
pub mod plugin;
pub mod position;
pub mod reload;
pub mod run;
pub mod sink;
pub mod spec;
pub mod telemetry;
