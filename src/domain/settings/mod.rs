//! Settings: per environment, typed, versioned, encrypted when secret.
//!
//! Every change bumps the version by one and writes, in the same transaction,
//! a `settings_audit_log` row (old and new value, encrypted when secret) and
//! an `audit_events` entry (never a value). Deleting hides a setting and keeps
//! its history, so `rollback` can bring it back. Secret values are AES-GCM
//! envelopes bound to `setting:<environment>:<key>`.
//!
//! This module holds the types and the pure rules; [`repo`] the SQL,
//! [`journal`] the audit trail of a transaction's changes, [`change`] the
//! writes, [`file`] the declarative settings file.

pub mod change;
pub mod dotenv;
pub mod envs;
pub mod file;
pub mod journal;
mod node;
pub mod repo;
mod value;
pub mod vars;
mod yaml_tags;

pub use change::{apply, apply_one, create_many, delete, delete_one, Change, Written};
pub use journal::Journal;
pub use repo::{all, any_secret_in, find, get, history, list, list_page, ListFilter, LIST_PAGE};
pub use value::ValueType;

use crate::crypto::envelope;
use crate::crypto::keyring::Keyring;
use crate::error::{Error, Result};
use crate::ids::SettingId;
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Checks a setting key (see [`crate::ident`]).
pub fn validate_key(key: &str) -> Result<()> {
    crate::ident::setting_key(key)
}

/// Checks a value against the size cap (`max` bytes, from the configuration):
/// exit 2 naming the key, never quoting the value.
pub fn check_size(key: &str, value: &str, max: u64) -> Result<()> {
    if value.len() as u64 > max {
        return Err(Error::invalid(format!(
            "the value of '{key}' is {} bytes, over the limit of {max} bytes (KEYWARD_MAX_VALUE_SIZE or settings.max_value_size): nothing changed",
            value.len()
        )));
    }
    Ok(())
}

/// The associated data binding a secret to its row.
pub fn aad(environment: &str, key: &str) -> String {
    crate::crypto::purpose::Aad::Setting { environment, key }.to_string()
}

/// A setting's stored state.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Row id.
    pub id: SettingId,
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

impl Stored {
    /// The row when it is live (not deleted).
    pub fn live(&self) -> Option<&Stored> {
        (!self.deleted).then_some(self)
    }
}

pub(crate) fn not_found(env: &str, key: &str) -> Error {
    Error::not_found(format!("setting '{key}' not found in environment '{env}'"))
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
    // Every reader (get, list, export, history, run, diff, promote) names the
    // setting whose ciphertext fails, with the exit code the fault has.
    let bytes = envelope::open(ring, &aad(env, key), stored)
        .map_err(|e| e.context(format!("secret '{key}' in environment '{env}'")))?;
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

impl Desired {
    /// The stored setting as a desired state, with its opened value.
    pub fn of(s: &Stored, value: Zeroizing<String>) -> Self {
        Desired {
            value,
            value_type: s.value_type,
            secret: s.secret,
            category: s.category.clone(),
            description: s.description.clone(),
        }
    }
}

/// What a change asks about secrecy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// Secret (`--secret`, `secret: true`, a secret source).
    Secret,
    /// Plain, said explicitly (only a settings file can: `secret: false`).
    Plain,
    /// Not said: the current state decides.
    Unsaid,
}

impl Secrecy {
    /// `Secret` when `secret`, else `Unsaid`.
    pub fn secret_if(secret: bool) -> Self {
        if secret {
            Secrecy::Secret
        } else {
            Secrecy::Unsaid
        }
    }
}

/// A secret stays secret: a new value for a live secret is secret too,
/// unless the change explicitly says plain. `current` is the row read in the
/// write transaction.
pub fn stays_secret(current: Option<&Stored>, asked: Secrecy) -> bool {
    match asked {
        Secrecy::Secret => true,
        Secrecy::Plain => false,
        Secrecy::Unsaid => current.and_then(Stored::live).is_some_and(|c| c.secret),
    }
}

/// A field a change touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The value.
    Value,
    /// The type.
    Type,
    /// Whether it is secret.
    Secret,
    /// The category.
    Category,
    /// The description.
    Description,
}

impl Field {
    /// The name in plans and audit details.
    pub fn name(self) -> &'static str {
        match self {
            Field::Value => "value",
            Field::Type => "type",
            Field::Secret => "secret",
            Field::Category => "category",
            Field::Description => "description",
        }
    }
}

/// What a change touches: a new setting, or some fields (none: unchanged).
/// Serialised as a list of names: `["created"]` or `["value", "secret"]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Changes {
    /// A new setting (or one back from deletion).
    Created,
    /// These fields of a live setting (empty: nothing changes).
    Fields(Vec<Field>),
    /// Nothing to name (a deletion).
    #[default]
    Nothing,
}

impl Changes {
    /// Whether the change would write nothing.
    pub fn is_unchanged(&self) -> bool {
        matches!(self, Changes::Fields(f) if f.is_empty())
    }

    /// The names, as plans and audit details show them.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Changes::Created => vec!["created"],
            Changes::Fields(f) => f.iter().map(|f| f.name()).collect(),
            Changes::Nothing => Vec::new(),
        }
    }
}

impl Serialize for Changes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

/// Which fields a change touches (`current` as read in the transaction).
pub fn changed_fields(
    ring: Option<&Keyring>,
    current: Option<&Stored>,
    want: &Desired,
) -> Result<Changes> {
    let Some(current) = current.and_then(Stored::live) else {
        return Ok(Changes::Created);
    };
    let mut fields = Vec::new();
    let value = match &current.value {
        Some(v) => plaintext(ring, &current.environment, &current.key, current.secret, v)?,
        None => Zeroizing::new(String::new()),
    };
    if *value != *want.value {
        fields.push(Field::Value);
    }
    if current.value_type != want.value_type {
        fields.push(Field::Type);
    }
    if current.secret != want.secret {
        fields.push(Field::Secret);
    }
    if current.category != want.category {
        fields.push(Field::Category);
    }
    if current.description != want.description {
        fields.push(Field::Description);
    }
    Ok(Changes::Fields(fields))
}

/// The kind of change: `settings_audit_log.action`, or `unchanged` for a write that wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// First version, or back from deletion.
    Create,
    /// A new value or attributes.
    Update,
    /// Hidden.
    Delete,
    /// An old version written back.
    Rollback,
    /// Nothing written: the setting already held it.
    Unchanged,
}

impl Action {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Rollback => "rollback",
            Action::Unchanged => "unchanged",
        }
    }

    /// Parses a stored `settings_audit_log.action`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "create" => Ok(Action::Create),
            "update" => Ok(Action::Update),
            "delete" => Ok(Action::Delete),
            "rollback" => Ok(Action::Rollback),
            other => Err(Error::integrity(format!(
                "settings history holds an unknown action {}",
                crate::ident::shown(other)
            ))),
        }
    }

    /// What writing a change with these `fields` is (not a rollback).
    pub fn of(fields: &Changes) -> Self {
        match fields {
            Changes::Created => Action::Create,
            f if f.is_unchanged() => Action::Unchanged,
            _ => Action::Update,
        }
    }
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
    let have = current.and_then(Stored::live).map_or(0, |c| c.version);
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
    pub action: Action,
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

/// The environment variables a list of settings becomes; two keys that make
/// one name are refused.
pub fn env_pairs<'a>(
    list: impl IntoIterator<Item = (&'a str, &'a Zeroizing<String>)>,
) -> Result<Vec<(String, Zeroizing<String>)>> {
    let mut seen: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for (key, value) in list {
        let name = env_var_name(key);
        if let Some(other) = seen.insert(name.clone(), key) {
            return Err(Error::invalid(format!(
                "settings '{other}' and '{key}' both become the environment variable {name}: rename one"
            )));
        }
        out.push((name, value.clone()));
    }
    Ok(out)
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

    fn stored(secret: bool, deleted: bool) -> Stored {
        Stored {
            id: SettingId(1),
            key: "k".into(),
            environment: "development".into(),
            value: Some("v".into()),
            value_type: ValueType::String,
            secret,
            category: None,
            description: None,
            version: 1,
            deleted,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_by: None,
        }
    }

    #[test]
    fn a_secret_stays_secret() {
        let live = stored(true, false);
        let gone = stored(true, true);
        assert!(stays_secret(Some(&live), Secrecy::Unsaid));
        assert!(!stays_secret(Some(&live), Secrecy::Plain));
        assert!(!stays_secret(Some(&gone), Secrecy::Unsaid));
        assert!(!stays_secret(None, Secrecy::Unsaid));
        assert!(stays_secret(None, Secrecy::Secret));
    }

    #[test]
    fn changes_serialise_as_names() {
        let plain = stored(false, false);
        let want = Desired {
            value: Zeroizing::new("w".into()),
            value_type: ValueType::String,
            secret: true,
            category: None,
            description: None,
        };
        let fields = changed_fields(None, Some(&plain), &want).unwrap();
        assert_eq!(
            serde_json::to_value(&fields).unwrap(),
            serde_json::json!(["value", "secret"])
        );
        assert_eq!(fields.to_string(), "value, secret");
        assert_eq!(Action::of(&fields), Action::Update);
        let created = changed_fields(None, None, &want).unwrap();
        assert_eq!(
            serde_json::to_value(&created).unwrap(),
            serde_json::json!(["created"])
        );
        assert_eq!(Action::of(&created), Action::Create);
        assert_eq!(
            serde_json::to_value(Action::Unchanged).unwrap(),
            "unchanged"
        );
        assert_eq!(
            serde_json::to_value(ValueType::Int).unwrap(),
            ValueType::Int.name()
        );
    }
}
