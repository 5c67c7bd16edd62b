//! The audit trail: one writer for every change, hash-chained, verifiable.
//!
//! Entry `n` stores `prev_hash` (entry `n-1`'s hash, or 64 zeros for the
//! first) and `hash = hex(SHA-256(prev_hash || "\n" || canonical))`, where
//! `canonical` is the compact JSON of `{action, actor, details, id,
//! occurred_at, target, target_type}` with object keys sorted at every depth
//! and `occurred_at` in the stored RFC 3339 form. Ids are assigned by the
//! writer under the database's write lock, so they are gapless and the chain
//! is linear however many processes write at once.

use crate::error::{Error, Result};
use crate::store::{Conn, Row, Value};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A change to record.
#[derive(Debug, Clone)]
pub struct Event {
    /// `user.create`, `setting.update`, …
    pub action: String,
    /// `user`, `setting`, `database`, …
    pub target_type: String,
    /// The name of the thing changed.
    pub target: String,
    /// Structured facts about the change. Never a secret.
    pub details: serde_json::Value,
}

impl Event {
    /// An event with empty details.
    pub fn new(action: &str, target_type: &str, target: impl Into<String>) -> Self {
        Event {
            action: action.into(),
            target_type: target_type.into(),
            target: target.into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// Sets the details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A stored audit entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub id: i64,
    /// When (RFC 3339 UTC).
    #[serde(with = "crate::output::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The kind of thing changed.
    pub target_type: String,
    /// The thing changed.
    pub target: String,
    /// Facts about the change.
    pub details: serde_json::Value,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// Who makes a change and when: stamped on the rows and audit entries it writes.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The actor recorded in the audit log.
    pub actor: &'a str,
    /// The instant of the change, from the operation's clock.
    pub at: OffsetDateTime,
}

impl<'a> Stamp<'a> {
    /// `actor` acting at `clock`'s current instant.
    pub fn new(actor: &'a str, clock: &dyn crate::time::Clock) -> Self {
        Stamp {
            actor,
            at: clock.now(),
        }
    }
}

/// Appends an event to the chain. Must run inside a write transaction.
pub fn record(conn: &mut dyn Conn, stamp: Stamp<'_>, event: Event) -> Result<Entry> {
    let mut chain = Chain::at_head(conn, stamp.at)?;
    let entry = chain.push(stamp.actor, event);
    chain.flush(conn)?;
    Ok(entry)
}

/// Many appends in one transaction: the head is read once, entries are
/// hashed in memory and inserted many rows per statement.
pub struct Chain {
    now: OffsetDateTime,
    next_id: i64,
    prev_hash: String,
    last_time: Option<OffsetDateTime>,
    pending: Vec<Entry>,
}

impl Chain {
    /// Reads the chain's head, entries to be stamped `now`. Only an audited
    /// write transaction ([`crate::store::Access::Write`]) may grow the chain:
    /// it holds the chain lock, so concurrent writers keep one linear chain.
    pub fn at_head(conn: &mut dyn Conn, now: OffsetDateTime) -> Result<Self> {
        if !conn.holds_audit_lock() {
            return Err(crate::error::Error::internal(
                "an audit entry was written outside an audited write transaction",
            ));
        }
        let head = conn.query_opt(
            "SELECT id, hash, occurred_at FROM audit_events ORDER BY id DESC LIMIT 1",
            &[],
        )?;
        Ok(match head {
            Some(r) => Chain {
                now,
                next_id: r.int(0)? + 1,
                prev_hash: r.text(1)?,
                last_time: Some(r.time(2)?),
                pending: Vec::new(),
            },
            None => Chain {
                now,
                next_id: 1,
                prev_hash: GENESIS.to_owned(),
                last_time: None,
                pending: Vec::new(),
            },
        })
    }

    /// Adds an entry (written by [`Chain::flush`]) and returns a copy of it.
    pub fn push(&mut self, actor: &str, event: Event) -> Entry {
        self.append(actor, event).clone()
    }

    /// Adds an entry (written by [`Chain::flush`]).
    pub fn append(&mut self, actor: &str, event: Event) -> &Entry {
        // Never go back in time along the chain, even if clocks differ between hosts.
        let now = self.now;
        let occurred_at = self.last_time.map_or(now, |t| now.max(t));
        let mut entry = Entry {
            id: self.next_id,
            occurred_at,
            actor: actor.to_owned(),
            action: event.action,
            target_type: event.target_type,
            target: event.target,
            details: event.details,
            prev_hash: std::mem::take(&mut self.prev_hash),
            hash: String::new(),
        };
        entry.hash = hash_of(&entry);
        self.prev_hash = entry.hash.clone();
        self.next_id += 1;
        self.last_time = Some(occurred_at);
        let at = self.pending.len();
        self.pending.push(entry);
        &self.pending[at]
    }

    /// Inserts the pending entries.
    pub fn flush(&mut self, conn: &mut dyn Conn) -> Result<()> {
        let rows = self
            .pending
            .drain(..)
            .map(|e| {
                vec![
                    e.id.into(),
                    e.occurred_at.into(),
                    e.actor.into(),
                    e.action.into(),
                    e.target_type.into(),
                    e.target.into(),
                    canonical_json(&e.details).into(),
                    e.prev_hash.into(),
                    e.hash.into(),
                ]
            })
            .collect();
        crate::store::insert_rows(
            conn,
            "audit_events",
            &[
                "id",
                "occurred_at",
                "actor",
                "action",
                "target_type",
                "target",
                "details",
                "prev_hash",
                "hash",
            ],
            rows,
        )?;
        Ok(())
    }
}

/// The hash an entry should carry, from its contents and `prev_hash`.
pub fn hash_of(e: &Entry) -> String {
    let body = serde_json::json!({
        "action": e.action,
        "actor": e.actor,
        "details": e.details,
        "id": e.id,
        "occurred_at": crate::time::format_stored(e.occurred_at),
        "target": e.target,
        "target_type": e.target_type,
    });
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical_json(&body).as_bytes());
    hex(&h.finalize())
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Compact JSON with object keys sorted at every depth.
pub fn canonical_json(v: &serde_json::Value) -> String {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            serde_json::Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::with_capacity(128);
    write(v, &mut out);
    out
}

const COLUMNS: &str =
    "id, occurred_at, actor, action, target_type, target, details, prev_hash, hash";

fn from_row(r: &Row) -> Result<Entry> {
    let id = r.int(0)?;
    let details_text = r.text(6)?;
    let details = serde_json::from_str(&details_text).map_err(|_| {
        Error::integrity(format!(
            "audit entry {id} has details that are not JSON (altered behind keyward's back)"
        ))
    })?;
    Ok(Entry {
        id,
        occurred_at: r.time(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        target_type: r.text(4)?,
        target: r.text(5)?,
        details,
        prev_hash: r.text(7)?,
        hash: r.text(8)?,
    })
}

/// Filters for `audit list`.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Entries at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Exactly this actor.
    pub actor: Option<String>,
    /// This action, or a family: `user.` / `user.*` matches every `user.…`.
    pub action: Option<String>,
    /// Exactly this target.
    pub target: Option<String>,
    /// The newest N matching entries (oldest first in the result).
    pub limit: Option<u32>,
}

/// Lists entries matching the filter, oldest first.
pub fn list(conn: &mut dyn Conn, f: &Filter) -> Result<Vec<Entry>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    // Each condition binds one parameter; every `{}` in it stands for that placeholder.
    let mut bind = |clause: &str, v: Value| {
        params.push(v);
        clauses.push(clause.replace("{}", &format!("${}", params.len())));
    };
    if let Some(t) = f.since {
        bind("occurred_at >= {}", t.into());
    }
    if let Some(a) = &f.actor {
        bind("actor = {}", a.into());
    }
    if let Some(a) = &f.action {
        let family = a.strip_suffix('*').unwrap_or(a);
        if family.ends_with('.') {
            // substr/length are portable; LIKE's case rules differ between dialects.
            bind("substr(action, 1, length({})) = {}", family.into());
        } else {
            bind("action = {}", a.into());
        }
    }
    if let Some(t) = &f.target {
        bind("target = {}", t.into());
    }
    let mut sql = format!("SELECT {COLUMNS} FROM audit_events");
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(" ORDER BY id DESC");
    if let Some(n) = f.limit {
        params.push(i64::from(n).into());
        sql.push_str(&format!(" LIMIT ${}", params.len()));
    }
    let mut entries = conn
        .query(&sql, &params)?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>>>()?;
    entries.reverse();
    Ok(entries)
}

/// One entry by id.
pub fn get(conn: &mut dyn Conn, id: i64) -> Result<Entry> {
    let row = conn.query_opt(
        &format!("SELECT {COLUMNS} FROM audit_events WHERE id = $1"),
        &[id.into()],
    )?;
    match row {
        Some(r) => from_row(&r),
        None => Err(Error::not_found(format!("audit entry {id} not found"))),
    }
}

/// Calls `f` on every entry in chain order, in batches (constant memory).
pub fn for_each(conn: &mut dyn Conn, mut f: impl FnMut(Entry) -> Result<()>) -> Result<()> {
    let mut after = 0i64;
    loop {
        let rows = conn.query(
            &format!("SELECT {COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT 2000"),
            &[after.into()],
        )?;
        if rows.is_empty() {
            return Ok(());
        }
        for r in &rows {
            after = r.int(0)?;
            // A row whose details are not JSON is itself a broken link.
            f(from_row(r)?)?;
        }
    }
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Whether every link holds.
    pub ok: bool,
    /// Entries checked.
    pub entries: i64,
    /// The last entry's hash (the chain's head), if any.
    pub head: Option<String>,
    /// The first bad entry, when broken.
    pub first_bad_entry: Option<i64>,
    /// Why it is bad.
    pub problem: Option<String>,
}

/// Walks the chain from the first entry, stopping at the first bad link.
pub fn verify(conn: &mut dyn Conn) -> Result<Verification> {
    let mut expected_id = 1i64;
    let mut prev = GENESIS.to_owned();
    let mut bad: Option<(i64, String)> = None;
    let walk = for_each(conn, |e| {
        if bad.is_some() {
            return Ok(());
        }
        let problem = if e.id != expected_id {
            Some((
                expected_id,
                format!(
                    "entry {expected_id} is missing (the next entry is {}): rows were deleted",
                    e.id
                ),
            ))
        } else if e.prev_hash != prev {
            Some((
                e.id,
                format!(
                    "entry {} does not link to entry {} (prev_hash differs)",
                    e.id,
                    e.id - 1
                ),
            ))
        } else if hash_of(&e) != e.hash {
            Some((e.id, format!("entry {} was altered after it was written (its hash does not match its contents)", e.id)))
        } else {
            None
        };
        if let Some(p) = problem {
            bad = Some(p);
        } else {
            expected_id += 1;
            prev = e.hash;
        }
        Ok(())
    });
    match walk {
        // Unreadable details: name the entry the walk stopped at.
        Err(e) if e.kind() == crate::error::ErrorKind::Integrity => {
            bad = Some((expected_id, e.message().to_owned()));
        }
        other => other?,
    }
    let entries = expected_id - 1;
    Ok(match bad {
        None => Verification {
            ok: true,
            entries,
            head: (entries > 0).then_some(prev),
            first_bad_entry: None,
            problem: None,
        },
        Some((id, why)) => Verification {
            ok: false,
            entries,
            head: None,
            first_bad_entry: Some(id),
            problem: Some(why),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = serde_json::json!({"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn hash_covers_every_field() {
        let e = Entry {
            id: 1,
            occurred_at: crate::time::parse_stored("2026-11-24T12:00:00.000000Z").unwrap(),
            actor: "ops".into(),
            action: "db.init".into(),
            target_type: "database".into(),
            target: "keyward.db".into(),
            details: serde_json::json!({"k": 1}),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        let h = hash_of(&e);
        assert_eq!(h.len(), 64);
        let mut changed = e.clone();
        changed.actor = "mallory".into();
        assert_ne!(hash_of(&changed), h);
        let mut changed = e.clone();
        changed.details = serde_json::json!({"k": 2});
        assert_ne!(hash_of(&changed), h);
        let mut changed = e;
        changed.prev_hash = "1".repeat(64);
        assert_ne!(hash_of(&changed), h);
    }
}
