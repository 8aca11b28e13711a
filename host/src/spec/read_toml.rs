//! TOML text → [`Node`] tree, from `toml`'s spanned document (so numbers
//! keep their digits and every node its byte range).

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::read_yaml::SyntaxError;
use super::tree::{Entry, Kind, Node, Span};

/// Parses a TOML document into a tree.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let table = DeTable::parse(text).map_err(|e| SyntaxError {
        at: e.span().map_or(0, |s| s.start),
        message: e.message().trim().to_string(),
        hint: "fix the TOML syntax at this position".into(),
    })?;
    Ok(Node {
        span: Span::new(0, 0),
        kind: Kind::Map(entries(table.get_ref())),
        vars: Vec::new(),
    })
}

fn entries(table: &DeTable<'_>) -> Vec<Entry> {
    let mut out: Vec<Entry> = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_span: span(k.span()),
            value: node(v),
        })
        .collect();
    out.sort_by_key(|e| e.key_span.start);
    out
}

fn node(value: &Spanned<DeValue<'_>>) -> Node {
    let span = span(value.span());
    let scalar = |text: String| Node::scalar(text, false, span);
    match value.get_ref() {
        DeValue::String(s) => scalar(s.to_string()),
        // With its radix prefix (`0x1F`), without `_` separators: the number as written.
        DeValue::Integer(i) => scalar(i.to_string()),
        DeValue::Float(f) => scalar(f.as_str().replace('_', "")),
        DeValue::Boolean(b) => scalar(b.to_string()),
        DeValue::Datetime(d) => scalar(d.to_string()),
        DeValue::Array(items) => Node {
            span,
            kind: Kind::Seq(items.iter().map(node).collect()),
            vars: Vec::new(),
        },
        DeValue::Table(t) => Node {
            span,
            kind: Kind::Map(entries(t)),
            vars: Vec::new(),
        },
    }
}

fn span(r: std::ops::Range<usize>) -> Span {
    Span::new(r.start, r.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_digits() {
        let n = parse("a = 12345678901234567890\nb = 1.50\nc = 0x1F\nd = 1_000\n").unwrap();
        let Kind::Map(entries) = &n.kind else {
            panic!()
        };
        let texts: Vec<&str> = entries
            .iter()
            .map(|e| match &e.value.kind {
                Kind::Scalar(s) => s.text.as_str(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(texts, ["12345678901234567890", "1.50", "0x1F", "1000"]);
    }

    #[test]
    fn syntax_errors_have_an_offset() {
        let e = parse("a = 1\na = 2\n").unwrap_err();
        assert_eq!((e.at, e.message.as_str()), (6, "duplicate key"));
    }
}
