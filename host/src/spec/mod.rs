//! Pipeline files: the declarative description of source → transforms → sink.
//!
//! Reading is pure and reports every problem at once with file:line:column;
//! building (loading plugins, reaching Kafka) happens elsewhere. A file is
//! parsed into a tree of located values first ([`tree`]), `${VAR}` is
//! substituted inside values, then the tree is typed into the [`schema`].

mod de;
mod error;
mod guarantee;
mod interpolate;
mod load;
mod producer;
mod read_toml;
mod read_yaml;
mod schema;
mod source;
mod topics;
mod tree;

pub use error::{FileError, FileErrors};
pub use guarantee::{Delivery, Guarantee, Loss, Rejects, guarantee};
pub use interpolate::{Interpolated, InterpolationError, interpolate};
pub use load::{
    Loaded, MAX_FILE_BYTES, Pipeline, PluginRef, SourceRef, expand_paths, load_all, load_bytes,
    load_file,
};
pub use producer::SAFE_PARTITIONERS;
pub use schema::{
    Acks, Cluster, ConfigValue, DeadLetterSpec, DirGrantSpec, DirModeSpec, ErrorPolicy, GrantsSpec,
    KafkaSinkSpec, LimitsSpec, PipelineSpec, PluginSpec, PositionsSpec, SinkSpec,
};
pub use source::{HttpSourceSpec, IngestFormat, KafkaSourceSpec, SourceSpec, StartAt};
pub use topics::{MAX_TOPIC_NAME, ReservedTopic, TopicPolicy, TopicRefusal, invalid_topic_name};
