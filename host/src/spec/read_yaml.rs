//! YAML text → [`Node`] tree, from the parser's events (so scalars keep
//! their text and every node its byte range).

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Marker, Parser, ScalarStyle};

use super::tree::{Entry, Kind, LineIndex, Node, Span};

/// Most nodes a file may hold once aliases are expanded: a pipeline needs a
/// few hundred; this stops `&a [*b, *b, …]` bombs long before memory does.
pub(crate) const MAX_NODES: usize = 100_000;

/// A file that is not the YAML we read, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Where.
    pub at: usize,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

impl SyntaxError {
    fn new(at: usize, message: impl Into<String>, hint: impl Into<String>) -> Self {
        SyntaxError {
            at,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Span)>,
    },
}

/// Parses one YAML document into a tree.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;
    let mut documents = 0usize;
    let offset = |m: &Marker| byte_offset(text, m);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| {
            SyntaxError::new(
                offset(e.marker()),
                e.info(),
                "fix the YAML syntax at this position",
            )
        })?;
        let span = Span::new(offset(&span.start), offset(&span.end));
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => continue,
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError::new(
                        span.start,
                        "a second YAML document (`---`) in one pipeline file",
                        "put each pipeline in a file of its own",
                    ));
                }
                continue;
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let node = Node::scalar(value.into_owned(), style == ScalarStyle::Plain, span);
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                nodes += 1;
                node
            }
            Event::Alias(id) => {
                let Some(node) = anchors.get(&id) else {
                    return Err(SyntaxError::new(
                        span.start,
                        "alias to an unknown anchor",
                        "define the anchor (`&name`) before using it (`*name`)",
                    ));
                };
                nodes += node.count();
                let mut node = node.clone();
                node.span = span;
                node
            }
            Event::SequenceStart(_, anchor, _) => {
                nodes += 1;
                stack.push(Frame::Seq {
                    start: span.start,
                    anchor,
                    items: Vec::new(),
                });
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                nodes += 1;
                stack.push(Frame::Map {
                    start: span.start,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match stack.pop() {
                    Some(Frame::Seq {
                        start,
                        anchor,
                        items,
                    }) => (
                        Node {
                            span: Span::new(start, span.end),
                            kind: Kind::Seq(items),
                            vars: Vec::new(),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        start,
                        anchor,
                        entries,
                        ..
                    }) => (
                        Node {
                            span: Span::new(start, span.end),
                            kind: Kind::Map(entries),
                            vars: Vec::new(),
                        },
                        anchor,
                    ),
                    None => {
                        return Err(SyntaxError::new(
                            span.start,
                            "unbalanced YAML structure",
                            "fix the YAML syntax at this position",
                        ));
                    }
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                node
            }
            // Comments and anchor metadata are presentation, not data.
            Event::Comment(..) | Event::Anchor(..) => continue,
            _ => {
                return Err(SyntaxError::new(
                    span.start,
                    "a YAML construct pipeline files do not use",
                    "write plain mappings, lists and values",
                ));
            }
        };
        if nodes > MAX_NODES {
            return Err(SyntaxError::new(
                span.start,
                format!("the file expands to more than {MAX_NODES} values (through aliases)"),
                "a pipeline file needs a few hundred values; expand fewer aliases",
            ));
        }
        place(node, &mut stack, &mut root, text)?;
    }
    root.ok_or_else(|| {
        SyntaxError::new(
            0,
            "the file holds no pipeline",
            "write a pipeline: `name`, `source`, `sink` (see the pipeline file reference in README.md)",
        )
    })
}

/// Puts a finished node where it belongs: the root, a list item, a mapping
/// key or a mapping value.
fn place(
    node: Node,
    stack: &mut [Frame],
    root: &mut Option<Node>,
    text: &str,
) -> Result<(), SyntaxError> {
    match stack.last_mut() {
        None => {
            *root = Some(node);
            Ok(())
        }
        Some(Frame::Seq { items, .. }) => {
            items.push(node);
            Ok(())
        }
        Some(Frame::Map { entries, key, .. }) => match key.take() {
            None => {
                let Kind::Scalar(s) = &node.kind else {
                    return Err(SyntaxError::new(
                        node.span.start,
                        format!("{} used as a key", node.describe()),
                        "keys are plain names, e.g. `topic:`",
                    ));
                };
                if let Some(first) = entries.iter().find(|e| e.key == s.text) {
                    return Err(SyntaxError::new(
                        node.span.start,
                        format!("key `{}` is given twice", s.text),
                        format!(
                            "keep one of them (the first is on line {})",
                            LineIndex::new(text).locate(first.key_span.start).0
                        ),
                    ));
                }
                *key = Some((s.text.clone(), node.span));
                Ok(())
            }
            Some((name, key_span)) => {
                entries.push(Entry {
                    key: name,
                    key_span,
                    value: node,
                });
                Ok(())
            }
        },
    }
}

/// The byte offset of a parser marker (it has one for text input; the
/// fallback walks the text by line and character column).
fn byte_offset(text: &str, m: &Marker) -> usize {
    if let Some(b) = m.byte_offset() {
        return b.min(text.len());
    }
    let line_start = text
        .split_inclusive('\n')
        .take(m.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let rest = &text[line_start.min(text.len())..];
    line_start
        + rest
            .char_indices()
            .nth(m.col())
            .map_or(rest.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[Entry] {
        match &node.kind {
            Kind::Map(e) => e,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_text_and_nulls_are_plain() {
        let n = parse("a: 007\nb: 12345678901234567890\nc:\nd: '~'\ne: 1.50\n").unwrap();
        let texts: Vec<(String, bool)> = map(&n)
            .iter()
            .map(|e| match &e.value.kind {
                Kind::Scalar(s) => (s.text.clone(), e.value.is_null()),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            texts,
            [
                ("007".into(), false),
                ("12345678901234567890".into(), false),
                ("~".into(), true),
                ("~".into(), false),
                ("1.50".into(), false)
            ]
        );
    }

    #[test]
    fn duplicate_keys_and_second_documents_are_refused() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((e.at, e.message.as_str()), (10, "key `a` is given twice"));
        let e = parse("a: 1\n---\na: 2\n").unwrap_err();
        assert!(e.message.contains("second YAML document"), "{e:?}");
    }

    #[test]
    fn aliases_expand_within_a_budget() {
        let n = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(map(&n)[1].value.kind, map(&n)[0].value.kind);
        let mut bomb = String::from("a: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("more than 100000"), "{e:?}");
    }

    #[test]
    fn empty_files_and_complex_keys_are_refused() {
        assert!(
            parse("# nothing\n")
                .unwrap_err()
                .message
                .contains("no pipeline")
        );
        assert!(
            parse("[a]: 1\n")
                .unwrap_err()
                .message
                .contains("used as a key")
        );
    }
}
