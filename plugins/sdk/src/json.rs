//! Top-level fields of JSON record values (feature `json`).
//!
//! Routing and masking plugins mostly look at one top-level field. [`field`]
//! finds it in a single pass without building the rest of the document (other
//! keys are skipped, not allocated); [`parse_object`] builds the whole object,
//! in key order, for plugins that rewrite it.
//!
//! Output written with `serde_json::to_writer` is compact, keeps key order and
//! keeps integers as integers. Plugins in other languages use their own JSON
//! libraries: they write the same JSON values, not always the same bytes
//! (numbers, escapes and key order are each language's own).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
pub use serde_json::{Map, Value};

/// The value is not JSON, or is JSON but not an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAnObject;

impl fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value is not a JSON object")
    }
}

impl std::error::Error for NotAnObject {}

/// Parses `bytes` as a JSON object, keeping key order.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, NotAnObject> {
    serde_json::from_slice(bytes).map_err(|_| NotAnObject)
}

/// Parses `bytes` as one JSON value; `None` when they are not JSON.
pub fn parse_value(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// The value of the top-level field `name` of the JSON object in `bytes`,
/// `None` when the object has no such field. The whole document is still
/// checked to be valid JSON. With repeated keys the last one wins, as in
/// JavaScript and Python.
pub fn field(bytes: &[u8], name: &str) -> Result<Option<Value>, NotAnObject> {
    // JSON is UTF-8 text (RFC 8259); serde_json would skip invalid bytes in
    // strings it does not keep.
    let text = std::str::from_utf8(bytes).map_err(|_| NotAnObject)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let found = FieldSeed(name)
        .deserialize(&mut de)
        .map_err(|_| NotAnObject)?;
    de.end().map_err(|_| NotAnObject)?;
    Ok(found)
}

/// A scalar as plain text: a string without quotes, a number in decimal as
/// JSON writes it, `true`/`false`. `None` for null, arrays and objects.
pub fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(true) => Some(Cow::Borrowed("true")),
        Value::Bool(false) => Some(Cow::Borrowed("false")),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Name of a JSON value's type, for error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Looks for one key while walking an object; everything else is skipped.
struct FieldSeed<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_wanted) = map.next_key_seed(KeyIs(self.0))? {
            if is_wanted {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Compares an object key with the wanted name without allocating it
/// (unless it contains escapes).
struct KeyIs<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn finds_top_level_fields_only() {
        let v = br#"{"a":{"id":1},"id":42,"s":"x\"y","e":"caf\u00e9"}"#;
        assert_eq!(field(v, "id").unwrap(), Some(Value::from(42)));
        assert_eq!(field(v, "s").unwrap(), Some(Value::from("x\"y")));
        assert_eq!(field(v, "e").unwrap(), Some(Value::from("café")));
        assert_eq!(field(v, "missing").unwrap(), None);
        assert_eq!(
            field(br#"{"k\u0069d":1}"#, "kid").unwrap(),
            Some(Value::from(1))
        );
    }

    #[test]
    fn last_repeat_wins() {
        assert_eq!(
            field(br#"{"a":1,"a":2}"#, "a").unwrap(),
            Some(Value::from(2))
        );
    }

    #[test]
    fn rejects_non_objects_and_bad_json() {
        for bad in [
            &b"[1]"[..],
            b"1",
            b"\"s\"",
            b"null",
            b"{",
            b"{} x",
            b"",
            b"\xff",
            b"{\"a\":1,\"b\":\"\xff\"}",
        ] {
            assert_eq!(
                field(bad, "a"),
                Err(NotAnObject),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            assert!(parse_object(bad).is_err());
        }
        assert_eq!(
            field(br#"{"a":1,"b":[}"#, "a"),
            Err(NotAnObject),
            "rest is checked"
        );
    }

    #[test]
    fn compact_output_keeps_order_and_integers() {
        let obj = parse_object(br#"{ "z": 1, "a": [1, 2.5, -3], "m": {"y": null, "b": true}, "big": 18446744073709551615 }"#).unwrap();
        assert_eq!(
            serde_json::to_string(&obj).unwrap(),
            r#"{"z":1,"a":[1,2.5,-3],"m":{"y":null,"b":true},"big":18446744073709551615}"#
        );
    }

    #[test]
    fn scalar_texts() {
        assert_eq!(scalar_text(&Value::from("a")).as_deref(), Some("a"));
        assert_eq!(scalar_text(&Value::from(-7)).as_deref(), Some("-7"));
        assert_eq!(scalar_text(&Value::from(1.5)).as_deref(), Some("1.5"));
        assert_eq!(scalar_text(&Value::from(false)).as_deref(), Some("false"));
        assert_eq!(scalar_text(&Value::Null), None);
    }
}
