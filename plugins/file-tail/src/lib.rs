//! A source that tails log files: JSON Lines or plain lines from a path or a
//! file-name pattern in a directory the pipeline grants read-only.
//!
//! ```yaml
//! source:
//!   plugin: ../plugins/dist/file-tail.wasm
//!   config: { path: /logs/app.log, format: jsonl, key_field: order_id, file_header: file }
//!   grants: { dirs: [{ host: ./logs, guest: /logs, mode: ro }] }
//! ```
//!
//! Configuration (any other key is refused by name):
//!
//! - `path` (required): an absolute guest path, e.g. `/logs/app.log`, whose
//!   file name may be a pattern (`*` any run of characters, `?` one):
//!   `/logs/*.log`. The pattern should match only live files, not their
//!   rotated names (`app.log.1`), or a rotated copy is read as a new file.
//! - `format`: `lines` (default; each line is a value as is) or `jsonl`
//!   (each line is a JSON document; a line that is not JSON is still
//!   handed over, without a key, for the transforms and `errors:` to judge).
//! - `start`: `beginning` (default) or `end`: where files found at the very
//!   first start are read from. With a stored position it does not apply,
//!   and files that appear later are always read from their beginning.
//! - `key_field`: with `format: jsonl`, the top-level field whose text
//!   becomes the record key.
//! - `file_header`, `offset_header`, `id_header`: names of headers carrying
//!   the file's name, the line's byte offset in it, and the file's identity
//!   (`<32 hex digits>-<generation>`, the generation counting the
//!   truncations seen, since offsets start over after one). Identity and
//!   offset name a line uniquely: a consumer can de-duplicate the
//!   at-least-once replay after a crash by them.
//! - `max_line_bytes` (default 1048576, at most 16777216): longest line kept
//!   whole. `long_lines`: `truncate` (default: emit the first
//!   `max_line_bytes` bytes with header `file.truncated` = the limit) or
//!   `skip` (drop the line, logged). A source plugin cannot reject a record
//!   in the contract (0.2.0), so a long line does not go through `errors:` itself:
//!   route on the `file.truncated` header in a transform if it must.
//! - `scan_interval_ms` (default 250): least time between two directory
//!   scans (new files, rotations, truncations). Open files are read on every poll.
//! - `rotated_wait_ms` (default 5000): a file renamed away (or deleted) is
//!   read to its end through its open descriptor and dropped once a new file
//!   under its name has data, or after it stayed unchanged this long.
//!
//! Records: the line without its `\n` (and a `\r` before it) as the value;
//! blank lines are skipped; no timestamp (Kafka sets it). Only complete
//! lines are emitted; the unterminated rest of a rotated file is emitted when
//! the file is dropped (its writer moved on).
//!
//! Rotation: rename-and-create (logrotate's default) is followed through
//! the open descriptor; copy-truncate is seen as a file that shrank (or
//! whose first bytes changed): what was not yet read is read from the copy
//! (the file in the directory that starts with the same bytes and is at
//! least as long), then the truncated file from its beginning. Lines written
//! between logrotate's copy and its truncate are in neither file (a limit of
//! copy-truncate itself).
//!
//! Position: see [`position`]; identity (WASI `metadata-hash`), name,
//! offset after the last complete line, and a fingerprint of the first bytes.

pub mod fs;
pub mod position;
pub mod tail;

use std::time::{SystemTime, UNIX_EPOCH};

use sluice_plugin::{BatchBuilder, CallError, Config, ConfigError, PollResult, Source};

pub use position::Position;
pub use tail::{Format, LongLines, Options, Start, Tailer};

/// Largest `max_line_bytes`.
pub const MAX_LINE_LIMIT: u64 = 16 << 20;

#[cfg(target_arch = "wasm32")]
type Dir = fs::WasiDir;
#[cfg(not(target_arch = "wasm32"))]
type Dir = fs::native::NativeDir;

/// The file-tail source.
pub struct FileTail {
    tailer: Tailer<Dir>,
}

fn choice<T: Copy>(
    config: &Config,
    key: &str,
    default: T,
    options: &[(&str, T)],
) -> Result<T, ConfigError> {
    match config.optional_str(key) {
        None => Ok(default),
        Some(v) => options
            .iter()
            .find(|(name, _)| *name == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<String> = options.iter().map(|(n, _)| format!("`{n}`")).collect();
                ConfigError::for_key(key, format!("`{key}` must be one of {}", names.join(", ")))
            }),
    }
}

/// Reads the options from `config`; the directory and the pattern apart.
pub fn options(config: &Config) -> Result<(String, Options), ConfigError> {
    let path = config.required_str("path")?;
    let (dir, pattern) = fs::split_path(path).map_err(|m| ConfigError::for_key("path", m))?;
    let format = choice(
        config,
        "format",
        Format::Lines,
        &[("lines", Format::Lines), ("jsonl", Format::JsonLines)],
    )?;
    let start = choice(
        config,
        "start",
        Start::Beginning,
        &[("beginning", Start::Beginning), ("end", Start::End)],
    )?;
    let long_lines = choice(
        config,
        "long_lines",
        LongLines::Truncate,
        &[("truncate", LongLines::Truncate), ("skip", LongLines::Skip)],
    )?;
    let max_line_bytes = config.optional_u64("max_line_bytes")?.unwrap_or(1 << 20);
    if max_line_bytes == 0 || max_line_bytes > MAX_LINE_LIMIT {
        return Err(ConfigError::for_key(
            "max_line_bytes",
            format!("`max_line_bytes` must be from 1 to {MAX_LINE_LIMIT} (16 MiB)"),
        ));
    }
    let key_field = config.optional_str("key_field").map(str::to_string);
    if key_field.is_some() && format != Format::JsonLines {
        return Err(ConfigError::for_key(
            "key_field",
            "`key_field` reads a JSON field: it needs `format: jsonl`",
        ));
    }
    let header = |key: &str| -> Result<Option<String>, ConfigError> {
        match config.optional_str(key) {
            Some("") => Err(ConfigError::for_key(
                key,
                format!("`{key}` is an empty header name"),
            )),
            other => Ok(other.map(str::to_string)),
        }
    };
    let options = Options {
        pattern: pattern.to_string(),
        format,
        start,
        max_line_bytes: usize::try_from(max_line_bytes).unwrap_or(usize::MAX),
        long_lines,
        key_field,
        file_header: header("file_header")?,
        offset_header: header("offset_header")?,
        id_header: header("id_header")?,
        scan_interval_ms: config.optional_u64("scan_interval_ms")?.unwrap_or(250),
        rotated_wait_ms: config.optional_u64("rotated_wait_ms")?.unwrap_or(5000),
    };
    Ok((dir.to_string(), options))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl FileTail {
    /// Opens over an already opened directory (tests use a native one).
    pub fn with_dir(
        dir: Dir,
        options: Options,
        resume: Option<&[u8]>,
    ) -> Result<Self, ConfigError> {
        let resume = resume.map(Position::decode).transpose().map_err(|m| {
            ConfigError::general(format!("{m}; clear the stored position to start over"))
        })?;
        let tailer = Tailer::open(dir, options, resume)
            .map_err(|e| ConfigError::general(format!("cannot resume: {e}")))?;
        Ok(FileTail { tailer })
    }

    /// One poll at time `now_ms` (tests pass their own clock).
    pub fn poll_at(
        &mut self,
        now_ms: u64,
        max: u32,
        out: &mut BatchBuilder,
    ) -> Result<PollResult, CallError> {
        let (position, stats) = self
            .tailer
            .poll(now_ms, max, out)
            .map_err(|e| CallError::Retryable(e.to_string()))?;
        if stats.long_lines > 0 {
            sluice_plugin::log::warn(&format!(
                "{} line(s) over max_line_bytes in this poll",
                stats.long_lines
            ));
        }
        if stats.not_json > 0 {
            sluice_plugin::log::warn(&format!(
                "{} line(s) are not JSON (handed over without a key)",
                stats.not_json
            ));
        }
        for (name, copy) in &stats.truncations {
            let what = if *copy {
                "its unread rest is read from the copy first"
            } else {
                "no copy found; reading it from its beginning"
            };
            sluice_plugin::log::info(&format!("`{name}` was truncated: {what}"));
        }
        for w in &stats.warnings {
            sluice_plugin::log::warn(w);
        }
        Ok(match position {
            Some(p) => PollResult::at(p.encode()),
            None => PollResult::unchanged(),
        })
    }
}

impl Source for FileTail {
    fn open(config: &Config, resume: Option<&[u8]>) -> Result<Self, ConfigError> {
        let (dir, options) = options(config)?;
        #[cfg(target_arch = "wasm32")]
        let dir = fs::WasiDir::open(&dir).map_err(|m| ConfigError::for_key("path", m))?;
        #[cfg(not(target_arch = "wasm32"))]
        let dir = fs::native::NativeDir(dir.into());
        Self::with_dir(dir, options, resume)
    }

    fn poll(&mut self, max: u32, out: &mut BatchBuilder) -> Result<PollResult, CallError> {
        self.poll_at(now_ms(), max, out)
    }
}

sluice_plugin::export_source!(FileTail);

#[cfg(test)]
mod tests;
