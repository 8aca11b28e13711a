//! Where committed source positions live: one small JSON file per pipeline in
//! a state directory, replaced atomically (write, fsync, rename, fsync the
//! directory) so a crash at any point leaves either the old or the new file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but is not ours or not readable.
    #[error("{}: state file is corrupt ({reason}); move it away (or delete the topic record) to start the pipeline from the beginning", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file belongs to another pipeline.
    #[error("{}: state file belongs to pipeline `{found}`, not `{expected}`; point --state-dir elsewhere or rename the pipeline", path.display())]
    OtherPipeline {
        /// The file.
        path: PathBuf,
        /// Our pipeline.
        expected: String,
        /// The pipeline named inside.
        found: String,
    },
    /// The positions topic cannot be used (not compacted, unreachable,
    /// a write not acknowledged in time).
    #[error("{0}")]
    PositionsTopic(#[from] super::kafka_store::PositionsTopicError),
    /// Reading or writing failed.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was attempted.
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    pipeline: String,
    /// Hex of the opaque position bytes.
    position: String,
    /// Records acknowledged by Kafka in this pipeline's lifetime (informational).
    acknowledged: u64,
}

/// Where one pipeline's position is kept: a file in the state directory, or
/// a record keyed by the pipeline's name in a compacted Kafka topic.
#[derive(Clone)]
pub struct PositionStore {
    path: PathBuf,
    pipeline: String,
    kafka: Option<std::sync::Arc<super::kafka_store::KafkaStore>>,
}

impl std::fmt::Debug for PositionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PositionStore({})", self.path.display())
    }
}

impl PositionStore {
    /// The store of `pipeline` in `dir` (created on first commit).
    pub fn new(dir: &Path, pipeline: &str) -> Self {
        PositionStore {
            path: dir.join(format!("{pipeline}.position.json")),
            pipeline: pipeline.to_string(),
            kafka: None,
        }
    }

    /// The store of `pipeline` as the record keyed by its name in the compacted
    /// topic `topic` of `brokers` (created compacted if missing; refused
    /// when it exists and is not compacted). Reads and writes are bounded by
    /// [`super::KAFKA_READ_TIMEOUT`] and [`super::KAFKA_WRITE_TIMEOUT`].
    pub fn kafka(brokers: &str, topic: &str, pipeline: &str) -> Result<Self, StateError> {
        let path = PathBuf::from(format!("kafka://{brokers}/{topic}#{pipeline}"));
        let store = super::kafka_store::KafkaStore::connect(brokers, topic)?;
        Ok(PositionStore {
            path,
            pipeline: pipeline.to_string(),
            kafka: Some(std::sync::Arc::new(store)),
        })
    }

    /// Where the position lives: the file's path, or `kafka://brokers/topic#pipeline`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored position, `None` when nothing was committed yet.
    pub fn load(&self) -> Result<Option<Vec<u8>>, StateError> {
        let text = match &self.kafka {
            Some(kafka) => match kafka.read_latest(&self.pipeline)? {
                Some(t) => t,
                None => return Ok(None),
            },
            None => match std::fs::read_to_string(&self.path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(source) => {
                    return Err(StateError::Io {
                        path: self.path.clone(),
                        action: "cannot read state file",
                        source,
                    });
                }
            },
        };
        self.decode(&text)
    }

    fn decode(&self, text: &str) -> Result<Option<Vec<u8>>, StateError> {
        let corrupt = |reason: String| StateError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let file: StateFile = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != 1 {
            return Err(corrupt(format!("unknown version {}", file.version)));
        }
        if file.pipeline != self.pipeline {
            return Err(StateError::OtherPipeline {
                path: self.path.clone(),
                expected: self.pipeline.clone(),
                found: file.pipeline,
            });
        }
        hex::decode(&file.position)
            .map(Some)
            .map_err(|e| corrupt(format!("position is not hex: {e}")))
    }

    /// Replaces the stored position atomically (a file rename, or one
    /// acknowledged record under acks=all).
    pub fn commit(&self, position: &[u8], acknowledged: u64) -> Result<(), StateError> {
        let io = |action: &'static str| {
            let path = self.path.clone();
            move |source| StateError::Io {
                path,
                action,
                source,
            }
        };
        let body = serde_json::to_vec_pretty(&StateFile {
            version: 1,
            pipeline: self.pipeline.clone(),
            position: hex::encode(position),
            acknowledged,
        })
        .map_err(|e| io("cannot encode state")(std::io::Error::other(e)))?;
        if let Some(kafka) = &self.kafka {
            return Ok(kafka.write(&self.pipeline, &body)?);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io("cannot create state directory"))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f =
            std::fs::File::create(&tmp).map_err(io("cannot create temporary state file"))?;
        f.write_all(&body).map_err(io("cannot write state file"))?;
        f.sync_all().map_err(io("cannot sync state file"))?;
        std::fs::rename(&tmp, &self.path).map_err(io("cannot replace state file"))?;
        if let Ok(d) = std::fs::File::open(dir) {
            d.sync_all().map_err(io("cannot sync state directory"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_pipelines_and_junk() {
        let dir = tempfile::tempdir().unwrap();
        let store = PositionStore::new(dir.path(), "orders");
        assert_eq!(store.load().unwrap(), None);
        store.commit(b"42", 41).unwrap();
        assert_eq!(store.load().unwrap(), Some(b"42".to_vec()));

        let other = PositionStore::new(dir.path(), "other");
        std::fs::copy(store.path(), other.path()).unwrap();
        assert!(matches!(
            other.load(),
            Err(StateError::OtherPipeline { .. })
        ));

        std::fs::write(store.path(), "{not json").unwrap();
        assert!(matches!(store.load(), Err(StateError::Corrupt { .. })));
        assert_eq!(
            std::fs::read_to_string(store.path()).unwrap(),
            "{not json",
            "nothing overwritten"
        );
    }
}
