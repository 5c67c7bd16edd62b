//! `db health`: connect, schema current, key matches; a JSON document for monitors.

use super::backend;
use crate::context::Context;
use crate::domain::keys;
use crate::error::{Error, Result};
use crate::store;
use serde::Serialize;

/// Whether the database can be used, field by field.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `ok` or `unhealthy`.
    pub status: &'static str,
    /// Whether every check passed.
    pub healthy: bool,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The database, password redacted.
    pub database: String,
    /// Whether the connection succeeded.
    pub connected: bool,
    /// Whether every migration is applied and none is unknown or modified.
    pub schema_current: Option<bool>,
    /// How many migrations are not applied.
    pub pending_migrations: Option<usize>,
    /// The configured key's id.
    pub kid: Option<String>,
    /// The key id the database expects.
    pub expected_kid: Option<String>,
    /// Whether the configured key is the database's.
    pub key_matches: Option<bool>,
    /// Why it is unhealthy.
    pub error: Option<String>,
    /// How long the checks took.
    pub elapsed_ms: f64,
}

/// The health view, and the error that made it unhealthy (it sets the exit code).
#[derive(Debug)]
pub struct HealthReport {
    /// The view.
    pub health: Health,
    /// The first failed check.
    pub failure: Option<Error>,
}

/// Runs every check; a failure is reported in the view, not returned.
pub fn health(ctx: &mut Context) -> HealthReport {
    let started = std::time::Instant::now();
    let mut h = Health {
        status: "unhealthy",
        healthy: false,
        backend: backend(ctx),
        database: ctx.config.database.to_string(),
        connected: false,
        schema_current: None,
        pending_migrations: None,
        kid: None,
        expected_kid: None,
        key_matches: None,
        error: None,
        elapsed_ms: 0.0,
    };
    let outcome = check(ctx, &mut h);
    h.elapsed_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let failure = match outcome {
        Ok(()) => {
            h.status = "ok";
            h.healthy = true;
            None
        }
        Err(e) => {
            h.error = Some(e.to_string());
            Some(e)
        }
    };
    HealthReport { health: h, failure }
}

fn check(ctx: &mut Context, h: &mut Health) -> Result<()> {
    let store = ctx.store_unchecked(false)?;
    let states = store.migration_states()?;
    h.connected = true;
    let pending = states.iter().filter(|m| !m.applied).count();
    h.pending_migrations = Some(pending);
    h.schema_current = Some(pending == 0 && !states.iter().any(|m| m.unknown || m.modified));
    store::ensure_current(store)?;
    let (store, ring) = ctx.store_and_keyring()?;
    h.kid = Some(ring.active().kid().to_owned());
    h.key_matches = Some(false);
    // Read on its own first, so a wrong key (as after an interrupted
    // rotation) still shows the key the database expects.
    h.expected_kid = store::read(store, keys::registered_kid)?;
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
