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
            ValueType::Json => serde_json::from_str::<serde_json::Value>(raw)
                .map(|v| v.to_string())
                .map_err(|e| Error::invalid(format!("value of '{key}' is not JSON: {e}"))),
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
