//! The generated files that are checked in.
//!
//! One codec, many languages: the batch layout's vocabulary (entry sizes,
//! word positions, flag bits, the null-value marker) is written once, as the
//! tables in the docs of `wit/types.wit`, and this generator turns it into
//! each language's constants:
//!
//! | file | for |
//! |---|---|
//! | `batch/src/layout.rs` | the `sluice-batch` crate (host and Rust SDK) |
//! | `plugins/js/lib/layout.js` | the JavaScript helper |
//! | `plugins/python/sluice_plugin/layout.py` | the Python helper |
//! | `plugins/go/sluice/layout.go` | the Go helper |
//! | `host/src/cli/new_files.rs` | the files `sluice new` writes, listed from `host/templates/` and the helper folders |
//!
//! The files are checked in (plugin builds need no Rust toolchain); `make
//! gen` rewrites them and `make gen-check` (or this crate's test) fails when
//! one is out of date. (One file for every generator: each is a small
//! function, and keeping them together keeps the list of generated files in
//! one place.)
//!
//! A table starts with a header row naming its kind (`| record word | name |
//! meaning |`, `| header word | …`, `| flag bit | …`, `| constant | …`), then
//! the separator row, then one row per item: a number (decimal or `0x` hex),
//! the item's name in backticks (kebab-case), and what it means.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One item of a table: its number, its kebab-case name, what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// A word index, a bit number or a constant's value.
    pub value: u64,
    /// The name, kebab-case (`key-offset`).
    pub name: String,
    /// The meaning column.
    pub meaning: String,
}

/// The vocabulary of the batch layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// Word positions of a record entry, from 0, contiguous.
    pub record_words: Vec<Item>,
    /// Bits of a record entry's flags word.
    pub flags: Vec<Item>,
    /// Word positions of a header entry, from 0, contiguous.
    pub header_words: Vec<Item>,
    /// Named constants (`null-value-len`).
    pub constants: Vec<Item>,
}

/// A table's kind, from its header row.
const KINDS: [&str; 4] = ["record word", "flag bit", "header word", "constant"];

/// Reads the vocabulary tables from the text of `wit/types.wit`.
pub fn parse(wit: &str) -> Result<Vocabulary, String> {
    let mut tables: [Vec<Item>; 4] = Default::default();
    let mut current: Option<usize> = None;
    for (number, line) in wit.lines().enumerate() {
        let at = number + 1;
        let doc = line.trim().strip_prefix("///").map(str::trim);
        let Some(row) = doc.filter(|d| d.starts_with('|')) else {
            current = None;
            continue;
        };
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        if let Some(kind) = KINDS.iter().position(|k| cells.first() == Some(k)) {
            if cells.get(1..) != Some(&["name", "meaning"][..]) {
                return Err(format!(
                    "wit/types.wit:{at}: a `{}` table has the columns `| {} | name | meaning |`",
                    KINDS[kind], KINDS[kind]
                ));
            }
            if !tables[kind].is_empty() {
                return Err(format!(
                    "wit/types.wit:{at}: a second `{}` table",
                    KINDS[kind]
                ));
            }
            current = Some(kind);
            continue;
        }
        let Some(kind) = current else { continue };
        if cells.iter().all(|c| c.chars().all(|ch| "-:".contains(ch))) {
            continue; // the separator row
        }
        let [value, name, meaning] = cells[..] else {
            return Err(format!(
                "wit/types.wit:{at}: a `{}` row has three cells: number, `name`, meaning",
                KINDS[kind]
            ));
        };
        let value = match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => value.parse(),
        }
        .map_err(|_| format!("wit/types.wit:{at}: `{value}` is not a number"))?;
        let name = name
            .strip_prefix('`')
            .and_then(|n| n.strip_suffix('`'))
            .filter(|n| {
                !n.is_empty()
                    && n.starts_with(|c: char| c.is_ascii_lowercase())
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
            .ok_or_else(|| {
                format!("wit/types.wit:{at}: `{name}` is not a kebab-case name in backticks")
            })?;
        tables[kind].push(Item {
            value,
            name: name.to_string(),
            meaning: meaning.to_string(),
        });
    }
    let [record_words, flags, header_words, constants] = tables;
    let vocabulary = Vocabulary {
        record_words,
        flags,
        header_words,
        constants,
    };
    vocabulary.check()?;
    Ok(vocabulary)
}

impl Vocabulary {
    fn check(&self) -> Result<(), String> {
        for (kind, items) in [
            ("record word", &self.record_words),
            ("header word", &self.header_words),
        ] {
            if items.is_empty() {
                return Err(format!("wit/types.wit has no `{kind}` table"));
            }
            for (i, item) in items.iter().enumerate() {
                if item.value != i as u64 {
                    return Err(format!(
                        "wit/types.wit: {kind} `{}` is numbered {}, not {i}: words are listed from 0 without gaps",
                        item.name, item.value
                    ));
                }
            }
        }
        if self.flags.is_empty() {
            return Err("wit/types.wit has no `flag bit` table".into());
        }
        for (i, flag) in self.flags.iter().enumerate() {
            if flag.value >= 32 || self.flags[..i].iter().any(|f| f.value == flag.value) {
                return Err(format!(
                    "wit/types.wit: flag bit `{}` ({}) is not a distinct bit of a u32",
                    flag.name, flag.value
                ));
            }
        }
        if self.null_value_len().is_none() {
            return Err("wit/types.wit has no `null-value-len` constant".into());
        }
        for items in [
            &self.record_words,
            &self.header_words,
            &self.flags,
            &self.constants,
        ] {
            for (i, item) in items.iter().enumerate() {
                if items[..i].iter().any(|o| o.name == item.name) {
                    return Err(format!("wit/types.wit: `{}` is named twice", item.name));
                }
            }
        }
        Ok(())
    }

    fn null_value_len(&self) -> Option<u64> {
        self.constants
            .iter()
            .find(|c| c.name == "null-value-len")
            .map(|c| c.value)
    }

    fn all_flags(&self) -> u64 {
        self.flags.iter().fold(0, |all, f| all | 1 << f.value)
    }
}

/// `key-offset` → `KEY_OFFSET`.
fn screaming(name: &str) -> String {
    name.replace('-', "_").to_ascii_uppercase()
}

/// `key-offset` → `KeyOffset`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A meaning cell as a sentence: capitalised, ending in a full stop, and
/// `backticks` kept.
fn sentence(meaning: &str) -> String {
    let mut s = String::new();
    let mut chars = meaning.chars();
    if let Some(first) = chars.next() {
        s.extend(first.to_uppercase());
        s.push_str(chars.as_str());
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// `text` wrapped at `width` columns, each line after `prefix`.
fn wrapped(text: &str, prefix: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && prefix.len() + line.len() + 1 + word.len() > width {
            out.push_str(prefix.trim_end());
            out.push(' ');
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(prefix.trim_end());
        out.push(' ');
        out.push_str(&line);
        out.push('\n');
    }
    out
}

const WIDTH: usize = 88;

/// The constants of the `sluice-batch` crate.
pub fn rust(v: &Vocabulary) -> String {
    let mut s = String::new();
    s.push_str(
        "//! The word layout of a batch, as `wit/types.wit` names it: entry sizes, word\n\
         //! positions, presence flags and the null-value marker.\n\
         //!\n\
         //! Generated by `make gen` (`batch/gen`) from the vocabulary tables in\n\
         //! `wit/types.wit`; do not edit. The JavaScript, Python and Go helpers get\n\
         //! the same constants from the same tables.\n\n",
    );
    let _ = writeln!(
        s,
        "/// Words per record entry in a batch's `records` list.\npub const RECORD_WORDS: usize = {};\n",
        v.record_words.len()
    );
    let _ = writeln!(
        s,
        "/// Words per header entry in a batch's `headers` list.\npub const HEADER_WORDS: usize = {};\n",
        v.header_words.len()
    );
    for (module, doc, items) in [
        (
            "record_word",
            "Word positions inside a record entry.",
            &v.record_words,
        ),
        (
            "header_word",
            "Word positions inside a header entry.",
            &v.header_words,
        ),
    ] {
        let _ = writeln!(s, "/// {doc}\npub mod {module} {{");
        for item in items {
            s.push_str(&wrapped(&sentence(&item.meaning), "    /// ", WIDTH + 4));
            let _ = writeln!(
                s,
                "    pub const {}: usize = {};",
                screaming(&item.name),
                item.value
            );
        }
        s.push_str("}\n\n");
    }
    s.push_str("/// Presence bits of a record entry's flags word.\npub mod flag {\n");
    for f in &v.flags {
        s.push_str(&wrapped(&sentence(&f.meaning), "    /// ", WIDTH + 4));
        let _ = writeln!(
            s,
            "    pub const {}: u32 = 1 << {};",
            screaming(&f.name),
            f.value
        );
    }
    let names: Vec<String> = v.flags.iter().map(|f| screaming(&f.name)).collect();
    let _ = writeln!(
        s,
        "    /// Every bit the contract defines; any other bit makes a batch malformed.\n    pub const ALL: u32 = {};\n}}",
        names.join(" | ")
    );
    for c in &v.constants {
        s.push('\n');
        s.push_str(&wrapped(&sentence(&c.meaning), "/// ", WIDTH));
        let _ = writeln!(
            s,
            "pub const {}: u32 = {};",
            screaming(&c.name),
            rust_hex(c.value)
        );
    }
    s
}

/// `0xffff_ffff` for large values, decimal for small ones.
fn rust_hex(value: u64) -> String {
    if value < 0x10000 {
        return value.to_string();
    }
    let hex = format!("{value:x}");
    let mut groups = Vec::new();
    let mut end = hex.len();
    while end > 4 {
        groups.push(&hex[end - 4..end]);
        end -= 4;
    }
    groups.push(&hex[..end]);
    groups.reverse();
    format!("0x{}", groups.join("_"))
}

/// The flat constant names of the JavaScript and Python helpers, with values.
fn flat(v: &Vocabulary) -> Vec<(String, u64, String)> {
    let mut all = vec![
        (
            "RECORD_WORDS".to_string(),
            v.record_words.len() as u64,
            "Words per record entry in a batch's `records` list.".to_string(),
        ),
        (
            "HEADER_WORDS".to_string(),
            v.header_words.len() as u64,
            "Words per header entry in a batch's `headers` list.".to_string(),
        ),
    ];
    for w in &v.record_words {
        all.push((
            format!("RECORD_{}", screaming(&w.name)),
            w.value,
            format!("Record word: {}", sentence(&w.meaning)),
        ));
    }
    for w in &v.header_words {
        all.push((
            format!("HEADER_{}", screaming(&w.name)),
            w.value,
            format!("Header word: {}", sentence(&w.meaning)),
        ));
    }
    for f in &v.flags {
        all.push((
            format!("FLAG_{}", screaming(&f.name)),
            1 << f.value,
            format!("Flag bit {}: {}", f.value, sentence(&f.meaning)),
        ));
    }
    all.push((
        "FLAGS_ALL".to_string(),
        v.all_flags(),
        "Every flag bit the contract defines; any other bit makes a batch malformed.".to_string(),
    ));
    for c in &v.constants {
        all.push((screaming(&c.name), c.value, sentence(&c.meaning)));
    }
    all
}

/// The constants of the JavaScript helper (an ES module).
pub fn javascript(v: &Vocabulary) -> String {
    let mut s = String::from(
        "// The word layout of a batch, as wit/types.wit names it: entry sizes, word\n\
         // positions, presence flags and the null-value marker.\n\
         //\n\
         // Generated by `make gen` (batch/gen) from the vocabulary tables in\n\
         // wit/types.wit; do not edit.\n",
    );
    for (name, value, doc) in flat(v) {
        s.push('\n');
        s.push_str(&wrapped(&doc, "// ", WIDTH));
        let _ = writeln!(s, "export const {name} = {value};");
    }
    s
}

/// The constants of the Python helper.
pub fn python(v: &Vocabulary) -> String {
    let mut s = String::from(
        "\"\"\"The word layout of a batch, as wit/types.wit names it: entry sizes, word\n\
         positions, presence flags and the null-value marker.\n\
         \n\
         Generated by `make gen` (batch/gen) from the vocabulary tables in\n\
         wit/types.wit; do not edit.\n\
         \"\"\"\n",
    );
    for (name, value, doc) in flat(v) {
        s.push('\n');
        s.push_str(&wrapped(&doc, "# ", WIDTH));
        let _ = writeln!(s, "{name} = {value}");
    }
    s
}

/// The constants of the Go helper (package `sluice`).
pub fn go(v: &Vocabulary) -> String {
    let mut s = String::from(
        "// Code generated by make gen (batch/gen) from wit/types.wit. DO NOT EDIT.\n\n\
         package sluice\n\n\
         // The word layout of a batch, as wit/types.wit names it: entry sizes, word\n\
         // positions, presence flags and the null-value marker.\n",
    );
    let mut consts: Vec<(String, u64, String)> = vec![
        (
            "RecordWords".into(),
            v.record_words.len() as u64,
            "is the number of words per record entry in Batch.Records.".into(),
        ),
        (
            "HeaderWords".into(),
            v.header_words.len() as u64,
            "is the number of words per header entry in Batch.Headers.".into(),
        ),
    ];
    for w in &v.record_words {
        consts.push((
            format!("Record{}", camel(&w.name)),
            w.value,
            format!("is record word {}: {}", w.value, w.meaning),
        ));
    }
    for w in &v.header_words {
        consts.push((
            format!("Header{}", camel(&w.name)),
            w.value,
            format!("is header word {}: {}", w.value, w.meaning),
        ));
    }
    for f in &v.flags {
        consts.push((
            format!("Flag{}", camel(&f.name)),
            1 << f.value,
            format!("is flag bit {}: {}", f.value, f.meaning),
        ));
    }
    consts.push((
        "FlagsAll".into(),
        v.all_flags(),
        "has every flag bit the contract defines; any other bit makes a batch malformed".into(),
    ));
    for c in &v.constants {
        consts.push((camel(&c.name), c.value, format!("is {}", c.meaning)));
    }
    for (name, value, doc) in consts {
        s.push('\n');
        s.push_str(&wrapped(&sentence(&format!("{name} {doc}")), "// ", WIDTH));
        let _ = writeln!(s, "const {name} = {value}");
    }
    s
}

/// How `sluice new` renders one file (the `How` of `host/src/cli/new.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// A template: `{{placeholders}}` are replaced.
    Template,
    /// Copied byte for byte.
    Verbatim,
    /// Go source of the repository's module: import paths move into the project's.
    GoImports,
    /// An npm lock file: the package name becomes the project's.
    NpmLock,
}

/// One group of files a `sluice new` project is made of: a template folder
/// (`host/templates/NAME`), plus helper folders and files copied from the
/// repository, each to a place in the project.
struct Group {
    /// The const in `host/src/cli/new_files.rs`.
    constant: &'static str,
    /// What the group is for.
    doc: &'static str,
    /// The template folder under `host/templates/`, if any.
    templates: Option<&'static str>,
    /// Repository folders or files copied in: (from, to in the project).
    copies: &'static [(&'static str, &'static str)],
}

/// The groups of `sluice new`. Which folders a project copies is decided
/// here; which files they hold is read from the folders themselves.
const GROUPS: &[Group] = &[
    Group {
        constant: "COMMON",
        doc: "Every project: the contract and `.gitignore`.",
        templates: Some("common"),
        copies: &[("wit", "wit")],
    },
    Group {
        constant: "TRANSFORM_COMMON",
        doc: "Every transform project: its pipeline and sample test.",
        templates: Some("transform"),
        copies: &[],
    },
    Group {
        constant: "SOURCE_COMMON",
        doc: "Every source project: its pipeline and sample test.",
        templates: Some("source"),
        copies: &[],
    },
    Group {
        constant: "RUST",
        doc: "A Rust plugin crate with the SDK and the batch crate vendored (their own \
              manifests come from the templates; their bindings read `../../wit`).",
        templates: Some("rust"),
        copies: &[
            ("plugins/sdk/src", "vendor/sluice-plugin/src"),
            ("batch/src", "vendor/sluice-batch/src"),
            // Seeds the dependency versions the SDK is tested with.
            ("plugins/Cargo.lock", "Cargo.lock"),
        ],
    },
    Group {
        constant: "RUST_TRANSFORM",
        doc: "A Rust transform's code.",
        templates: Some("rust-transform"),
        copies: &[],
    },
    Group {
        constant: "RUST_SOURCE",
        doc: "A Rust source's code.",
        templates: Some("rust-source"),
        copies: &[],
    },
    Group {
        constant: "JS_TRANSFORM",
        doc: "A JavaScript transform with the helper library (the npm lock is jco's alone).",
        templates: Some("js-transform"),
        copies: &[
            ("plugins/js/lib", "lib"),
            ("plugins/go/package-lock.json", "package-lock.json"),
        ],
    },
    Group {
        constant: "PYTHON_TRANSFORM",
        doc: "A Python transform with the helper package.",
        templates: Some("python-transform"),
        copies: &[("plugins/python/sluice_plugin", "sluice_plugin")],
    },
    Group {
        constant: "GO_TRANSFORM",
        doc: "A Go transform with the helper package, the generated bindings and the \
              component tools.",
        templates: Some("go-transform"),
        copies: &[
            ("plugins/go/sluice", "sluice"),
            ("plugins/go/internal/wit", "internal/wit"),
            ("plugins/go/tools", "tools"),
            ("plugins/go/go.sum", "go.sum"),
            ("plugins/go/package-lock.json", "package-lock.json"),
        ],
    },
];

/// Files of a folder (recursively, sorted), as paths relative to it; build
/// output and tests are left out.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = std::fs::read_dir(dir.join(&rel))
            .map_err(|e| format!("{}: {e}", dir.join(&rel).display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = rel.join(&name);
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if name == "__pycache__" || name.ends_with(".pyc") || name.ends_with("_test.go") {
                continue;
            }
            if kind.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(unix)]
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "sh")
}

/// A template path as it lands in the project: a leading `_` in a component
/// becomes `.` (`_gitignore`, `_cargo/`), so dot files do not act in this
/// repository.
fn project_path(rel: &Path) -> String {
    rel.components()
        .map(|c| {
            let c = c.as_os_str().to_string_lossy();
            match c.strip_prefix('_') {
                Some(rest) => format!(".{rest}"),
                None => c.into_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The `sluice new` file lists (`host/src/cli/new_files.rs`).
pub fn new_files(root: &Path) -> Result<String, String> {
    let mut s = String::from(
        "// The files `sluice new` writes, by group: generated by `make gen` (batch/gen)\n\
         // from the template folders in host/templates/ and the helper folders it copies\n\
         // (see host/templates/README.md); do not edit. Included by new.rs.\n",
    );
    for group in GROUPS {
        let mut files: Vec<(String, String, How, bool)> = Vec::new();
        if let Some(dir) = group.templates {
            let base = Path::new("host/templates").join(dir);
            for rel in files_under(&root.join(&base))? {
                let from = base.join(&rel);
                files.push((
                    project_path(&rel),
                    from.to_string_lossy().into_owned(),
                    How::Template,
                    executable(&root.join(&from)),
                ));
            }
        }
        for (from, to) in group.copies {
            let source = root.join(from);
            let listed = if source.is_dir() {
                files_under(&source)?
                    .into_iter()
                    .map(|rel| {
                        (
                            format!("{to}/{}", rel.to_string_lossy()),
                            Path::new(from).join(&rel),
                        )
                    })
                    .collect()
            } else {
                vec![(to.to_string(), PathBuf::from(from))]
            };
            for (to, from) in listed {
                let how = if from.extension().is_some_and(|e| e == "go") {
                    How::GoImports
                } else if from.file_name().is_some_and(|n| n == "package-lock.json") {
                    How::NpmLock
                } else {
                    How::Verbatim
                };
                files.push((to, from.to_string_lossy().into_owned(), how, false));
            }
        }
        let _ = write!(
            s,
            "\n{}const {}: &[File] = &[\n",
            wrapped(group.doc, "/// ", WIDTH),
            group.constant
        );
        for (to, from, how, exec) in files {
            let _ = writeln!(
                s,
                "    File {{ path: {to:?}, text: repo!({from:?}), how: How::{how:?}, executable: {exec} }},"
            );
        }
        s.push_str("];\n");
    }
    Ok(s)
}

/// Every generated file under the repository `root`, with its contents.
pub fn outputs(root: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let wit_path = root.join("wit/types.wit");
    let wit =
        std::fs::read_to_string(&wit_path).map_err(|e| format!("{}: {e}", wit_path.display()))?;
    let v = parse(&wit)?;
    Ok(vec![
        (root.join("batch/src/layout.rs"), rust(&v)),
        (root.join("plugins/js/lib/layout.js"), javascript(&v)),
        (
            root.join("plugins/python/sluice_plugin/layout.py"),
            python(&v),
        ),
        (root.join("plugins/go/sluice/layout.go"), go(&v)),
        (root.join("host/src/cli/new_files.rs"), new_files(root)?),
    ])
}

/// The repository root, from this crate's manifest directory.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The generated files whose checked-in contents differ from what the
/// generator writes now.
pub fn stale(root: &Path) -> Result<Vec<PathBuf>, String> {
    Ok(outputs(root)?
        .into_iter()
        .filter(|(path, text)| std::fs::read_to_string(path).ok().as_deref() != Some(text))
        .map(|(path, _)| path)
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_checked_in_files_are_up_to_date() {
        let root = repository_root();
        let stale = stale(&root).unwrap();
        assert!(
            stale.is_empty(),
            "out of date (run `make gen`): {:?}",
            stale
                .iter()
                .map(|p| p.strip_prefix(&root).unwrap_or(p).display().to_string())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_contract_names_its_vocabulary() {
        let wit = std::fs::read_to_string(repository_root().join("wit/types.wit")).unwrap();
        let v = parse(&wit).unwrap();
        assert_eq!(v.record_words.len(), 12);
        assert_eq!(v.header_words.len(), 4);
        assert_eq!(v.all_flags(), 0b11111);
        assert_eq!(v.null_value_len(), Some(0xffff_ffff));
        assert_eq!(v.record_words[1].name, "key-offset");
    }

    #[test]
    fn a_table_with_a_gap_or_a_bad_name_is_refused() {
        let table = |rows: &str| {
            format!(
                "/// | record word | name | meaning |\n/// |---:|---|---|\n{rows}\n\
                 /// | header word | name | meaning |\n/// |---|---|---|\n/// | 0 | `a` | a |\n\
                 /// | flag bit | name | meaning |\n/// |---|---|---|\n/// | 0 | `k` | k |\n\
                 /// | constant | name | meaning |\n/// |---|---|---|\n/// | 0xffffffff | `null-value-len` | n |\n"
            )
        };
        assert!(parse(&table("/// | 0 | `flags` | f |\n/// | 1 | `key` | k |")).is_ok());
        let gap = parse(&table("/// | 0 | `flags` | f |\n/// | 2 | `key` | k |")).unwrap_err();
        assert!(gap.contains("numbered 2, not 1"), "{gap}");
        let bad = parse(&table("/// | 0 | `Flags` | f |")).unwrap_err();
        assert!(bad.contains("not a kebab-case name"), "{bad}");
    }

    #[test]
    fn names_and_numbers_render_per_language() {
        assert_eq!(screaming("key-offset"), "KEY_OFFSET");
        assert_eq!(camel("null-value-len"), "NullValueLen");
        assert_eq!(rust_hex(0xffff_ffff), "0xffff_ffff");
        assert_eq!(rust_hex(12), "12");
        assert_eq!(sentence("a `b`"), "A `b`.");
    }
}
