//! The audit chain's SQL: the head, inserts, filtered lists, one entry, a
//! constant-memory walk, and verification. Rows are read by column name.

use super::head::{anchor_problem, problem_at_end, Anchor};
use super::{hash_of, AuditId, Entry, GENESIS};
use crate::error::{Error, ErrorKind, Result};
use crate::store::{Conn, Dialect, Row, Value};
use serde::Serialize;
use time::OffsetDateTime;

const COLUMNS: &str =
    "id, occurred_at, actor, action, target_type, target, details, prev_hash, hash";

/// Entries read per query by [`for_each`].
const BATCH: i64 = 2000;

fn from_row(r: &Row) -> Result<Entry> {
    let id = AuditId(r.int("id")?);
    let details_text = r.text("details")?;
    let details = serde_json::from_str(&details_text).map_err(|_| {
        Error::integrity(format!(
            "audit entry {id} has details that are not JSON (altered behind keyward's back)"
        ))
    })?;
    Ok(Entry {
        id,
        occurred_at: r.time("occurred_at")?,
        actor: r.text("actor")?,
        action: r.text("action")?,
        target_type: r.text("target_type")?,
        target: r.text("target")?,
        details,
        prev_hash: r.text("prev_hash")?,
        hash: r.text("hash")?,
    })
}

/// The newest entry's position, hash and time.
pub(super) struct Head {
    pub id: AuditId,
    pub hash: String,
    pub occurred_at: OffsetDateTime,
}

/// The chain's head, `None` when it is empty.
pub(super) fn head(conn: &mut dyn Conn) -> Result<Option<Head>> {
    conn.query_opt(
        "SELECT id, hash, occurred_at FROM audit_events ORDER BY id DESC LIMIT 1",
        &[],
    )?
    .map(|r| {
        Ok(Head {
            id: AuditId(r.int("id")?),
            hash: r.text("hash")?,
            occurred_at: r.time("occurred_at")?,
        })
    })
    .transpose()
}

/// Whether the `audit_head` table exists: its owner can drop it (triggers
/// and all), and a query on a missing table is not a missing record to
/// SQLite or PostgreSQL but an error that also aborts the transaction.
pub(super) fn head_table_exists(conn: &mut dyn Conn) -> Result<bool> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_head') AS present"
        }
        Dialect::Postgres => "SELECT to_regclass('audit_head') IS NOT NULL AS present",
    };
    conn.query_one(sql, &[])?.bool("present")
}

/// The head record `(newest id, its hash)`; `None` when its row is gone.
pub(super) fn head_record(conn: &mut dyn Conn) -> Result<Option<(AuditId, String)>> {
    conn.query_opt(
        "SELECT last_id, last_hash FROM audit_head WHERE singleton = 1",
        &[],
    )?
    .map(|r| Ok((AuditId(r.int("last_id")?), r.text("last_hash")?)))
    .transpose()
}

/// Moves the head record from `from` to `to` if it still names `from`; returns the rows changed.
pub(super) fn advance_head(
    conn: &mut dyn Conn,
    from: (AuditId, &str),
    to: (AuditId, &str),
) -> Result<u64> {
    conn.execute(
        "UPDATE audit_head SET last_id = $1, last_hash = $2 \
         WHERE singleton = 1 AND last_id = $3 AND last_hash = $4",
        &[to.0.into(), to.1.into(), from.0.into(), from.1.into()],
    )
}

/// Inserts entries, many rows per statement.
pub(super) fn insert(conn: &mut dyn Conn, entries: impl Iterator<Item = Entry>) -> Result<()> {
    let rows = entries
        .map(|e| {
            vec![
                e.id.into(),
                e.occurred_at.into(),
                e.actor.into(),
                e.action.into(),
                e.target_type.into(),
                e.target.into(),
                super::canonical_json(&e.details).into(),
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

/// Entries read per query by [`list_paged`]'s callers in keyward (a page).
pub const LIST_PAGE: i64 = 1000;

/// The filter's conditions as SQL (` WHERE …`, or nothing) and their parameters.
fn filter_sql(f: &Filter) -> (String, Vec<Value>) {
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
    let mut sql = String::new();
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    (sql, params)
}

/// How many entries match the filter (its limit aside).
pub fn count(conn: &mut dyn Conn, f: &Filter) -> Result<u64> {
    let (cond, params) = filter_sql(f);
    let row = conn.query_opt(
        &format!("SELECT COUNT(*) AS n FROM audit_events{cond}"),
        &params,
    )?;
    let n = row.map(|r| r.int("n")).transpose()?.unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Lists entries matching the filter, oldest first.
pub fn list(conn: &mut dyn Conn, f: &Filter) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    list_paged(conn, f, LIST_PAGE, |e| {
        entries.push(e);
        Ok(())
    })?;
    Ok(entries)
}

/// Hands the entries matching the filter to `sink`, oldest first, reading
/// `page` rows per query (keyset pagination on the id): memory is bounded by
/// the page, not the table. With a limit, the newest N are found first (the
/// id of the Nth newest), then read forward from there. Returns how many.
pub fn list_paged(
    conn: &mut dyn Conn,
    f: &Filter,
    page: i64,
    mut sink: impl FnMut(Entry) -> Result<()>,
) -> Result<u64> {
    let page = page.max(1);
    let (cond, mut params) = filter_sql(f);
    let and = if cond.is_empty() { " WHERE" } else { " AND" };
    let mut after = 0i64;
    if let Some(n) = f.limit {
        if n == 0 {
            return Ok(0);
        }
        let mut p = params.clone();
        p.push((i64::from(n) - 1).into());
        let sql = format!(
            "SELECT id FROM audit_events{cond} ORDER BY id DESC LIMIT 1 OFFSET ${}",
            p.len()
        );
        if let Some(r) = conn.query_opt(&sql, &p)? {
            after = r.int("id")? - 1;
        }
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events{cond}{and} id > ${} ORDER BY id LIMIT ${}",
        params.len() + 1,
        params.len() + 2
    );
    params.extend([after.into(), page.into()]);
    let (at, mut shown) = (params.len() - 2, 0u64);
    loop {
        let rows = conn.query(&sql, &params)?;
        if rows.is_empty() {
            return Ok(shown);
        }
        for r in &rows {
            after = r.int("id")?;
            shown += 1;
            sink(from_row(r)?)?;
        }
        if (rows.len() as i64) < page {
            return Ok(shown);
        }
        params[at] = after.into();
    }
}

/// One entry by id (exit 3 when absent).
pub fn get(conn: &mut dyn Conn, id: impl Into<AuditId>) -> Result<Entry> {
    let id = id.into();
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
            &format!("SELECT {COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2"),
            &[after.into(), BATCH.into()],
        )?;
        if rows.is_empty() {
            return Ok(());
        }
        for r in &rows {
            after = r.int("id")?;
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
    /// The last entry as `ID:HASH`, to record outside the database, when intact.
    pub anchor: Option<String>,
    /// The anchor checked (`--anchor`), if any.
    pub checked_anchor: Option<String>,
    /// The first bad entry, when broken.
    pub first_bad_entry: Option<AuditId>,
    /// Why it is bad.
    pub problem: Option<String>,
}

/// What is wrong with entry `e`, expected at position `expected` after `prev`.
fn problem_with(e: &Entry, expected: AuditId, prev: &str) -> Option<(AuditId, String)> {
    if e.id != expected && expected.get() == 1 {
        Some((
            expected,
            format!(
                "entry 1 is missing (the first entry is {}): the start of the chain was deleted (truncated)",
                e.id
            ),
        ))
    } else if e.id != expected {
        Some((
            expected,
            format!(
                "entry {expected} is missing (the next entry is {}): rows were deleted",
                e.id
            ),
        ))
    } else if e.prev_hash != prev {
        Some((
            e.id,
            format!(
                "entry {} does not link to entry {} (prev_hash differs)",
                e.id,
                e.id.get() - 1
            ),
        ))
    } else if hash_of(e) != e.hash {
        Some((
            e.id,
            format!(
                "entry {} was altered after it was written (its hash does not match its contents)",
                e.id
            ),
        ))
    } else {
        None
    }
}

/// Walks the chain from the first entry, stopping at the first bad link.
pub fn verify(conn: &mut dyn Conn) -> Result<Verification> {
    verify_with(conn, None)
}

/// Walks the chain from entry 1 (which must follow the genesis hash),
/// stopping at the first bad link; then compares its last entry with the head
/// record (a truncated or extended tail is bad) and, given an anchor, checks
/// that the chain holds that entry with that hash and continues from it.
pub fn verify_with(conn: &mut dyn Conn, anchor: Option<&Anchor>) -> Result<Verification> {
    let mut expected = AuditId(1);
    let mut prev = GENESIS.to_owned();
    let mut bad: Option<(AuditId, String)> = None;
    if let Some(why) = anchor_problem(AuditId(0), GENESIS, anchor) {
        bad = Some((AuditId(0), why));
    }
    let walk = for_each(conn, |e| {
        if bad.is_some() {
            return Ok(());
        }
        match problem_with(&e, expected, &prev) {
            Some(p) => bad = Some(p),
            None => {
                if let Some(why) = anchor_problem(e.id, &e.hash, anchor) {
                    bad = Some((e.id, why));
                }
                expected = expected + 1;
                prev = e.hash;
            }
        }
        Ok(())
    });
    match walk {
        // Unreadable details: name the entry the walk stopped at.
        Err(e) if e.kind() == ErrorKind::Integrity => {
            bad = Some((expected, e.message().to_owned()));
        }
        other => other?,
    }
    let entries = expected.get() - 1;
    if bad.is_none() {
        bad = problem_at_end(conn, (AuditId(entries), &prev), anchor)?;
    }
    let checked_anchor = anchor.map(ToString::to_string);
    Ok(match bad {
        None => Verification {
            ok: true,
            entries,
            anchor: Some(format!("{entries}:{prev}")),
            head: (entries > 0).then_some(prev),
            checked_anchor,
            first_bad_entry: None,
            problem: None,
        },
        Some((id, why)) => Verification {
            ok: false,
            entries,
            head: None,
            anchor: None,
            checked_anchor,
            first_bad_entry: Some(id),
            problem: Some(why),
        },
    })
}
