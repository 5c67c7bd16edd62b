//! The settings repository: every SQL statement on `settings` and
//! `settings_audit_log`, portable (`$1` placeholders), rows read by column name.

use super::{not_found, Desired, Stored, ValueType, Version};
use crate::domain::audit::Stamp;
use crate::error::{Error, Result};
use crate::ids::SettingId;
use crate::store::{Conn, Row, Value};
use std::collections::HashMap;

const SELECT: &str = "SELECT id, key, environment, value, value_type, is_encrypted, category, \
                      description, version, is_deleted, updated_at, updated_by FROM settings";

fn from_row(r: &Row) -> Result<Stored> {
    Ok(Stored {
        id: SettingId(r.int("id")?),
        key: r.text("key")?,
        environment: r.text("environment")?,
        value: r.opt_text("value")?,
        value_type: ValueType::parse(&r.text("value_type")?)?,
        secret: r.bool("is_encrypted")?,
        category: r.opt_text("category")?,
        description: r.opt_text("description")?,
        version: r.int("version")?,
        deleted: r.bool("is_deleted")?,
        updated_at: r.time("updated_at")?,
        updated_by: r.opt_text("updated_by")?,
    })
}

/// One setting's row, deleted or not.
pub fn find(conn: &mut dyn Conn, env: &str, key: &str) -> Result<Option<Stored>> {
    conn.query_opt(
        &format!("{SELECT} WHERE environment = $1 AND key = $2"),
        &[env.into(), key.into()],
    )?
    .map(|r| from_row(&r))
    .transpose()
}

/// One live setting (exit 3 when absent or deleted).
pub fn get(conn: &mut dyn Conn, env: &str, key: &str) -> Result<Stored> {
    match find(conn, env, key)?.filter(|s| !s.deleted) {
        Some(s) => Ok(s),
        None => Err(missing(conn, env, key)),
    }
}

/// "Not found" (exit 3), saying so when the whole environment holds no
/// setting, with the closest one that does (a mistyped `--env`).
fn missing(conn: &mut dyn Conn, env: &str, key: &str) -> Error {
    match super::envs::empty_environment(conn, env) {
        Ok(Some(empty)) => Error::not_found(format!("setting '{key}' not found: {empty}")),
        _ => not_found(env, key),
    }
}

/// Whether `env` holds a live setting.
pub fn has_live(conn: &mut dyn Conn, env: &str) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 AS found FROM settings WHERE environment = $1 AND is_deleted = FALSE LIMIT 1",
            &[env.into()],
        )?
        .is_some())
}

/// Every environment that has or had settings, with its counts, by name.
pub fn environments(conn: &mut dyn Conn) -> Result<Vec<super::envs::EnvCount>> {
    conn.query(
        "SELECT environment, \
         SUM(CASE WHEN is_deleted THEN 0 ELSE 1 END) AS live, \
         SUM(CASE WHEN is_encrypted AND NOT is_deleted THEN 1 ELSE 0 END) AS secrets, \
         SUM(CASE WHEN is_deleted THEN 1 ELSE 0 END) AS deleted \
         FROM settings GROUP BY environment ORDER BY environment",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(super::envs::EnvCount {
            environment: r.text("environment")?,
            settings: r.int("live")?,
            secrets: r.int("secrets")?,
            deleted: r.int("deleted")?,
        })
    })
    .collect()
}

/// Every setting of an environment, deleted ones included, by key.
pub fn all(conn: &mut dyn Conn, env: &str) -> Result<Vec<Stored>> {
    conn.query(
        &format!("{SELECT} WHERE environment = $1 ORDER BY key"),
        &[env.into()],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Live settings, optionally filtered by category and key prefix, by key.
pub fn list(
    conn: &mut dyn Conn,
    env: &str,
    category: Option<&str>,
    prefix: Option<&str>,
) -> Result<Vec<Stored>> {
    let mut out = Vec::new();
    let filter = ListFilter {
        env,
        category,
        prefix,
    };
    let mut after = None;
    loop {
        let page = list_page(conn, &filter, after.as_deref(), LIST_PAGE)?;
        let done = (page.len() as i64) < LIST_PAGE;
        after = page.last().map(|s| s.key.clone());
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Settings read per query when listing (a page).
pub const LIST_PAGE: i64 = 1000;

/// Which live settings a list shows.
#[derive(Debug, Clone, Copy)]
pub struct ListFilter<'a> {
    /// Environment.
    pub env: &'a str,
    /// Only this category.
    pub category: Option<&'a str>,
    /// Only keys starting with this.
    pub prefix: Option<&'a str>,
}

/// The filter's conditions (` AND …` after the environment's) and their parameters.
fn list_sql(f: &ListFilter<'_>) -> (String, Vec<Value>) {
    // `environment || ''` keeps SQLite off the (environment, category) index,
    // which would sort the whole environment for every page: the pages walk
    // the (key, environment) unique index instead, in key order, each one
    // starting where the last ended.
    let mut sql = String::from(" WHERE environment || '' = $1 AND is_deleted = FALSE");
    let mut params: Vec<Value> = vec![f.env.into()];
    if let Some(c) = f.category {
        params.push(c.into());
        sql.push_str(&format!(" AND category = ${}", params.len()));
    }
    if let Some(p) = f.prefix {
        params.push(p.into());
        let n = params.len();
        // substr/length are portable; LIKE would treat `_` and `%` as wildcards.
        sql.push_str(&format!(" AND substr(key, 1, length(${n})) = ${n}"));
    }
    (sql, params)
}

/// One page of live settings matching `f`: at most `page`, by key, after
/// the key `after` (keyset pagination; none: from the first).
pub fn list_page(
    conn: &mut dyn Conn,
    f: &ListFilter<'_>,
    after: Option<&str>,
    page: i64,
) -> Result<Vec<Stored>> {
    let (mut cond, mut params) = list_sql(f);
    if let Some(k) = after {
        params.push(k.into());
        cond.push_str(&format!(" AND key > ${}", params.len()));
    }
    params.push(page.max(1).into());
    conn.query(
        &format!("{SELECT}{cond} ORDER BY key LIMIT ${}", params.len()),
        &params,
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Whether a live setting matching `f` is secret.
pub fn any_secret_in(conn: &mut dyn Conn, f: &ListFilter<'_>) -> Result<bool> {
    let (cond, params) = list_sql(f);
    Ok(conn
        .query_opt(
            &format!("SELECT 1 AS found FROM settings{cond} AND is_encrypted = TRUE LIMIT 1"),
            &params,
        )?
        .is_some())
}

/// Whether either environment holds a secret (deleted settings included).
pub fn any_secret(conn: &mut dyn Conn, env: &str, other: &str) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 AS found FROM settings \
             WHERE (environment = $1 OR environment = $2) AND is_encrypted = TRUE LIMIT 1",
            &[env.into(), other.into()],
        )?
        .is_some())
}

/// A setting's versions, oldest first (exit 3 when it never existed).
pub fn history(conn: &mut dyn Conn, env: &str, key: &str) -> Result<Vec<Version>> {
    let rows = conn.query(
        "SELECT version, action, new_value, is_encrypted, value_type, category, description, actor, changed_at \
         FROM settings_audit_log WHERE environment = $1 AND key = $2 ORDER BY version, id",
        &[env.into(), key.into()],
    )?;
    if rows.is_empty() {
        return Err(missing(conn, env, key));
    }
    rows.iter()
        .map(|r| {
            Ok(Version {
                version: r.int("version")?,
                action: super::Action::parse(&r.text("action")?)?,
                value: r.opt_text("new_value")?,
                secret: r.bool("is_encrypted")?,
                value_type: ValueType::parse(&r.text("value_type")?)?,
                category: r.opt_text("category")?,
                description: r.opt_text("description")?,
                actor: r.text("actor")?,
                changed_at: r.time("changed_at")?,
            })
        })
        .collect()
}

/// A setting's next state as written: the value as stored (sealed when secret).
pub(super) struct RowWrite<'a> {
    /// Environment.
    pub env: &'a str,
    /// Key.
    pub key: &'a str,
    /// The stored value (plain text or an envelope).
    pub value: &'a str,
    /// Type, secrecy, category, description.
    pub want: &'a Desired,
    /// Version after the write.
    pub version: i64,
    /// Who and when.
    pub stamp: Stamp<'a>,
}

/// Writes a new version over an existing row (also bringing back a deleted one).
pub(super) fn update(conn: &mut dyn Conn, id: SettingId, w: &RowWrite<'_>) -> Result<()> {
    conn.execute(
        "UPDATE settings SET value = $1, value_type = $2, is_encrypted = $3, category = $4, description = $5, \
         version = $6, is_deleted = FALSE, updated_at = $7, updated_by = $8 WHERE id = $9",
        &[
            w.value.into(),
            w.want.value_type.name().into(),
            w.want.secret.into(),
            w.want.category.clone().into(),
            w.want.description.clone().into(),
            w.version.into(),
            w.stamp.at.into(),
            w.stamp.actor.into(),
            id.into(),
        ],
    )?;
    Ok(())
}

/// Inserts a setting's first version, returning its id.
pub(super) fn insert(conn: &mut dyn Conn, w: &RowWrite<'_>) -> Result<SettingId> {
    let row = conn.query_one(
        "INSERT INTO settings (key, environment, value, value_type, is_encrypted, category, description, version, is_deleted, created_at, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9, $9, $10) RETURNING id",
        &[
            w.key.into(),
            w.env.into(),
            w.value.into(),
            w.want.value_type.name().into(),
            w.want.secret.into(),
            w.want.category.clone().into(),
            w.want.description.clone().into(),
            w.version.into(),
            w.stamp.at.into(),
            w.stamp.actor.into(),
        ],
    )?;
    Ok(SettingId(row.int("id")?))
}

/// Inserts many first versions with few statements, returning each key's id.
pub(super) fn insert_many(
    conn: &mut dyn Conn,
    env: &str,
    rows: &[RowWrite<'_>],
) -> Result<HashMap<String, SettingId>> {
    let values = rows
        .iter()
        .map(|w| {
            vec![
                w.key.into(),
                w.env.into(),
                w.value.into(),
                w.want.value_type.name().into(),
                w.want.secret.into(),
                w.want.category.clone().into(),
                w.want.description.clone().into(),
                w.version.into(),
                false.into(),
                w.stamp.at.into(),
                w.stamp.at.into(),
                w.stamp.actor.into(),
            ]
        })
        .collect();
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
        values,
    )?;
    conn.query(
        "SELECT key, id FROM settings WHERE environment = $1",
        &[env.into()],
    )?
    .iter()
    .map(|r| Ok((r.text("key")?, SettingId(r.int("id")?))))
    .collect()
}

/// Hides a setting at `version` (its value dropped, its history kept).
pub(super) fn mark_deleted(
    conn: &mut dyn Conn,
    id: SettingId,
    version: i64,
    stamp: Stamp<'_>,
) -> Result<()> {
    let changed = conn.execute(
        "UPDATE settings SET value = NULL, is_deleted = TRUE, version = $1, updated_at = $2, updated_by = $3 WHERE id = $4",
        &[version.into(), stamp.at.into(), stamp.actor.into(), id.into()],
    )?;
    if changed != 1 {
        return Err(Error::internal(format!(
            "setting {id} vanished while being deleted"
        )));
    }
    Ok(())
}

/// The columns of a `settings_audit_log` row, in the order [`insert_log`] takes them.
pub(super) const LOG_COLUMNS: &[&str] = &[
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
];

/// Inserts `settings_audit_log` rows (values in [`LOG_COLUMNS`] order).
pub(super) fn insert_log(conn: &mut dyn Conn, rows: Vec<Vec<Value>>) -> Result<()> {
    crate::store::insert_rows(conn, "settings_audit_log", LOG_COLUMNS, rows).map(drop)
}
