//! The encryption key as the database knows it: check values, and rotation.
//!
//! `key_checks` holds, for each key the database has used, an envelope of a
//! fixed text sealed under that key. A wrong key is caught by comparing key
//! ids and opening the active check value, before any real ciphertext is read.
//! Every mutable ciphertext column is listed in [`SEALED`] so `db rotate-key`
//! re-encrypts all of them; features add their columns there.

use crate::config::{Config, KeyConfig};
use crate::crypto::envelope;
use crate::crypto::keyring::{self, Key, KeySource, Keyring};
use crate::crypto::purpose::Aad;
use crate::domain::audit::{self, Event};
use crate::error::{Error, Result};
use crate::store::{Conn, Row, Value};
use serde::Serialize;
use zeroize::Zeroizing;

const CHECK_PLAINTEXT: &[u8] = b"keyward key check v1";

fn check_aad(kid: &str) -> String {
    crate::crypto::purpose::Aad::KeyCheck { kid }.to_string()
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
    let rows = conn.query(
        "SELECT kid, check_value, state, retired_at FROM key_checks ORDER BY created_at",
        &[],
    )?;
    let kid = ring.active().kid().to_owned();
    let active_row = rows.iter().find(|r| r.text(2).is_ok_and(|s| s == "active"));
    let Some(active_row) = active_row else {
        return Ok(KeyStatus {
            kid,
            expected_kid: None,
            matches: true,
        });
    };
    let expected = active_row.text(0)?;
    if expected != kid {
        let retired = rows
            .iter()
            .find(|r| r.text(0).is_ok_and(|k| k == kid))
            .and_then(|r| r.opt_time(3).ok().flatten());
        let why = match retired {
            Some(at) => format!(
                "key {kid} was retired by `keyward db rotate-key` at {}",
                crate::time::rfc3339(at)
            ),
            None => format!("the configured key ({}) is {kid}", ring.source()),
        };
        let interrupted = if ring.find(&expected).is_none() {
            format!(" If a `keyward db rotate-key` was interrupted, key {expected} is the first line of the file it was given as --new-key-file.")
        } else {
            String::new()
        };
        return Err(Error::key(format!(
            "wrong encryption key: this database expects key {expected}, but {why}. Configure key {expected} (--key-file, KEYWARD_KEY_FILE or DATABASE_ENCRYPTION_KEY).{interrupted}"
        )));
    }
    envelope::open(ring, &check_aad(&kid), &active_row.text(1)?).map_err(|_| {
        Error::key(format!(
            "the configured key has id {kid} but does not open the database's key check value: it is not the key this database was set up with"
        ))
    })?;
    Ok(KeyStatus {
        kid: kid.clone(),
        expected_kid: Some(expected),
        matches: true,
    })
}

/// Checks the key and registers it when the database has none yet (write transaction).
pub fn ensure(conn: &mut dyn Conn, ring: &Keyring, actor: &str) -> Result<bool> {
    let status = check(conn, ring)?;
    if status.expected_kid.is_some() {
        return Ok(false);
    }
    insert_check(conn, ring.active())?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("key.register", "key", ring.active().kid())
            .details(serde_json::json!({ "kid": ring.active().kid() })),
    )?;
    Ok(true)
}

/// Before reading secrets: checks the key, when a key ring was needed at all.
pub fn check_ring(conn: &mut dyn Conn, ring: Option<&Keyring>) -> Result<()> {
    ring.map_or(Ok(()), |r| check(conn, r).map(drop))
}

/// Before touching secrets: a writer checks (and, first time, registers) the
/// key; a reader only checks it. Nothing to do without a key ring.
pub fn gate(conn: &mut dyn Conn, ring: Option<&Keyring>, actor: &str, writing: bool) -> Result<()> {
    match ring {
        Some(r) if writing => ensure(conn, r, actor).map(drop),
        _ => check_ring(conn, ring),
    }
}

fn insert_check(conn: &mut dyn Conn, key: &Key) -> Result<()> {
    let value = envelope::seal(key, &check_aad(key.kid()), CHECK_PLAINTEXT)?;
    conn.execute(
        "INSERT INTO key_checks (kid, check_value, state, created_at) VALUES ($1, $2, 'active', $3)",
        &[key.kid().into(), value.into(), crate::time::now().into()],
    )?;
    Ok(())
}

/// A column that holds ciphertext which must follow the active key.
pub struct SealedColumn {
    /// What it is, for messages (`setting values`).
    pub name: &'static str,
    /// Selects `id, ciphertext, …` (the rest feeds `aad`).
    pub select: &'static str,
    /// Updates one row: `$1` new ciphertext, `$2` id.
    pub update: &'static str,
    /// The associated data binding a row's value to it.
    pub aad: fn(&Row) -> Result<String>,
}

/// Every mutable ciphertext column. Audit rows are immutable and stay under the key that wrote them.
pub const SEALED: &[SealedColumn] = &[
    SealedColumn {
        name: "secret setting values",
        select: "SELECT id, value, environment, key FROM settings \
                 WHERE is_encrypted = TRUE AND value IS NOT NULL ORDER BY id",
        update: "UPDATE settings SET value = $1 WHERE id = $2",
        aad: |r| {
            let (environment, key) = (r.text(2)?, r.text(3)?);
            Ok(Aad::Setting {
                environment: &environment,
                key: &key,
            }
            .to_string())
        },
    },
    SealedColumn {
        name: "TOTP secrets",
        select:
            "SELECT id, totp_secret, username FROM users WHERE totp_secret IS NOT NULL ORDER BY id",
        update: "UPDATE users SET totp_secret = $1 WHERE id = $2",
        aad: |r| {
            Ok(Aad::Totp {
                username: &r.text(2)?,
            }
            .to_string())
        },
    },
];

/// Counts the ciphertexts [`rotate`] would rewrite.
pub fn count_sealed(conn: &mut dyn Conn) -> Result<u64> {
    let mut n = 0;
    for col in SEALED {
        n += conn.query(col.select, &[])?.len() as u64;
    }
    Ok(n)
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    /// The key that was active.
    pub from_kid: String,
    /// The key now active.
    pub to_kid: String,
    /// Ciphertexts re-encrypted.
    pub reencrypted: u64,
}

/// Re-encrypts every sealed value under `new_key` and makes it the database's
/// key, in the caller's write transaction. `progress(done, total)` is called as it goes.
pub fn rotate(
    conn: &mut dyn Conn,
    ring: &Keyring,
    new_key: &Key,
    actor: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Rotation> {
    check(conn, ring)?;
    let from_kid = ring.active().kid().to_owned();
    if new_key.kid() == from_kid {
        return Err(Error::invalid(
            "the new key is the key already in use: make a new one (the file is created if it does not exist)",
        ));
    }
    let total = count_sealed(conn)?;
    let mut done = 0;
    progress(0, total);
    for col in SEALED {
        for row in conn.query(col.select, &[])? {
            let id = row.int(0)?;
            let aad = (col.aad)(&row)?;
            let plain = envelope::open(ring, &aad, &row.text(1)?)
                .map_err(|e| e.context(format!("{} (row {id})", col.name)))?;
            let sealed = envelope::seal(new_key, &aad, &plain)?;
            conn.execute(col.update, &[sealed.into(), Value::Int(id)])?;
            done += 1;
            if done % 256 == 0 || done == total {
                progress(done, total);
            }
        }
    }
    let now = crate::time::now();
    conn.execute(
        "UPDATE key_checks SET state = 'previous', retired_at = $1 WHERE state = 'active'",
        &[now.into()],
    )?;
    // A key used before (rotating back to it) is reactivated, not duplicated.
    conn.execute(
        "DELETE FROM key_checks WHERE kid = $1",
        &[new_key.kid().into()],
    )?;
    insert_check(conn, new_key)?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("key.rotate", "key", new_key.kid()).details(serde_json::json!({
            "from_kid": from_kid,
            "to_kid": new_key.kid(),
            "reencrypted": done,
        })),
    )?;
    Ok(Rotation {
        from_kid,
        to_kid: new_key.kid().to_owned(),
        reencrypted: done,
    })
}

/// Reads the new key for a rotation from `path`, or makes a fresh one when the
/// file does not exist. Returns the key and whether it is new (the caller
/// writes it with [`keyring::write_key_file`] once the user has confirmed).
pub fn new_key_from_file(path: &std::path::Path) -> Result<(Key, bool)> {
    if path.exists() {
        let mut keys = keyring::read_key_file(path)?;
        if keys.is_empty() {
            return Err(Error::key(format!("{} holds no key", path.display())));
        }
        Ok((keys.remove(0), false))
    } else {
        Ok((Key::generate()?, true))
    }
}

/// A key file's new contents after a rotation: the new key first, then the old ring.
pub fn rotated_ring<'a>(new_key: &'a Key, old: &'a Keyring) -> Vec<&'a Key> {
    let mut keys = vec![new_key, old.active()];
    for k in old.previous() {
        if !keys.iter().any(|x| x.kid() == k.kid()) {
            keys.push(k);
        }
    }
    keys
}

/// Shell lines telling a user whose key lives in the environment what to set, without printing a key.
pub fn env_instructions(var: &str, new_key_file: &std::path::Path) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "export KEYWARD_PREVIOUS_KEYS=\"${var}${{KEYWARD_PREVIOUS_KEYS:+,$KEYWARD_PREVIOUS_KEYS}}\"\nexport {var}=\"$(head -n 1 '{}')\"",
        new_key_file.display()
    ))
}
