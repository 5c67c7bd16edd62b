//! `sessions prune`: deletes expired and revoked sessions in short batches,
//! then retired signing keys whose tokens have all expired, and records one
//! `session.prune` event.
//!
//! The flow: count what may go (a read, on the two prune indexes: the
//! progress bar's total and the confirmation's figure), ask, delete batch
//! after batch (each one short write transaction that takes no audit chain
//! lock), then one audited write that deletes the spent signing keys and
//! appends the run's event with its own counts.
//!
//! A prune killed part way (SIGKILL, a lost connection, a power cut) leaves
//! the database before or after each batch, never inside one: a batch is
//! all-or-nothing, so the batch in flight is rolled back whole, and the
//! batches committed before it stay deleted. Such a run writes no
//! `session.prune` event (its rows are simply gone, as an expired session
//! would be); running prune again deletes what is left and records its own
//! count. Several prunes at once (cron on several hosts) each delete
//! different rows and each count only what they deleted, so their counts add
//! up to what went.

use crate::context::Context;
use crate::domain::sessions::prune::{self, Summary};
use crate::domain::sessions::tokens::LEEWAY;
use crate::error::Result;
use crate::store::{self, Dialect};
use serde::Serialize;
use std::time::Instant;
use time::{Duration, OffsetDateTime};

/// `sessions prune`.
#[derive(Debug, Clone, Default)]
pub struct PruneRequest {
    /// `--older-than` (default none: everything already ended or revoked).
    pub older_than: Option<Duration>,
    /// `--dry-run`: count, change nothing.
    pub dry_run: bool,
    /// `--batch-size` as given (checked here).
    pub batch_size: Option<u64>,
}

/// What a prune did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    /// Sessions this run deleted (dry: that would be deleted).
    pub deleted: u64,
    /// Batches that deleted rows (dry: that it would take).
    pub batches: u64,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Retired signing keys deleted (dry: that would be).
    pub signing_keys_removed: u64,
    /// Sessions ended or revoked at or before this instant go.
    #[serde(with = "crate::output::rfc3339")]
    pub cutoff: OffsetDateTime,
    /// The longest batch transaction, from its BEGIN to its COMMIT, in
    /// milliseconds rounded up (0 when none ran): how long it held SQLite's
    /// write lock, waits for the lock included.
    pub longest_batch_ms: u64,
}

/// Deletes (or counts, with `dry_run`) the sessions that ended or were
/// revoked before now minus `older_than`, batch by batch, and the retired
/// signing keys no token of which can still be valid.
pub fn prune(ctx: &mut Context, req: &PruneRequest) -> Result<Pruned> {
    let size = match req.batch_size {
        Some(n) => prune::check_batch_size(n)?,
        None => prune::DEFAULT_BATCH,
    };
    let older_than = req.older_than.unwrap_or(Duration::ZERO);
    let now = ctx.clock.now();
    let cutoff = crate::time::sub(now, older_than)?;
    // The count is for people: the dry run's answer, the question asked on a
    // terminal and the progress bar's total. Cron (`--yes`, no terminal)
    // sees none of them and is spared it.
    let shows_progress = !indicatif::ProgressDrawTarget::stderr().is_hidden();
    let counted = if req.dry_run || !ctx.assume_yes || shows_progress {
        Some(store::read(ctx.store()?, |c| {
            Ok((
                prune::count(c, cutoff)?.total(),
                prune::count_retired_keys(c, now, LEEWAY)?,
            ))
        })?)
    } else {
        None
    };
    let (total, keys) = counted.unwrap_or((0, 0));
    if req.dry_run {
        return Ok(Pruned {
            deleted: total,
            batches: prune::batches_for(total, size),
            dry_run: true,
            signing_keys_removed: keys,
            cutoff,
            longest_batch_ms: 0,
        });
    }
    let also = match keys {
        0 => String::new(),
        k => format!(" and {k} retired signing key(s)"),
    };
    ctx.confirm(&format!(
        "delete {total} session(s) ended or revoked before {}{also}",
        crate::time::rfc3339(cutoff)
    ))?;
    let run = batches(ctx, cutoff, size, total)?;
    let summary = Summary {
        deleted: run.deleted,
        batches: run.batches,
        cutoff: crate::time::rfc3339(cutoff),
        older_than: crate::time::format_duration(older_than),
        batch_size: size,
    };
    let removed = crate::ops::audited(ctx, |c, stamp| prune::finish(c, stamp, LEEWAY, &summary))?;
    Ok(Pruned {
        deleted: run.deleted,
        batches: run.batches,
        dry_run: false,
        signing_keys_removed: removed.len() as u64,
        cutoff,
        longest_batch_ms: u64::try_from(run.longest.as_micros().div_ceil(1000)).unwrap_or(u64::MAX),
    })
}

/// What the batches of one run came to.
struct Run {
    deleted: u64,
    batches: u64,
    longest: std::time::Duration,
}

/// Deletes batch after batch: a PostgreSQL prune that is the only one walks
/// the heap ([`prune::delete_heap_batch`]); otherwise batches picked through
/// the prune indexes run until one comes up short (nothing left that
/// another prune does not hold).
fn batches(ctx: &mut Context, cutoff: OffsetDateTime, size: u32, total: u64) -> Result<Run> {
    let bar = ctx.progress(total, "pruning sessions");
    let store = ctx.store()?;
    let mut run = Run {
        deleted: 0,
        batches: 0,
        longest: std::time::Duration::ZERO,
    };
    let solo = store::read(store, prune::claim_solo)?;
    // Alone on PostgreSQL: the heap walk takes everything (a row a concurrent
    // writer moved behind it waits for the next run: an indexed pass after
    // it would first step over every index entry of the rows just deleted).
    let result = if solo {
        heap_walk(store, cutoff, size, (&bar, &mut run))
    } else {
        indexed(store, (cutoff, size), (&bar, &mut run))
    };
    bar.finish_and_clear();
    if solo {
        store::read(store, prune::release_solo)?;
    }
    match result {
        Ok(()) => Ok(run),
        Err(e) if run.deleted > 0 => Err(e.context(format!(
            "prune stopped after deleting {} session(s) in {} batch(es), which stay deleted; run it again to finish",
            run.deleted, run.batches
        ))),
        Err(e) => Err(e),
    }
}

/// Counts one batch into the run.
fn tally(run: &mut Run, bar: &indicatif::ProgressBar, deleted: u64, held: std::time::Duration) {
    run.longest = run.longest.max(held);
    if deleted > 0 {
        run.batches += 1;
        run.deleted += deleted;
        bar.inc(deleted);
    }
}

/// PostgreSQL, the only prune: batches in heap order to the end of the heap.
fn heap_walk(
    store: &mut dyn store::Store,
    cutoff: OffsetDateTime,
    size: u32,
    (bar, run): (&indicatif::ProgressBar, &mut Run),
) -> Result<()> {
    let mut from = Some("(0,0)".to_owned());
    while let Some(at) = from {
        let started = Instant::now();
        let (deleted, next) =
            store::write_unaudited(store, |c| prune::delete_heap_batch(c, cutoff, size, &at))?;
        tally(run, bar, deleted, started.elapsed());
        from = next;
    }
    Ok(())
}

/// Batches picked through the prune indexes until one comes up short. On
/// SQLite it checkpoints every few batches and pauses after each one, so
/// waiting writers get the lock.
fn indexed(
    store: &mut dyn store::Store,
    (cutoff, size): (OffsetDateTime, u32),
    (bar, run): (&indicatif::ProgressBar, &mut Run),
) -> Result<()> {
    let dialect = store.dialect();
    let checkpoint_every = prune::checkpoint_every(size);
    let mut since_checkpoint = 0;
    loop {
        let started = Instant::now();
        let deleted = store::write_unaudited(store, |c| prune::delete_batch(c, cutoff, size))?;
        let held = started.elapsed();
        tally(run, bar, deleted, held);
        let last = deleted < u64::from(size);
        since_checkpoint += 1;
        if dialect == Dialect::Sqlite && (last || since_checkpoint >= checkpoint_every) {
            since_checkpoint = 0;
            store::read(store, |c| prune::checkpoint(c, last))?;
        }
        if last {
            return Ok(());
        }
        std::thread::sleep(prune::pause_after(dialect, held));
    }
}
