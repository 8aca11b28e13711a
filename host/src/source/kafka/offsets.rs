//! A Kafka source's position: the next offset of every partition it was
//! handing over records from, with the assignment epoch each was read in.
//!
//! The flow keeps one low watermark per pipeline, at batch granularity:
//! the committable position is the one after the last batch such that it
//! and every batch before it are resolved. Records of different partitions
//! interleave in those batches, so each position carries the next offset of
//! *every* partition read so far; committing it commits, per partition, the
//! offset up to which everything is acknowledged (a slow partition holds
//! the others back a little; it never lets one skip ahead).
//!
//! The epoch says which assignment of the partition the offset belongs to:
//! after a partition is revoked (and perhaps assigned back), an older
//! position still in the watermark's queue must not commit an offset for
//! it, since another process may have committed a later one meanwhile.
//!
//! Text form (shown in commit events): `topic:partition:epoch=next,…`, in
//! topic and partition order. Topic names cannot hold `:`, `,` or `=`.

use std::collections::BTreeMap;

/// A topic and partition.
pub type TopicPartition = (String, i32);

/// One partition's entry in a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// The assignment it was read in.
    pub epoch: u64,
    /// The next offset to read (one past the last record handed over).
    pub offset: i64,
}

/// Every partition's next offset.
pub type Offsets = BTreeMap<TopicPartition, Next>;

/// The position bytes of `offsets`.
pub fn encode(offsets: &Offsets) -> Vec<u8> {
    let mut out = String::with_capacity(offsets.len() * 24);
    for (i, ((topic, partition), next)) in offsets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{topic}:{partition}:{}={}",
            next.epoch, next.offset
        ));
    }
    out.into_bytes()
}

/// The offsets in position bytes; `None` when they are not a Kafka
/// source's position.
pub fn decode(position: &[u8]) -> Option<Offsets> {
    let text = std::str::from_utf8(position).ok()?;
    let mut out = Offsets::new();
    if text.is_empty() {
        return Some(out);
    }
    for entry in text.split(',') {
        let (at, offset) = entry.rsplit_once('=')?;
        let (rest, epoch) = at.rsplit_once(':')?;
        let (topic, partition) = rest.rsplit_once(':')?;
        if topic.is_empty() {
            return None;
        }
        out.insert(
            (topic.to_string(), partition.parse().ok()?),
            Next {
                epoch: epoch.parse().ok()?,
                offset: offset.parse().ok()?,
            },
        );
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn positions_round_trip_in_partition_order() {
        let mut o = Offsets::new();
        o.insert(
            ("orders.eu".into(), 10),
            Next {
                epoch: 2,
                offset: 7,
            },
        );
        o.insert(
            ("orders.eu".into(), 2),
            Next {
                epoch: 1,
                offset: 150,
            },
        );
        o.insert(
            ("a-b_c".into(), 0),
            Next {
                epoch: 3,
                offset: 0,
            },
        );
        let bytes = encode(&o);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "a-b_c:0:3=0,orders.eu:2:1=150,orders.eu:10:2=7"
        );
        assert_eq!(decode(&bytes).unwrap(), o);
        assert_eq!(decode(b"").unwrap(), Offsets::new());
    }

    #[test]
    fn other_positions_are_not_taken_for_offsets() {
        for bad in [
            &b"42"[..],
            b"t:0=5",
            b":0:1=5",
            b"t:x:1=5",
            b"t:0:1=",
            b"\xff",
        ] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
