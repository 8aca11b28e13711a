//! The tailer: which files to read, from where, and when a rotated file is
//! done. Generic over [`Fs`] so the same logic runs in the component (WASI)
//! and in native unit tests (`std::fs`).
//!
//! Each tracked file keeps its descriptor open, so a file renamed away
//! (rename-and-create rotation) is still read through it to its end before
//! it is dropped. A file whose size falls below what was read, or whose
//! first bytes changed, was truncated (copy-truncate rotation): the rest of
//! what was not yet read is looked for in the copy (an untracked file in the
//! directory that starts with the same bytes and is at least as long), read
//! to its end first; the truncated file is then read from its beginning.
//!
//! Only complete lines (ending in `\n`) are emitted; the position names,
//! per file, the offset after the last complete line handed over.

use std::collections::HashSet;

use sluice_plugin::BatchBuilder;

use crate::fs::{FileId, Fs, FsError, matches};
use crate::position::{Entry, Fingerprint, HEAD_BYTES, Position};

/// How lines become records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Each line is a value, as is.
    Lines,
    /// Each line is a JSON document; `key_field` may pick the key.
    JsonLines,
}

/// Where a file found at the very first start (no stored position) is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Its first byte.
    Beginning,
    /// Its end: only lines written from now on.
    End,
}

/// What happens to a line longer than `max_line_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongLines {
    /// Emit its first `max_line_bytes` bytes with a `file.truncated` header.
    Truncate,
    /// Drop it (logged).
    Skip,
}

/// Header set on a line cut to `max_line_bytes`; its value is the limit.
pub const TRUNCATED_HEADER: &str = "file.truncated";

/// Most files tracked at once (keeps the position small).
pub const MAX_FILES: usize = 256;

/// Bytes read from one file per call.
const READ_CHUNK: usize = 256 << 10;

/// Most value bytes one poll returns.
const MAX_POLL_BYTES: usize = 8 << 20;

/// The tailer's settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// File-name pattern inside the directory (`*`, `?`).
    pub pattern: String,
    /// Line format.
    pub format: Format,
    /// Where files found at the first start are read from.
    pub start: Start,
    /// Longest line kept whole, in bytes (the newline not counted).
    pub max_line_bytes: usize,
    /// What happens to longer lines.
    pub long_lines: LongLines,
    /// Top-level JSON field whose text becomes the key (JSON Lines only).
    pub key_field: Option<String>,
    /// Header carrying the file's name.
    pub file_header: Option<String>,
    /// Header carrying the line's byte offset in its file.
    pub offset_header: Option<String>,
    /// Header carrying the file's identity (32 hex digits).
    pub id_header: Option<String>,
    /// Least time between two directory scans, in milliseconds.
    pub scan_interval_ms: u64,
    /// A rotated file with no replacement is dropped once unchanged this
    /// long at its end, in milliseconds.
    pub rotated_wait_ms: u64,
}

struct Tracked<F> {
    id: FileId,
    /// Its name when last seen in the directory.
    name: String,
    file: F,
    /// The first byte not yet handed over (a line start): the position.
    offset: u64,
    /// Where the next read starts.
    cursor: u64,
    /// Bytes from `offset` to `cursor` (no complete line among them).
    pending: Vec<u8>,
    /// Inside a line longer than the limit: drop bytes up to the next newline.
    skipping: bool,
    head: Fingerprint,
    /// No longer under a name the pattern matches (renamed away, deleted):
    /// read to its end, then dropped.
    rotated: bool,
    /// A finished copy (copy-truncate): dropped at its end.
    complete: bool,
    /// Arrival order: older files are read first.
    seq: u64,
    /// Truncations seen: offsets start over, so (identity, generation,
    /// offset) names a line.
    generation: u64,
    /// When it was last seen at its end with nothing new (ms), for `rotated_wait_ms`.
    idle_since: Option<u64>,
}

/// What a poll did, for logs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Lines over the limit (cut or dropped).
    pub long_lines: u64,
    /// JSON Lines that are not JSON (emitted without a key).
    pub not_json: u64,
    /// Files dropped after being read to their end.
    pub retired: u64,
    /// Truncations seen, and whether the copy was found.
    pub truncations: Vec<(String, bool)>,
    /// Problems worth a warning.
    pub warnings: Vec<String>,
}

/// Follows the files of one directory that match a pattern.
pub struct Tailer<D: Fs> {
    dir: D,
    options: Options,
    files: Vec<Tracked<D::File>>,
    next_seq: u64,
    /// `Start::End` applies to the first scan only, and only without a position.
    first_scan_at_end: bool,
    last_scan_ms: Option<u64>,
    /// The position changed since the last poll returned one.
    moved: bool,
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl<D: Fs> Tailer<D> {
    /// A tailer over `dir`, resuming from `resume` (a position it returned).
    pub fn open(dir: D, options: Options, resume: Option<Position>) -> Result<Self, FsError> {
        let mut t = Tailer {
            dir,
            first_scan_at_end: resume.is_none() && options.start == Start::End,
            options,
            files: Vec::new(),
            next_seq: 0,
            last_scan_ms: None,
            // The first poll always returns a position, so a restart after
            // `start: end` does not skip what was written meanwhile.
            moved: true,
        };
        if let Some(position) = resume {
            let mut stats = PollStats::default();
            t.resume(position, &mut stats)?;
            for w in stats.warnings {
                sluice_plugin::log::warn(&w);
            }
        }
        Ok(t)
    }

    fn fingerprint(&self, file: &D::File, len: u64) -> Result<Fingerprint, FsError> {
        let len = len.min(HEAD_BYTES);
        let mut buf = Vec::with_capacity(len as usize);
        self.dir.read_at(file, 0, len as usize, &mut buf)?;
        Ok(Fingerprint {
            len: buf.len() as u64,
            hash: fnv(&buf),
        })
    }

    /// Whether `file` starts with the bytes `head` was taken over.
    fn same_head(&self, file: &D::File, head: Fingerprint) -> Result<bool, FsError> {
        Ok(head.len == 0 || self.fingerprint(file, head.len)? == head)
    }

    fn track(&mut self, id: FileId, name: String, file: D::File, offset: u64, head: Fingerprint) {
        let rotated = !matches(&self.options.pattern, &name);
        self.files.push(Tracked {
            id,
            name,
            file,
            offset,
            cursor: offset,
            pending: Vec::new(),
            skipping: false,
            head,
            rotated,
            complete: false,
            seq: self.next_seq,
            generation: 0,
            idle_since: None,
        });
        self.next_seq += 1;
        self.moved = true;
    }

    /// Finds the files a stored position names: by identity, else (the
    /// host's hash changed, e.g. a new Sluice build) by name and first bytes.
    fn resume(&mut self, position: Position, stats: &mut PollStats) -> Result<(), FsError> {
        let names = self.dir.list()?;
        let mut ids = Vec::with_capacity(names.len());
        for name in &names {
            match self.dir.identity_of(name) {
                Ok(id) => ids.push((name.clone(), id)),
                Err(e) if e.not_found => {}
                Err(e) => return Err(e),
            }
        }
        for entry in position.files {
            // By identity: the same file, whatever happened to it since.
            let by_id = ids.iter().find(|(_, id)| *id == entry.id);
            let mut found = None;
            if let Some((name, _)) = by_id {
                match self.dir.open(name) {
                    Ok(file) => found = Some((name.clone(), file)),
                    Err(e) if e.not_found => {}
                    Err(e) => return Err(e),
                }
            }
            // Else by name, when it still starts with the same bytes and is
            // long enough (the host may hash identities differently).
            if found.is_none()
                && let Some((name, _)) = ids.iter().find(|(n, _)| *n == entry.name)
            {
                match self.dir.open(name) {
                    Ok(file) => {
                        if self.dir.size(&file)? >= entry.offset
                            && self.same_head(&file, entry.head)?
                        {
                            found = Some((name.clone(), file));
                        }
                    }
                    Err(e) if e.not_found => {}
                    Err(e) => return Err(e),
                }
            }
            let Some((name, file)) = found else {
                stats.warnings.push(format!(
                    "file {} (last seen as `{}`, read up to byte {}) is gone; lines after that offset were not read",
                    entry.id, entry.name, entry.offset
                ));
                continue;
            };
            let id = self.dir.identity(&file)?;
            if self.files.iter().any(|f| f.id == id) {
                continue;
            }
            let size = self.dir.size(&file)?;
            let rewritten = !self.same_head(&file, entry.head)?;
            self.track(id, name, file, entry.offset, entry.head);
            let last = self.files.len() - 1;
            self.files[last].generation = entry.generation;
            if size < entry.offset || rewritten {
                self.truncated(last, &names, stats)?;
            }
        }
        Ok(())
    }

    /// The position to store: every tracked file and its offset.
    pub fn position(&self) -> Position {
        let mut files: Vec<&Tracked<D::File>> = self.files.iter().collect();
        files.sort_by_key(|f| f.seq);
        Position {
            files: files
                .into_iter()
                .map(|f| Entry {
                    id: f.id,
                    name: f.name.clone(),
                    offset: f.offset,
                    head: f.head,
                    generation: f.generation,
                })
                .collect(),
        }
    }

    /// Looks at the directory: new files, renamed-away files, truncations.
    fn scan(&mut self, stats: &mut PollStats) -> Result<(), FsError> {
        let names = self.dir.list()?;
        let mut matched = Vec::new();
        for name in names.iter().filter(|n| matches(&self.options.pattern, n)) {
            match self.dir.identity_of(name) {
                Ok(id) => matched.push((name.clone(), id)),
                Err(e) if e.not_found => {}
                Err(e) => return Err(e),
            }
        }
        matched.sort();
        let live: HashSet<FileId> = matched.iter().map(|(_, id)| *id).collect();
        for f in &mut self.files {
            if let Some((name, _)) = matched.iter().find(|(_, id)| *id == f.id) {
                if f.name != *name {
                    f.name.clone_from(name);
                    self.moved = true;
                }
                f.rotated = false;
            } else {
                f.rotated = true;
            }
        }
        // Truncations first, so a copy the pattern also matches is picked
        // up as the copy (from the offset), not as a new file (from 0).
        let mut i = 0;
        while i < self.files.len() {
            if !self.files[i].complete {
                let f = &self.files[i];
                let size = self.dir.size(&f.file)?;
                let shrank = size < f.cursor.max(f.head.len);
                if shrank || !self.same_head(&f.file, f.head)? {
                    self.truncated(i, &names, stats)?;
                }
                // The fingerprint covers the file's first bytes as soon as
                // they exist, read or not, so a copy can be recognised.
                let f = &self.files[i];
                if f.head.len < HEAD_BYTES && size > f.head.len {
                    let head = self.fingerprint(&f.file, size)?;
                    self.files[i].head = head;
                    self.moved = true;
                }
            }
            i += 1;
        }
        let at_end = std::mem::take(&mut self.first_scan_at_end);
        for (name, id) in matched {
            if self.files.iter().any(|f| f.id == id) {
                continue;
            }
            if self.files.len() >= MAX_FILES {
                stats.warnings.push(format!(
                    "more than {MAX_FILES} files match `{}`; `{name}` is not read until others are done",
                    self.options.pattern
                ));
                break;
            }
            let file = match self.dir.open(&name) {
                Ok(f) => f,
                Err(e) if e.not_found => continue,
                Err(e) => return Err(e),
            };
            // The name may have moved between the listing and the open.
            let id = self.dir.identity(&file)?;
            if !live.contains(&id) || self.files.iter().any(|f| f.id == id) {
                continue;
            }
            let size = self.dir.size(&file)?;
            let offset = if at_end { size } else { 0 };
            let head = self.fingerprint(&file, size)?;
            self.track(id, name, file, offset, head);
        }
        Ok(())
    }

    /// File `i` was truncated: track the copy of what it held (if one is in
    /// the directory) from where we were, and read `i` again from 0.
    fn truncated(
        &mut self,
        i: usize,
        names: &[String],
        stats: &mut PollStats,
    ) -> Result<(), FsError> {
        let (offset, head) = (self.files[i].offset, self.files[i].head);
        let mut copy = None;
        if head.len > 0 {
            for name in names {
                let Ok(id) = self.dir.identity_of(name) else {
                    continue;
                };
                if self.files.iter().any(|f| f.id == id) {
                    continue;
                }
                let file = match self.dir.open(name) {
                    Ok(f) => f,
                    Err(e) if e.not_found => continue,
                    Err(e) => return Err(e),
                };
                if self.dir.size(&file)? >= offset && self.same_head(&file, head)? {
                    copy = Some((id, name.clone(), file));
                    break;
                }
            }
        }
        stats
            .truncations
            .push((self.files[i].name.clone(), copy.is_some()));
        let seq = self.files[i].seq;
        if let Some((id, name, file)) = copy {
            self.track(id, name, file, offset, head);
            let last = self.files.len() - 1;
            let c = &mut self.files[last];
            c.rotated = true;
            c.complete = true;
            // The copy holds the older lines: read it first.
            c.seq = seq;
            self.files[i].seq = self.next_seq;
            self.next_seq += 1;
        }
        let f = &mut self.files[i];
        f.generation += 1;
        f.offset = 0;
        f.cursor = 0;
        f.pending.clear();
        f.skipping = false;
        f.head = Fingerprint::default();
        f.idle_since = None;
        self.moved = true;
        Ok(())
    }

    /// Appends up to `max` records; returns the new position if it moved.
    pub fn poll(
        &mut self,
        now_ms: u64,
        max: u32,
        out: &mut BatchBuilder,
    ) -> Result<(Option<Position>, PollStats), FsError> {
        let mut stats = PollStats::default();
        let due = self
            .last_scan_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= self.options.scan_interval_ms);
        if due {
            self.scan(&mut stats)?;
            self.last_scan_ms = Some(now_ms);
        }
        self.files.sort_by_key(|f| (!f.rotated, f.seq));
        let mut i = 0;
        while i < self.files.len() {
            if out.len() >= max as usize || out.arena_len() >= MAX_POLL_BYTES {
                break;
            }
            let at_end = self.read(i, max, out, &mut stats)?;
            let f = &mut self.files[i];
            if !at_end {
                if f.rotated {
                    // A rotated file is read to its end before moving on.
                    break;
                }
                i += 1;
                continue;
            }
            if f.rotated && self.retire_due(i, now_ms)? {
                let f = self.files.remove(i);
                if !f.pending.is_empty() && !f.skipping {
                    // Its writer moved on: its last line will never end.
                    self.emit(
                        &f.name,
                        (f.id, f.generation),
                        &f.pending,
                        f.offset,
                        out,
                        &mut stats,
                    );
                }
                stats.retired += 1;
                self.moved = true;
                continue;
            }
            i += 1;
        }
        let moved = std::mem::take(&mut self.moved);
        Ok((moved.then(|| self.position()), stats))
    }

    /// Whether rotated file `i`, at its end, is done: a copy, a file whose
    /// name now holds a new file with data (its writer moved on), or one
    /// unchanged for `rotated_wait_ms`.
    fn retire_due(&mut self, i: usize, now_ms: u64) -> Result<bool, FsError> {
        let f = &self.files[i];
        if f.complete {
            // A copy under a name the pattern matches stays tracked (at its
            // end), or the next scan would read it again as a new file.
            return Ok(!matches(&self.options.pattern, &f.name));
        }
        for other in &self.files {
            if !other.rotated
                && other.name == f.name
                && other.id != f.id
                && (other.cursor > 0 || self.dir.size(&other.file)? > 0)
            {
                return Ok(true);
            }
        }
        let f = &mut self.files[i];
        let since = *f.idle_since.get_or_insert(now_ms);
        Ok(now_ms.saturating_sub(since) >= self.options.rotated_wait_ms)
    }

    /// Reads file `i` into `out`; true when it is at its end.
    fn read(
        &mut self,
        i: usize,
        max: u32,
        out: &mut BatchBuilder,
        stats: &mut PollStats,
    ) -> Result<bool, FsError> {
        let mut buf = Vec::new();
        let mut read_now = 0usize;
        loop {
            // Lines already read.
            let f = &mut self.files[i];
            let mut pending = std::mem::take(&mut f.pending);
            let (name, id, base) = (f.name.clone(), (f.id, f.generation), f.offset);
            let mut consumed = 0usize;
            while out.len() < (max as usize) && out.arena_len() < MAX_POLL_BYTES {
                let Some(nl) = pending[consumed..].iter().position(|&b| b == b'\n') else {
                    break;
                };
                let line = &pending[consumed..consumed + nl];
                let at = base + consumed as u64;
                let limit = self.options.max_line_bytes;
                if line.len() > limit {
                    stats.long_lines += 1;
                    self.long_line(&name, id, &line[..limit], at, out, stats);
                } else {
                    self.emit(&name, id, line, at, out, stats);
                }
                consumed += nl + 1;
            }
            pending.drain(..consumed);
            let f = &mut self.files[i];
            f.offset += consumed as u64;
            if consumed > 0 {
                f.idle_since = None;
                self.moved = true;
            }
            let limit = self.options.max_line_bytes;
            if pending.len() > limit {
                // No newline within the limit: an over-long line.
                stats.long_lines += 1;
                let cut = pending[..limit].to_vec();
                f.pending = Vec::new();
                f.skipping = true;
                let (name, id, offset) = (f.name.clone(), (f.id, f.generation), f.offset);
                self.long_line(&name, id, &cut, offset, out, stats);
                continue;
            }
            f.pending = pending;
            if out.len() >= max as usize || out.arena_len() >= MAX_POLL_BYTES {
                return Ok(false);
            }
            if read_now >= MAX_POLL_BYTES {
                // Bounded work per poll (a long line being skipped, say).
                return Ok(false);
            }
            // Read more.
            buf.clear();
            let f = &self.files[i];
            let n = self.dir.read_at(&f.file, f.cursor, READ_CHUNK, &mut buf)?;
            if n == 0 {
                return Ok(true);
            }
            read_now += n;
            let f = &mut self.files[i];
            f.cursor += n as u64;
            f.idle_since = None;
            if f.skipping {
                // No newline: still inside the long line.
                if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                    f.skipping = false;
                    f.offset = f.cursor - (n - nl - 1) as u64;
                    f.pending.extend_from_slice(&buf[nl + 1..]);
                    self.moved = true;
                }
            } else {
                f.pending.extend_from_slice(&buf);
            }
        }
    }

    /// A line over the limit, `cut` to it: truncated or skipped.
    fn long_line(
        &self,
        name: &str,
        id: (FileId, u64),
        cut: &[u8],
        offset: u64,
        out: &mut BatchBuilder,
        stats: &mut PollStats,
    ) {
        let limit = self.options.max_line_bytes;
        match self.options.long_lines {
            LongLines::Truncate => {
                let limit_text = limit.to_string();
                self.emit_with(name, id, cut, offset, out, stats, Some(&limit_text));
            }
            LongLines::Skip => stats.warnings.push(format!(
                "skipped a line over {limit} bytes at byte {offset} of `{name}` (max_line_bytes)"
            )),
        }
    }

    fn emit(
        &self,
        name: &str,
        id: (FileId, u64),
        line: &[u8],
        offset: u64,
        out: &mut BatchBuilder,
        stats: &mut PollStats,
    ) {
        self.emit_with(name, id, line, offset, out, stats, None);
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_with(
        &self,
        name: &str,
        (id, generation): (FileId, u64),
        line: &[u8],
        offset: u64,
        out: &mut BatchBuilder,
        stats: &mut PollStats,
        truncated: Option<&str>,
    ) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let key = match (&self.options.key_field, self.options.format) {
            (Some(field), Format::JsonLines) if truncated.is_none() => {
                match sluice_plugin::json::field(line, field) {
                    Ok(Some(v)) => sluice_plugin::json::scalar_text(&v).map(|t| t.into_owned()),
                    Ok(None) => None,
                    Err(_) => {
                        stats.not_json += 1;
                        None
                    }
                }
            }
            _ => None,
        };
        let mut r = out.push().value(line);
        if let Some(k) = &key {
            r = r.key(k.as_bytes());
        }
        if let Some(h) = &self.options.file_header {
            r = r.header(h, name.as_bytes());
        }
        if let Some(h) = &self.options.offset_header {
            r = r.header(h, itoa::Buffer::new().format(offset).as_bytes());
        }
        if let Some(h) = &self.options.id_header {
            r = r.header(h, format!("{id}-{generation}").as_bytes());
        }
        if let Some(limit) = truncated {
            let _ = r.header(TRUNCATED_HEADER, limit.as_bytes());
        }
    }
}
