//! The declarative settings file (`settings import` / `export`):
//!
//! ```yaml
//! environment: production        # optional; else --env
//! settings:
//!   smtp.host: mail.example.com
//!   smtp.port: {value: 587, type: int, category: email}
//!   smtp.password: {value: "s3cr3t", secret: true}
//! ```
//!
//! A scalar is a value whose type follows YAML (string, int, float, bool); a
//! mapping is the long form with `value` and optional `type`, `secret`,
//! `category`, `description`. Absent attributes mean none: the file is the
//! whole truth for the keys it names.

use super::node::Node;
use super::{Desired, Secrecy, ValueType};
use crate::error::{Error, Result};
use crate::ident::{self, Ident};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    environment: Option<String>,
    #[serde(default)]
    settings: Option<Entries>,
}

/// The `settings:` mapping in file order, keeping track of a repeated key
/// (which a plain mapping would silently collapse or report at its first place).
struct Entries {
    items: Vec<(String, serde_yaml::Value)>,
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping of setting keys to values")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                use serde::de::Error as _;
                let mut out = Entries {
                    items: Vec::new(),
                    duplicate: None,
                };
                let mut seen = std::collections::HashSet::new();
                while let Some(Node(k)) = map.next_key()? {
                    let key = match &k {
                        serde_yaml::Value::String(s) => s.clone(),
                        serde_yaml::Value::Number(n) => n.to_string(),
                        serde_yaml::Value::Bool(b) => b.to_string(),
                        _ => return Err(A::Error::custom("a setting key must be text")),
                    };
                    if !seen.insert(key.clone()) && out.duplicate.is_none() {
                        out.duplicate = Some(key.clone());
                    }
                    let Node(value) = map.next_value()?;
                    out.items.push((key, value));
                }
                Ok(out)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// The line (1-based) where `key` is written as a mapping key for the `nth` time.
fn line_of(text: &str, key: &str, nth: usize) -> Option<usize> {
    let forms = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let t = line.trim_start().trim_start_matches("- ");
            forms.iter().any(|f| t.starts_with(f.as_str()))
        })
        .nth(nth - 1)
        .map(|(i, _)| i + 1)
}

/// A parsed settings file.
#[derive(Debug)]
pub struct SettingsFile {
    /// The environment it names, if any.
    pub environment: Option<String>,
    /// The settings in file order.
    pub entries: Vec<FileEntry>,
}

/// One setting of a settings file.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Key.
    pub key: String,
    /// What the file says it should be (`secret` false unless it said so).
    pub want: Desired,
    /// What the file says about secrecy: `Unsaid` when it has no `secret:`.
    pub secrecy: Secrecy,
    /// For a dotenv file, the variable it came from (its key settled by
    /// [`super::dotenv::resolve`] unless annotated); None for YAML and JSON.
    pub var: Option<super::dotenv::Var>,
}

fn yaml_error(source: &str, e: &serde_yaml::Error) -> Error {
    // serde_yaml names where it noticed the fault and, for unclosed
    // structures, where they began ("… at line 8 column 4, while parsing a
    // flow sequence at line 7 column 6"): keep all of it but the input that
    // serde's type errors quote (a value can be a secret).
    let text = crate::error::without_input(&e.to_string());
    Error::invalid(format!("{source}: {text}"))
}

fn scalar_text(key: &str, v: &serde_yaml::Value) -> Result<(String, ValueType)> {
    use serde_yaml::Value as Y;
    match v {
        Y::Bool(b) => Ok((b.to_string(), ValueType::Bool)),
        Y::Number(n) if n.is_i64() || n.is_u64() => Ok((n.to_string(), ValueType::Int)),
        Y::Number(n) => Ok((n.to_string(), ValueType::Float)),
        Y::String(s) => Ok((s.clone(), ValueType::String)),
        Y::Sequence(_) | Y::Mapping(_) => Ok((
            serde_json::to_string(v)
                .map_err(|e| Error::invalid(format!("setting '{key}': {e}")))?,
            ValueType::Json,
        )),
        Y::Null => Err(Error::invalid(format!("setting '{key}' has no value"))),
        Y::Tagged(_) => Err(Error::invalid(format!(
            "setting '{key}': YAML tags are not supported: write the value without one"
        ))),
    }
}

fn entry(key: &str, v: &serde_yaml::Value) -> Result<(Desired, bool)> {
    let long = match v {
        serde_yaml::Value::Mapping(m) => m,
        other => {
            let (text, ty) = scalar_text(key, other)?;
            return Ok((
                Desired {
                    value: Zeroizing::new(ty.normalize(key, &text)?),
                    value_type: ty,
                    secret: false,
                    category: None,
                    description: None,
                },
                false,
            ));
        }
    };
    let mut value = None;
    let mut ty = None;
    let mut secret = false;
    let mut secret_given = false;
    let mut category = None;
    let mut description = None;
    for (k, v) in long {
        let name = k.as_str().unwrap_or_default();
        let text = |what: &str| -> Result<Option<String>> {
            match v {
                serde_yaml::Value::Null => Ok(None),
                serde_yaml::Value::String(s) => Ok(Some(s.clone())),
                _ => Err(Error::invalid(format!(
                    "setting '{key}': `{what}` must be text"
                ))),
            }
        };
        match name {
            "value" => value = Some(v),
            "type" => {
                ty = text("type")?
                    .map(|t| ValueType::parse(&t))
                    .transpose()
                    .map_err(|e| e.context(format!("setting '{key}'")))?
            }
            "secret" => {
                secret_given = true;
                secret = v.as_bool().ok_or_else(|| {
                    Error::invalid(format!("setting '{key}': `secret` must be true or false"))
                })?
            }
            "category" => category = text("category")?,
            "description" => description = text("description")?,
            other => {
                let fields = ["value", "type", "secret", "category", "description"];
                let (other, fields) =
                    (crate::error::field_shown(other, &fields), fields.join(", "));
                let msg = format!("setting '{key}': unknown field {other} (expected {fields})");
                return Err(Error::invalid(msg));
            }
        }
    }
    let value = value.ok_or_else(|| Error::invalid(format!("setting '{key}' has no `value`")))?;
    let (text, inferred) = match (ty, value) {
        // A JSON value given as YAML structure or scalar.
        (Some(ValueType::Json), serde_yaml::Value::String(s)) => (s.clone(), ValueType::Json),
        (Some(ValueType::Json), other) => (
            serde_json::to_string(other)
                .map_err(|e| Error::invalid(format!("setting '{key}': {e}")))?,
            ValueType::Json,
        ),
        (_, other) => scalar_text(key, other)?,
    };
    let ty = ty.unwrap_or(inferred);
    Ok((
        Desired {
            value: Zeroizing::new(ty.normalize(key, &text)?),
            value_type: ty,
            secret,
            category,
            description,
        },
        secret_given,
    ))
}

/// Whether a settings file is JSON: named `*.json`, or (neither `*.yaml` nor
/// `*.yml`) starting with `{`. JSON is read as JSON: a YAML parser would fold
/// the line separators (U+2028, U+2029, U+0085) a JSON string may hold raw.
pub fn is_json(text: &str, source: &str) -> bool {
    let name = source.to_ascii_lowercase();
    if name.ends_with(".json") {
        return true;
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return false;
    }
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
}

/// Reads the document as JSON or YAML (every YAML tag refused, naming its line and key).
fn document(text: &str, source: &str) -> Result<Document> {
    if is_json(text, source) {
        let text = text.trim_start_matches('\u{feff}');
        let doc: Document = serde_json::from_str(text).map_err(|e| {
            let text = crate::error::without_input(&e.to_string());
            Error::invalid(format!("{source} (read as JSON): {text}"))
        })?;
        // serde_json reads an integer beyond 64 bits as a float before any
        // visitor sees it: find it in the text and refuse it as YAML does.
        if let Some(line) = super::node::json_big_integer(text) {
            let key = key_before(text, doc.settings.as_ref(), line);
            return Err(Error::invalid(format!(
                "{source} (read as JSON) at line {line}:{key} {}",
                super::node::TOO_BIG
            )));
        }
        return Ok(doc);
    }
    if let Some(found) = super::yaml_tags::first_tag(text) {
        return Err(tag_error(text, source, &found));
    }
    serde_yaml::from_str(text).map_err(|e| yaml_error(source, &e))
}

/// ` setting 'KEY':` for the last setting key written at or before `line`
/// (empty when there is none).
fn key_before(text: &str, settings: Option<&Entries>, line: usize) -> String {
    settings
        .and_then(|s| {
            s.items
                .iter()
                .filter_map(|(k, _)| line_of(text, k, 1).map(|l| (l, k.clone())))
                .filter(|(l, _)| *l <= line)
                .max()
        })
        .map(|(_, k)| format!(" setting '{}':", crate::text::visible(&k, false, None))) // not checked yet
        .unwrap_or_default()
}

/// "YAML tags are not supported", with the line and the key it belongs to.
fn tag_error(text: &str, source: &str, found: &super::yaml_tags::Found) -> Error {
    let doc: Option<Document> = serde_yaml::from_str(text).ok();
    let key = key_before(
        text,
        doc.as_ref().and_then(|d| d.settings.as_ref()),
        found.line,
    );
    let tag = found
        .tag
        .as_deref()
        .map(|t| format!(" (`{t}`)"))
        .unwrap_or_default();
    Error::invalid(format!(
        "{source} at line {}:{key} YAML tags{tag} are not supported: write the value without one (quote text; give a type with `type:`)",
        found.line
    ))
}

/// Parses a settings file: JSON (see [`is_json`]), dotenv (see
/// [`super::dotenv::is_dotenv`]) or YAML; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<SettingsFile> {
    if !is_json(text, source) && super::dotenv::is_dotenv(text) {
        return super::dotenv::parse(text, source);
    }
    let doc = document(text, source)?;
    if let Some(env) = &doc.environment {
        crate::config::validate_environment(env).map_err(|e| e.context(source))?;
    }
    let at = |key: &str, nth: usize| {
        line_of(text, key, nth)
            .map(|n| format!(" at line {n}"))
            .unwrap_or_default()
    };
    let raw = doc.settings.unwrap_or(Entries {
        items: Vec::new(),
        duplicate: None,
    });
    if let Some(key) = &raw.duplicate {
        let (line, key) = (at(key, 2), crate::text::visible(key, false, None));
        return Err(Error::invalid(format!(
            "{source}{line}: setting '{key}' appears twice"
        )));
    }
    let mut entries = Vec::with_capacity(raw.items.len());
    for (key, value) in &raw.items {
        let checked = super::validate_key(key)
            .and_then(|()| entry(key, value))
            .and_then(|(want, given)| {
                let fields = [
                    want.category.as_deref().map(Ident::Category),
                    want.description.as_deref().map(Ident::Description),
                ];
                ident::check(&fields.into_iter().flatten().collect::<Vec<_>>())
                    .map_err(|e| e.context(format!("setting '{key}'")))?;
                Ok((want, given))
            });
        match checked {
            Ok((want, secret_given)) => {
                let secrecy = match (secret_given, want.secret) {
                    (false, _) => Secrecy::Unsaid,
                    (true, true) => Secrecy::Secret,
                    (true, false) => Secrecy::Plain,
                };
                entries.push(FileEntry {
                    key: key.clone(),
                    want,
                    secrecy,
                    var: None,
                });
            }
            Err(e) => return Err(e.context(format!("{source}{}", at(key, 1)))),
        }
    }
    Ok(SettingsFile {
        environment: doc.environment,
        entries,
    })
}

/// The long form of an entry: `value` and the attributes that are not the default.
#[derive(Serialize)]
struct LongEntry<'a> {
    value: serde_json::Value,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    value_type: Option<ValueType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

/// One setting in the import format (short form when nothing is lost).
pub fn to_entry(d: &Desired) -> serde_json::Value {
    let value = match d.value_type.to_json(&d.value) {
        // Under `type: json` a YAML string is read as JSON text, so a JSON
        // string goes out as its text ("\"587\"") and comes back a string.
        serde_json::Value::String(_) if d.value_type == ValueType::Json => {
            serde_json::Value::String(d.value.to_string())
        }
        // A YAML reader refuses a flow mapping key written over 1024
        // characters: such a JSON document goes out as its text too.
        other if d.value_type == ValueType::Json && has_long_key(&other) => {
            serde_json::Value::String(d.value.to_string())
        }
        other => other,
    };
    let short = !d.secret
        && d.category.is_none()
        && d.description.is_none()
        && matches!(
            d.value_type,
            ValueType::String | ValueType::Int | ValueType::Bool
        );
    if short {
        return value;
    }
    let long = LongEntry {
        value,
        value_type: (d.value_type != ValueType::String).then_some(d.value_type),
        secret: d.secret.then_some(true),
        category: d.category.as_deref(),
        description: d.description.as_deref(),
    };
    // Plain data with string keys: serialising it cannot fail.
    serde_json::to_value(long).unwrap_or(serde_json::Value::Null)
}

/// The longest mapping key (as written) YAML readers take, with room to spare.
const YAML_KEY_MAX: usize = 1000;

/// Whether a JSON document holds an object key too long for a YAML flow mapping.
fn has_long_key(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => m.iter().any(|(k, v)| {
            portable_json(&k.as_str().into(), false).len() > YAML_KEY_MAX || has_long_key(v)
        }),
        serde_json::Value::Array(a) => a.iter().any(has_long_key),
        _ => false,
    }
}

/// Compact JSON that any YAML parser reads the same way: characters YAML
/// forbids in a stream (DEL, C1 controls, U+FFFE/U+FFFF) and the line
/// separators it would fold with the spaces around them (U+0085, U+2028,
/// U+2029), which serde_json leaves raw, become `\u` escapes (valid in JSON
/// and in YAML double quotes).
pub fn portable_json(v: &serde_json::Value, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    };
    let text = text.unwrap_or_else(|_| v.to_string());
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'
        ) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The import format as YAML: every key and string double-quoted (JSON flow
/// style), so YAML 1.1 parsers do not read `yes`, `on` or dates as other types.
pub fn to_yaml(environment: &str, entries: &[(String, serde_json::Value)]) -> String {
    let mut out = format!(
        "environment: {}\n",
        portable_json(&environment.into(), false)
    );
    if entries.is_empty() {
        out.push_str("settings: {}\n");
        return out;
    }
    out.push_str("settings:\n");
    for (key, value) in entries {
        out.push_str(&format!(
            "  {}: {}\n",
            portable_json(&key.as_str().into(), false),
            portable_json(value, false)
        ));
    }
    out
}

/// The import format as JSON.
pub fn to_json(environment: &str, entries: &[(String, serde_json::Value)]) -> String {
    #[derive(Serialize)]
    struct Document<'a> {
        environment: &'a str,
        settings: serde_json::Map<String, serde_json::Value>,
    }
    let doc = Document {
        environment,
        settings: entries.iter().cloned().collect(),
    };
    // Plain data with string keys: serialising it cannot fail.
    let doc = serde_json::to_value(doc).unwrap_or(serde_json::Value::Null);
    format!("{}\n", portable_json(&doc, true))
}

/// Single-quotes a value for POSIX shells (survives quotes, `$`, newlines).
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
