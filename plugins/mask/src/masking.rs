//! The masking rule, shared by `mask` and `bench-list-mask`.
//!
//! Depends on serde_json only (not on the SDK), so the list-shape benchmark
//! plugin can include it with `#[path]` without pulling in the `sluice:plugin`
//! worlds.

use serde_json::{Map, Value};

/// The value is not JSON, or not a JSON object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAnObject;

/// What masking did to one value.
#[derive(Debug, PartialEq)]
pub enum Masked {
    /// The field is absent: keep the original bytes.
    Unchanged,
    /// The field was replaced; write this object out (compact, in key order).
    Rewritten(Map<String, Value>),
}

/// Replaces the top-level field `field` of the JSON object in `value` with the
/// string `replacement`, keeping key order.
pub fn mask(value: &[u8], field: &str, replacement: &str) -> Result<Masked, NotAnObject> {
    let mut object: Map<String, Value> = serde_json::from_slice(value).map_err(|_| NotAnObject)?;
    match object.get_mut(field) {
        None => Ok(Masked::Unchanged),
        Some(slot) => {
            *slot = Value::String(replacement.to_owned());
            Ok(Masked::Rewritten(object))
        }
    }
}
