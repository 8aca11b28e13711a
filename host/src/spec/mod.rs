//! Pipeline files: the declarative description of source → transforms → sink.
//!
//! Reading is pure and reports every problem at once with file:line:column;
//! building (loading plugins, reaching Kafka) happens elsewhere.

mod error;
mod guarantee;
mod interpolate;
mod load;
mod schema;

pub use error::{FileError, FileErrors};
pub use guarantee::{Guarantee, guarantee};
pub use interpolate::{InterpolationError, interpolate};
pub use load::{Pipeline, PluginRef, expand_paths, load_all, load_file};
pub use schema::{
    Acks, ConfigValue, DeadLetterSpec, DirGrantSpec, DirModeSpec, ErrorPolicy, GrantsSpec,
    KafkaSinkSpec, LimitsSpec, PipelineSpec, PluginSpec, PositionsSpec, SinkSpec,
};
