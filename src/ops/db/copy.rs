//! `db copy --to URL`: every table of the current database into an empty
//! target, read under one snapshot and written in one target transaction,
//! byte for byte (no re-encryption, no re-hashing), ids kept; the target's
//! audit chain continues the source's with a `db.copy` event.

use crate::context::Context;
use crate::domain::audit::{self, Event};
use crate::error::{Error, Result};
use crate::output::TableRow;
use crate::store::{
    self, copy, target, Conn, DatabaseTarget, MigrationState, SqliteLocation, Store,
};
use serde::Serialize;

/// One table copied.
#[derive(Debug, Clone, Serialize)]
pub struct TableCopied {
    /// The table.
    pub name: String,
    /// Its rows.
    pub rows: u64,
}

impl TableRow for TableCopied {
    const COLUMNS: &'static [&'static str] = &["name", "rows"];
}

/// What `db copy` did.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// Every table, in the order copied.
    pub tables: Vec<TableCopied>,
    /// The source chain's head hash at the snapshot.
    pub source_head: String,
    /// The target chain's head hash after the copied rows (before the `db.copy` event).
    pub target_head: String,
    /// The hash of the `db.copy` event appended on the target.
    pub copy_event_hash: String,
    /// Wall time of the copy.
    pub seconds: f64,
    /// The target, password redacted.
    #[serde(skip)]
    pub target: String,
}

#[derive(Serialize)]
struct CopyDetails<'a> {
    source: &'a str,
    tables: &'a [TableCopied],
}

/// Copies the current database into the (empty, same-schema) database at `to`.
pub fn copy(ctx: &mut Context, to: &str) -> Result<CopyReport> {
    let started = std::time::Instant::now();
    let to = target::parse_url(to).map_err(|e| Error::invalid(format!("--to: {}", e.message())))?;
    if matches!(
        to,
        DatabaseTarget::Sqlite(SqliteLocation::Memory)
            | DatabaseTarget::Sqlite(SqliteLocation::File {
                read_only: true,
                ..
            })
    ) {
        return Err(Error::invalid(
            "--to names an in-memory or read-only SQLite database, which would keep nothing: give a file (sqlite:///path/to/new.db) or a PostgreSQL URL",
        ));
    }
    if same_database(&ctx.config.database, &to) {
        return Err(Error::invalid(format!(
            "--to names the database being copied ({to}): copy into another database"
        )));
    }
    let actor = ctx.actor().to_owned();
    let clock = ctx.clock.clone();
    let source_location = ctx.config.database.to_string();
    let source = ctx.store()?;
    let versions = applied(&source.migration_states()?);
    let mut target = store::open(&to, 1, true)?;
    let location = target.location();
    if let (Some(a), Some(b)) = (server_identity(source)?, server_identity(target.as_mut())?) {
        if a == b {
            return Err(Error::invalid(format!(
                "--to names the database being copied ({location}, the same server, database and schema under another URL): copy into another database"
            )));
        }
    }
    prepare_target(target.as_mut(), &versions, &location)?;
    let bar = ctx.progress(0, "copying");
    let source = ctx.store()?;
    let report = store::read(source, |src| {
        let (_, source_head) = copy::head(src)?;
        let mut total = 0;
        for (table, _) in copy::TABLES {
            total += copy::count(src, table)?;
        }
        bar.set_length(total);
        let counters = copy::counters(src)?;
        store::write(target.as_mut(), |dst| {
            ensure_empty(dst, &location)?;
            let mut tables = Vec::with_capacity(copy::TABLES.len());
            for (table, key) in copy::TABLES {
                bar.set_message(format!("copying {table}"));
                let rows = copy::copy_table(src, dst, table, key, &mut |n| bar.inc(n))?;
                tables.push(TableCopied {
                    name: (*table).to_owned(),
                    rows,
                });
            }
            copy::advance_counters(dst, &counters)?;
            let (_, target_head) = copy::head(dst)?;
            let details = serde_json::to_value(CopyDetails {
                source: &source_location,
                tables: &tables,
            })
            .map_err(Error::internal)?;
            let entry = audit::record(
                dst,
                audit::Stamp::new(&actor, &*clock),
                Event::new("db.copy", "database", location.clone()).details(details),
            )?;
            Ok(CopyReport {
                tables,
                source_head: source_head.clone(),
                target_head,
                copy_event_hash: entry.hash,
                seconds: 0.0,
                target: location.clone(),
            })
        })
    });
    bar.finish_and_clear();
    let mut report = report?;
    report.seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    Ok(report)
}

/// Refuses (exit 4) a target holding data: any row in any table, or an
/// audit head past the empty chain's.
fn ensure_empty(conn: &mut dyn Conn, location: &str) -> Result<()> {
    for (table, _) in copy::TABLES {
        let held = if *table == copy::HEAD {
            let (last_id, _) = copy::head(conn)?;
            u64::try_from(last_id).unwrap_or(0)
        } else {
            copy::count(conn, table)?
        };
        if held > 0 && *table == "audit_events" && only_migrations(conn)? {
            return Err(Error::conflict(format!(
                "target {location} was prepared with `keyward db migrate` or `db init`, which write audit entries ({held}): drop it, create it empty, and let `db copy` create the schema itself"
            )));
        }
        if held > 0 {
            let what = if *table == copy::HEAD {
                format!("its audit head records {held} audit entr{}", plural_y(held))
            } else {
                format!("table {table} holds {held} row{}", plural_s(held))
            };
            return Err(Error::conflict(format!(
                "target {location} is not empty: {what}; copy into a new, empty database"
            )));
        }
    }
    Ok(())
}

/// Whether every audit entry is one that preparing a database writes.
fn only_migrations(conn: &mut dyn Conn) -> Result<bool> {
    let others = conn
        .query_one(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action NOT IN ('db.migrate', 'db.init', 'key.register', 'db.seed')",
            &[],
        )?
        .int("n")?;
    Ok(others == 0)
}

fn plural_s(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn plural_y(n: u64) -> &'static str {
    if n == 1 {
        "y"
    } else {
        "ies"
    }
}

/// The applied migrations' versions.
fn applied(states: &[MigrationState]) -> Vec<i64> {
    states
        .iter()
        .filter(|m| m.applied && !m.unknown)
        .map(|m| m.version)
        .collect()
}

/// Migrates a target with no schema yet; refuses (exit 4) one migrated to
/// another version than the source.
fn prepare_target(target: &mut dyn Store, versions: &[i64], location: &str) -> Result<()> {
    let mut states = target.migration_states()?;
    if states.iter().all(|m| !m.applied) {
        target.migrate(false)?;
        states = target.migration_states()?;
    }
    let modified = states.iter().any(|m| m.modified || m.unknown);
    let theirs = applied(&states);
    if modified || theirs != versions {
        let shown = |v: &[i64]| v.last().map_or("none".to_owned(), |n| format!("V{n}"));
        return Err(Error::conflict(format!(
            "target {location} is migrated to schema version {}{}, the source to {}: copy into a new, empty database",
            shown(&theirs),
            if modified { " (with migrations this keyward does not know)" } else { "" },
            shown(versions)
        )));
    }
    Ok(())
}

/// PostgreSQL: what names a database and schema whatever the URL that
/// reached it (`localhost` or `127.0.0.1`, with or without a password): the
/// server's start instant, the database's oid and the schema. SQLite: none
/// (files are compared by [`same_database`]).
fn server_identity(store: &mut dyn Store) -> Result<Option<String>> {
    if store.dialect() != store::Dialect::Postgres {
        return Ok(None);
    }
    store::read(store, |c| {
        let r = c.query_one(
            "SELECT pg_postmaster_start_time()::text || '/' || d.oid::text || '/' || current_schema() AS id \
             FROM pg_database d WHERE d.datname = current_database()",
            &[],
        )?;
        Ok(Some(r.text("id")?))
    })
}

/// Whether two files are one (the same device and inode: a hard link or
/// another spelling of the path).
fn same_file(p: &std::path::Path, q: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(p), std::fs::metadata(q)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether two targets name the same database.
fn same_database(a: &DatabaseTarget, b: &DatabaseTarget) -> bool {
    match (a, b) {
        (
            DatabaseTarget::Sqlite(SqliteLocation::File { path: p, .. }),
            DatabaseTarget::Sqlite(SqliteLocation::File { path: q, .. }),
        ) => {
            same_file(p, q)
                || match (p.canonicalize(), q.canonicalize()) {
                    (Ok(p), Ok(q)) => p == q,
                    _ => p == q,
                }
        }
        (DatabaseTarget::Postgres(p), DatabaseTarget::Postgres(q)) => {
            p.to_string() == q.to_string() && p.config.get_options() == q.config.get_options()
        }
        _ => false,
    }
}
