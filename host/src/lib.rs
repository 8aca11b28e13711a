//! Sluice: declarative data pipelines into Kafka, with WebAssembly component
//! plugins for sources and transforms.
//!
//! The modules follow the data: [`spec`] files describe what to run,
//! [`plugin`] runs the components, [`record`] is what flows between them (the
//! contract's batches), [`run`] drives source → transforms → sink, [`sink`]
//! produces to Kafka and tracks acknowledgements, and [`position`] keeps the
//! last acknowledged source position.

pub mod cli;
pub mod events;
pub mod plugin;
pub mod position;
pub mod record;
pub mod reload;
pub mod run;
pub mod sink;
pub mod spec;
