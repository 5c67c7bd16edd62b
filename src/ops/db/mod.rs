//! Operations of `keyward db`: init, migrate, status, seed, health,
//! rotate-key and backup, each returning its typed view.

mod copy;
mod health;
mod init;
mod rotate;

pub use copy::{copy, CopyReport, TableCopied};
pub use health::{health, Health, HealthReport};
pub use init::{init, InitReport};
pub use rotate::{rotate_key, RotateReport};

use crate::context::Context;
use crate::domain::audit::{self, Event};
use crate::domain::seed::{self, Seeded};
use crate::error::{Error, Result};
use crate::output::TableRow;
use crate::store::{self, Conn, DatabaseTarget, MigrationState};
use serde::Serialize;

/// The backend's name, as views show it.
fn backend(ctx: &Context) -> &'static str {
    match ctx.config.database {
        DatabaseTarget::Sqlite(_) => "sqlite",
        DatabaseTarget::Postgres(_) => "postgres",
    }
}

/// A migration's label in views and audit details: `V2__audit_trigger…`.
fn migration_label(m: &MigrationState) -> String {
    format!("V{}__{}", m.version, m.name)
}

/// The audit details of `db.migrate`.
#[derive(Serialize)]
struct MigrationsApplied {
    applied: Vec<String>,
}

/// Records migrations just applied (refinery commits in its own transaction;
/// the record follows it), inside the caller's audited write transaction.
fn record_migrations(
    conn: &mut dyn Conn,
    stamp: audit::Stamp<'_>,
    database: &str,
    applied: &[MigrationState],
) -> Result<()> {
    let details = serde_json::to_value(MigrationsApplied {
        applied: applied.iter().map(migration_label).collect(),
    })
    .map_err(Error::internal)?;
    audit::record(
        conn,
        stamp,
        Event::new("db.migrate", "database", database).details(details),
    )
    .map(drop)
}

/// A migration `db migrate` applied (or, dry, would apply).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct PendingMigration(pub MigrationState);

impl TableRow for PendingMigration {
    const COLUMNS: &'static [&'static str] = &["version", "name"];
}

/// What `db migrate` did.
#[derive(Debug, Clone)]
pub struct Migrated {
    /// The database, password redacted.
    pub database: String,
    /// Whether nothing was changed on purpose.
    pub dry_run: bool,
    /// The migrations applied (or, dry, pending).
    pub migrations: Vec<PendingMigration>,
    /// Built-in permissions and grants brought to the existing system roles.
    pub seeded: Seeded,
}

/// Applies pending migrations; then, when the database has its system roles,
/// brings them the built-in grants they have not received yet (one audited
/// transaction with the record of the migrations).
pub fn migrate(ctx: &mut Context, dry_run: bool) -> Result<Migrated> {
    let actor = ctx.actor().to_owned();
    let clock = ctx.clock.clone();
    let database = ctx.config.database.to_string();
    let store = ctx.store_unchecked(!dry_run)?;
    let pending = store.migrate(dry_run)?;
    let mut seeded = Seeded::default();
    // Only a fully migrated database has the audit chain and the seed tables;
    // an up-to-date one is written to only when a built-in grant is due.
    let current = !dry_run && store.migration_states()?.iter().all(|m| m.applied);
    let due = current
        && (!pending.is_empty()
            || store::read(store, |c| seed::upgrade_pending(c, &seed::builtin()))?);
    if due {
        seeded = store::write(store, |c| {
            let stamp = audit::Stamp::new(&actor, &*clock);
            if !pending.is_empty() {
                record_migrations(c, stamp, &database, &pending)?;
            }
            seed::upgrade(c, stamp)
        })?;
    }
    Ok(Migrated {
        database,
        dry_run,
        migrations: pending.into_iter().map(PendingMigration).collect(),
        seeded,
    })
}

/// A migration and whether the database has applied it.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct MigrationStatus(pub MigrationState);

impl TableRow for MigrationStatus {
    const COLUMNS: &'static [&'static str] = &[
        "version",
        "name",
        "applied",
        "applied_on",
        "modified",
        "unknown",
    ];
}

/// The schema's migrations as `db status` shows them.
#[derive(Debug)]
pub struct Status {
    /// Every embedded and applied migration, in version order.
    pub migrations: Vec<MigrationStatus>,
    /// How many are not applied.
    pub pending: usize,
    /// Whether the schema is exactly this keyward's (nothing pending, unknown or modified).
    pub current: bool,
    /// A schema this keyward did not make (a migration unknown or modified):
    /// the command shows the list, then fails with it (exit 6).
    pub foreign: Option<Error>,
}

/// Reads the schema's migrations.
pub fn status(ctx: &mut Context) -> Result<Status> {
    let store = ctx.store_unchecked(false)?;
    let states = store.migration_states()?;
    let foreign = store::migrate::check_known(&states, &store.location()).err();
    let pending = states.iter().filter(|m| !m.applied).count();
    let current = pending == 0 && foreign.is_none();
    Ok(Status {
        migrations: states.into_iter().map(MigrationStatus).collect(),
        pending,
        current,
        foreign,
    })
}

/// Creates the built-in permissions and system roles, and brings the
/// system roles the built-in grants not yet recorded (one audited transaction).
pub fn seed(ctx: &mut Context) -> Result<Seeded> {
    let actor = ctx.actor().to_owned();
    let clock = ctx.clock.clone();
    let store = ctx.store()?;
    store::write(store, |c| seed::seed(c, audit::Stamp::new(&actor, &*clock)))
}

/// What `db backup` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Backup {
    /// The backup file.
    pub file: String,
    /// Its size.
    pub bytes: u64,
}

/// Copies the SQLite database to `file` while it stays online.
pub fn backup(ctx: &mut Context, file: &std::path::Path) -> Result<Backup> {
    let bytes = ctx.store()?.backup(file)?;
    Ok(Backup {
        file: file.display().to_string(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> MigrationState {
        MigrationState {
            version: 1,
            name: "initial".into(),
            applied: true,
            applied_on: None,
            modified: false,
            unknown: false,
        }
    }

    #[test]
    fn table_columns_are_fields() {
        crate::output::assert_columns(&PendingMigration(state()));
        crate::output::assert_columns(&MigrationStatus(state()));
    }
}
