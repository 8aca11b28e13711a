//! The source position: per tracked file, its identity, the name it was
//! last seen under, the offset after the last complete line handed over, and
//! a fingerprint of its first bytes, and how many times it was truncated
//! (`generation`, left out while 0). JSON, so a `Commit` event shows it:
//!
//! ```text
//! {"v":1,"files":[{"id":"<32 hex>","name":"app.log","offset":1234,"head":[64,"<16 hex>"],"generation":1}]}
//! ```
//!
//! The identity finds the file after a rename; the fingerprint (FNV-1a of
//! its first 64 bytes, or fewer while it is shorter) tells a truncated-and-rewritten file
//! or a reused inode from the file that was read, and lets a file be found
//! by name when the identity no longer matches (WASI's metadata hash is a
//! hash the host computes, which a different host build may compute
//! differently).

use serde::{Deserialize, Serialize};

use crate::fs::FileId;

/// Bytes of a file's beginning covered by its fingerprint.
pub const HEAD_BYTES: u64 = 64;

/// A hash of a file's first `len` bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// How many bytes it covers (at most [`HEAD_BYTES`]).
    pub len: u64,
    /// FNV-1a of them.
    pub hash: u64,
}

/// One tracked file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its identity.
    pub id: FileId,
    /// The name it was last seen under.
    pub name: String,
    /// The offset after the last complete line handed over.
    pub offset: u64,
    /// Its first bytes.
    pub head: Fingerprint,
    /// Truncations seen (offsets started over that many times).
    pub generation: u64,
}

/// Where the source stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Tracked files, oldest first.
    pub files: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    files: Vec<WireEntry>,
}

#[derive(Serialize, Deserialize)]
struct WireEntry {
    id: String,
    name: String,
    offset: u64,
    head: (u64, String),
    #[serde(default, skip_serializing_if = "is_zero")]
    generation: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Position {
    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            v: 1,
            files: self
                .files
                .iter()
                .map(|e| WireEntry {
                    id: e.id.to_string(),
                    name: e.name.clone(),
                    offset: e.offset,
                    head: (e.head.len, format!("{:016x}", e.head.hash)),
                    generation: e.generation,
                })
                .collect(),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads a stored position; the message says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Position, String> {
        let wire: Wire = serde_json::from_slice(bytes)
            .map_err(|e| format!("resume position is not a file-tail position ({e})"))?;
        if wire.v != 1 {
            return Err(format!(
                "resume position has version {}; this file-tail reads version 1",
                wire.v
            ));
        }
        let mut files = Vec::with_capacity(wire.files.len());
        for e in wire.files {
            let id = FileId::parse(&e.id)
                .ok_or_else(|| format!("resume position: `{}` is not a file identity", e.id))?;
            let hash = u64::from_str_radix(&e.head.1, 16)
                .ok()
                .filter(|_| e.head.0 <= HEAD_BYTES)
                .ok_or_else(|| "resume position: bad `head` fingerprint".to_string())?;
            files.push(Entry {
                id,
                name: e.name,
                offset: e.offset,
                head: Fingerprint {
                    len: e.head.0,
                    hash,
                },
                generation: e.generation,
            });
        }
        Ok(Position { files })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn round_trip() {
        let p = Position {
            files: vec![Entry {
                id: FileId(0x1234_5678_9abc_def0_1122_3344_5566_7788),
                name: "app.log".into(),
                offset: 42,
                head: Fingerprint { len: 42, hash: 7 },
                generation: 3,
            }],
        };
        let bytes = p.encode();
        assert!(
            String::from_utf8_lossy(&bytes).contains(r#""name":"app.log","offset":42"#),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(Position::decode(&bytes).unwrap(), p);
        assert!(
            Position::decode(b"17")
                .unwrap_err()
                .contains("not a file-tail")
        );
        assert!(
            Position::decode(br#"{"v":2,"files":[]}"#)
                .unwrap_err()
                .contains("version 2")
        );
    }
}
