//! The encryption key as the database knows it: loading the key ring, check
//! values, and (in [`mod@rotate`]) the registry of sealed columns and rotation.
//!
//! `key_checks` holds, for each key the database has used, an envelope of a
//! fixed text sealed under that key. A wrong key is caught by comparing key
//! ids and opening the active check value, before any real ciphertext is read.
//! Every mutable ciphertext column is listed in [`SEALED`] so `db rotate-key`
//! re-encrypts all of them; features add their columns there.

pub mod repo;
pub mod rotate;

pub use rotate::{
    committed_rotation, count_sealed, ensure_fresh, env_instructions, new_key_from_file, rotate,
    rotated_ring, Rotation, SealedColumn, SEALED,
};

use crate::config::{Config, KeyConfig};
use crate::crypto::envelope;
use crate::crypto::keyring::{self, Key, KeySource, Keyring};
use crate::crypto::purpose::Aad;
use crate::domain::audit::{self, Event};
use crate::error::{Error, Result};
use crate::store::Conn;
use serde::Serialize;

const CHECK_PLAINTEXT: &[u8] = b"keyward key check v1";

fn check_aad(kid: &str) -> String {
    Aad::KeyCheck { kid }.to_string()
}

/// Reads the configured key ring (active key plus previous keys).
pub fn load(config: &Config) -> Result<Keyring> {
    let (mut keys, source) = match &config.key {
        KeyConfig::Env { var, value } => {
            if value.expose().is_empty() {
                return Err(no_key_error(config));
            }
            let keys = keyring::parse_key_list(value.expose(), var)?;
            (keys, KeySource::EnvVar((*var).to_owned()))
        }
        KeyConfig::File { path, .. } => {
            if !path.exists() {
                return Err(no_key_error(config));
            }
            (keyring::read_key_file(path)?, KeySource::File(path.clone()))
        }
    };
    if keys.is_empty() {
        return Err(no_key_error(config));
    }
    let active = keys.remove(0);
    if let Some(prev) = &config.previous_keys {
        keys.extend(keyring::parse_key_list(
            prev.expose(),
            "KEYWARD_PREVIOUS_KEYS",
        )?);
    }
    Ok(Keyring::new(active, keys, source))
}

fn no_key_error(config: &Config) -> Error {
    match &config.key {
        KeyConfig::File { path, .. } => Error::key(format!(
            "no encryption key: {} does not exist. Run `keyward db init` to create one, or point to yours with --key-file, KEYWARD_KEY_FILE or DATABASE_ENCRYPTION_KEY",
            path.display()
        )),
        KeyConfig::Env { var, .. } => Error::key(format!(
            "no encryption key: {var} is empty. Set it to a base64 key of 32 bytes (`head -c 32 /dev/urandom | base64`), or use --key-file"
        )),
    }
}

/// What the database says about the configured key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyStatus {
    /// The configured active key's id.
    pub kid: String,
    /// The key id the database expects, if it has one registered.
    pub expected_kid: Option<String>,
    /// Whether the configured key is the database's key.
    pub matches: bool,
}

/// Checks the configured key against the database. `Ok` with `expected_kid:
/// None` when no key is registered yet; exit 7 when it is the wrong key.
pub fn check(conn: &mut dyn Conn, ring: &Keyring) -> Result<KeyStatus> {
    let rows = repo::all(conn)?;
    let kid = ring.active().kid().to_owned();
    let Some(active_row) = rows.iter().find(|r| r.active) else {
        return Ok(KeyStatus {
            kid,
            expected_kid: None,
            matches: true,
        });
    };
    let expected = active_row.kid.clone();
    if expected != kid {
        return Err(wrong_key(ring, &rows, &expected));
    }
    envelope::open(ring, &check_aad(&kid), &active_row.check_value).map_err(|_| {
        Error::key(format!(
            "the configured key has id {kid} but does not open the database's key check value: it is not the key this database was set up with"
        ))
    })?;
    Ok(KeyStatus {
        kid,
        expected_kid: Some(expected),
        matches: true,
    })
}

/// The error for a configured key that is not the database's active key.
fn wrong_key(ring: &Keyring, rows: &[repo::KeyCheckRow], expected: &str) -> Error {
    let kid = ring.active().kid();
    let retired = rows
        .iter()
        .find(|r| r.kid == kid)
        .and_then(|r| r.retired_at);
    let why = match retired {
        Some(at) => format!(
            "key {kid} was retired by `keyward db rotate-key` at {}",
            crate::time::rfc3339(at)
        ),
        None => format!("the configured key ({}) is {kid}", ring.source()),
    };
    let interrupted = if ring.find(expected).is_none() {
        format!(" If a `keyward db rotate-key` was interrupted, run it again with the same --new-key-file (key {expected} is that file's first line): it finishes the rotation.")
    } else {
        String::new()
    };
    Error::key(format!(
        "wrong encryption key: this database expects key {expected}, but {why}. Configure key {expected} (--key-file, KEYWARD_KEY_FILE or DATABASE_ENCRYPTION_KEY).{interrupted}"
    ))
}

/// The audit details of `key.register`.
#[derive(Serialize)]
struct Registered<'a> {
    kid: &'a str,
}

/// Checks the key and registers it when the database has none yet (audited
/// write transaction). Returns whether it registered the key.
pub fn ensure(conn: &mut dyn Conn, ring: &Keyring, stamp: audit::Stamp<'_>) -> Result<bool> {
    let status = check(conn, ring)?;
    if status.expected_kid.is_some() {
        return Ok(false);
    }
    let kid = ring.active().kid();
    insert_check(conn, ring.active(), stamp.at)?;
    let details = serde_json::to_value(Registered { kid }).map_err(Error::internal)?;
    audit::record(
        conn,
        stamp,
        Event::new("key.register", "key", kid).details(details),
    )?;
    Ok(true)
}

/// Before reading secrets: checks the key, when a key ring was needed at all.
pub fn check_ring(conn: &mut dyn Conn, ring: Option<&Keyring>) -> Result<()> {
    ring.map_or(Ok(()), |r| check(conn, r).map(drop))
}

/// Before touching secrets: a writer (`Some(stamp)`) checks and, the first
/// time, registers the key; a reader (`None`) only checks it. Nothing to do
/// without a key ring.
pub fn gate(
    conn: &mut dyn Conn,
    ring: Option<&Keyring>,
    writer: Option<audit::Stamp<'_>>,
) -> Result<()> {
    match (ring, writer) {
        (Some(r), Some(stamp)) => ensure(conn, r, stamp).map(drop),
        _ => check_ring(conn, ring),
    }
}

/// The id of the key the database uses, if it has registered one.
pub fn registered_kid(conn: &mut dyn Conn) -> Result<Option<String>> {
    repo::active_kid(conn)
}

/// Seals the check value under `key` and registers it as the active key.
fn insert_check(conn: &mut dyn Conn, key: &Key, at: time::OffsetDateTime) -> Result<()> {
    let value = envelope::seal(key, &check_aad(key.kid()), CHECK_PLAINTEXT)?;
    repo::insert_active(conn, key.kid(), value, at)
}
