//! The masking rule, shared by `mask` and `bench-list-mask`.
//!
//! Depends on serde_json only (not on the SDK), so the list-shape benchmark
//! plugin can include it with `#[path]` without pulling in the `sluice:plugin`
//! worlds.
//!
//! Two paths give the same bytes:
//!
//! - **splice** (the common case): a single pass checks that the value is JSON
//!   already written the way serde_json writes it (compact, keys unique and
//!   unescaped, canonical string escapes, integers) and finds the field's
//!   value; the output is the input with that span replaced. Nothing is
//!   allocated per record.
//! - **rewrite**: anything else (whitespace, duplicate keys, escapes serde_json
//!   would write differently, non-integer numbers it would reformat, deep
//!   nesting, invalid JSON) is parsed into a `serde_json::Map` and written out
//!   again, as before. Invalid JSON is rejected there.
//!
//! The splice path accepts only values the rewrite path would write back
//! unchanged apart from the field, so the output is byte for byte what
//! re-serializing gives.

use std::io;

use serde_json::{Map, Value};

/// The value is not JSON, or not a JSON object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAnObject;

/// What masking did to one value.
#[derive(Debug, PartialEq)]
pub enum Masked<'v> {
    /// The field is absent: keep the original bytes.
    Unchanged,
    /// The field's value lay between `before` and `after`: write `before`,
    /// the replacement, `after`.
    Spliced {
        /// The value's bytes up to the field's value.
        before: &'v [u8],
        /// The value's bytes after the field's value.
        after: &'v [u8],
    },
    /// The field was replaced; write this object out (compact, in key order).
    Rewritten(Map<String, Value>),
}

/// Masks one top-level field of JSON object values.
pub struct Masker {
    field: String,
    replacement: String,
    /// The replacement as a JSON string, as serde_json writes it.
    replacement_json: Vec<u8>,
    /// Scratch for the splice path: the key spans of the objects being read.
    keys: Vec<(usize, usize)>,
}

/// Deeper than this, the splice path leaves the value to serde_json (whose
/// own limit is 128).
const MAX_DEPTH: usize = 64;
/// Objects with more keys than this go to serde_json (the duplicate check is
/// quadratic).
const MAX_KEYS: usize = 128;

impl Masker {
    /// Masks `field`, writing `replacement` (a JSON string) in its place.
    pub fn new(field: &str, replacement: &str) -> Masker {
        let mut replacement_json = Vec::with_capacity(replacement.len() + 2);
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut replacement_json, replacement);
        Masker {
            field: field.to_owned(),
            replacement: replacement.to_owned(),
            replacement_json,
            keys: Vec::new(),
        }
    }

    /// Replaces the top-level field of the JSON object in `value` with the
    /// replacement string, keeping key order.
    pub fn mask<'v>(&mut self, value: &'v [u8]) -> Result<Masked<'v>, NotAnObject> {
        self.keys.clear();
        let mut scan = Scan {
            bytes: value,
            at: 0,
            keys: &mut self.keys,
        };
        if let Some(found) = scan.top_level(self.field.as_bytes()) {
            return Ok(match found {
                None => Masked::Unchanged,
                Some((start, end)) => Masked::Spliced {
                    before: &value[..start],
                    after: &value[end..],
                },
            });
        }
        rewrite(value, &self.field, &self.replacement)
    }

    /// Writes the masked value (nothing for [`Masked::Unchanged`]).
    pub fn write(&self, masked: &Masked<'_>, out: &mut impl io::Write) -> io::Result<()> {
        match masked {
            Masked::Unchanged => Ok(()),
            Masked::Spliced { before, after } => {
                out.write_all(before)?;
                out.write_all(&self.replacement_json)?;
                out.write_all(after)
            }
            Masked::Rewritten(object) => {
                serde_json::to_writer(out, object).map_err(io::Error::from)
            }
        }
    }
}

/// The rewrite path: parse, replace, keep the object to write out.
fn rewrite<'v>(value: &[u8], field: &str, replacement: &str) -> Result<Masked<'v>, NotAnObject> {
    let mut object: Map<String, Value> = serde_json::from_slice(value).map_err(|_| NotAnObject)?;
    match object.get_mut(field) {
        None => Ok(Masked::Unchanged),
        Some(slot) => {
            *slot = Value::String(replacement.to_owned());
            Ok(Masked::Rewritten(object))
        }
    }
}

/// A byte range of the value.
type Span = (usize, usize);

/// The key whose value's span an object scan records, and where.
type Wanted<'a> = Option<(&'a [u8], &'a mut Option<Span>)>;

/// One pass over a value for the splice path. Every method returns `None`
/// ("not for this path") as soon as the bytes are anything but JSON written
/// the way serde_json writes it; the rewrite path then decides.
struct Scan<'v, 'k> {
    bytes: &'v [u8],
    at: usize,
    keys: &'k mut Vec<Span>,
}

impl Scan<'_, '_> {
    /// The whole value is one canonical object; returns the span of the
    /// value of its key `field`, if it has one.
    fn top_level(&mut self, field: &[u8]) -> Option<Option<Span>> {
        // serde_json rejects what is not UTF-8; the rest of the scan is bytes.
        std::str::from_utf8(self.bytes).ok()?;
        let mut found = None;
        self.object(1, Some((field, &mut found)))?;
        (self.at == self.bytes.len()).then_some(found)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        if self.peek()? == byte {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' => self.object(depth + 1, None),
            b'[' => self.array(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An object at `self.at`. With `want`, records the span of the value of
    /// the key `want.0` in `want.1`.
    fn object(&mut self, depth: usize, mut want: Wanted<'_>) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let first = self.keys.len();
        loop {
            let bytes = self.bytes;
            let start = self.at + 1;
            self.key()?;
            let key = (start, self.at - 1);
            let name = &bytes[key.0..key.1];
            // Unique keys only: serde_json keeps one of the repeats.
            if self.keys.len() - first >= MAX_KEYS
                || self.keys[first..]
                    .iter()
                    .any(|&(s, e)| &bytes[s..e] == name)
            {
                return None;
            }
            self.keys.push(key);
            self.eat(b':')?;
            let begin = self.at;
            self.value(depth)?;
            if let Some((field, found)) = want.as_mut()
                && name == *field
            {
                **found = Some((begin, self.at));
            }
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    self.keys.truncate(first);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A key: a string without escapes, so that its bytes are its text.
    fn key(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    /// A string whose escapes are the ones serde_json writes: `\"`, `\\`,
    /// `\b`, `\f`, `\n`, `\r`, `\t`, and `\u00xx` (lowercase) for the other
    /// control characters.
    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => {
                    match *self.bytes.get(self.at + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                        b'u' => {
                            let hex = self.bytes.get(self.at + 2..self.at + 6)?;
                            let lower = |b: u8| matches!(b, b'0'..=b'9' | b'a'..=b'f');
                            if hex[0] != b'0' || hex[1] != b'0' || !matches!(hex[2], b'0' | b'1') {
                                return None;
                            }
                            if !lower(hex[3]) {
                                return None;
                            }
                            let code = (hex[2] - b'0') * 16
                                + match hex[3] {
                                    b'0'..=b'9' => hex[3] - b'0',
                                    other => other - b'a' + 10,
                                };
                            // These have short escapes.
                            if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.at += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes.get(self.at..self.at + word.len())? == word {
            self.at += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A number serde_json writes back the same: an integer in the `i64` or
    /// `u64` range (not `-0`), or any other number whose text is what
    /// serde_json writes for it.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        let negative = self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let digits = self.at;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.at += 1;
                }
            }
            _ => return None,
        }
        let integer = self.at;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            if self.peek() == Some(b'.') {
                self.at += 1;
                self.digits()?;
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                self.at += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.at += 1;
                }
                self.digits()?;
            }
            // Rare in records: let serde_json say how it writes this one.
            let text = &self.bytes[start..self.at];
            let parsed: Value = serde_json::from_slice(text).ok()?;
            return (serde_json::to_vec(&parsed).ok()? == text).then_some(());
        }
        let text = &self.bytes[digits..integer];
        if text.len() > 20 || (negative && text == b"0") {
            return None;
        }
        // At most 20 ASCII digits: fits a u128.
        let magnitude: u128 = std::str::from_utf8(text).ok()?.parse().ok()?;
        let fits = if negative {
            magnitude <= i64::MIN.unsigned_abs() as u128
        } else {
            magnitude <= u64::MAX as u128
        };
        fits.then_some(())
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// What the rewrite path alone gives (today's output).
    fn rewritten(value: &str, field: &str) -> Option<Vec<u8>> {
        match rewrite(value.as_bytes(), field, "***") {
            Err(NotAnObject) => None,
            Ok(Masked::Unchanged) => Some(value.as_bytes().to_vec()),
            Ok(Masked::Rewritten(object)) => Some(serde_json::to_vec(&object).unwrap()),
            Ok(Masked::Spliced { .. }) => unreachable!(),
        }
    }

    fn masked(value: &str, field: &str) -> (Option<Vec<u8>>, bool) {
        let mut m = Masker::new(field, "***");
        match m.mask(value.as_bytes()) {
            Err(NotAnObject) => (None, false),
            Ok(Masked::Unchanged) => (Some(value.as_bytes().to_vec()), false),
            Ok(done) => {
                let spliced = matches!(done, Masked::Spliced { .. });
                let mut out = Vec::new();
                m.write(&done, &mut out).unwrap();
                (Some(out), spliced)
            }
        }
    }

    #[test]
    fn splice_gives_the_bytes_of_a_rewrite() {
        let cases = [
            // (value, takes the splice path)
            (
                r#"{"id":1,"email":"a@b.c","n":{"x":[1,2]},"big":12345678901234,"neg":-3}"#,
                true,
            ),
            (r#"{"email":{"a":[1,{"b":null}]},"z":true}"#, true),
            (r#"{"a":"\"\\\n\r\t\b\f\u0001\u001f","email":"x"}"#, true),
            (r#"{"a":1.5,"b":-0.25,"email":"x"}"#, true),
            (r#"{"c":1e21,"email":"x"}"#, false),
            (
                r#"{"u":18446744073709551615,"i":-9223372036854775808,"email":0}"#,
                true,
            ),
            (r#"{"a":{},"b":[],"c":"","email":[]}"#, true),
            ("{\"s\":\"café 😀 \u{7f}\",\"email\":\"x\"}", true),
            (r#"{"s":"\u007f","email":"x"}"#, false),
            (r#"{"email":"x","d":{"a":1,"b":{"a":2}}}"#, true),
            (r#"{"u":18446744073709551616,"email":0}"#, false),
            (r#"{"i":-9223372036854775809,"email":0}"#, false),
            (r#"{"a":-0,"email":0}"#, false),
            (r#"{"a":1.0,"email":0}"#, true),
            (r#"{"a":1E2,"email":0}"#, false),
            (r#"{"a":1.50,"email":0}"#, false),
            (r#"{ "email" : "x" }"#, false),
            (r#"{"email":"x"} "#, false),
            (r#"{"email":"a","x":1,"email":"b"}"#, false),
            (r#"{"x":{"a":1,"a":2},"email":"b"}"#, false),
            (r#"{"\u0065mail":"a"}"#, false),
            (r#"{"a":"\/","email":"x"}"#, false),
            (r#"{"a":"\u0041","email":"x"}"#, false),
            (r#"{"a":"\u000a","email":"x"}"#, false),
            (r#"{"a":"\u001F","email":"x"}"#, false),
            (r#"{"a":"\ud83d\ude00","email":"x"}"#, false),
        ];
        for (value, splice) in cases {
            let (got, spliced) = masked(value, "email");
            assert_eq!(got, rewritten(value, "email"), "{value}");
            assert_eq!(spliced, splice, "path of {value}");
        }
    }

    #[test]
    fn missing_field_and_invalid_values() {
        for value in [r#"{"id":1}"#, r#"{ "id" : 1.50 }"#, "{}"] {
            assert_eq!(masked(value, "email").0, Some(value.as_bytes().to_vec()));
        }
        for value in [
            "",
            "[1]",
            "\"x\"",
            "null",
            "{",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":tru}",
            "{\"a\":\"\u{1}\"}",
            "{\"email\":NaN}",
            "{\"e\":\"x\"}x",
            "{\"a\":\"\\q\"}",
        ] {
            assert_eq!(masked(value, "email").0, None, "{value:?}");
            assert_eq!(rewritten(value, "email"), None, "{value:?}");
        }
        let mut m = Masker::new("email", "***");
        assert_eq!(m.mask(b"{\"e\":\"\xff\"}"), Err(NotAnObject));
    }

    #[test]
    fn depth_and_replacement_escapes() {
        let deep = format!(
            "{{\"email\":1,\"d\":{}1{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert_eq!(masked(&deep, "email"), (rewritten(&deep, "email"), false));
        let mut m = Masker::new("email", "a\"b\u{1}");
        let done = m.mask(br#"{"email":1}"#).unwrap();
        let mut out = Vec::new();
        m.write(&done, &mut out).unwrap();
        assert_eq!(out, br#"{"email":"a\"b\u0001"}"#);
    }

    /// Random compact values built from tokens serde_json writes differently
    /// or the same: both paths must always agree.
    #[test]
    fn random_values_agree_with_a_rewrite() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        const KEYS: [&str; 5] = ["email", "id", "a", "b", "e"];
        const SCALARS: [&str; 16] = [
            "1",
            "-0",
            "0",
            "1.5",
            "1e2",
            "1.0",
            "-12",
            "18446744073709551616",
            "true",
            "null",
            "\"x\"",
            "\"\\u0001\"",
            "\"\\/\"",
            "\"\\n\"",
            "\"é\"",
            "01",
        ];
        fn value(next: &mut dyn FnMut(usize) -> usize, depth: usize, out: &mut String) {
            match if depth > 3 { 0 } else { next(4) } {
                0 | 1 => out.push_str(SCALARS[next(SCALARS.len())]),
                2 => {
                    out.push('[');
                    for i in 0..next(3) {
                        if i > 0 {
                            out.push(',');
                        }
                        value(next, depth + 1, out);
                    }
                    out.push(']');
                }
                _ => object(next, depth + 1, out),
            }
        }
        fn object(next: &mut dyn FnMut(usize) -> usize, depth: usize, out: &mut String) {
            out.push('{');
            for i in 0..next(5) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("\"{}\":", KEYS[next(KEYS.len())]));
                value(next, depth, out);
            }
            out.push('}');
        }
        let mut spliced = 0;
        for _ in 0..5_000 {
            let mut v = String::new();
            object(&mut next, 0, &mut v);
            let (got, splice) = masked(&v, "email");
            assert_eq!(got, rewritten(&v, "email"), "{v}");
            spliced += usize::from(splice);
        }
        assert!(spliced > 250, "the splice path ran {spliced} times");
    }
}
