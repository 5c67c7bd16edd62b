//! A setting's value type: checking values and giving them their canonical text and JSON form.

use crate::error::{Error, Result};
use serde::Serialize;

/// A setting's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Text.
    String,
    /// A 64-bit integer.
    Int,
    /// A finite float.
    Float,
    /// true / false.
    Bool,
    /// Any JSON document.
    Json,
}

impl ValueType {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Json => "json",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "string" => Ok(ValueType::String),
            "int" | "integer" => Ok(ValueType::Int),
            "float" => Ok(ValueType::Float),
            "bool" | "boolean" => Ok(ValueType::Bool),
            "json" => Ok(ValueType::Json),
            other => Err(Error::invalid(format!(
                "unknown type {}: use string, int, float, bool or json",
                crate::ident::shown(other)
            ))),
        }
    }

    /// Checks a value and returns its canonical text.
    pub fn normalize(self, key: &str, raw: &str) -> Result<String> {
        if raw.contains('\0') {
            return Err(Error::invalid(format!(
                "value of '{key}' contains a NUL byte, which neither the databases nor environment variables can hold"
            )));
        }
        let bad = |what: &str| Error::invalid(format!("value of '{key}' is not {what}"));
        match self {
            ValueType::String => Ok(raw.to_owned()),
            ValueType::Int => raw
                .trim()
                .parse::<i64>()
                .map(|v| v.to_string())
                .map_err(|_| bad("an integer")),
            ValueType::Float => match raw.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v.to_string()),
                _ => Err(bad("a finite number")),
            },
            ValueType::Bool => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok("true".into()),
                "false" | "no" | "off" | "0" => Ok("false".into()),
                _ => Err(bad("a boolean (true/false, yes/no, on/off or 1/0)")),
            },
            ValueType::Json => {
                let too_deep = || {
                    Error::invalid(format!(
                        "value of '{key}' is JSON nested deeper than {MAX_JSON_DEPTH} levels (arrays and objects), the limit: an export puts it a few levels deeper, and JSON and YAML readers stop at 128"
                    ))
                };
                let v = serde_json::from_str::<serde_json::Value>(raw).map_err(|e| {
                    if e.to_string().starts_with("recursion limit exceeded") {
                        too_deep()
                    } else {
                        Error::invalid(format!("value of '{key}' is not JSON: {e}"))
                    }
                })?;
                if json_depth(&v) > MAX_JSON_DEPTH {
                    return Err(too_deep());
                }
                Ok(v.to_string())
            }
        }
    }

    /// The canonical text as a typed JSON value (for json/yaml output).
    pub fn to_json(self, text: &str) -> serde_json::Value {
        match self {
            ValueType::String => serde_json::Value::String(text.to_owned()),
            ValueType::Int => text
                .parse::<i64>()
                .map(Into::into)
                .unwrap_or_else(|_| text.into()),
            ValueType::Float => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| text.into()),
            ValueType::Bool => match text {
                "true" => true.into(),
                "false" => false.into(),
                other => other.into(),
            },
            ValueType::Json => serde_json::from_str(text).unwrap_or_else(|_| text.into()),
        }
    }
}

/// The deepest a JSON value may nest (arrays and objects): an export puts it
/// three levels down, and serde_json and serde_yaml stop reading at 128, so a
/// value at 125 or more would export but never import again.
pub const MAX_JSON_DEPTH: usize = 64;

/// How deep arrays and objects nest in `v` (a scalar is 0). Recursive: a
/// parsed value is at most 128 deep (serde_json's own limit).
fn json_depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::{file, Desired};
    use zeroize::Zeroizing;

    /// Review M6: a JSON value nested 125 to 127 deep was accepted, and its
    /// export (YAML or JSON) did not import again ("recursion limit
    /// exceeded"). Values over 64 levels are refused with exit 2.
    #[test]
    fn json_deeper_than_64_levels_is_refused() {
        let nested = |d: usize| format!("{}1{}", "[".repeat(d), "]".repeat(d));
        assert!(ValueType::Json.normalize("k", &nested(64)).is_ok());
        let obj = format!("{}1{}", "{\"a\":".repeat(64), "}".repeat(64));
        assert!(ValueType::Json.normalize("k", &obj).is_ok());
        for d in [65, 100, 126, 127, 200] {
            let e = ValueType::Json.normalize("k", &nested(d)).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.message().contains("64 levels"), "{e}");
        }
    }

    /// Review M6: JSON nested as deep as a value may be (64 levels) exports
    /// and imports again in YAML and JSON; one level more is refused at import.
    #[test]
    fn json_values_as_deep_as_allowed_round_trip() {
        for (depth, ok) in [(64, true), (65, false)] {
            let value = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            let d = Desired {
                value: Zeroizing::new(value.clone()),
                value_type: ValueType::Json,
                secret: false,
                category: None,
                description: None,
            };
            let entries = [("k".to_owned(), file::to_entry(&d))];
            for text in [
                file::to_yaml("development", &entries),
                file::to_json("development", &entries),
            ] {
                match file::parse(&text, "stdin") {
                    Ok(back) => {
                        assert!(ok, "depth {depth} imported");
                        assert_eq!(*back.entries[0].want.value, value);
                    }
                    Err(e) => {
                        assert!(!ok, "depth {depth}: {e}");
                        assert_eq!(e.exit_code(), 2);
                        assert!(e.message().contains("64 levels"), "{e}");
                    }
                }
            }
        }
    }
}
