//! `${VAR}` and `${VAR:-default}` in pipeline files.
//!
//! Substitution happens on the raw text before parsing, as Benthos and
//! docker-compose do, so a variable can stand anywhere a value can. `$${`
//! writes a literal `${`. Comment lines (`#` first) are left alone so a
//! commented-out variable never has to be set.

/// An unset variable or a malformed reference, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the `$`.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Replaces every `${NAME}` / `${NAME:-default}` in `text` using `lookup`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        interpolate_line(line, index + 1, &lookup, &mut out)?;
    }
    Ok(out)
}

fn interpolate_line(
    line: &str,
    line_no: usize,
    lookup: &impl Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), InterpolationError> {
    let mut rest = line;
    let mut consumed = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        let column = line[..consumed + pos].chars().count() + 1;
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
            consumed += pos + 3;
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            consumed += pos + 1;
            continue;
        }
        let Some(end) = after.find('}') else {
            return Err(InterpolationError {
                line: line_no,
                column,
                message: "unterminated `${`".into(),
                hint: "close it with `}`, or write `$${` for a literal `${`".into(),
            });
        };
        let inner = &after[2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(InterpolationError {
                line: line_no,
                column,
                message: format!("`${{{inner}}}` is not a valid variable reference"),
                hint: "write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _"
                    .into(),
            });
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(InterpolationError {
                    line: line_no,
                    column,
                    message: format!("environment variable {name} is not set"),
                    hint: format!("set {name}, or give a default: ${{{name}:-value}}"),
                });
            }
        }
        rest = &after[end + 1..];
        consumed += pos + end + 1;
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOPIC").then(|| "orders".to_string())
    }

    #[test]
    fn substitutes_set_variables_and_defaults() {
        let text = "topic: ${TOPIC}\nacks: ${ACKS:-all}\n";
        assert_eq!(
            interpolate(text, env).unwrap(),
            "topic: orders\nacks: all\n"
        );
    }

    #[test]
    fn keeps_escapes_plain_dollars_and_comments() {
        let text = "a: $${X} costs $5\n# ${NOT_SET}\n";
        assert_eq!(
            interpolate(text, env).unwrap(),
            "a: ${X} costs $5\n# ${NOT_SET}\n"
        );
    }

    #[test]
    fn unset_variable_names_line_and_column() {
        let err = interpolate("name: x\ntopic: ${MISSING}\n", env).unwrap_err();
        assert_eq!((err.line, err.column), (2, 8));
        assert_eq!(err.message, "environment variable MISSING is not set");
    }

    #[test]
    fn unterminated_reference_is_an_error() {
        let err = interpolate("topic: ${TOPIC\n", env).unwrap_err();
        assert_eq!(err.message, "unterminated `${`");
    }
}
