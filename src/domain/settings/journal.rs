//! The audit trail of the settings changes made in one write transaction:
//! a `settings_audit_log` row (values as stored) and an `audit_events` entry
//! (never a value) per change, written together by [`Journal::flush`].

use super::{repo, Action, Changes, Desired, ValueType};
use crate::domain::audit::{Chain, Event, Stamp};
use crate::error::{Error, Result};
use crate::ids::SettingId;
use crate::store::{Conn, Value};
use serde::Serialize;

/// The audit trail rows of changes made in one transaction, written together.
pub struct Journal<'a> {
    stamp: Stamp<'a>,
    chain: Chain,
    log_rows: Vec<Vec<Value>>,
}

/// One change to record.
pub struct Entry<'a> {
    /// The setting's row.
    pub id: SettingId,
    /// Environment.
    pub env: &'a str,
    /// Key.
    pub key: &'a str,
    /// What the change is.
    pub action: Action,
    /// The value before, as stored.
    pub old: Option<&'a str>,
    /// The value after, as stored (None for a deletion).
    pub new: Option<&'a str>,
    /// Type, secrecy, category and description after the change.
    pub state: &'a Desired,
    /// Version after the change.
    pub version: i64,
    /// The fields it touched.
    pub fields: &'a Changes,
}

/// The `details` of a setting's audit entry: never a value.
#[derive(Serialize)]
struct Details<'a> {
    environment: &'a str,
    version: i64,
    #[serde(rename = "type")]
    value_type: ValueType,
    secret: bool,
    fields: &'a Changes,
}

impl<'a> Journal<'a> {
    /// Starts a journal at the audit chain's head (audited write transaction).
    pub fn new(conn: &mut dyn Conn, stamp: Stamp<'a>) -> Result<Self> {
        Ok(Journal {
            stamp,
            chain: Chain::at_head(conn, stamp.at)?,
            log_rows: Vec::new(),
        })
    }

    /// Who makes the changes and when.
    pub fn stamp(&self) -> Stamp<'a> {
        self.stamp
    }

    /// Records one change (written by [`Journal::flush`]).
    pub fn log(&mut self, e: Entry<'_>) -> Result<()> {
        let actor = self.stamp.actor;
        // `is_encrypted` describes the new value (an old secret is an
        // envelope, which names its own format).
        self.log_rows.push(vec![
            e.id.into(),
            e.key.into(),
            e.env.into(),
            e.action.name().into(),
            e.old.into(),
            e.new.into(),
            e.state.secret.into(),
            e.state.value_type.name().into(),
            e.state.category.clone().into(),
            e.state.description.clone().into(),
            e.version.into(),
            actor.into(),
            self.stamp.at.into(),
        ]);
        let details = serde_json::to_value(Details {
            environment: e.env,
            version: e.version,
            value_type: e.state.value_type,
            secret: e.state.secret,
            fields: e.fields,
        })
        .map_err(|err| Error::internal(format!("audit details: {err}")))?;
        let event =
            Event::new(&format!("setting.{}", e.action.name()), "setting", e.key).details(details);
        self.chain.append(actor, event);
        Ok(())
    }

    /// Writes the collected rows.
    pub fn flush(&mut self, conn: &mut dyn Conn) -> Result<()> {
        repo::insert_log(conn, std::mem::take(&mut self.log_rows))?;
        self.chain.flush(conn)
    }
}
