//! `${VAR}` and `${VAR:-default}` in pipeline files.
//!
//! Substitution happens inside each value after parsing, never on the raw
//! text: whatever a variable holds (a newline, `: `, `]`, `"`) stays part of
//! that one value and can never add keys. In TOML a variable therefore sits
//! inside a string (`batch_size = "${BATCH:-512}"`); the loader reads the
//! text as the number the field wants. `$${` writes a literal `${`; keys are
//! never interpolated.

/// An unset variable or a malformed reference inside one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    /// Byte offset of the `$` in the value's text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// A value after substitution.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interpolated {
    /// The text with every reference replaced.
    pub text: String,
    /// The variables referenced, in order, once each.
    pub vars: Vec<String>,
}

/// Replaces every `${NAME}` / `${NAME:-default}` in `text` using `lookup`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolationError> {
    let mut out = Interpolated {
        text: String::with_capacity(text.len()),
        vars: Vec::new(),
    };
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        let offset = text.len() - rest.len() + pos;
        out.text.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.text.push_str("${");
            rest = escaped;
            continue;
        }
        let Some(reference) = after.strip_prefix("${") else {
            out.text.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = reference.find('}') else {
            return Err(InterpolationError {
                offset,
                message: "unterminated `${`".into(),
                hint: "close it with `}`, or write `$${` for a literal `${`".into(),
            });
        };
        let inner = &reference[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(InterpolationError {
                offset,
                message: format!(
                    "`${{{}}}` is not a valid variable reference",
                    super::tree::shorten(inner)
                ),
                hint: "write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _"
                    .into(),
            });
        }
        match (lookup(name), default) {
            (Some(value), _) => out.text.push_str(&value),
            (None, Some(default)) => out.text.push_str(default),
            (None, None) => {
                return Err(InterpolationError {
                    offset,
                    message: format!("environment variable {name} is not set"),
                    hint: format!("set {name}, or give a default: ${{{name}:-value}}"),
                });
            }
        }
        if !out.vars.iter().any(|v| v == name) {
            out.vars.push(name.to_string());
        }
        rest = &reference[end + 1..];
    }
    out.text.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOPIC" => Some("orders".into()),
            "EVIL" => Some("x\nerrors: skip".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_set_variables_and_defaults() {
        let got = interpolate("${TOPIC}-${ACKS:-all}", env).unwrap();
        assert_eq!(got.text, "orders-all");
        assert_eq!(got.vars, ["TOPIC", "ACKS"]);
    }

    #[test]
    fn keeps_escapes_and_plain_dollars() {
        let got = interpolate("$${X} costs $5", env).unwrap();
        assert_eq!(got.text, "${X} costs $5");
        assert!(got.vars.is_empty());
    }

    #[test]
    fn values_are_copied_verbatim() {
        assert_eq!(interpolate("${EVIL}", env).unwrap().text, "x\nerrors: skip");
    }

    #[test]
    fn unset_variable_names_its_offset() {
        let err = interpolate("a-${MISSING}", env).unwrap_err();
        assert_eq!(err.offset, 2);
        assert_eq!(err.message, "environment variable MISSING is not set");
    }

    #[test]
    fn unterminated_reference_is_an_error() {
        let err = interpolate("${TOPIC", env).unwrap_err();
        assert_eq!(err.message, "unterminated `${`");
    }
}
