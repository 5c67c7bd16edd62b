//! Embedded migrations, one refinery module per dialect, and their status.

use super::{Conn, Dialect, MigrationState};
use crate::error::{Error, Result};

/// SQLite migrations (`migrations/sqlite`).
pub mod sqlite_migrations {
    refinery::embed_migrations!("migrations/sqlite");
}

/// PostgreSQL migrations (`migrations/postgres`).
pub mod postgres_migrations {
    refinery::embed_migrations!("migrations/postgres");
}

/// refinery's bookkeeping table.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// A refinery runner for the dialect, grouped: all pending migrations in one transaction.
pub fn runner(dialect: Dialect) -> refinery::Runner {
    let runner = match dialect {
        Dialect::Sqlite => sqlite_migrations::migrations::runner(),
        Dialect::Postgres => postgres_migrations::migrations::runner(),
    };
    runner.set_grouped(true).set_abort_divergent(true)
}

/// Keeps the migrations refinery reports it applied itself (another process may have applied the rest).
pub fn applied_by(report: &refinery::Report, pending: Vec<MigrationState>) -> Vec<MigrationState> {
    let done: Vec<i64> = report
        .applied_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect();
    pending
        .into_iter()
        .filter(|m| done.contains(&m.version))
        .collect()
}

/// An applied migration as recorded in the history table.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// When, as refinery wrote it.
    pub applied_on: String,
    /// refinery's checksum, as text.
    pub checksum: String,
}

/// Reads the history table through a connection; `None` when it does not exist yet.
pub fn read_applied(conn: &mut dyn Conn, history_exists: bool) -> Result<Vec<Applied>> {
    if !history_exists {
        return Ok(Vec::new());
    }
    let rows = conn.query(
        "SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Applied {
                version: r.int("version")?,
                name: r.text("name")?,
                applied_on: r.text("applied_on")?,
                checksum: r.text("checksum")?,
            })
        })
        .collect()
}

/// Combines embedded and applied migrations into one ordered status list.
pub fn states(dialect: Dialect, applied: &[Applied]) -> Vec<MigrationState> {
    let embedded = runner(dialect).get_migrations().clone();
    let mut out: Vec<MigrationState> = embedded
        .iter()
        .map(|m| {
            let version = i64::from(m.version());
            let found = applied.iter().find(|a| a.version == version);
            MigrationState {
                version,
                name: m.name().to_owned(),
                applied: found.is_some(),
                applied_on: found.map(|a| a.applied_on.clone()),
                modified: found.is_some_and(|a| a.checksum != m.checksum().to_string()),
                unknown: false,
            }
        })
        .collect();
    for a in applied {
        if !out.iter().any(|m| m.version == a.version) {
            out.push(MigrationState {
                version: a.version,
                name: a.name.clone(),
                applied: true,
                applied_on: Some(a.applied_on.clone()),
                modified: false,
                unknown: true,
            });
        }
    }
    out.sort_by_key(|m| m.version);
    out
}

/// Refuses a schema this keyward did not make: a migration it does not know
/// (the database is newer: another keyward migrated it) or one applied with
/// a checksum other than the embedded file's (the migration was modified).
/// Exit 6. Neither message quotes a migration's SQL.
pub fn check_known(states: &[MigrationState], location: &str) -> Result<()> {
    if let Some(newest) = states.iter().rev().find(|m| m.unknown) {
        return Err(Error::unavailable(format!(
            "database at {location} is newer than this keyward: it has migration {} that this keyward does not know; upgrade keyward",
            label(newest)
        )));
    }
    if let Some(changed) = states.iter().find(|m| m.modified) {
        return Err(Error::unavailable(format!(
            "database at {location} was migrated with a modified migration: {} differs from this keyward's (its checksum does not match); use the keyward that migrated it, or restore the database from a backup",
            label(changed)
        )));
    }
    Ok(())
}

/// The migrations still to apply, after [`check_known`].
pub fn pending(states: &[MigrationState], location: &str) -> Result<Vec<MigrationState>> {
    check_known(states, location)?;
    Ok(states.iter().filter(|m| !m.applied).cloned().collect())
}

/// `V<n>`, with the name when it is a plain identifier (a name read from
/// the database is not echoed otherwise).
fn label(m: &MigrationState) -> String {
    let plain = !m.name.is_empty()
        && m.name.len() <= 64
        && m.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("V{} ({})", m.version, m.name)
    } else {
        format!("V{}", m.version)
    }
}

/// A failed migration run, told in one line: the step and the driver's own
/// message, never the migration's SQL (rusqlite's "… in <sql> at offset n"
/// and tokio-postgres's bare "db error" are replaced by the database's
/// message). A schema error while applying (an object that already exists,
/// or one that is missing) means the history table no longer matches the
/// schema: the message says what to do.
pub fn failed(location: &str, e: &refinery::Error) -> Error {
    use refinery::error::Kind;
    let why = match e.kind() {
        Kind::Connection(step, source) => {
            let (message, schema) = driver_message(&**source);
            let hint = if schema {
                format!(
                    "; the schema no longer matches its migration history ({HISTORY_TABLE}: a migration's record was removed, or the schema was changed by hand): inspect the database, or restore it from a backup"
                )
            } else {
                String::new()
            };
            format!("{step}: {}{hint}", first_line(&message))
        }
        Kind::DivergentVersion(applied, _) => {
            format!(
                "migration V{} differs from this keyward's",
                applied.version()
            )
        }
        Kind::MissingVersion(m) => {
            format!("migration V{} is not one this keyward knows", m.version())
        }
        other => first_line(&other.to_string()),
    };
    Error::unavailable(format!("migrating {location} failed: {why}"))
}

/// The driver's own message from an error's source chain, and whether it
/// is a schema error (SQLite's generic SQL error, PostgreSQL's class 42:
/// an object that exists or is missing), not a lost connection or a lock.
fn driver_message(e: &(dyn std::error::Error + 'static)) -> (String, bool) {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(db) = err.downcast_ref::<tokio_postgres::error::DbError>() {
            return (db.message().to_owned(), db.code().code().starts_with("42"));
        }
        if let Some(pg) = err
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::as_db_error)
        {
            return (pg.message().to_owned(), pg.code().code().starts_with("42"));
        }
        match err.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqlInputError { error, msg, .. }) => {
                return (msg.clone(), error.code == rusqlite::ErrorCode::Unknown);
            }
            Some(rusqlite::Error::SqliteFailure(error, msg)) => {
                let text = msg.clone().unwrap_or_else(|| error.to_string());
                return (text, error.code == rusqlite::ErrorCode::Unknown);
            }
            _ => {}
        }
        next = err.source();
    }
    (e.to_string(), false)
}

/// The first line of a message, at most 300 characters.
fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}
