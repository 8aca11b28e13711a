//! Plugin configuration: typed getters over the pipeline file's key/value pairs.
//!
//! The contract hands a plugin `list<tuple<string, string>>` at open time and
//! expects a `config-error` naming the key at fault. [`Config`] does the
//! bookkeeping: each getter parses one key and says what is wrong with it; the
//! SDK then calls [`Config::finish`] after the plugin's `open`, so a key the
//! plugin never asked for (a typo, usually) is refused by name.
//!
//! Error messages never quote the value: configuration carries secrets and the
//! host logs these errors.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::str::FromStr;

/// A configuration the plugin refuses at open time (WIT `types.config-error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration key at fault, if one is.
    pub key: Option<String>,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl ConfigError {
    /// An error about `key`.
    pub fn for_key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// An error about the configuration as a whole (or the resume position).
    pub fn general(message: impl Into<String>) -> Self {
        ConfigError {
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The configuration a plugin is opened with.
///
/// ```
/// use sluice_plugin::Config;
///
/// let config = Config::new(vec![("field".into(), "email".into())]).unwrap();
/// let field = config.required_str("field").unwrap();
/// let replacement = config.optional_str("replacement").unwrap_or("***");
/// assert_eq!((field, replacement), ("email", "***"));
/// config.finish().unwrap(); // every key was read
/// ```
#[derive(Debug)]
pub struct Config {
    entries: Vec<(String, String)>,
    /// Which entries a getter has read; `finish` refuses the others.
    read: Vec<Cell<bool>>,
    /// Every key a getter asked for, to tell the user what is accepted.
    known: RefCell<Vec<String>>,
}

impl Config {
    /// Wraps the pairs from the pipeline file. A key given twice is an error.
    pub fn new(entries: Vec<(String, String)>) -> Result<Self, ConfigError> {
        for (i, (key, _)) in entries.iter().enumerate() {
            if entries[..i].iter().any(|(k, _)| k == key) {
                return Err(ConfigError::for_key(
                    key.clone(),
                    format!("`{key}` is given twice; keep one"),
                ));
            }
        }
        let read = entries.iter().map(|_| Cell::new(false)).collect();
        Ok(Config {
            entries,
            read,
            known: RefCell::new(Vec::new()),
        })
    }

    /// Builds a configuration from string pairs (handy in tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// The raw value of `key`, marking it as read.
    pub fn get(&self, key: &str) -> Option<&str> {
        {
            let mut known = self.known.borrow_mut();
            if !known.iter().any(|k| k == key) {
                known.push(key.to_owned());
            }
        }
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        self.read[index].set(true);
        Some(&self.entries[index].1)
    }

    /// The value of `key` as text; absent is an error.
    pub fn required_str(&self, key: &str) -> Result<&str, ConfigError> {
        self.get(key).ok_or_else(|| {
            ConfigError::for_key(key, format!("`{key}` is required; add `{key}: <value>`"))
        })
    }

    /// The value of `key` as text, if present.
    pub fn optional_str(&self, key: &str) -> Option<&str> {
        self.get(key)
    }

    /// `key` as a non-negative integer; absent is an error.
    pub fn required_u64(&self, key: &str) -> Result<u64, ConfigError> {
        self.required_parse(key, "a whole number (0 or more)")
    }

    /// `key` as a non-negative integer, if present.
    pub fn optional_u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        self.optional_parse(key, "a whole number (0 or more)")
    }

    /// `key` as a non-negative integer below 2^32, if present.
    pub fn optional_u32(&self, key: &str) -> Result<Option<u32>, ConfigError> {
        self.optional_parse(key, "a whole number from 0 to 4294967295")
    }

    /// `key` as a signed integer, if present.
    pub fn optional_i64(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        self.optional_parse(key, "a whole number")
    }

    /// `key` as a number (decimal point allowed), if present.
    pub fn optional_f64(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        let value = self.optional_parse::<f64>(key, "a number")?;
        match value {
            Some(v) if !v.is_finite() => Err(Self::bad(key, "a finite number")),
            other => Ok(other),
        }
    }

    /// `key` as `true` or `false`, if present.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.optional_parse(key, "`true` or `false`")
    }

    /// `key` parsed with [`FromStr`]; absent is an error. `expected` completes
    /// the sentence "`key` must be …" in the error.
    pub fn required_parse<T: FromStr>(&self, key: &str, expected: &str) -> Result<T, ConfigError> {
        let raw = self.required_str(key)?;
        raw.parse().map_err(|_| Self::bad(key, expected))
    }

    /// `key` parsed with [`FromStr`], if present. `expected` completes the
    /// sentence "`key` must be …" in the error.
    pub fn optional_parse<T: FromStr>(
        &self,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| Self::bad(key, expected)),
        }
    }

    /// Every entry no getter has read yet, marked as read: for plugins that
    /// accept free-form keys (say, one header per key).
    pub fn take_rest(&self) -> Vec<(&str, &str)> {
        self.entries
            .iter()
            .zip(&self.read)
            .filter(|(_, read)| !read.replace(true))
            .map(|((k, v), _)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Refuses the first key that no getter read, naming it and the keys the
    /// plugin does accept. The SDK calls this after the plugin's `open`.
    pub fn finish(&self) -> Result<(), ConfigError> {
        let unread = self
            .entries
            .iter()
            .zip(&self.read)
            .find(|(_, read)| !read.get());
        let Some(((key, _), _)) = unread else {
            return Ok(());
        };
        let known = self.known.borrow();
        let message = if known.is_empty() {
            format!("unknown key `{key}`: this plugin takes no configuration")
        } else {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            format!(
                "unknown key `{key}`: this plugin accepts {}",
                list.join(", ")
            )
        };
        Err(ConfigError::for_key(key.clone(), message))
    }

    fn bad(key: &str, expected: &str) -> ConfigError {
        ConfigError::for_key(key, format!("`{key}` must be {expected}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn typed_getters_name_the_key_but_not_the_value() {
        let c = Config::from_pairs(&[("count", "s3cr3t"), ("rate", "10")]).unwrap();
        let err = c.optional_u64("count").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("count"));
        assert_eq!(err.message, "`count` must be a whole number (0 or more)");
        assert!(!err.message.contains("s3cr3t"));
        assert_eq!(c.optional_u64("rate").unwrap(), Some(10));
        assert_eq!(c.optional_u64("seed").unwrap(), None);
    }

    #[test]
    fn required_missing() {
        let c = Config::from_pairs(&[]).unwrap();
        let err = c.required_str("field").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("field"));
        assert!(err.message.contains("required"));
        assert!(c.required_u64("n").is_err());
    }

    #[test]
    fn finish_refuses_unknown_keys_and_lists_known_ones() {
        let c = Config::from_pairs(&[("field", "a"), ("feild", "b")]).unwrap();
        c.required_str("field").unwrap();
        let _ = c.optional_str("replacement");
        let err = c.finish().unwrap_err();
        assert_eq!(err.key.as_deref(), Some("feild"));
        assert_eq!(
            err.message,
            "unknown key `feild`: this plugin accepts `field`, `replacement`"
        );
    }

    #[test]
    fn finish_with_no_known_keys() {
        let c = Config::from_pairs(&[("x", "1")]).unwrap();
        assert!(c.finish().unwrap_err().message.contains("no configuration"));
        let empty = Config::from_pairs(&[]).unwrap();
        empty.finish().unwrap();
    }

    #[test]
    fn take_rest_accepts_free_form_keys() {
        let c = Config::from_pairs(&[("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
        let _ = c.get("a");
        assert_eq!(c.take_rest(), vec![("b", "2"), ("c", "3")]);
        c.finish().unwrap();
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = Config::from_pairs(&[("a", "1"), ("a", "2")]).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("a"));
    }

    #[test]
    fn bools_and_floats() {
        let c = Config::from_pairs(&[("on", "true"), ("x", "1.5"), ("inf", "inf"), ("b", "yes")])
            .unwrap();
        assert_eq!(c.optional_bool("on").unwrap(), Some(true));
        assert_eq!(c.optional_f64("x").unwrap(), Some(1.5));
        assert!(c.optional_f64("inf").is_err());
        assert!(c.optional_bool("b").is_err());
    }
}
