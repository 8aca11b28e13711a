//! A request body into records: JSON Lines, one JSON document (an array is
//! one record per element), or the raw bytes. Every problem is named by its
//! line (for `json`, its array element), 1-based.

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::record::{Batch, BatchFull};
use crate::spec::IngestFormat;

/// Why a line (or element) is not a record. A bounded set: a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineProblem {
    /// Not valid JSON.
    MalformedJson,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Longer than `max_record_kb`.
    TooLarge,
}

impl LineProblem {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            LineProblem::MalformedJson => "malformed_json",
            LineProblem::InvalidUtf8 => "invalid_utf8",
            LineProblem::TooLarge => "line_too_large",
        }
    }
}

/// A line that is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line (or array element).
    pub line: u32,
    /// What kind of problem.
    pub problem: LineProblem,
    /// What is wrong, for the client.
    pub error: String,
    /// The line's bytes (cut to the record limit), for a dead letter.
    pub bytes: Vec<u8>,
}

/// A body that holds no record at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Nothing but whitespace.
    #[error(
        "the body is empty: send one record per line (format jsonl), a JSON document (json) or the record's bytes (raw)"
    )]
    Empty,
    /// `format: json` and the body is not one JSON document.
    #[error("the body is not JSON: {0}")]
    MalformedJson(String),
    /// `format: json` and the body is not UTF-8.
    #[error("the body is not UTF-8 text (byte {0}); JSON must be UTF-8")]
    InvalidUtf8(usize),
    /// More records than one batch holds.
    #[error("the body holds more than one batch can carry: {0}; send fewer records per request")]
    TooBig(BatchFull),
}

/// What a body became.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The records, in order.
    pub records: Batch,
    /// The 1-based line (element) of each record.
    pub lines: Vec<u32>,
    /// Lines that are not records.
    pub rejected: Vec<LineError>,
}

fn json_error(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Eof => format!("not JSON: the line ends too early ({e})"),
        _ => format!("not JSON: {e}"),
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

impl Parsed {
    fn push(&mut self, line: u32, value: &[u8]) -> Result<(), BodyError> {
        self.records
            .push(None, Some(value), &[])
            .map_err(BodyError::TooBig)?;
        self.lines.push(line);
        Ok(())
    }

    fn reject(&mut self, line: u32, problem: LineProblem, error: String, bytes: &[u8], max: usize) {
        self.rejected.push(LineError {
            line,
            problem,
            error,
            bytes: bytes[..bytes.len().min(max)].to_vec(),
        });
    }
}

/// Parses `body` in `format`; a record over `max_record` bytes is rejected.
pub fn parse(format: IngestFormat, body: &[u8], max_record: usize) -> Result<Parsed, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    let mut out = Parsed::default();
    match format {
        IngestFormat::Raw => {
            if body.len() > max_record {
                out.reject(
                    1,
                    LineProblem::TooLarge,
                    format!(
                        "the record is {} bytes, over the {max_record}-byte limit (max_record_kb)",
                        body.len()
                    ),
                    body,
                    max_record,
                );
            } else {
                out.push(1, body)?;
            }
        }
        IngestFormat::Json => {
            let text =
                std::str::from_utf8(body).map_err(|e| BodyError::InvalidUtf8(e.valid_up_to()))?;
            let whole: &RawValue =
                serde_json::from_str(text).map_err(|e| BodyError::MalformedJson(e.to_string()))?;
            let elements: Option<Vec<&RawValue>> = whole
                .get()
                .starts_with('[')
                .then(|| serde_json::from_str(whole.get()).ok())
                .flatten();
            let items = elements.unwrap_or_else(|| vec![whole]);
            if items.is_empty() {
                return Err(BodyError::Empty);
            }
            for (i, item) in items.iter().enumerate() {
                let line = i as u32 + 1;
                let bytes = item.get().as_bytes();
                if bytes.len() > max_record {
                    out.reject(
                        line,
                        LineProblem::TooLarge,
                        format!("element {line} is {} bytes, over the {max_record}-byte limit (max_record_kb)", bytes.len()),
                        bytes,
                        max_record,
                    );
                } else {
                    out.push(line, bytes)?;
                }
            }
        }
        IngestFormat::JsonLines => {
            for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
                let line = i as u32 + 1;
                let text = raw.strip_suffix(b"\r").unwrap_or(raw);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if text.len() > max_record {
                    out.reject(
                        line,
                        LineProblem::TooLarge,
                        format!("line {line} is {} bytes, over the {max_record}-byte limit (max_record_kb)", text.len()),
                        text,
                        max_record,
                    );
                    continue;
                }
                if let Err(e) = std::str::from_utf8(text) {
                    out.reject(
                        line,
                        LineProblem::InvalidUtf8,
                        format!("not UTF-8 text (byte {} of the line)", e.valid_up_to() + 1),
                        text,
                        max_record,
                    );
                    continue;
                }
                // Several documents on one line are several records: that is
                // what `curl -d @file.jsonl` sends (it strips the newlines).
                let mut docs = serde_json::Deserializer::from_slice(text).into_iter::<IgnoredAny>();
                let mut start = 0;
                loop {
                    match docs.next() {
                        None => break,
                        Some(Ok(_)) => {
                            let end = docs.byte_offset();
                            let doc = trim(&text[start..end]);
                            if doc.len() > max_record {
                                out.reject(
                                    line,
                                    LineProblem::TooLarge,
                                    format!("a record on line {line} is {} bytes, over the {max_record}-byte limit (max_record_kb)", doc.len()),
                                    doc,
                                    max_record,
                                );
                            } else {
                                out.push(line, doc)?;
                            }
                            start = end;
                        }
                        Some(Err(e)) => {
                            let rest = trim(&text[start..]);
                            out.reject(
                                line,
                                LineProblem::MalformedJson,
                                json_error(&e),
                                rest,
                                max_record,
                            );
                            break;
                        }
                    }
                }
            }
            if out.records.is_empty() && out.rejected.is_empty() {
                return Err(BodyError::Empty);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn values(p: &Parsed) -> Vec<String> {
        p.records
            .iter()
            .map(|r| String::from_utf8(r.value().unwrap().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn json_lines_name_each_bad_line() {
        let body = b"{\"a\":1}\r\n\n{\"a\":\n\xff\xfe\n[1,2]\n\"0123456789ab\"\n";
        let p = parse(IngestFormat::JsonLines, body, 12).unwrap();
        assert_eq!(values(&p), [r#"{"a":1}"#, "[1,2]"]);
        assert_eq!(p.lines, [1, 5]);
        let bad: Vec<(u32, LineProblem)> = p.rejected.iter().map(|e| (e.line, e.problem)).collect();
        assert_eq!(
            bad,
            [
                (3, LineProblem::MalformedJson),
                (4, LineProblem::InvalidUtf8),
                (6, LineProblem::TooLarge)
            ]
        );
        assert!(
            p.rejected[0].error.contains("ends too early"),
            "{}",
            p.rejected[0].error
        );
        assert_eq!(p.rejected[0].bytes, b"{\"a\":");
    }

    #[test]
    fn documents_run_together_on_one_line_are_several_records() {
        // `curl -d @orders.jsonl` strips the newlines.
        let p = parse(
            IngestFormat::JsonLines,
            br#"{"id":1}{"id":2} {"id":3}{"id":"#,
            100,
        )
        .unwrap();
        assert_eq!(values(&p), [r#"{"id":1}"#, r#"{"id":2}"#, r#"{"id":3}"#]);
        assert_eq!(p.rejected[0].bytes, br#"{"id":"#);
    }

    #[test]
    fn empty_bodies() {
        for format in [
            IngestFormat::JsonLines,
            IngestFormat::Json,
            IngestFormat::Raw,
        ] {
            assert_eq!(parse(format, b"", 100).unwrap_err(), BodyError::Empty);
            assert_eq!(
                parse(format, b" \n\r\n ", 100).unwrap_err(),
                BodyError::Empty
            );
        }
        assert_eq!(
            parse(IngestFormat::Json, b"[]", 100).unwrap_err(),
            BodyError::Empty
        );
    }

    #[test]
    fn json_documents_and_arrays() {
        let p = parse(IngestFormat::Json, br#"[{"a":1}, 2 ,"x"]"#, 100).unwrap();
        assert_eq!(values(&p), [r#"{"a":1}"#, "2", r#""x""#]);
        assert_eq!(p.lines, [1, 2, 3]);
        let p = parse(IngestFormat::Json, br#" {"a":[1]} "#, 100).unwrap();
        assert_eq!(values(&p), [r#"{"a":[1]}"#]);
        assert!(matches!(
            parse(IngestFormat::Json, b"{\"a\":", 100),
            Err(BodyError::MalformedJson(_))
        ));
        assert_eq!(
            parse(IngestFormat::Json, b"\"\xff\"", 100).unwrap_err(),
            BodyError::InvalidUtf8(1)
        );
        let p = parse(IngestFormat::Json, br#"["0123456789", 1]"#, 5).unwrap();
        assert_eq!(p.rejected[0].line, 1);
        assert_eq!(values(&p), ["1"]);
    }

    #[test]
    fn raw_is_one_record_of_any_bytes() {
        let p = parse(IngestFormat::Raw, b"\xff\x00 anything\n", 100).unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(
            p.records.get(0).unwrap().value().unwrap(),
            b"\xff\x00 anything\n"
        );
        let p = parse(IngestFormat::Raw, b"0123456789", 5).unwrap();
        assert_eq!(p.rejected[0].problem, LineProblem::TooLarge);
    }
}
