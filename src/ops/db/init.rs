//! `db init`: create the database, migrate it, seed it, and make a key if none is configured.

use super::{backend, migration_label, record_migrations};
use crate::config::{Config, KeyConfig};
use crate::context::Context;
use crate::crypto::keyring::{self, Key, KeySource, Keyring};
use crate::domain::audit;
use crate::domain::{keys, seed};
use crate::error::{Error, Result};
use crate::store::{self, DatabaseTarget, SqliteLocation};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `db init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The database, password redacted.
    pub database: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Whether the database was created now.
    pub database_created: bool,
    /// The migrations applied, `V<n>__<name>`.
    pub migrations_applied: Vec<String>,
    /// Built-in permissions created.
    pub permissions_added: u64,
    /// System roles created.
    pub roles_added: u64,
    /// Where the key comes from (`key file …`, `environment variable …`).
    pub key_source: String,
    /// Whether a key file was created now.
    pub key_created: bool,
    /// The active key's id.
    pub kid: String,
    /// Whether anything changed.
    pub changed: bool,
    /// Whether seeding changed anything (grants included).
    #[serde(skip)]
    pub seed_changed: bool,
    /// Whether the key was registered with the database now.
    #[serde(skip)]
    pub key_registered: bool,
}

/// Creates (SQLite), migrates and seeds the database, makes a key at the
/// default place when none exists, and registers the key with the database.
///
/// A new key file is written inside the transaction that registers its key,
/// under the database's write lock, and removed if that transaction fails:
/// concurrent `db init` runs make one key; the others use the file the
/// winner wrote at the same path, or fail (exit 7) leaving no file behind.
pub fn init(ctx: &mut Context) -> Result<InitReport> {
    let actor = ctx.actor().to_owned();
    let clock = ctx.clock.clone();
    let config = ctx.config.clone();
    let database = config.database.to_string();
    let database_created = match &config.database {
        DatabaseTarget::Sqlite(SqliteLocation::File { path, .. }) => !path.exists(),
        DatabaseTarget::Sqlite(SqliteLocation::Memory) => true,
        DatabaseTarget::Postgres(_) => false,
    };
    // Check the key before touching the database: a typo'd or too-open key
    // file must not leave a half-made database behind.
    let create_key_at = key_to_create(ctx)?;
    let configured = match create_key_at {
        None => Some(ctx.keyring()?.clone()),
        Some(_) => None,
    };
    let store = ctx.store_unchecked(true)?;
    let applied = store.migrate(false)?;
    store::ensure_current(store)?;
    if !applied.is_empty() {
        // refinery commits on its own; the record follows at once.
        store::write(store, |c| {
            record_migrations(c, audit::Stamp::new(&actor, &*clock), &database, &applied)
        })?;
    }
    let mut written = false;
    let outcome = store::write(store, |c| {
        let stamp = audit::Stamp::new(&actor, &*clock);
        let seeded = seed::seed(c, stamp)?;
        let (ring, created) = match (&configured, &create_key_at) {
            (Some(ring), _) => (ring.clone(), false),
            (None, Some(path)) => new_or_concurrent_key(c, &config, path, &mut written)?,
            (None, None) => return Err(Error::internal("no key to use")),
        };
        let registered = keys::ensure(c, &ring, stamp)?;
        Ok((seeded, registered, created, ring))
    });
    if let (Err(_), true, Some(path)) = (&outcome, written, &create_key_at) {
        // The database did not take the key: leave no key file behind.
        let _ = std::fs::remove_file(path);
    }
    let (seeded, key_registered, key_created, ring) = outcome?;
    let changed = database_created
        || !applied.is_empty()
        || seeded.changed()
        || key_registered
        || key_created;
    Ok(InitReport {
        database,
        backend: backend(ctx),
        database_created,
        migrations_applied: applied.iter().map(migration_label).collect(),
        permissions_added: seeded.permissions_added,
        roles_added: seeded.roles_added,
        key_source: ring.source().to_string(),
        key_created,
        kid: ring.active().kid().to_owned(),
        changed,
        seed_changed: seeded.changed(),
        key_registered,
    })
}

/// The default key file to create, when the configured key file is the
/// default one and does not exist; otherwise checks the configured key.
fn key_to_create(ctx: &mut Context) -> Result<Option<PathBuf>> {
    match &ctx.config.key {
        KeyConfig::File { path, is_default } if !path.exists() => {
            if !is_default {
                return Err(Error::key(format!(
                    "key file {} does not exist: check the path, or leave --key-file/KEYWARD_KEY_FILE unset so `db init` creates the default key",
                    path.display()
                )));
            }
            Ok(Some(path.clone()))
        }
        _ => {
            ctx.keyring()?;
            Ok(None)
        }
    }
}

/// Inside the registering transaction (which holds the write lock): a new
/// key written to `path` when the database has none (`written` says so), or,
/// when a concurrent `db init` registered one meanwhile, the key file it
/// wrote at the same path. With no file there, the database's key was lost:
/// making another would lock the user out.
fn new_or_concurrent_key(
    conn: &mut dyn store::Conn,
    config: &Config,
    path: &Path,
    written: &mut bool,
) -> Result<(Keyring, bool)> {
    match keys::registered_kid(conn)? {
        None => {
            let key = Key::generate()?;
            keyring::write_key_file(path, &[&key], false)?;
            *written = true;
            Ok((Keyring::new(key, Vec::new(), KeySource::File(path.to_path_buf())), true))
        }
        Some(_) if path.exists() => Ok((keys::load(config)?, false)),
        Some(kid) => Err(Error::key(format!(
            "this database already uses key {kid}, but the key file {} does not exist: restore it from your backup, or point to it with --key-file or DATABASE_ENCRYPTION_KEY",
            path.display()
        ))),
    }
}
