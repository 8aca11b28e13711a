//! A pipeline file as a tree of located nodes, before it is typed.
//!
//! YAML and TOML are both read into this one tree first, so the rest of the
//! loader (interpolation, typing, checks) is written once; every value keeps
//! the text it was written with (`007` stays `007`, a 20-digit number stays
//! those digits) and the byte range it came from, so any error found later
//! can still name its line and column.

use std::fmt;

/// A byte range in the pipeline file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }
}

/// One value of the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// Where it was written.
    pub span: Span,
    /// What it is.
    pub kind: Kind,
    /// Environment variables substituted into it (scalars only), so errors
    /// about the value can say where it came from without showing it.
    pub vars: Vec<String>,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A single value, as text.
    Scalar(Scalar),
    /// A list.
    Seq(Vec<Node>),
    /// Keys and values, in file order; keys are unique.
    Map(Vec<Entry>),
}

/// A single value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    /// The value's text after escapes (and, later, interpolation).
    pub text: String,
    /// Written without quotes in YAML, so `~`, `null` and nothing at all
    /// mean "no value". Quoted YAML and every TOML value are never null.
    pub plain: bool,
}

/// A key and its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The key's text.
    pub key: String,
    /// Where the key was written.
    pub key_span: Span,
    /// Its value.
    pub value: Node,
}

impl Node {
    /// A scalar node.
    pub fn scalar(text: impl Into<String>, plain: bool, span: Span) -> Self {
        Node {
            span,
            kind: Kind::Scalar(Scalar {
                text: text.into(),
                plain,
            }),
            vars: Vec::new(),
        }
    }

    /// Whether this is YAML's "no value" (`key:`, `key: ~`, `key: null`).
    /// A value produced by interpolation is never null, even when empty.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar(s) => {
                s.plain
                    && self.vars.is_empty()
                    && matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// The value under `key`, when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The node at exactly `path`, if there is one.
    pub fn at(&self, path: &[Seg<'_>]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.kind) {
                (Seg::Key(k), Kind::Map(_)) => &node.get(k)?.value,
                (Seg::Index(i), Kind::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The node at `path`, or the deepest node on the way there (so an error
    /// about a value that was left out points at where it belongs).
    pub fn find(&self, path: &[Seg<'_>]) -> &Node {
        (0..=path.len())
            .rev()
            .find_map(|n| self.at(&path[..n]))
            .unwrap_or(self)
    }

    /// Where the key at the end of `path` was written, falling back to
    /// [`Node::find`]'s span.
    pub fn key_span(&self, path: &[Seg<'_>]) -> Span {
        if let Some((Seg::Key(last), parent)) = path.split_last()
            && let Some(e) = self.at(parent).and_then(|p| p.get(last))
        {
            return e.key_span;
        }
        self.find(path).span
    }

    /// How many nodes this tree holds.
    pub fn count(&self) -> usize {
        1 + match &self.kind {
            Kind::Scalar(_) => 0,
            Kind::Seq(items) => items.iter().map(Node::count).sum(),
            Kind::Map(entries) => entries.iter().map(|e| e.value.count()).sum(),
        }
    }

    /// What this node is, in words for error messages. Values that came from
    /// the environment are named by their variable, not shown.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Seq(_) => "a list".into(),
            Kind::Map(_) => "a mapping".into(),
            Kind::Scalar(_) if self.is_null() => "an empty value".into(),
            Kind::Scalar(s) => match self.vars.as_slice() {
                [] => format!("`{}`", shorten(&s.text)),
                [one] => format!("the value of ${{{one}}}"),
                many => format!(
                    "the value made of {}",
                    many.iter()
                        .map(|v| format!("${{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        }
    }
}

/// At most 60 characters of `text`, on one line.
pub(crate) fn shorten(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > 60 {
        format!("{}…", one_line.chars().take(59).collect::<String>())
    } else {
        one_line
    }
}

/// One step of a path into the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A list index.
    Index(usize),
}

/// A path into the tree, owned, shown as users write it: `transforms[1].config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(pub Vec<OwnedSeg>);

/// An owned [`Seg`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnedSeg {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

impl Path {
    /// This path with one more step.
    pub fn child(&self, seg: OwnedSeg) -> Path {
        let mut p = self.clone();
        p.0.push(seg);
        p
    }

    /// The path's keys, with `[]` for list indices, for looking up shapes.
    pub fn pattern(&self) -> Vec<&str> {
        self.0
            .iter()
            .map(|seg| match seg {
                OwnedSeg::Key(k) => k.as_str(),
                OwnedSeg::Index(_) => "[]",
            })
            .collect()
    }

    /// Whether this is the top level of the file.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                OwnedSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                OwnedSeg::Key(k) => write!(f, ".{k}")?,
                OwnedSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Line starts of a text, to turn byte offsets into 1-based line and column.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self.text[start..offset].chars().count() + 1;
        (line.max(1), column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_bytes_as_line_and_character_column() {
        let index = LineIndex::new("ab\ncé d\n");
        assert_eq!(index.locate(0), (1, 1));
        assert_eq!(index.locate(3), (2, 1));
        assert_eq!(index.locate(6), (2, 3), "é is one column");
        assert_eq!(index.locate(5), (2, 2), "inside a character: its start");
        assert_eq!(index.locate(99), (3, 1));
    }

    #[test]
    fn paths_read_as_written() {
        let p = Path::default()
            .child(OwnedSeg::Key("transforms".into()))
            .child(OwnedSeg::Index(1))
            .child(OwnedSeg::Key("config".into()));
        assert_eq!(p.to_string(), "transforms[1].config");
        assert_eq!(p.pattern(), ["transforms", "[]", "config"]);
    }

    #[test]
    fn interpolated_empty_values_are_not_null() {
        let mut n = Node::scalar("", true, Span::default());
        assert!(n.is_null());
        n.vars.push("X".into());
        assert!(!n.is_null());
        assert_eq!(n.describe(), "the value of ${X}");
    }
}
