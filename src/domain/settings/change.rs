//! Writing settings: a change becomes the next version (or nothing when it
//! already holds), a deletion hides a setting, many new settings are created
//! at once; each recorded in the transaction's [`Journal`].

use super::journal::{Entry, Journal};
use super::repo::{self, RowWrite};
use super::{aad, changed_fields, check_version, Action, Changes, Desired, Stored};
use crate::crypto::envelope;
use crate::crypto::keyring::Keyring;
use crate::domain::audit::Stamp;
use crate::error::{Error, Result};
use crate::store::Conn;
use serde::Serialize;
use zeroize::Zeroizing;

/// One change to write: `want` as the next version of `key` in `env`.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// Environment.
    pub env: &'a str,
    /// Key.
    pub key: &'a str,
    /// The row as read in this transaction.
    pub current: Option<&'a Stored>,
    /// What it should become.
    pub want: &'a Desired,
    /// An old version written back (logged as `rollback`; nothing when it is what the setting holds).
    pub rollback: bool,
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
    pub action: Action,
    /// Fields that changed.
    pub changed: Changes,
}

fn seal(ring: Option<&Keyring>, env: &str, key: &str, want: &Desired) -> Result<String> {
    if !want.secret {
        return Ok(want.value.to_string());
    }
    let ring = ring.ok_or_else(|| Error::internal("a secret was written without a key ring"))?;
    envelope::seal(ring.active(), &aad(env, key), want.value.as_bytes())
}

/// Writes the change as the setting's next version (or nothing, when it already holds).
pub fn apply(
    conn: &mut dyn Conn,
    journal: &mut Journal<'_>,
    ring: Option<&Keyring>,
    ch: Change<'_>,
) -> Result<Written> {
    let Change {
        env,
        key,
        current,
        want,
        rollback,
    } = ch;
    let fields = changed_fields(ring, current, want)?;
    let version = current.map_or(1, |c| c.version + 1);
    // Nothing differs (also for a rollback to what the setting already holds): no version.
    if fields.is_unchanged() {
        return Ok(Written {
            key: key.into(),
            environment: env.into(),
            version: version - 1,
            action: Action::Unchanged,
            changed: fields,
        });
    }
    let sealed = seal(ring, env, key, want)?;
    let action = if rollback {
        Action::Rollback
    } else {
        Action::of(&fields)
    };
    let row = RowWrite {
        env,
        key,
        value: &sealed,
        want,
        version,
        stamp: journal.stamp(),
    };
    let id = match current {
        Some(c) => {
            repo::update(conn, c.id, &row)?;
            c.id
        }
        None => repo::insert(conn, &row)?,
    };
    // The log keeps both values as stored.
    journal.log(Entry {
        id,
        env,
        key,
        action,
        old: current.and_then(|c| c.value.as_deref()),
        new: Some(&sealed),
        state: want,
        version,
        fields: &fields,
    })?;
    Ok(Written {
        key: key.into(),
        environment: env.into(),
        version,
        action,
        changed: fields,
    })
}

/// One change with its own audit trail: the journal is opened, the change
/// applied and the trail written, all in the caller's write transaction.
pub fn apply_one(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    ring: Option<&Keyring>,
    ch: Change<'_>,
) -> Result<Written> {
    let mut journal = Journal::new(conn, stamp)?;
    let written = apply(conn, &mut journal, ring, ch)?;
    journal.flush(conn)?;
    Ok(written)
}

/// One deletion with its own audit trail (see [`apply_one`]).
pub fn delete_one(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    env: &str,
    key: &str,
    if_version: Option<i64>,
) -> Result<Written> {
    let mut journal = Journal::new(conn, stamp)?;
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
    let stamp = journal.stamp();
    let sealed = items
        .iter()
        .map(|(key, want)| seal(ring, env, key, want))
        .collect::<Result<Vec<_>>>()?;
    let rows: Vec<RowWrite<'_>> = items
        .iter()
        .zip(&sealed)
        .map(|((key, want), value)| RowWrite {
            env,
            key,
            value,
            want,
            version: 1,
            stamp,
        })
        .collect();
    let ids = repo::insert_many(conn, env, &rows)?;
    for row in &rows {
        let id = *ids.get(row.key).ok_or_else(|| {
            Error::internal(format!(
                "setting '{}' vanished while being created",
                row.key
            ))
        })?;
        journal.log(Entry {
            id,
            env,
            key: row.key,
            action: Action::Create,
            old: None,
            new: Some(row.value),
            state: row.want,
            version: 1,
            fields: &Changes::Created,
        })?;
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
    let current = repo::get(conn, env, key)?;
    check_version(env, key, Some(&current), if_version)?;
    let version = current.version + 1;
    repo::mark_deleted(conn, current.id, version, journal.stamp())?;
    let state = Desired::of(&current, Zeroizing::new(String::new()));
    journal.log(Entry {
        id: current.id,
        env,
        key,
        action: Action::Delete,
        old: current.value.as_deref(),
        new: None,
        state: &state,
        version,
        fields: &Changes::Nothing,
    })?;
    Ok(Written {
        key: key.into(),
        environment: env.into(),
        version,
        action: Action::Delete,
        changed: Changes::Nothing,
    })
}
