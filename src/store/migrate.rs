//! Embedded migrations, one refinery module per dialect, and their status.

use super::{Conn, Dialect, MigrationState};
use crate::error::Result;

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
