//! The chain's head record and anchors.
//!
//! `audit_head` (migration V3) holds the newest entry's id and hash in a table
//! of its own, moved forward by [`super::Chain::flush`] in the same
//! transaction as every append, and only from the entry the append follows.
//! A DELETE on `audit_events` does not reach it, so [`super::verify`] tells a
//! truncated chain (its newest entries, or all of them, deleted) from an
//! intact one. An [`Anchor`] (`ID:HASH`, from `keyward audit head`) is the
//! same pair recorded outside the database, as CloudTrail's digest files are:
//! `audit verify --anchor` proves the chain still holds that entry with that
//! hash and continues from it, even against someone who rewrote the head too.

use super::{hash_of, repo, AuditId, GENESIS};
use crate::error::{Error, Result};
use crate::store::Conn;
use serde::Serialize;
use std::fmt;

/// An entry's position and hash, recorded outside the database (`ID:HASH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The entry's id (0: the empty chain, with the genesis hash).
    pub id: AuditId,
    /// Its hash, lowercase hex.
    pub hash: String,
}

impl Anchor {
    /// Parses `ID:HASH` (exit 2 when malformed).
    pub fn parse(s: &str) -> Result<Anchor> {
        let bad = || {
            Error::invalid(format!(
                "invalid anchor {}: expected ID:HASH as `keyward audit head` prints it (an entry id and 64 hex digits)",
                crate::ident::shown(s)
            ))
        };
        let (id, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        let id: i64 = id
            .parse()
            .ok()
            .filter(|n| *n >= 0 && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(bad)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let hash = hash.to_ascii_lowercase();
        if id == 0 && hash != GENESIS {
            return Err(bad());
        }
        Ok(Anchor {
            id: AuditId(id),
            hash,
        })
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, self.hash)
    }
}

/// What `audit head` shows: the newest entry's id and hash, to record outside the database.
#[derive(Debug, Clone, Serialize)]
pub struct ChainHead {
    /// The newest entry's id (0 for an empty chain).
    pub id: AuditId,
    /// Its hash (the genesis hash for an empty chain).
    pub hash: String,
    /// `ID:HASH`, for `keyward audit verify --anchor`.
    pub anchor: String,
}

fn head_mismatch() -> Error {
    Error::integrity(
        "the audit chain's newest entry is not the one its head record names: entries were deleted, added or rewritten behind keyward's back; run `keyward audit verify`",
    )
}

/// The chain's head, after checking that the head record names the newest
/// entry and that this entry's hash matches its contents (exit 8 otherwise).
/// Constant time: `audit verify` walks the rest.
pub fn chain_head(conn: &mut dyn Conn) -> Result<ChainHead> {
    let record = record(conn)??;
    let newest = match repo::head(conn)? {
        Some(h) => Some(super::get(conn, h.id)?),
        None => None,
    };
    let (id, hash) = match newest {
        None => (AuditId(0), GENESIS.to_owned()),
        Some(e) if hash_of(&e) != e.hash => return Err(head_mismatch()),
        Some(e) => (e.id, e.hash),
    };
    if record != (id, hash.clone()) {
        return Err(head_mismatch());
    }
    let anchor = Anchor {
        id,
        hash: hash.clone(),
    }
    .to_string();
    Ok(ChainHead { id, hash, anchor })
}

fn missing_record() -> Error {
    Error::integrity(
        "the audit chain's head record (table audit_head) is missing: it was deleted behind keyward's back",
    )
}

fn missing_table() -> Error {
    Error::integrity(
        "the audit head record is missing (table audit_head was dropped): the chain's end can no longer be checked; restore the database from a backup",
    )
}

/// The head record, or (inner `Err`, exit 8) why it is missing: its row
/// deleted, or its table dropped.
fn record(conn: &mut dyn Conn) -> Result<Result<(AuditId, String)>> {
    if !repo::head_table_exists(conn)? {
        return Ok(Err(missing_table()));
    }
    Ok(repo::head_record(conn)?.ok_or_else(missing_record))
}

/// Moves the head record from `from` (the entry the appended ones follow) to
/// `to`; exit 8 when it no longer names `from`, so an append never hides a
/// truncated or extended chain.
pub(super) fn advance(
    conn: &mut dyn Conn,
    from: (AuditId, &str),
    to: (AuditId, &str),
) -> Result<()> {
    if !repo::head_table_exists(conn)? {
        return Err(missing_table());
    }
    if repo::advance_head(conn, from, to)? == 1 {
        Ok(())
    } else {
        Err(head_mismatch())
    }
}

/// What is wrong with a chain whose entries all link, ending at `last`
/// (0 and the genesis hash when empty), given its head record and an anchor.
pub(super) fn problem_at_end(
    conn: &mut dyn Conn,
    last: (AuditId, &str),
    anchor: Option<&Anchor>,
) -> Result<Option<(AuditId, String)>> {
    let (last_id, last_hash) = last;
    let (head_id, head_hash) = match record(conn)? {
        Ok(record) => record,
        Err(missing) => return Ok(Some((last_id + 1, missing.message().to_owned()))),
    };
    let problem = if head_id > last_id {
        let which = if last_id.get() == 0 {
            "every entry was deleted".to_owned()
        } else {
            format!("the newest entries were deleted, it now ends at entry {last_id}")
        };
        Some((
            last_id + 1,
            format!(
                "the chain was truncated: entries {} to {head_id} are missing ({which}; its head record says it ends at entry {head_id})",
                last_id + 1
            ),
        ))
    } else if head_id < last_id {
        Some((
            head_id + 1,
            format!(
                "entries {} to {last_id} were added behind keyward's back (the chain's head record says it ends at entry {head_id})",
                head_id + 1
            ),
        ))
    } else if head_hash != last_hash {
        Some((
            last_id,
            format!("entry {last_id} does not match the chain's head record (its hash differs): it was rewritten"),
        ))
    } else {
        None
    };
    Ok(problem.or_else(|| {
        anchor.filter(|a| a.id > last_id).map(|a| {
            (
                a.id,
                format!(
                    "the anchor's entry {} is not in the chain, which ends at entry {last_id}: the chain was truncated",
                    a.id
                ),
            )
        })
    }))
}

/// What is wrong with a linked entry `(id, hash)` given the anchor, if it is the anchor's.
pub(super) fn anchor_problem(id: AuditId, hash: &str, anchor: Option<&Anchor>) -> Option<String> {
    anchor.filter(|a| a.id == id && a.hash != hash).map(|a| {
        format!(
            "entry {id} is not the one anchored as {a}: its hash differs, so the chain was rewritten from there or before"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse_and_print() {
        let h = "ab".repeat(32);
        let a = Anchor::parse(&format!("12:{}", h.to_uppercase())).unwrap();
        assert_eq!(a.id, AuditId(12));
        assert_eq!(a.to_string(), format!("12:{h}"));
        assert_eq!(
            Anchor::parse(&format!("0:{GENESIS}")).unwrap().id,
            AuditId(0)
        );
        for bad in [
            "12".to_owned(),
            format!("x:{h}"),
            format!("-1:{h}"),
            format!("+1:{h}"),
            "1:abc".to_owned(),
            format!("0:{h}"),
            format!("1:{}", "g".repeat(64)),
        ] {
            assert_eq!(Anchor::parse(&bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }
}
