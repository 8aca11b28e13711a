//! Typing a [`Node`] tree into the schema with serde, so every error names
//! the field (`transforms[1].limits.memory_mb`), where it is, the shape
//! expected and what was found.
//!
//! Scalars are text until a field asks for a type: `batch_size: "512"`,
//! `batch_size: 512` and `batch_size = "${BATCH}"` all give 512, and a
//! plugin's `config` gets exactly the characters written.
//!
//! Long because it is one serde `Deserializer` over the tree: the trait's
//! methods come as a set, and splitting them would scatter one type.

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use super::schema::{Shape, shape_of};
use super::tree::{Kind, Node, OwnedSeg, Path, Span};

/// Why the tree does not fit the schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TypeError {
    /// Where (set by the innermost node the error passed through).
    pub span: Option<Span>,
    /// The field, or the mapping a key is missing from or unknown in.
    pub path: Path,
    /// What is wrong (boxed: errors travel through every level of serde).
    pub problem: Box<Problem>,
}

/// The kinds of mismatch, rendered by [`TypeError::render`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// A key the schema does not have.
    UnknownKey {
        key: String,
        expected: &'static [&'static str],
    },
    /// A required key left out.
    MissingKey { key: &'static str },
    /// A value outside a fixed set.
    UnknownVariant {
        found: String,
        expected: &'static [&'static str],
    },
    /// A value of the wrong type.
    WrongShape {
        expected: String,
        found: String,
        shape: Option<Shape>,
    },
    /// `key:` with nothing where a value is needed.
    NoValue,
    /// Anything else serde reports.
    Other(String),
}

impl TypeError {
    fn new(problem: Problem) -> Self {
        TypeError {
            span: None,
            path: Path::default(),
            problem: Box::new(problem),
        }
    }

    /// Sets where the error is, unless a deeper node already did.
    fn at(mut self, span: Span, path: &Path) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
            self.path = path.clone();
        }
        self
    }

    /// The message and the hint users read.
    pub fn render(&self, toml: bool) -> (String, String) {
        let field = |p: &Path| format!("`{p}`");
        let reference = "see the pipeline file reference in README.md";
        match &*self.problem {
            Problem::UnknownKey { key, expected } => {
                let place = if self.path.is_root() {
                    "at the top level".to_string()
                } else {
                    format!("in {}", field(&self.path))
                };
                (
                    format!(
                        "unknown key `{key}` {place}; expected one of {}",
                        list(expected)
                    ),
                    format!("remove it or fix its spelling; {reference}"),
                )
            }
            Problem::MissingKey { key } => (
                if self.path.is_root() {
                    format!("missing key `{key}`")
                } else {
                    format!("missing key `{key}` in {}", field(&self.path))
                },
                format!("add it; {reference}"),
            ),
            Problem::UnknownVariant { found, expected } => (
                format!(
                    "{} must be one of {}, not {found}",
                    field(&self.path),
                    list(expected)
                ),
                "use one of the values listed".into(),
            ),
            Problem::WrongShape {
                expected,
                found,
                shape,
            } => (
                format!("{} must be {expected}, not {found}", field(&self.path)),
                match shape {
                    Some(s) => format!(
                        "for example:\n    {}",
                        if toml { s.toml } else { s.yaml }.replace('\n', "\n    ")
                    ),
                    None => format!("fix the value; {reference}"),
                },
            ),
            Problem::NoValue => (
                format!("{} has no value", field(&self.path)),
                "give it a value, remove the key to keep the default, or write '' for empty text"
                    .into(),
            ),
            Problem::Other(message) if self.path.is_root() => {
                (message.clone(), format!("fix the value; {reference}"))
            }
            Problem::Other(message) => (
                format!("{}: {message}", field(&self.path)),
                format!("fix the value; {reference}"),
            ),
        }
    }
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false).0)
    }
}

impl std::error::Error for TypeError {}

impl de::Error for TypeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TypeError::new(Problem::Other(msg.to_string()))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        TypeError::new(Problem::UnknownKey {
            key: field.to_string(),
            expected,
        })
    }

    fn missing_field(field: &'static str) -> Self {
        TypeError::new(Problem::MissingKey { key: field })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        TypeError::new(Problem::UnknownVariant {
            found: format!("`{variant}`"),
            expected,
        })
    }
}

/// Types `node` as `T`.
pub(crate) fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, TypeError> {
    T::deserialize(NodeDe {
        node,
        path: Path::default(),
    })
}

struct NodeDe<'a> {
    node: &'a Node,
    path: Path,
}

impl NodeDe<'_> {
    fn wrong(&self, fallback: impl Into<String>) -> TypeError {
        let shape = shape_of(&self.path.pattern());
        TypeError::new(Problem::WrongShape {
            expected: shape.map_or_else(|| fallback.into(), |s| s.what.to_string()),
            found: self.node.describe(),
            shape,
        })
        .at(self.node.span, &self.path)
    }

    /// The scalar's text, or an error saying `expected`.
    fn text(&self, expected: &str) -> Result<&str, TypeError> {
        match &self.node.kind {
            Kind::Scalar(_) if self.node.is_null() => {
                Err(TypeError::new(Problem::NoValue).at(self.node.span, &self.path))
            }
            Kind::Scalar(s) => Ok(&s.text),
            _ => Err(self.wrong(expected)),
        }
    }

    fn int(&self, min: i128, max: i128) -> Result<i128, TypeError> {
        let expected = format!("a whole number from {min} to {max}");
        let text = self.text(&expected)?;
        parse_int(text.trim())
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| self.wrong(expected))
    }

    fn done<T>(&self, result: Result<T, TypeError>) -> Result<T, TypeError> {
        result.map_err(|e| e.at(self.node.span, &self.path))
    }
}

/// A YAML 1.2 / TOML integer: optional sign, decimal or `0x`/`0o`/`0b`.
fn parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match digits.get(..2) {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ => (10, digits),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -n } else { n })
}

macro_rules! int_method {
    ($method:ident, $visit:ident, $t:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
            let n = self.int(<$t>::MIN as i128, <$t>::MAX as i128)?;
            // In range: checked just above.
            let n = <$t>::try_from(n).map_err(|_| self.wrong("a whole number"))?;
            self.done(visitor.$visit(n))
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = TypeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        let result = match &self.node.kind {
            Kind::Scalar(_) if self.node.is_null() => visitor.visit_unit(),
            Kind::Scalar(s) => visitor.visit_str(&s.text),
            Kind::Seq(_) => return self.deserialize_seq(visitor),
            Kind::Map(_) => return self.deserialize_map(visitor),
        };
        self.done(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        let expected = "`true` or `false`";
        let value = match self.text(expected)?.trim() {
            "true" | "True" | "TRUE" => true,
            "false" | "False" | "FALSE" => false,
            _ => return Err(self.wrong(expected)),
        };
        self.done(visitor.visit_bool(value))
    }

    int_method!(deserialize_i8, visit_i8, i8);
    int_method!(deserialize_i16, visit_i16, i16);
    int_method!(deserialize_i32, visit_i32, i32);
    int_method!(deserialize_i64, visit_i64, i64);
    int_method!(deserialize_u8, visit_u8, u8);
    int_method!(deserialize_u16, visit_u16, u16);
    int_method!(deserialize_u32, visit_u32, u32);
    int_method!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        let expected = "a number";
        let value: f64 = self
            .text(expected)?
            .trim()
            .parse()
            .map_err(|_| self.wrong(expected))?;
        self.done(visitor.visit_f64(value))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        let text = self.text("text")?;
        self.done(visitor.visit_str(text))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        if self.node.is_null() {
            let result = visitor.visit_none();
            return self.done(result);
        }
        let (span, path) = (self.node.span, self.path.clone());
        visitor.visit_some(self).map_err(|e| e.at(span, &path))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        if self.node.is_null() {
            let result = visitor.visit_unit();
            self.done(result)
        } else {
            Err(self.wrong("an empty value"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypeError> {
        let (span, path) = (self.node.span, self.path.clone());
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(span, &path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        let items: &[Node] = match &self.node.kind {
            Kind::Seq(items) => items,
            // `transforms:` with every entry commented out: an empty list.
            Kind::Scalar(_) if self.node.is_null() => &[],
            _ => return Err(self.wrong("a list")),
        };
        let access = SeqAccess {
            items: items.iter().enumerate(),
            path: &self.path,
        };
        self.done(visitor.visit_seq(access))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TypeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TypeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        self.map(visitor, "a mapping of keys to values".into())
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypeError> {
        self.map(visitor, format!("a mapping with keys {}", list(fields)))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypeError> {
        let text = self.text(&format!("one of {}", list(variants)))?.trim();
        if !variants.contains(&text) {
            return Err(TypeError::new(Problem::UnknownVariant {
                found: self.node.describe(),
                expected: variants,
            })
            .at(self.node.span, &self.path));
        }
        let result = visitor.visit_enum(UnitVariant { name: text });
        self.done(result)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        self.done(visitor.visit_unit())
    }
}

impl NodeDe<'_> {
    fn map<'de, V: Visitor<'de>>(
        self,
        visitor: V,
        expected: String,
    ) -> Result<V::Value, TypeError> {
        let entries: &[super::tree::Entry] = match &self.node.kind {
            Kind::Map(entries) => entries,
            // `limits:` with every entry commented out: an empty mapping.
            Kind::Scalar(_) if self.node.is_null() => &[],
            _ => return Err(self.wrong(expected)),
        };
        let access = MapAccess {
            entries: entries.iter(),
            value: None,
            path: &self.path,
        };
        self.done(visitor.visit_map(access))
    }
}

struct SeqAccess<'a, I> {
    items: I,
    path: &'a Path,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'de> for SeqAccess<'a, I> {
    type Error = TypeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TypeError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(NodeDe {
            node,
            path: self.path.child(OwnedSeg::Index(i)),
        })
        .map(Some)
    }
}

struct MapAccess<'a, I> {
    entries: I,
    value: Option<&'a super::tree::Entry>,
    path: &'a Path,
}

impl<'de, 'a, I: Iterator<Item = &'a super::tree::Entry>> de::MapAccess<'de> for MapAccess<'a, I> {
    type Error = TypeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TypeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        let key: de::value::StrDeserializer<'_, TypeError> = entry.key.as_str().into_deserializer();
        seed.deserialize(key)
            .map(Some)
            .map_err(|e| e.at(entry.key_span, self.path))
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TypeError> {
        let Some(entry) = self.value.take() else {
            return Err(de::Error::custom("a value without a key"));
        };
        seed.deserialize(NodeDe {
            node: &entry.value,
            path: self.path.child(OwnedSeg::Key(entry.key.clone())),
        })
    }
}

struct UnitVariant<'a> {
    name: &'a str,
}

impl<'de> de::EnumAccess<'de> for UnitVariant<'_> {
    type Error = TypeError;
    type Variant = Self;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), TypeError> {
        let name: de::value::StrDeserializer<'_, TypeError> = self.name.into_deserializer();
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_> {
    type Error = TypeError;

    fn unit_variant(self) -> Result<(), TypeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        _: T,
    ) -> Result<T::Value, TypeError> {
        Err(de::Error::custom("expected a plain value"))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, TypeError> {
        Err(de::Error::custom("expected a plain value"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, TypeError> {
        Err(de::Error::custom("expected a plain value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_like_yaml_and_toml() {
        assert_eq!(parse_int("007"), Some(7));
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("1.5"), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int("0x"), None);
        assert_eq!(parse_int(""), None);
    }
}
