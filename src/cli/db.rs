//! `keyward db`: init, migrate, status, seed, health, rotate-key, backup, copy.

use crate::context::Context;
use crate::error::Result;
use crate::ops::db::{self, InitReport, Migrated, RotateReport};
use crate::output::Reply;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum DbCommand {
    /// Create the database, migrate it, seed it, and make a key if none is configured
    Init,
    /// Apply pending schema migrations
    Migrate {
        /// Show what would be applied, change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the schema's migrations and whether each is applied
    Status,
    /// Create the built-in permissions and system roles (idempotent)
    Seed,
    /// Check the connection, the schema and the key (exit 6 or 7 when unhealthy)
    Health,
    /// Re-encrypt every secret under a new key, in one transaction
    RotateKey {
        /// The new key: a key file (its first line); created, mode 0600, if it does not exist
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
    /// Copy the SQLite database to FILE while it stays online
    Backup {
        /// The backup file to create (must not exist)
        file: PathBuf,
    },
    /// Copy every table into another, empty database (SQLite <-> PostgreSQL), in one transaction
    Copy {
        /// The target database URL (created and migrated if it has no schema yet; must hold no data: do not run db init or db migrate on it first)
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

pub(crate) fn run(ctx: &mut Context, cmd: DbCommand) -> Result<Reply> {
    match cmd {
        DbCommand::Init => {
            let report = db::init(ctx)?;
            let message = init_message(&report);
            Ok(Reply::object(report).with_message(message).quiet_table())
        }
        DbCommand::Migrate { dry_run } => {
            let migrated = db::migrate(ctx, dry_run)?;
            let message = migrate_message(&migrated);
            Ok(Reply::rows(migrated.migrations).with_message(message))
        }
        DbCommand::Status => {
            let status = db::status(ctx)?;
            let message = if status.pending > 0 {
                format!(
                    "{} pending migration(s): run `keyward db migrate`",
                    status.pending
                )
            } else {
                "schema is current".to_owned()
            };
            let reply = Reply::rows(status.migrations);
            Ok(match status.foreign {
                Some(e) => reply.failing(e),
                None => reply.with_message(message),
            })
        }
        DbCommand::Seed => {
            let seeded = db::seed(ctx)?;
            let message = if seeded.changed() {
                format!(
                    "added {} permissions, {} system roles and {} grants",
                    seeded.permissions_added, seeded.roles_added, seeded.grants_added
                )
            } else {
                "seed data already present: nothing changed".to_owned()
            };
            Ok(Reply::object(seeded).with_message(message).quiet_table())
        }
        DbCommand::Health => {
            let report = db::health(ctx);
            Ok(match report.failure {
                None => {
                    let h = report.health;
                    let message = format!("healthy: {} ({:.1} ms)", h.database, h.elapsed_ms);
                    Reply::object(h).with_message(message)
                }
                Some(e) => Reply::object(report.health).failing(e),
            })
        }
        DbCommand::RotateKey { new_key_file } => {
            let report = db::rotate_key(ctx, &new_key_file)?;
            let message = rotate_message(&report);
            Ok(Reply::object(report).with_message(message).quiet_table())
        }
        DbCommand::Backup { file } => {
            let backup = db::backup(ctx, &file)?;
            let message = format!("backed up to {} ({} bytes)", backup.file, backup.bytes);
            Ok(Reply::object(backup).with_message(message).quiet_table())
        }
        DbCommand::Copy { to } => {
            let report = db::copy(ctx, &to)?;
            let message = format!(
                "copied {} rows to {} in {:.1} s\nsource audit head: {}\ntarget audit head: {} (then db.copy {})",
                report.tables.iter().map(|t| t.rows).sum::<u64>(),
                report.target,
                report.seconds,
                report.source_head,
                report.target_head,
                report.copy_event_hash
            );
            let reply = if ctx.config.output == crate::config::Format::Table {
                Reply::rows(report.tables)
            } else {
                Reply::object(report)
            };
            Ok(reply.with_message(message))
        }
    }
}

fn init_message(r: &InitReport) -> String {
    let database = &r.database;
    if !r.changed {
        return format!(
            "already initialised: {database} is up to date and uses key {} ({}); nothing changed",
            r.kid, r.key_source
        );
    }
    let mut lines = Vec::new();
    if r.database_created {
        lines.push(format!("created database {database}"));
    }
    if !r.migrations_applied.is_empty() {
        lines.push(format!(
            "applied {} migration(s) to {database}",
            r.migrations_applied.len()
        ));
    }
    if r.seed_changed {
        lines.push(format!(
            "seeded {} permissions and {} system roles",
            r.permissions_added, r.roles_added
        ));
    }
    if r.key_created {
        lines.push(format!(
            "created encryption key {} in {} (mode 0600): back it up now; without it, secret values cannot be read",
            r.kid, r.key_source
        ));
    } else if r.key_registered {
        lines.push(format!(
            "registered encryption key {} ({}) with the database",
            r.kid, r.key_source
        ));
    }
    lines.push("keyward is ready".into());
    lines.join("\n")
}

fn migrate_message(m: &Migrated) -> String {
    let database = &m.database;
    let mut message = match (m.dry_run, m.migrations.len()) {
        (_, 0) => format!("{database} is up to date: no pending migrations"),
        (true, n) => format!(
            "{n} pending migration(s) would be applied to {database} (dry run: nothing changed)"
        ),
        (false, n) => format!("applied {n} migration(s) to {database}"),
    };
    if m.seeded.changed() {
        message.push_str(&format!(
            "\nadded {} built-in permission(s) and {} grant(s) to the system roles",
            m.seeded.permissions_added, m.seeded.grants_added
        ));
    }
    message
}

fn rotate_message(r: &RotateReport) -> String {
    let mut lines = vec![if r.finished_earlier {
        format!(
            "an earlier rotation from key {} to key {} had committed but was interrupted before its key file was updated; finishing it",
            r.from_kid, r.to_kid
        )
    } else {
        format!(
            "re-encrypted {} value(s); the database now uses key {} (was {})",
            r.reencrypted, r.to_kid, r.from_kid
        )
    }];
    if r.new_key_created {
        lines.push(format!(
            "created new key file {} (mode 0600): back it up",
            r.new_key_file.display()
        ));
    }
    if let Some(path) = &r.key_file_updated {
        lines.push(format!(
            "rewrote {path} with key {} first; the old key stays in it to read settings history",
            r.to_kid
        ));
    }
    if let Some((var, instructions)) = &r.env_update {
        lines.push(format!(
            "your key comes from {var}: set it to the new key and keep the old one as a previous key:\n{}",
            instructions.as_str()
        ));
    }
    lines.join("\n")
}
