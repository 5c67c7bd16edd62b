//! Pruning expired and revoked sessions in short batches: what may go, the
//! batch size, the pause between batches, and the SQL.
//!
//! At a cutoff (now minus `--older-than`) a session may go when its end
//! (`COALESCE(refresh_expires_at, expires_at)`, the expression of
//! `idx_sessions_ends_at`) is at or before the cutoff, or when it was revoked
//! at or before it (`idx_sessions_revoked_at`, partial on `revoked_at IS NOT
//! NULL`). "At or before" matches [`super::status`]: a session whose end is
//! now is already expired.
//!
//! Each batch is one short write transaction that appends no audit entry
//! (the run's one `session.prune` event is written at the end, by
//! [`finish`]); it takes the oldest rows first, ended ones before revoked
//! ones ([`delete_batch`]). On PostgreSQL a batch picks its rows with `FOR
//! UPDATE SKIP LOCKED`, so prunes running at once on several hosts take
//! disjoint rows, each row is deleted once, and each run counts only the rows
//! its own statements deleted. A PostgreSQL prune that finds itself alone
//! (the prune advisory lock, [`claim_solo`]) walks the heap in order instead
//! ([`delete_heap_batch`]), which reads each row where it lies rather than
//! through an index. On SQLite writers take turns (`BEGIN IMMEDIATE`): the caller
//! checkpoints every few batches ([`checkpoint`]) and pauses after each
//! ([`pause_after`]), which leaves the lock free long enough for a waiting
//! writer's busy handler to get it.

use crate::domain::audit::{self, Event, Stamp};
use crate::error::{Error, Result};
use crate::store::{Conn, Dialect};
use serde::Serialize;
use std::time::Duration as Elapsed;
use time::{Duration, OffsetDateTime};

/// Rows per batch unless `--batch-size` says otherwise.
pub const DEFAULT_BATCH: u32 = 5_000;
/// The largest `--batch-size`.
pub const MAX_BATCH: u32 = 100_000;

/// Checks `--batch-size`: 1 to [`MAX_BATCH`].
pub fn check_batch_size(n: u64) -> Result<u32> {
    match u32::try_from(n) {
        Ok(n) if (1..=MAX_BATCH).contains(&n) => Ok(n),
        _ => Err(Error::invalid(format!(
            "--batch-size {n} is out of range: give 1 to {MAX_BATCH} (default {DEFAULT_BATCH})"
        ))),
    }
}

/// The ended sessions, oldest first (the ends index serves both).
const ENDED: &str = "FROM sessions WHERE COALESCE(refresh_expires_at, expires_at) <= $1 \
     ORDER BY COALESCE(refresh_expires_at, expires_at)";
/// The revoked sessions, oldest revocation first (the partial index serves
/// `revoked_at IS NOT NULL`).
const REVOKED: &str =
    "FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at <= $1 ORDER BY revoked_at";

/// What may go at a cutoff, counted on the two indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Candidates {
    /// Sessions ended at or before the cutoff.
    pub ended: u64,
    /// Sessions revoked at or before the cutoff that have not ended by then.
    pub revoked: u64,
}

impl Candidates {
    /// Every session that may go.
    pub fn total(self) -> u64 {
        self.ended + self.revoked
    }
}

fn count_of(conn: &mut dyn Conn, sql: &str, cutoff: OffsetDateTime) -> Result<u64> {
    let n = conn.query_one(sql, &[cutoff.into()])?.int(0)?;
    u64::try_from(n).map_err(|_| Error::internal(format!("count {n} is negative")))
}

/// Counts what may go at `cutoff` (each session once).
pub fn count(conn: &mut dyn Conn, cutoff: OffsetDateTime) -> Result<Candidates> {
    Ok(Candidates {
        ended: count_of(
            conn,
            "SELECT COUNT(*) FROM sessions WHERE COALESCE(refresh_expires_at, expires_at) <= $1",
            cutoff,
        )?,
        revoked: count_of(
            conn,
            "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at <= $1 \
             AND COALESCE(refresh_expires_at, expires_at) > $1",
            cutoff,
        )?,
    })
}

/// Deletes up to `limit` of the rows `rows` (a `FROM … ORDER BY` on `$1`) names.
///
/// PostgreSQL: the rows are locked as they are picked, skipping those another
/// transaction holds (another prune's batch), and deleted by their `ctid`
/// (no second look-up by id); SQLite has no FOR UPDATE, its writers being
/// serialised by `BEGIN IMMEDIATE`, and `id` is the rowid.
fn delete_some(conn: &mut dyn Conn, rows: &str, cutoff: OffsetDateTime, limit: u64) -> Result<u64> {
    if limit == 0 {
        return Ok(0);
    }
    let sql = match conn.dialect() {
        Dialect::Postgres => format!(
            "DELETE FROM sessions WHERE ctid = ANY(ARRAY(\
             SELECT ctid {rows} LIMIT $2 FOR UPDATE SKIP LOCKED))"
        ),
        Dialect::Sqlite => format!("DELETE FROM sessions WHERE id IN (SELECT id {rows} LIMIT $2)"),
    };
    let limit = i64::try_from(limit).map_err(Error::internal)?;
    conn.execute(&sql, &[cutoff.into(), limit.into()])
}

/// Deletes one batch of at most `size` sessions that may go at `cutoff`:
/// ended ones first, then revoked ones to fill the batch. Returns how many
/// rows this transaction deleted; fewer than `size` means no row is left
/// that another transaction does not hold. (A PostgreSQL prune that is the
/// only one deletes with [`delete_heap_batch`] instead.)
pub fn delete_batch(conn: &mut dyn Conn, cutoff: OffsetDateTime, size: u32) -> Result<u64> {
    settle(conn)?;
    let size = u64::from(size);
    let ended = delete_some(conn, ENDED, cutoff, size)?;
    let revoked = delete_some(conn, REVOKED, cutoff, size.saturating_sub(ended))?;
    Ok(ended + revoked)
}

/// What may go at `$1`, on the columns of `sessions` (both prune indexes'
/// conditions in one).
const MAY_GO: &str = "(COALESCE(refresh_expires_at, expires_at) <= $1 \
     OR (revoked_at IS NOT NULL AND revoked_at <= $1))";

/// The heap position just after `tid` (`(block,offset)` as PostgreSQL writes
/// a ctid).
fn tid_after(tid: &str) -> Result<String> {
    let parsed = tid
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|t| t.split_once(','))
        .and_then(|(b, o)| Some((b.parse::<u64>().ok()?, o.parse::<u32>().ok()?)));
    match parsed {
        Some((block, offset)) => Ok(format!("({block},{})", offset.saturating_add(1))),
        None => Err(Error::internal(format!("unexpected ctid {tid:?}"))),
    }
}

/// PostgreSQL, a prune that is the only one ([`claim_solo`]): deletes the
/// next `size` sessions that may go at `cutoff` in heap order from `from`
/// (a ctid, `(0,0)` at first), and returns how many went and where the next
/// batch starts (`None`: the heap is done). The batch first finds the rows
/// it will take (a TID range scan that reads the heap in order from `from`
/// and stops at the `size`-th row that may go, keeping only their count and
/// the last one's ctid), then deletes the range up to that row (a second
/// TID range scan over the same, now cached, blocks): each row is read where
/// it lies instead of being looked up through the ends index, which made a
/// batch about twice as slow per row as one `DELETE` of everything. A row a
/// concurrent writer changes meanwhile is re-checked on its new version
/// (outside the range, or no longer matching); a row moved behind the walk
/// is left for the next run.
pub fn delete_heap_batch(
    conn: &mut dyn Conn,
    cutoff: OffsetDateTime,
    size: u32,
    from: &str,
) -> Result<(u64, Option<String>)> {
    settle(conn)?;
    let found = conn.query_one(
        &format!(
            "SELECT COUNT(*) AS n, MAX(ctid)::text AS last FROM (SELECT ctid FROM sessions \
             WHERE ctid >= $2::text::tid AND {MAY_GO} LIMIT $3) picked"
        ),
        &[cutoff.into(), from.into(), i64::from(size).into()],
    )?;
    let Some(last) = found.opt_text("last")? else {
        return Ok((0, None));
    };
    let deleted = conn.execute(
        &format!("DELETE FROM sessions WHERE ctid >= $2::text::tid AND ctid <= $3::text::tid AND {MAY_GO}"),
        &[cutoff.into(), from.into(), last.as_str().into()],
    )?;
    // Fewer than a batch from `from` on: that was the end of the heap.
    let more = found.int("n")? >= i64::from(size);
    Ok((deleted, if more { Some(tid_after(&last)?) } else { None }))
}

/// The advisory-lock class of `sessions prune` on PostgreSQL (keyed, like
/// the audit chain's, by the schema), apart from the chain's class.
const PRUNE_LOCK_CLASS: i32 = 0x6b77_7072; // "kwpr"

/// PostgreSQL: tries to take the session-level prune lock, so this run knows
/// it is the only prune and may skip row locks; another prune running
/// already keeps it (and this run selects with `FOR UPDATE SKIP LOCKED`).
/// Released by [`release_solo`], or by the connection's end if the process
/// dies. SQLite: false (its writers take turns anyway).
pub fn claim_solo(conn: &mut dyn Conn) -> Result<bool> {
    if conn.dialect() != Dialect::Postgres {
        return Ok(false);
    }
    conn.query_one(
        "SELECT pg_try_advisory_lock($1, hashtext(current_schema())) AS got",
        &[PRUNE_LOCK_CLASS.into()],
    )?
    .bool("got")
}

/// Releases the prune lock taken by [`claim_solo`].
pub fn release_solo(conn: &mut dyn Conn) -> Result<()> {
    conn.query(
        "SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
        &[PRUNE_LOCK_CLASS.into()],
    )?;
    Ok(())
}

/// The page cache a SQLite batch gets, in KiB (`PRAGMA cache_size`): a
/// batch must not spill to the WAL before it commits. With time-ordered
/// `access_jti` and `refresh_jti` (see `tokens`) a batch of 5,000 rows
/// dirties a few hundred pages; sessions made before those ids (random ones)
/// can dirty about 9,000 (36 MB).
const SQLITE_CACHE_KIB: u32 = 64 * 1024;
/// SQLite's own `wal_autocheckpoint`, restored after the last batch.
const SQLITE_AUTOCHECKPOINT: u32 = 1000;
/// Rows deleted between two SQLite checkpoints (see [`checkpoint_every`]).
const CHECKPOINT_ROWS: u64 = 25_000;

/// What each batch transaction sets first. SQLite: a page cache that holds
/// the batch, and no automatic checkpoint at its COMMIT (the caller
/// checkpoints between batches, after the lock is released, see
/// [`checkpoint`]). PostgreSQL: an asynchronous commit; the run's closing
/// audited write commits synchronously and so makes every batch before it
/// durable too (a server crash before then may bring the last batches'
/// rows back, whole, for the next run to delete).
fn settle(conn: &mut dyn Conn) -> Result<()> {
    match conn.dialect() {
        Dialect::Sqlite => {
            conn.query(&format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}"), &[])?;
            conn.query("PRAGMA wal_autocheckpoint = 0", &[])?;
        }
        Dialect::Postgres => {
            conn.execute("SET LOCAL synchronous_commit = off", &[])?;
        }
    }
    Ok(())
}

/// How many batches of `size` to delete between two SQLite checkpoints:
/// about 25,000 rows, so the WAL stays near 200 MB with the default batch
/// instead of a checkpoint (two fsyncs and a copy of every page a batch
/// dirtied) after each one.
pub fn checkpoint_every(size: u32) -> u64 {
    CHECKPOINT_ROWS.div_ceil(u64::from(size.max(1)))
}

/// Copies the SQLite WAL into the database (`PRAGMA wal_checkpoint(PASSIVE)`:
/// it waits for no one and holds no write lock, so other writers may commit
/// meanwhile); with `last`, also gives the connection back SQLite's
/// automatic checkpoints. Must run before the transaction reads anything
/// (SQLite refuses to checkpoint from inside a read): `store::read` begins
/// deferred, so the pragma is its first statement. PostgreSQL: nothing.
pub fn checkpoint(conn: &mut dyn Conn, last: bool) -> Result<()> {
    if conn.dialect() != Dialect::Sqlite {
        return Ok(());
    }
    conn.query("PRAGMA wal_checkpoint(PASSIVE)", &[])?;
    if last {
        conn.query(
            &format!("PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT}"),
            &[],
        )?;
    }
    Ok(())
}

/// How many batches of `size` the deletion of `total` rows takes (for `--dry-run`).
pub fn batches_for(total: u64, size: u32) -> u64 {
    total.div_ceil(u64::from(size.max(1)))
}

/// Retired signing keys that [`super::signing::prune_retired`] would delete
/// at `now` (the same condition: the last token they signed expired more
/// than `leeway` ago).
pub fn count_retired_keys(
    conn: &mut dyn Conn,
    now: OffsetDateTime,
    leeway: Duration,
) -> Result<u64> {
    let cutoff = crate::time::sub(now, leeway)?;
    count_of(
        conn,
        "SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NOT NULL \
         AND (last_expiry IS NULL OR last_expiry < $1)",
        cutoff,
    )
}

/// The shortest pause between two SQLite batches.
const MIN_PAUSE: Elapsed = Elapsed::from_millis(2);
/// The longest pause between two SQLite batches.
const MAX_PAUSE: Elapsed = Elapsed::from_millis(25);

/// How long to leave SQLite's write lock free after a batch that took
/// `held` (BEGIN to COMMIT). SQLite grants the lock to no one in particular:
/// a writer that found it taken polls from its busy handler (1, 2, 5, … ms
/// apart, then every 100 ms), so it gets in when a poll falls in a gap. The
/// gap is an eighth of the batch's time, 2 to 25 ms; the checkpoint every
/// few batches (see [`checkpoint_every`]) leaves a longer one. Measured with
/// 900,000 sessions to prune: a login started during the prune waited 0 to
/// 0.45 s for its turn, and the pauses cost about 5 % of the prune's time.
/// PostgreSQL locks rows, not the database: no pause.
pub fn pause_after(dialect: Dialect, held: Elapsed) -> Elapsed {
    match dialect {
        Dialect::Postgres => Elapsed::ZERO,
        Dialect::Sqlite => (held / 8).clamp(MIN_PAUSE, MAX_PAUSE),
    }
}

/// What one run deleted, as its `session.prune` event records it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Sessions this run deleted.
    pub deleted: u64,
    /// Batches that deleted at least one row.
    pub batches: u64,
    /// Sessions ended or revoked at or before this went.
    pub cutoff: String,
    /// `--older-than`.
    pub older_than: String,
    /// `--batch-size`.
    pub batch_size: u32,
}

#[derive(Serialize)]
struct Details<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    signing_keys_removed: usize,
    signing_keys: &'a [String],
}

/// Ends a run, in the caller's audited write: deletes the retired signing
/// keys no token of which can still be valid at `stamp.at` (with `leeway`),
/// and records the run's one `session.prune` event. Returns the keys' ids.
pub fn finish(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    leeway: Duration,
    summary: &Summary,
) -> Result<Vec<String>> {
    let keys = super::signing::prune_retired(conn, stamp.at, leeway)?;
    audit::record(
        conn,
        stamp,
        Event::new("session.prune", "session", "expired_or_revoked").details_of(&Details {
            summary,
            signing_keys_removed: keys.len(),
            signing_keys: &keys,
        }),
    )?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_size_is_bounded() {
        assert_eq!(check_batch_size(1).unwrap(), 1);
        assert_eq!(check_batch_size(100_000).unwrap(), 100_000);
        for bad in [0, 100_001, u64::from(u32::MAX) + 1] {
            let e = check_batch_size(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn heap_positions_step_on() {
        assert_eq!(tid_after("(0,0)").unwrap(), "(0,1)");
        assert_eq!(tid_after("(4294967295,291)").unwrap(), "(4294967295,292)");
        for bad in ["", "(1)", "1,2", "(a,1)", "(1,-1)"] {
            assert!(tid_after(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn batches_round_up() {
        assert_eq!(batches_for(0, 10), 0);
        assert_eq!(batches_for(10, 10), 1);
        assert_eq!(batches_for(11, 10), 2);
        assert_eq!(batches_for(900_000, 5_000), 180);
    }

    #[test]
    fn pauses_only_on_sqlite_and_within_bounds() {
        let ms = Elapsed::from_millis;
        assert_eq!(pause_after(Dialect::Postgres, ms(100)), Elapsed::ZERO);
        assert_eq!(pause_after(Dialect::Sqlite, ms(1)), MIN_PAUSE);
        assert_eq!(pause_after(Dialect::Sqlite, ms(80)), ms(10));
        assert_eq!(pause_after(Dialect::Sqlite, ms(1000)), MAX_PAUSE);
        assert_eq!(checkpoint_every(5_000), 5);
        assert_eq!(checkpoint_every(1), 25_000);
        assert_eq!(checkpoint_every(100_000), 1);
    }
}
