//! Settings: per environment, typed, versioned, encrypted when secret.
//!
//! Every change bumps the version by one and writes, in the same transaction,
//! a `settings_audit_log` row (old and new value, encrypted when secret) and
//! an `audit_events` entry (never a value). Deleting hides a setting and keeps
//! its history, so `rollback` can bring it back. Secret values are AES-GCM
//! envelopes bound to `setting:<environment>:<key>`.

use crate::crypto::envelope;
use crate::crypto::keyring::Keyring;
use crate::domain::audit::{Chain, Event};
use crate::error::{Error, Result};
use crate::store::{Conn, Row, Value};
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

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
                "unknown type {other:?}: use string, int, float, bool or json"
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

/// Checks a setting key: letters, digits, `_`, `.`, `-`; starting with a letter or digit; at most 255.
pub fn validate_key(key: &str) -> Result<()> {
    let ok = (1..=255).contains(&key.len())
        && key
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid setting key {key:?}: use letters, digits, `_`, `.` or `-`, starting with a letter or digit (at most 255)"
        )))
    }
}

/// The associated data binding a secret to its row.
pub fn aad(environment: &str, key: &str) -> String {
    crate::crypto::purpose::Aad::Setting { environment, key }.to_string()
}

/// A setting's stored state.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Row id.
    pub id: i64,
    /// Key.
    pub key: String,
    /// Environment.
    pub environment: String,
    /// Plain text or an envelope; None when deleted.
    pub value: Option<String>,
    /// Type.
    pub value_type: ValueType,
    /// Whether `value` is an envelope.
    pub secret: bool,
    /// Category.
    pub category: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Version.
    pub version: i64,
    /// Deleted (hidden, history kept).
    pub deleted: bool,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Who made it.
    pub updated_by: Option<String>,
}

const COLUMNS: &str = "id, key, environment, value, value_type, is_encrypted, category, description, version, is_deleted, updated_at, updated_by";

fn from_row(r: &Row) -> Result<Stored> {
    Ok(Stored {
        id: r.int(0)?,
        key: r.text(1)?,
        environment: r.text(2)?,
        value: r.opt_text(3)?,
        value_type: ValueType::parse(&r.text(4)?)?,
        secret: r.bool(5)?,
        category: r.opt_text(6)?,
        description: r.opt_text(7)?,
        version: r.int(8)?,
        deleted: r.bool(9)?,
        updated_at: r.time(10)?,
        updated_by: r.opt_text(11)?,
    })
}

/// One setting's row, deleted or not.
pub fn find(conn: &mut dyn Conn, env: &str, key: &str) -> Result<Option<Stored>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM settings WHERE environment = $1 AND key = $2"),
        &[env.into(), key.into()],
    )?
    .map(|r| from_row(&r))
    .transpose()
}

fn not_found(env: &str, key: &str) -> Error {
    Error::not_found(format!("setting '{key}' not found in environment '{env}'"))
}

/// One live setting (exit 3 when absent or deleted).
pub fn get(conn: &mut dyn Conn, env: &str, key: &str) -> Result<Stored> {
    find(conn, env, key)?
        .filter(|s| !s.deleted)
        .ok_or_else(|| not_found(env, key))
}

/// Every setting of an environment, deleted ones included, by key.
pub fn all(conn: &mut dyn Conn, env: &str) -> Result<Vec<Stored>> {
    conn.query(
        &format!("SELECT {COLUMNS} FROM settings WHERE environment = $1 ORDER BY key"),
        &[env.into()],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Live settings, optionally filtered by category and key prefix.
pub fn list(
    conn: &mut dyn Conn,
    env: &str,
    category: Option<&str>,
    prefix: Option<&str>,
) -> Result<Vec<Stored>> {
    Ok(all(conn, env)?
        .into_iter()
        .filter(|s| !s.deleted)
        .filter(|s| category.is_none_or(|c| s.category.as_deref() == Some(c)))
        .filter(|s| prefix.is_none_or(|p| s.key.starts_with(p)))
        .collect())
}

/// Opens a stored value (decrypting a secret; legacy values included).
pub fn plaintext(
    ring: Option<&Keyring>,
    env: &str,
    key: &str,
    secret: bool,
    stored: &str,
) -> Result<Zeroizing<String>> {
    if !secret {
        return Ok(Zeroizing::new(stored.to_owned()));
    }
    let ring = ring.ok_or_else(|| Error::internal("a secret was read without a key ring"))?;
    let bytes = envelope::open(ring, &aad(env, key), stored)?;
    String::from_utf8(bytes.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| {
            Error::integrity(format!(
                "secret '{key}' in '{env}' does not decrypt to text"
            ))
        })
}

/// What a setting should become.
#[derive(Clone)]
pub struct Desired {
    /// Canonical value text (plaintext).
    pub value: Zeroizing<String>,
    /// Type.
    pub value_type: ValueType,
    /// Secret.
    pub secret: bool,
    /// Category.
    pub category: Option<String>,
    /// Description.
    pub description: Option<String>,
}

impl std::fmt::Debug for Desired {
    /// Never shows the value: it may be a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desired")
            .field("value", &"***")
            .field("value_type", &self.value_type)
            .field("secret", &self.secret)
            .field("category", &self.category)
            .field("description", &self.description)
            .finish()
    }
}

/// Which fields a change touches, for plans and audit details.
pub fn changed_fields(
    ring: Option<&Keyring>,
    current: &Stored,
    want: &Desired,
) -> Result<Vec<&'static str>> {
    if current.deleted {
        return Ok(vec!["created"]);
    }
    let mut fields = Vec::new();
    let value = match &current.value {
        Some(v) => plaintext(ring, &current.environment, &current.key, current.secret, v)?,
        None => Zeroizing::new(String::new()),
    };
    if *value != *want.value {
        fields.push("value");
    }
    if current.value_type != want.value_type {
        fields.push("type");
    }
    if current.secret != want.secret {
        fields.push("secret");
    }
    if current.category != want.category {
        fields.push("category");
    }
    if current.description != want.description {
        fields.push("description");
    }
    Ok(fields)
}

/// The kind of change, as `settings_audit_log.action` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// First version, or back from deletion.
    Create,
    /// A new value or attributes.
    Update,
    /// Hidden.
    Delete,
    /// An old version written back.
    Rollback,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Rollback => "rollback",
        }
    }
}

/// The audit trail rows of changes made in one transaction, written together.
pub struct Journal<'a> {
    actor: &'a str,
    chain: Chain,
    log_rows: Vec<Vec<Value>>,
    now: OffsetDateTime,
}

impl<'a> Journal<'a> {
    /// Starts a journal at the audit chain's head (write transaction).
    pub fn new(conn: &mut dyn Conn, actor: &'a str) -> Result<Self> {
        Ok(Journal {
            actor,
            chain: Chain::at_head(conn, crate::time::now())?,
            log_rows: Vec::new(),
            now: crate::time::now(),
        })
    }

    /// The instant this journal stamps on rows.
    pub fn now(&self) -> OffsetDateTime {
        self.now
    }

    #[allow(clippy::too_many_arguments)]
    fn log(
        &mut self,
        setting_id: i64,
        env: &str,
        key: &str,
        action: Action,
        old: Option<&str>,
        new: Option<&str>,
        state: &Desired,
        secret: bool,
        version: i64,
        fields: &[&str],
    ) {
        self.log_rows.push(vec![
            setting_id.into(),
            key.into(),
            env.into(),
            action.name().into(),
            old.into(),
            new.into(),
            secret.into(),
            state.value_type.name().into(),
            state.category.clone().into(),
            state.description.clone().into(),
            version.into(),
            self.actor.into(),
            self.now.into(),
        ]);
        let _ = self.chain.append(
            self.actor,
            Event::new(&format!("setting.{}", action.name()), "setting", key).details(
                serde_json::json!({
                    "environment": env,
                    "version": version,
                    "type": state.value_type.name(),
                    "secret": secret,
                    "fields": fields,
                }),
            ),
        );
    }

    /// Writes the collected rows.
    pub fn flush(&mut self, conn: &mut dyn Conn) -> Result<()> {
        crate::store::insert_rows(
            conn,
            "settings_audit_log",
            &[
                "setting_id",
                "key",
                "environment",
                "action",
                "old_value",
                "new_value",
                "is_encrypted",
                "value_type",
                "category",
                "description",
                "version",
                "actor",
                "changed_at",
            ],
            std::mem::take(&mut self.log_rows),
        )?;
        self.chain.flush(conn)
    }
}

fn seal(ring: Option<&Keyring>, env: &str, key: &str, want: &Desired) -> Result<String> {
    if !want.secret {
        return Ok(want.value.to_string());
    }
    let ring = ring.ok_or_else(|| Error::internal("a secret was written without a key ring"))?;
    envelope::seal(ring.active(), &aad(env, key), want.value.as_bytes())
}

/// The outcome of one write.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// Key.
    pub key: String,
    /// Environment.
    pub environment: String,
    /// Version after the write.
    pub version: i64,
    /// `create`, `update`, `delete`, `rollback` or `unchanged`.
    pub action: &'static str,
    /// Fields that changed.
    pub changed: Vec<&'static str>,
}

/// Writes `want` as the setting's next version (or nothing, when it already holds).
/// `current` is the row as read in this transaction.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    conn: &mut dyn Conn,
    journal: &mut Journal<'_>,
    ring: Option<&Keyring>,
    env: &str,
    key: &str,
    current: Option<&Stored>,
    want: &Desired,
    rollback: bool,
) -> Result<Written> {
    let now = journal.now();
    let fields = match current {
        Some(c) => changed_fields(ring, c, want)?,
        None => vec!["created"],
    };
    let version = current.map_or(1, |c| c.version + 1);
    if fields.is_empty() && !rollback {
        return Ok(Written {
            key: key.into(),
            environment: env.into(),
            version: version - 1,
            action: "unchanged",
            changed: fields,
        });
    }
    let sealed = seal(ring, env, key, want)?;
    let action = match (rollback, current) {
        (true, _) => Action::Rollback,
        (false, Some(c)) if !c.deleted => Action::Update,
        _ => Action::Create,
    };
    let id = match current {
        Some(c) => {
            conn.execute(
                "UPDATE settings SET value = $1, value_type = $2, is_encrypted = $3, category = $4, description = $5, \
                 version = $6, is_deleted = FALSE, updated_at = $7, updated_by = $8 WHERE id = $9",
                &[
                    sealed.as_str().into(),
                    want.value_type.name().into(),
                    want.secret.into(),
                    want.category.clone().into(),
                    want.description.clone().into(),
                    version.into(),
                    now.into(),
                    journal.actor.into(),
                    c.id.into(),
                ],
            )?;
            c.id
        }
        None => conn
            .query_one(
                "INSERT INTO settings (key, environment, value, value_type, is_encrypted, category, description, version, is_deleted, created_at, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, FALSE, $8, $8, $9) RETURNING id",
                &[
                    key.into(),
                    env.into(),
                    sealed.as_str().into(),
                    want.value_type.name().into(),
                    want.secret.into(),
                    want.category.clone().into(),
                    want.description.clone().into(),
                    now.into(),
                    journal.actor.into(),
                ],
            )?
            .int(0)?,
    };
    // The log keeps both values as stored; `is_encrypted` describes the new one
    // (an old secret is an envelope, which names its own format).
    let old = current.and_then(|c| c.value.clone());
    journal.log(
        id,
        env,
        key,
        action,
        old.as_deref(),
        Some(&sealed),
        want,
        want.secret,
        version,
        &fields,
    );
    Ok(Written {
        key: key.into(),
        environment: env.into(),
        version,
        action: action.name(),
        changed: fields,
    })
}

/// One change with its own audit trail: the journal is opened, the change
/// applied and the trail written, all in the caller's write transaction.
#[allow(clippy::too_many_arguments)]
pub fn apply_one(
    conn: &mut dyn Conn,
    actor: &str,
    ring: Option<&Keyring>,
    env: &str,
    key: &str,
    current: Option<&Stored>,
    want: &Desired,
    rollback: bool,
) -> Result<Written> {
    let mut journal = Journal::new(conn, actor)?;
    let written = apply(conn, &mut journal, ring, env, key, current, want, rollback)?;
    journal.flush(conn)?;
    Ok(written)
}

/// One deletion with its own audit trail (see [`apply_one`]).
pub fn delete_one(
    conn: &mut dyn Conn,
    actor: &str,
    env: &str,
    key: &str,
    if_version: Option<i64>,
) -> Result<Written> {
    let mut journal = Journal::new(conn, actor)?;
    let written = delete(conn, &mut journal, env, key, if_version)?;
    journal.flush(conn)?;
    Ok(written)
}

/// Creates many new settings (none of them has a row yet) with few statements:
/// what `import` does with a fresh environment.
pub fn create_many(
    conn: &mut dyn Conn,
    journal: &mut Journal<'_>,
    ring: Option<&Keyring>,
    env: &str,
    items: &[(&str, &Desired)],
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let now = journal.now();
    let mut sealed = Vec::with_capacity(items.len());
    let mut rows = Vec::with_capacity(items.len());
    for (key, want) in items {
        let value = seal(ring, env, key, want)?;
        rows.push(vec![
            (*key).into(),
            env.into(),
            value.as_str().into(),
            want.value_type.name().into(),
            want.secret.into(),
            want.category.clone().into(),
            want.description.clone().into(),
            Value::Int(1),
            false.into(),
            now.into(),
            now.into(),
            journal.actor.into(),
        ]);
        sealed.push(value);
    }
    crate::store::insert_rows(
        conn,
        "settings",
        &[
            "key",
            "environment",
            "value",
            "value_type",
            "is_encrypted",
            "category",
            "description",
            "version",
            "is_deleted",
            "created_at",
            "updated_at",
            "updated_by",
        ],
        rows,
    )?;
    let ids: std::collections::HashMap<String, i64> = conn
        .query(
            "SELECT key, id FROM settings WHERE environment = $1",
            &[env.into()],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.int(1)?)))
        .collect::<Result<_>>()?;
    for ((key, want), value) in items.iter().zip(&sealed) {
        let id = *ids.get(*key).ok_or_else(|| {
            Error::internal(format!("setting '{key}' vanished while being created"))
        })?;
        journal.log(
            id,
            env,
            key,
            Action::Create,
            None,
            Some(value),
            want,
            want.secret,
            1,
            &["created"],
        );
    }
    Ok(())
}

/// Hides a setting (history kept). `if_version` is check-and-set.
pub fn delete(
    conn: &mut dyn Conn,
    journal: &mut Journal<'_>,
    env: &str,
    key: &str,
    if_version: Option<i64>,
) -> Result<Written> {
    let current = get(conn, env, key)?;
    check_version(env, key, Some(&current), if_version)?;
    let version = current.version + 1;
    conn.execute(
        "UPDATE settings SET value = NULL, is_deleted = TRUE, version = $1, updated_at = $2, updated_by = $3 WHERE id = $4",
        &[version.into(), journal.now().into(), journal.actor.into(), current.id.into()],
    )?;
    let state = Desired {
        value: Zeroizing::new(String::new()),
        value_type: current.value_type,
        secret: current.secret,
        category: current.category.clone(),
        description: current.description.clone(),
    };
    journal.log(
        current.id,
        env,
        key,
        Action::Delete,
        current.value.as_deref(),
        None,
        &state,
        current.secret,
        version,
        &[],
    );
    Ok(Written {
        key: key.into(),
        environment: env.into(),
        version,
        action: "delete",
        changed: vec![],
    })
}

/// Check-and-set: the setting's current version must be `want` (0 means "does not exist";
/// a deleted setting keeps the version of its deletion).
pub fn check_version(
    env: &str,
    key: &str,
    current: Option<&Stored>,
    want: Option<i64>,
) -> Result<()> {
    let Some(want) = want else { return Ok(()) };
    // A deleted setting does not exist, as `get` says: its version is 0 here.
    let have = current.filter(|c| !c.deleted).map_or(0, |c| c.version);
    if have != want {
        let state = match current {
            None => "does not exist (version 0)".to_owned(),
            Some(c) if c.deleted => format!("does not exist (deleted at version {})", c.version),
            Some(c) => format!("is at version {}", c.version),
        };
        return Err(Error::conflict(format!(
            "setting '{key}' in '{env}' {state}, not {want}: nothing changed"
        )));
    }
    Ok(())
}

/// One version in a setting's history.
#[derive(Debug, Clone)]
pub struct Version {
    /// Version number.
    pub version: i64,
    /// create, update, delete, rollback.
    pub action: String,
    /// The value written (None for delete), as stored.
    pub value: Option<String>,
    /// Whether it is an envelope.
    pub secret: bool,
    /// Type.
    pub value_type: ValueType,
    /// Category.
    pub category: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Who.
    pub actor: String,
    /// When.
    pub changed_at: OffsetDateTime,
}

/// A setting's versions, oldest first (exit 3 when it never existed).
pub fn history(conn: &mut dyn Conn, env: &str, key: &str) -> Result<Vec<Version>> {
    let rows = conn.query(
        "SELECT version, action, new_value, is_encrypted, value_type, category, description, actor, changed_at \
         FROM settings_audit_log WHERE environment = $1 AND key = $2 ORDER BY version, id",
        &[env.into(), key.into()],
    )?;
    if rows.is_empty() {
        return Err(not_found(env, key));
    }
    rows.iter()
        .map(|r| {
            Ok(Version {
                version: r.int(0)?,
                action: r.text(1)?,
                value: r.opt_text(2)?,
                secret: r.bool(3)?,
                value_type: ValueType::parse(&r.text(4)?)?,
                category: r.opt_text(5)?,
                description: r.opt_text(6)?,
                actor: r.text(7)?,
                changed_at: r.time(8)?,
            })
        })
        .collect()
}

/// The state version `n` had, to write back.
pub fn state_at(
    ring: Option<&Keyring>,
    env: &str,
    key: &str,
    versions: &[Version],
    n: i64,
) -> Result<Desired> {
    let v = versions
        .iter()
        .rev()
        .find(|v| v.version == n)
        .ok_or_else(|| Error::not_found(format!("setting '{key}' in '{env}' has no version {n}: see `keyward settings history {key}`")))?;
    let stored = v.value.as_deref().ok_or_else(|| {
        Error::invalid(format!(
            "version {n} of '{key}' is its deletion: roll back to a version before it"
        ))
    })?;
    Ok(Desired {
        value: plaintext(ring, env, key, v.secret, stored)?,
        value_type: v.value_type,
        secret: v.secret,
        category: v.category.clone(),
        description: v.description.clone(),
    })
}

/// The environment variable a key becomes: `smtp.password` → `SMTP_PASSWORD`.
/// A key starting with a digit gets a leading `_` (`9lives` → `_9LIVES`), as shells require.
pub fn env_var_name(key: &str) -> String {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_normalize_and_render() {
        assert_eq!(ValueType::Int.normalize("k", " 587 ").unwrap(), "587");
        assert!(ValueType::Int.normalize("k", "5.5").is_err());
        assert_eq!(ValueType::Bool.normalize("k", "Yes").unwrap(), "true");
        assert!(ValueType::Float.normalize("k", "NaN").is_err());
        assert_eq!(
            ValueType::Json
                .normalize("k", "{ \"a\" : [1, 2] }")
                .unwrap(),
            r#"{"a":[1,2]}"#
        );
        assert!(ValueType::Json.normalize("k", "{").is_err());
        assert_eq!(ValueType::Int.to_json("587"), serde_json::json!(587));
        assert_eq!(
            ValueType::Json.to_json(r#"{"a":1}"#),
            serde_json::json!({"a": 1})
        );
    }

    #[test]
    fn keys_and_env_names() {
        validate_key("smtp.password").unwrap();
        assert!(validate_key(".hidden").is_err());
        assert!(validate_key("a b").is_err());
        assert_eq!(env_var_name("smtp.password"), "SMTP_PASSWORD");
        assert_eq!(env_var_name("feature-x.on"), "FEATURE_X_ON");
        assert_eq!(env_var_name("9lives"), "_9LIVES");
    }
}
