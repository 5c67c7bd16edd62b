//! The views settings operations return: the JSON contract of `get`, `list`,
//! `history` and `diff`, and the table columns that show them.

use crate::domain::settings::{Action, Stored, ValueType};
use crate::output::TableRow;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

/// How a secret's value shows when it is not revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// `********` (tables, for people).
    Stars,
    /// null (JSON and YAML, for scripts).
    Null,
}

impl Serialize for Mask {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Mask::Stars => s.serialize_str("********"),
            Mask::Null => s.serialize_none(),
        }
    }
}

/// A value as shown: typed JSON, or a mask standing for a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Shown {
    /// The value (null when there is none).
    Value(serde_json::Value),
    /// A secret left unshown.
    Masked(Mask),
}

/// A setting as `get` and `list` show it.
#[derive(Debug, Clone, Serialize)]
pub struct SettingView {
    /// Key.
    pub key: String,
    /// Environment.
    pub environment: String,
    /// The value, typed; masked for an unrevealed secret.
    pub value: Shown,
    /// Type.
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// Whether it is secret.
    pub secret: bool,
    /// Category.
    pub category: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Version.
    pub version: i64,
    /// Last change.
    #[serde(with = "crate::output::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Who made it.
    pub updated_by: Option<String>,
}

impl TableRow for SettingView {
    const COLUMNS: &'static [&'static str] = &[
        "key",
        "value",
        "type",
        "secret",
        "category",
        "version",
        "updated_at",
    ];
}

impl SettingView {
    /// `s` showing `value` (its plaintext), or the mask when it is an unshown secret.
    pub fn new(s: &Stored, value: Option<&str>, mask: Mask) -> Self {
        let value = match value {
            Some(v) => Shown::Value(s.value_type.to_json(v)),
            None if s.secret => Shown::Masked(mask),
            None => Shown::Value(serde_json::Value::Null),
        };
        SettingView {
            key: s.key.clone(),
            environment: s.environment.clone(),
            value,
            value_type: s.value_type,
            secret: s.secret,
            category: s.category.clone(),
            description: s.description.clone(),
            version: s.version,
            updated_at: s.updated_at,
            updated_by: s.updated_by.clone(),
        }
    }
}

/// One version as `history` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    /// Version number.
    pub version: i64,
    /// create, update, delete, rollback.
    pub action: Action,
    /// The value written (null for a deletion), masked for an unrevealed secret.
    pub value: Shown,
    /// Type.
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// Whether it is secret.
    pub secret: bool,
    /// Category.
    pub category: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Who.
    pub actor: String,
    /// When.
    #[serde(with = "crate::output::rfc3339")]
    pub changed_at: OffsetDateTime,
}

impl TableRow for HistoryRow {
    const COLUMNS: &'static [&'static str] = &[
        "version",
        "action",
        "value",
        "type",
        "secret",
        "actor",
        "changed_at",
    ];
}

/// One environment as `settings envs` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EnvRow {
    /// The environment.
    pub environment: String,
    /// Live settings.
    pub settings: i64,
    /// Live secret settings.
    pub secrets: i64,
    /// Deleted settings (history kept; `rollback` restores them).
    pub deleted: i64,
}

impl TableRow for EnvRow {
    const COLUMNS: &'static [&'static str] = &["environment", "settings", "secrets", "deleted"];
}

impl From<crate::domain::settings::envs::EnvCount> for EnvRow {
    fn from(e: crate::domain::settings::envs::EnvCount) -> Self {
        EnvRow {
            environment: e.environment,
            settings: e.settings,
            secrets: e.secrets,
            deleted: e.deleted,
        }
    }
}

/// How a key differs between two environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffStatus {
    /// Only in the named environment (`only_in_<env>`).
    OnlyIn(String),
    /// In both, with different values or types (`different`).
    Different,
}

impl Serialize for DiffStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DiffStatus::OnlyIn(env) => s.serialize_str(&format!("only_in_{env}")),
            DiffStatus::Different => s.serialize_str("different"),
        }
    }
}

/// One difference as `diff` shows it (never a value).
#[derive(Debug, Clone, Serialize)]
pub struct DiffRow {
    /// Key.
    pub key: String,
    /// How it differs.
    pub status: DiffStatus,
    /// Whether either side is secret.
    pub secret: bool,
}

impl TableRow for DiffRow {
    const COLUMNS: &'static [&'static str] = &["key", "status", "secret"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SettingId;

    #[test]
    fn views_keep_their_columns_and_masks() {
        let s = Stored {
            id: SettingId(1),
            key: "smtp.password".into(),
            environment: "production".into(),
            value: Some("kw1:…".into()),
            value_type: ValueType::String,
            secret: true,
            category: None,
            description: None,
            version: 2,
            deleted: false,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            updated_by: Some("tester".into()),
        };
        let table = SettingView::new(&s, None, Mask::Stars);
        crate::output::assert_columns(&table);
        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(json["value"], "********");
        assert_eq!(json["type"], "string");
        let json = serde_json::to_value(SettingView::new(&s, None, Mask::Null)).unwrap();
        assert_eq!(json["value"], serde_json::Value::Null);
        let row = HistoryRow {
            version: 1,
            action: Action::Create,
            value: Shown::Masked(Mask::Stars),
            value_type: ValueType::Int,
            secret: true,
            category: None,
            description: None,
            actor: "tester".into(),
            changed_at: OffsetDateTime::UNIX_EPOCH,
        };
        crate::output::assert_columns(&row);
        assert_eq!(serde_json::to_value(&row).unwrap()["action"], "create");
        let diff = DiffRow {
            key: "a".into(),
            status: DiffStatus::OnlyIn("staging".into()),
            secret: false,
        };
        crate::output::assert_columns(&diff);
        let env = EnvRow {
            environment: "production".into(),
            settings: 3,
            secrets: 1,
            deleted: 0,
        };
        crate::output::assert_columns(&env);
        assert_eq!(
            serde_json::to_value(&diff).unwrap()["status"],
            "only_in_staging"
        );
    }
}
