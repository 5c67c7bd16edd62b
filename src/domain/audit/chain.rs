//! The hash chain: what an entry's hash covers, and the in-memory chain
//! that appends many entries in one transaction.

use super::{repo, AuditId, Entry, Event};
use crate::error::{Error, Result};
use crate::store::Conn;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Many appends in one transaction: the head is read once, entries are
/// hashed in memory and inserted many rows per statement.
pub struct Chain {
    /// The newest entry written (id 0 and the genesis hash for none): the
    /// head record must still name it when the next entries are flushed.
    written: (AuditId, String),
    now: OffsetDateTime,
    next_id: AuditId,
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
            return Err(Error::internal(
                "an audit entry was written outside an audited write transaction",
            ));
        }
        let head = repo::head(conn)?;
        Ok(Chain {
            written: head.as_ref().map_or_else(
                || (AuditId(0), GENESIS.to_owned()),
                |h| (h.id, h.hash.clone()),
            ),
            now,
            next_id: head.as_ref().map_or(AuditId(1), |h| h.id + 1),
            prev_hash: head
                .as_ref()
                .map_or_else(|| GENESIS.to_owned(), |h| h.hash.clone()),
            last_time: head.map(|h| h.occurred_at),
            pending: Vec::new(),
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
        self.next_id = self.next_id + 1;
        self.last_time = Some(occurred_at);
        let at = self.pending.len();
        self.pending.push(entry);
        &self.pending[at]
    }

    /// Inserts the pending entries and moves the head record to the last of
    /// them, in the caller's transaction (exit 8, nothing written, when the
    /// head record does not name the entry they follow: see [`super::head`]).
    pub fn flush(&mut self, conn: &mut dyn Conn) -> Result<()> {
        let Some(last) = self.pending.last() else {
            return Ok(());
        };
        let to = (last.id, last.hash.clone());
        repo::insert(conn, self.pending.drain(..))?;
        super::head::advance(conn, (self.written.0, &self.written.1), (to.0, &to.1))?;
        self.written = to;
        Ok(())
    }
}

/// The hash an entry should carry, from its contents and `prev_hash`.
pub fn hash_of(e: &Entry) -> String {
    let body = serde_json::json!({
        "action": e.action,
        "actor": e.actor,
        "details": e.details,
        "id": e.id.get(),
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

    fn sample() -> Entry {
        Entry {
            id: AuditId(1),
            occurred_at: crate::time::parse_stored("2026-11-24T12:00:00.000000Z").unwrap(),
            actor: "ops".into(),
            action: "db.init".into(),
            target_type: "database".into(),
            target: "keyward.db".into(),
            details: serde_json::json!({"k": 1}),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn hash_covers_every_field() {
        let e = sample();
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

    #[test]
    fn hash_format_is_unchanged() {
        // The digest of the canonical body as the chain has always written it:
        // existing chains must keep verifying.
        let e = sample();
        let body = r#"{"action":"db.init","actor":"ops","details":{"k":1},"id":1,"occurred_at":"2026-11-24T12:00:00.000000Z","target":"keyward.db","target_type":"database"}"#;
        let mut h = Sha256::new();
        h.update(GENESIS.as_bytes());
        h.update(b"\n");
        h.update(body.as_bytes());
        assert_eq!(hash_of(&e), hex(&h.finalize()));
        assert_eq!(
            serde_json::to_value(&e).unwrap()["id"],
            serde_json::json!(1)
        );
    }
}
