//! `keyward db`: init, migrate, status, seed, health, rotate-key, backup.

use crate::config::KeyConfig;
use crate::context::Context;
use crate::crypto::keyring::{self, Key, KeySource};
use crate::domain::audit::{self, Event};
use crate::domain::{keys, seed};
use crate::error::{Error, Result};
use crate::output::Reply;
use crate::store::{self, DatabaseTarget, MigrationState, SqliteLocation};
use clap::Subcommand;
use serde::Serialize;
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
}

pub(crate) fn run(ctx: &mut Context, cmd: DbCommand) -> Result<Reply> {
    match cmd {
        DbCommand::Init => init(ctx),
        DbCommand::Migrate { dry_run } => migrate(ctx, dry_run),
        DbCommand::Status => status(ctx),
        DbCommand::Seed => seed_cmd(ctx),
        DbCommand::Health => Ok(health(ctx)),
        DbCommand::RotateKey { new_key_file } => rotate_key(ctx, &new_key_file),
        DbCommand::Backup { file } => backup(ctx, &file),
    }
}

fn backend(ctx: &Context) -> &'static str {
    match ctx.config.database {
        DatabaseTarget::Sqlite(_) => "sqlite",
        DatabaseTarget::Postgres(_) => "postgres",
    }
}

#[derive(Serialize)]
struct InitReport {
    database: String,
    backend: &'static str,
    database_created: bool,
    migrations_applied: Vec<String>,
    permissions_added: u64,
    roles_added: u64,
    key_source: String,
    key_created: bool,
    kid: String,
    changed: bool,
}

fn migration_label(m: &MigrationState) -> String {
    format!("V{}__{}", m.version, m.name)
}

/// Records migrations just applied (refinery commits in its own transaction; the record follows it).
fn record_migrations(
    store: &mut dyn crate::store::Store,
    actor: &str,
    database: &str,
    applied: &[MigrationState],
) -> Result<()> {
    store::write(store, |c| {
        audit::record(
            c,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("db.migrate", "database", database).details(serde_json::json!({
                "applied": applied.iter().map(migration_label).collect::<Vec<_>>(),
            })),
        )
    })
    .map(drop)
}

fn init(ctx: &mut Context) -> Result<Reply> {
    let database = ctx.config.database.to_string();
    let database_created = match &ctx.config.database {
        DatabaseTarget::Sqlite(SqliteLocation::File { path, .. }) => !path.exists(),
        DatabaseTarget::Sqlite(SqliteLocation::Memory) => true,
        DatabaseTarget::Postgres(_) => false,
    };
    // Check the key before touching the database: a typo'd or too-open key
    // file must not leave a half-made database behind.
    let create_key_at = match &ctx.config.key {
        KeyConfig::File { path, is_default } if !path.exists() => {
            if !is_default {
                return Err(Error::key(format!(
                    "key file {} does not exist: check the path, or leave --key-file/KEYWARD_KEY_FILE unset so `db init` creates the default key",
                    path.display()
                )));
            }
            Some(path.clone())
        }
        _ => {
            ctx.keyring()?;
            None
        }
    };
    let actor = ctx.actor().to_owned();
    let store = ctx.store_unchecked(true)?;
    let applied = store.migrate(false)?;
    if !applied.is_empty() {
        // refinery commits on its own; the record follows at once.
        record_migrations(store, &actor, &database, &applied)?;
    }
    let registered: Option<String> = store::read(store, |c| {
        c.query_opt("SELECT kid FROM key_checks WHERE state = 'active'", &[])?
            .map(|r| r.text(0))
            .transpose()
    })?;

    // Make a key when none is configured, unless the database already has one.
    let mut key_created = false;
    if let Some(path) = create_key_at {
        if let Some(kid) = &registered {
            return Err(Error::key(format!(
                "this database already uses key {kid}, but the key file {} does not exist: restore it from your backup, or point to it with --key-file or DATABASE_ENCRYPTION_KEY",
                path.display()
            )));
        }
        let key = Key::generate()?;
        keyring::write_key_file(&path, &[&key], false)?;
        key_created = true;
    }

    let (store, ring) = ctx.store_and_keyring()?;
    let kid = ring.active().kid().to_owned();
    let key_source = ring.source().to_string();
    let (seeded, key_registered) = store::write(store, |c| {
        let seeded = seed::seed(c, &actor)?;
        let registered = keys::ensure(c, ring, &actor)?;
        Ok((seeded, registered))
    })?;

    let changed = database_created
        || !applied.is_empty()
        || seeded.changed()
        || key_registered
        || key_created;
    let mut lines = Vec::new();
    if changed {
        if database_created {
            lines.push(format!("created database {database}"));
        }
        if !applied.is_empty() {
            lines.push(format!(
                "applied {} migration(s) to {database}",
                applied.len()
            ));
        }
        if seeded.changed() {
            lines.push(format!(
                "seeded {} permissions and {} system roles",
                seeded.permissions_added, seeded.roles_added
            ));
        }
        if key_created {
            lines.push(format!(
                "created encryption key {kid} in {key_source} (mode 0600): back it up now; without it, secret values cannot be read"
            ));
        } else if key_registered {
            lines.push(format!(
                "registered encryption key {kid} ({key_source}) with the database"
            ));
        }
        lines.push("keyward is ready".into());
    } else {
        lines.push(format!(
            "already initialised: {database} is up to date and uses key {kid} ({key_source}); nothing changed"
        ));
    }
    Ok(Reply::object(InitReport {
        database,
        backend: backend(ctx),
        database_created,
        migrations_applied: applied.iter().map(migration_label).collect(),
        permissions_added: seeded.permissions_added,
        roles_added: seeded.roles_added,
        key_source,
        key_created,
        kid,
        changed,
    })
    .with_message(lines.join("\n"))
    .quiet_table())
}

fn migrate(ctx: &mut Context, dry_run: bool) -> Result<Reply> {
    let actor = ctx.actor().to_owned();
    let database = ctx.config.database.to_string();
    let store = ctx.store_unchecked(!dry_run)?;
    let pending = store.migrate(dry_run)?;
    if !dry_run && !pending.is_empty() {
        // Migrations commit in refinery's own transaction; the record follows it.
        let has_audit = store.migration_states()?.iter().all(|m| m.applied);
        if has_audit {
            record_migrations(store, &actor, &database, &pending)?;
        }
    }
    let message = match (dry_run, pending.len()) {
        (_, 0) => format!("{database} is up to date: no pending migrations"),
        (true, n) => format!(
            "{n} pending migration(s) would be applied to {database} (dry run: nothing changed)"
        ),
        (false, n) => format!("applied {n} migration(s) to {database}"),
    };
    Ok(Reply::list(&["version", "name"], pending).with_message(message))
}

fn status(ctx: &mut Context) -> Result<Reply> {
    let states = ctx.store_unchecked(false)?.migration_states()?;
    let pending = states.iter().filter(|m| !m.applied).count();
    let current = pending == 0 && !states.iter().any(|m| m.unknown || m.modified);
    let message = if pending > 0 {
        format!("{pending} pending migration(s): run `keyward db migrate`")
    } else if current {
        "schema is current".to_owned()
    } else {
        "schema differs from this keyward's migrations (see `modified` / `unknown`)".to_owned()
    };
    let table: Vec<serde_json::Value> = states
        .iter()
        .map(|m| {
            serde_json::json!({
                "version": m.version, "name": m.name, "applied": m.applied,
                "applied_on": m.applied_on, "modified": m.modified, "unknown": m.unknown,
            })
        })
        .collect();
    Ok(Reply::list(&["version", "name", "applied", "applied_on"], table).with_message(message))
}

fn seed_cmd(ctx: &mut Context) -> Result<Reply> {
    let actor = ctx.actor().to_owned();
    let store = ctx.store()?;
    let seeded = store::write(store, |c| seed::seed(c, &actor))?;
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

#[derive(Serialize, Default)]
struct Health {
    status: &'static str,
    healthy: bool,
    backend: &'static str,
    database: String,
    connected: bool,
    schema_current: Option<bool>,
    pending_migrations: Option<usize>,
    kid: Option<String>,
    expected_kid: Option<String>,
    key_matches: Option<bool>,
    error: Option<String>,
    elapsed_ms: f64,
}

fn health(ctx: &mut Context) -> Reply {
    let started = std::time::Instant::now();
    let mut h = Health {
        status: "unhealthy",
        backend: backend(ctx),
        database: ctx.config.database.to_string(),
        ..Health::default()
    };
    let outcome = check_health(ctx, &mut h);
    h.elapsed_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    match outcome {
        Ok(()) => {
            h.status = "ok";
            h.healthy = true;
            let msg = format!("healthy: {} ({:.1} ms)", h.database, h.elapsed_ms);
            Reply::object(h).with_message(msg)
        }
        Err(e) => {
            h.error = Some(e.to_string());
            Reply::object(h).failing(e)
        }
    }
}

fn check_health(ctx: &mut Context, h: &mut Health) -> Result<()> {
    let store = ctx.store_unchecked(false)?;
    let states = store.migration_states()?;
    h.connected = true;
    let pending = states.iter().filter(|m| !m.applied).count();
    h.pending_migrations = Some(pending);
    h.schema_current = Some(pending == 0 && !states.iter().any(|m| m.unknown));
    store::ensure_current(store)?;
    let (store, ring) = ctx.store_and_keyring()?;
    h.kid = Some(ring.active().kid().to_owned());
    h.key_matches = Some(false);
    let status = store::read(store, |c| keys::check(c, ring))?;
    h.expected_kid = status.expected_kid.clone();
    if status.expected_kid.is_none() {
        return Err(Error::key(
            "the database has no encryption key registered: run `keyward db init`",
        ));
    }
    h.key_matches = Some(true);
    Ok(())
}

#[derive(Serialize)]
struct RotateReport {
    from_kid: String,
    to_kid: String,
    reencrypted: u64,
    key_file_updated: Option<String>,
}

fn rotate_key(ctx: &mut Context, new_key_file: &std::path::Path) -> Result<Reply> {
    let actor = ctx.actor().to_owned();
    // Check everything that can be checked before asking.
    ctx.store_and_keyring()?;
    let (new_key, created) = keys::new_key_from_file(new_key_file)?;
    let (store, ring) = ctx.store_and_keyring()?;
    let total = store::read(store, |c| {
        keys::check(c, ring)?;
        keys::count_sealed(c)
    })?;
    let what = format!(
        "re-encrypt {total} secret value(s) from key {} to key {}",
        ring.active().kid(),
        new_key.kid()
    );
    ctx.confirm(&what)?;
    if created {
        // Written before the rotation commits, so the new key is never only in the database's hands.
        keyring::write_key_file(new_key_file, &[&new_key], false)?;
    }
    let bar = ctx.progress(total, "re-encrypting");
    let (store, ring) = ctx.store_and_keyring()?;
    let rotation = store::write(store, |c| {
        keys::rotate(c, ring, &new_key, &actor, &mut |done, _| {
            bar.set_position(done)
        })
    })?;
    bar.finish_and_clear();

    let mut lines = vec![format!(
        "re-encrypted {} value(s); the database now uses key {} (was {})",
        rotation.reencrypted, rotation.to_kid, rotation.from_kid
    )];
    if created {
        lines.push(format!(
            "created new key file {} (mode 0600): back it up",
            new_key_file.display()
        ));
    }
    let mut key_file_updated = None;
    match ring.source().clone() {
        KeySource::File(path) => {
            let new_ring = keys::rotated_ring(&new_key, ring);
            keyring::write_key_file(&path, &new_ring, true).map_err(|e| {
                e.context(format!(
                    "the database now uses key {}, but updating {} failed; copy {} to it",
                    rotation.to_kid,
                    path.display(),
                    new_key_file.display()
                ))
            })?;
            lines.push(format!(
                "rewrote {} with key {} first; the old key stays in it to read audit history",
                path.display(),
                rotation.to_kid
            ));
            key_file_updated = Some(path.display().to_string());
        }
        KeySource::EnvVar(var) => {
            lines.push(format!(
                "your key comes from {var}: set it to the new key and keep the old one as a previous key:\n{}",
                *keys::env_instructions(&var, new_key_file)
            ));
        }
    }
    ctx.reload_keyring();
    Ok(Reply::object(RotateReport {
        from_kid: rotation.from_kid,
        to_kid: rotation.to_kid,
        reencrypted: rotation.reencrypted,
        key_file_updated,
    })
    .with_message(lines.join("\n"))
    .quiet_table())
}

fn backup(ctx: &mut Context, file: &std::path::Path) -> Result<Reply> {
    let bytes = ctx.store()?.backup(file)?;
    let shown = file.display().to_string();
    Ok(
        Reply::object(serde_json::json!({ "file": shown, "bytes": bytes }))
            .with_message(format!("backed up to {shown} ({bytes} bytes)"))
            .quiet_table(),
    )
}
