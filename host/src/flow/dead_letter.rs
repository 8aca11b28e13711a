//! Dead letters: a record the pipeline could not handle, sent to the
//! dead-letter topic with its original key, value and headers plus headers
//! saying where and why.

use super::Origin;
use crate::events::StageId;
use crate::record::{Batch, BatchFull, OwnedRecord};

/// Header naming the size of a value cut to fit the sink's record limit.
pub const ORIGINAL_SIZE_HEADER: &str = "sluice.original.size";

/// Room kept for the dead-letter headers and Kafka's own record overhead.
const HEADER_ALLOWANCE: usize = 4096;

/// The dead letters of the batch being processed.
pub struct DeadLetters {
    pipeline: String,
    sink_topic: String,
    /// The largest record the sink accepts.
    max_record_bytes: usize,
    batch: Batch,
}

impl DeadLetters {
    /// An empty set for `pipeline`, whose records go to `sink_topic` unless
    /// they override it; each dead letter is cut to `max_record_bytes`.
    pub fn new(pipeline: &str, sink_topic: &str, max_record_bytes: usize) -> Self {
        DeadLetters {
            pipeline: pipeline.to_string(),
            sink_topic: sink_topic.to_string(),
            max_record_bytes,
            batch: Batch::default(),
        }
    }

    /// Adds `record`, which `plugin` at `stage` could not handle because of
    /// `error`. Fails only when the dead letters of one batch outgrow a batch.
    pub fn add(
        &mut self,
        record: OwnedRecord,
        stage: StageId,
        plugin: &str,
        error: &str,
    ) -> Result<(), BatchFull> {
        self.add_from(record, stage, plugin, error, None)
    }

    /// Like [`DeadLetters::add`], for a record read from Kafka at `origin`:
    /// then `sluice.original.topic` names the topic it was read from, and
    /// `sluice.original.partition` / `sluice.original.offset` say where.
    pub fn add_from(
        &mut self,
        mut record: OwnedRecord,
        stage: StageId,
        plugin: &str,
        error: &str,
        origin: Option<&Origin>,
    ) -> Result<(), BatchFull> {
        let headed = record.topic.take();
        let original = match origin {
            Some(o) => o.topic.to_string(),
            None => headed.unwrap_or_else(|| self.sink_topic.clone()),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        // Cut the value (then the key) so the dead letter fits where the
        // original did not; the original size says what was cut.
        let budget = self.max_record_bytes.saturating_sub(HEADER_ALLOWANCE);
        let header_bytes: usize = record
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        let key_len = record.key.as_ref().map_or(0, Vec::len);
        let value_len = record.value.as_ref().map_or(0, Vec::len);
        if key_len + value_len + header_bytes > budget {
            if header_bytes > budget / 2 {
                record.headers.clear();
            }
            let kept_headers: usize = record
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.as_ref().map_or(0, Vec::len))
                .sum();
            let room = budget.saturating_sub(kept_headers);
            if let Some(key) = &mut record.key {
                key.truncate(room / 2);
            }
            let room = room.saturating_sub(record.key.as_ref().map_or(0, Vec::len));
            if let Some(value) = &mut record.value {
                value.truncate(room);
            }
            record.headers.push((
                ORIGINAL_SIZE_HEADER.to_string(),
                Some(value_len.to_string().into_bytes()),
            ));
        }
        for (name, value) in [
            ("sluice.pipeline", self.pipeline.clone()),
            ("sluice.stage", stage.to_string()),
            ("sluice.plugin", plugin.to_string()),
            ("sluice.error", error.to_string()),
            ("sluice.original.topic", original),
            ("sluice.time", now.to_string()),
        ] {
            record
                .headers
                .push((name.to_string(), Some(value.into_bytes())));
        }
        if let Some(o) = origin {
            for (name, value) in [
                ("sluice.original.partition", o.partition.to_string()),
                ("sluice.original.offset", o.offset.to_string()),
            ] {
                record
                    .headers
                    .push((name.to_string(), Some(value.into_bytes())));
            }
        }
        record.topic = None;
        record.partition = None;
        self.batch.push_owned(&record)
    }

    /// Number of dead letters waiting.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// True when none are waiting.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Takes the waiting dead letters.
    pub fn take(&mut self) -> Batch {
        std::mem::take(&mut self.batch)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn header<'a>(b: &'a Batch, name: &str) -> Option<&'a [u8]> {
        b.get(0)
            .unwrap()
            .headers()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v)
    }

    #[test]
    fn names_where_and_why() {
        let mut d = DeadLetters::new("p", "orders", 1_000_000);
        d.add(
            OwnedRecord {
                value: Some(b"v".to_vec()),
                headers: vec![("h".into(), Some(b"1".to_vec()))],
                ..OwnedRecord::default()
            },
            StageId::Transform(0),
            "mask.wasm",
            "bad",
        )
        .unwrap();
        let b = d.take();
        assert_eq!(header(&b, "h"), Some(&b"1"[..]), "original headers kept");
        assert_eq!(header(&b, "sluice.stage"), Some(&b"transform 1"[..]));
        assert_eq!(header(&b, "sluice.original.topic"), Some(&b"orders"[..]));
        assert_eq!(header(&b, ORIGINAL_SIZE_HEADER), None);
        assert!(d.is_empty());
    }

    #[test]
    fn a_record_read_from_kafka_names_where_it_was_read() {
        let mut d = DeadLetters::new("p", "masked", 1_000_000);
        let origin = Origin {
            topic: "orders".into(),
            partition: 4,
            offset: 1234,
        };
        d.add_from(
            OwnedRecord {
                value: Some(b"v".to_vec()),
                ..OwnedRecord::default()
            },
            StageId::Transform(0),
            "mask.wasm",
            "bad",
            Some(&origin),
        )
        .unwrap();
        let b = d.take();
        assert_eq!(header(&b, "sluice.original.topic"), Some(&b"orders"[..]));
        assert_eq!(header(&b, "sluice.original.partition"), Some(&b"4"[..]));
        assert_eq!(header(&b, "sluice.original.offset"), Some(&b"1234"[..]));
    }

    #[test]
    fn a_record_too_large_for_the_sink_is_cut_to_fit() {
        let mut d = DeadLetters::new("p", "orders", 10_000);
        d.add(
            OwnedRecord {
                key: Some(vec![b'k'; 50]),
                value: Some(vec![b'v'; 50_000]),
                topic: Some("elsewhere".into()),
                ..OwnedRecord::default()
            },
            StageId::Sink,
            "kafka",
            "Broker: Message size too large",
        )
        .unwrap();
        let b = d.take();
        let r = b.get(0).unwrap();
        let size = r.key().unwrap().len() + r.value().unwrap().len();
        assert!(size <= 10_000 - HEADER_ALLOWANCE, "{size}");
        assert_eq!(r.key().unwrap().len(), 50, "a small key is kept whole");
        assert_eq!(header(&b, ORIGINAL_SIZE_HEADER), Some(&b"50000"[..]));
        assert_eq!(header(&b, "sluice.original.topic"), Some(&b"elsewhere"[..]));
        assert_eq!(r.topic(), None, "the sink routes dead letters");
    }
}
