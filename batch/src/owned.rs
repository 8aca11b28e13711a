//! A record in owned form, for tests, sample files and dead letters.

use crate::view::RecordRef;

/// A record that owns its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedRecord {
    /// Key bytes; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in order; a `None` value is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp in ms since the Unix epoch.
    pub timestamp_ms: Option<i64>,
    /// Topic override.
    pub topic: Option<String>,
    /// Partition override.
    pub partition: Option<i32>,
}

impl OwnedRecord {
    /// A copy of `record`.
    pub fn from_ref(record: &RecordRef<'_>) -> Self {
        OwnedRecord {
            key: record.key().map(<[u8]>::to_vec),
            value: record.value().map(<[u8]>::to_vec),
            headers: record
                .headers()
                .map(|(n, v)| (n.to_owned(), v.map(<[u8]>::to_vec)))
                .collect(),
            timestamp_ms: record.timestamp_ms(),
            topic: record.topic().map(str::to_owned),
            partition: record.partition(),
        }
    }

    /// Adds a header with a (non-null) value after the others.
    pub fn with_header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_owned(), Some(value.to_vec())));
        self
    }
}
