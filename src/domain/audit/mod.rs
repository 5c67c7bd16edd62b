//! The audit trail: one writer for every change, hash-chained, verifiable.
//!
//! Entry `n` stores `prev_hash` (entry `n-1`'s hash, or 64 zeros for the
//! first) and `hash = hex(SHA-256(prev_hash || "\n" || canonical))`, where
//! `canonical` is the compact JSON of `{action, actor, details, id,
//! occurred_at, target, target_type}` with object keys sorted at every depth
//! and `occurred_at` in the stored RFC 3339 form. Ids are assigned by the
//! writer under the database's write lock, so they are gapless and the chain
//! is linear however many processes write at once.
//!
//! `chain.rs` holds the hashing and the in-memory chain; `head.rs` the head
//! record (the newest id and hash, in `audit_head`, moved forward with every
//! append) and anchors; `repo.rs` the SQL (reading, listing, walking and
//! verifying the stored chain).

mod chain;
pub mod head;
mod repo;

pub use crate::ids::AuditId;
pub use chain::{canonical_json, hash_of, hex, Chain, GENESIS};
pub use head::{chain_head, Anchor, ChainHead};
pub use repo::{
    count, for_each, get, list, list_paged, verify, verify_with, Filter, Verification, LIST_PAGE,
};

use crate::error::Result;
use crate::store::Conn;
use serde::Serialize;
use time::OffsetDateTime;

impl From<i64> for AuditId {
    fn from(id: i64) -> Self {
        AuditId(id)
    }
}

/// The position `n` entries further along the chain.
impl std::ops::Add<i64> for AuditId {
    type Output = AuditId;

    fn add(self, n: i64) -> AuditId {
        AuditId(self.0 + n)
    }
}

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
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Sets the details from a small `Serialize` struct (its fields become the keys).
    pub fn details_of(self, details: &impl Serialize) -> Self {
        // Plain structs with string keys always serialise; keep empty details otherwise.
        match serde_json::to_value(details) {
            Ok(v) => self.details(v),
            Err(_) => self,
        }
    }
}

/// A stored audit entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    /// Position in the chain, from 1 (a plain number in JSON).
    pub id: AuditId,
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
