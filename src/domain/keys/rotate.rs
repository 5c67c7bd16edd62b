//! The registry of sealed columns ([`SEALED`]) and key rotation: every
//! mutable ciphertext re-sealed under the new key, in one transaction.

use super::{check, insert_check, repo};
use crate::crypto::envelope;
use crate::crypto::keyring::{self, Key, Keyring};
use crate::crypto::purpose::{Aad, Purpose};
use crate::domain::audit::{self, Event};
use crate::error::{Error, Result};
use crate::store::{Conn, Row, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A column that holds ciphertext which must follow the active key.
pub struct SealedColumn {
    /// What its values are for; also the key of the rotation's per-purpose count.
    pub purpose: Purpose,
    /// What it is, for messages (`secret setting values`).
    pub name: &'static str,
    /// Selects `id` and `sealed` (the ciphertext), and the columns `aad` reads.
    pub select: &'static str,
    /// Updates one row: `$1` new ciphertext, `$2` id.
    pub update: &'static str,
    /// The associated data binding a row's value to it, built with [`Aad`].
    pub aad: fn(&Row) -> Result<String>,
}

/// Every mutable ciphertext column. Audit rows are immutable and stay under the key that wrote them.
pub const SEALED: &[SealedColumn] = &[
    SealedColumn {
        purpose: Purpose::SettingValue,
        name: "secret setting values",
        select: "SELECT id, value AS sealed, environment, key FROM settings \
                 WHERE is_encrypted = TRUE AND value IS NOT NULL ORDER BY id",
        update: "UPDATE settings SET value = $1 WHERE id = $2",
        aad: |r| {
            let (environment, key) = (r.text("environment")?, r.text("key")?);
            Ok(Aad::Setting {
                environment: &environment,
                key: &key,
            }
            .to_string())
        },
    },
    SealedColumn {
        purpose: Purpose::TotpSecret,
        name: "TOTP secrets",
        select: "SELECT id, totp_secret AS sealed, username FROM users \
                 WHERE totp_secret IS NOT NULL ORDER BY id",
        update: "UPDATE users SET totp_secret = $1 WHERE id = $2",
        aad: |r| {
            Ok(Aad::Totp {
                username: &r.text("username")?,
            }
            .to_string())
        },
    },
    SealedColumn {
        purpose: Purpose::TokenSigning,
        name: "token-signing keys",
        select: "SELECT id, private_key AS sealed, kid FROM signing_keys \
                 WHERE private_key IS NOT NULL ORDER BY id",
        update: "UPDATE signing_keys SET private_key = $1 WHERE id = $2",
        aad: |r| {
            Ok(Aad::Signing {
                kid: &r.text("kid")?,
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
    /// Ciphertexts re-encrypted per purpose (`setting`, `totp`), every registered purpose listed.
    pub resealed: BTreeMap<&'static str, u64>,
}

/// The audit details of `key.rotate`.
#[derive(Serialize)]
struct Rotated<'a> {
    from_kid: &'a str,
    to_kid: &'a str,
    reencrypted: u64,
}

/// Re-encrypts every sealed value under `new_key` and makes it the database's
/// key, in the caller's audited write transaction. `progress(done, total)` is called as it goes.
pub fn rotate(
    conn: &mut dyn Conn,
    ring: &Keyring,
    new_key: &Key,
    stamp: audit::Stamp<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Rotation> {
    check(conn, ring)?;
    let from_kid = ring.active().kid().to_owned();
    ensure_fresh(conn, new_key.kid())?;
    let resealed = reseal_all(conn, ring, new_key, progress)?;
    let reencrypted = resealed.values().sum();
    repo::retire_active(conn, stamp.at)?;
    insert_check(conn, new_key, stamp.at)?;
    let details = serde_json::to_value(Rotated {
        from_kid: &from_kid,
        to_kid: new_key.kid(),
        reencrypted,
    })
    .map_err(Error::internal)?;
    audit::record(
        conn,
        stamp,
        Event::new("key.rotate", "key", new_key.kid()).details(details),
    )?;
    Ok(Rotation {
        from_kid,
        to_kid: new_key.kid().to_owned(),
        reencrypted,
        resealed,
    })
}

/// Refuses (exit 2) a new key this database has already used: the active key,
/// or one a rotation retired (going back to a retired key would undo the
/// rotation that retired it, perhaps because it leaked).
pub fn ensure_fresh(conn: &mut dyn Conn, new_kid: &str) -> Result<()> {
    let Some(row) = repo::all(conn)?.into_iter().find(|r| r.kid == new_kid) else {
        return Ok(());
    };
    let what = if row.active {
        "the key already in use".to_owned()
    } else {
        match row.retired_at {
            Some(at) => format!(
                "a key this database retired at {}",
                crate::time::rfc3339(at)
            ),
            None => "a key this database used before".to_owned(),
        }
    };
    Err(Error::invalid(format!(
        "the new key {new_kid} is {what}: rotate to a new key (give --new-key-file a path that does not exist, and keyward creates one)"
    )))
}

/// Whether the database already committed a rotation to `new_key` from the
/// configured active key (a `db rotate-key` killed after its commit, before
/// the key file was rewritten): the database's active key is `new_key`, it
/// opens the key check value, and the configured key is one the database
/// retired. Then the rotation only needs its key file rewritten.
pub fn committed_rotation(
    conn: &mut dyn Conn,
    ring: &Keyring,
    new_key: &Key,
) -> Result<Option<Rotation>> {
    let rows = repo::all(conn)?;
    let Some(active) = rows.iter().find(|r| r.active) else {
        return Ok(None);
    };
    let old_kid = ring.active().kid();
    let old_retired = rows
        .iter()
        .any(|r| r.kid == old_kid && !r.active && r.retired_at.is_some());
    if active.kid != new_key.kid() || !old_retired {
        return Ok(None);
    }
    let new_ring = Keyring::new(new_key.clone(), Vec::new(), ring.source().clone());
    if envelope::open(
        &new_ring,
        &super::check_aad(new_key.kid()),
        &active.check_value,
    )
    .is_err()
    {
        return Ok(None);
    }
    Ok(Some(Rotation {
        from_kid: old_kid.to_owned(),
        to_kid: new_key.kid().to_owned(),
        reencrypted: 0,
        resealed: BTreeMap::new(),
    }))
}

/// Opens every registered ciphertext with `ring` and seals it again under
/// `new_key`; returns the count per purpose.
fn reseal_all(
    conn: &mut dyn Conn,
    ring: &Keyring,
    new_key: &Key,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BTreeMap<&'static str, u64>> {
    let total = count_sealed(conn)?;
    let mut done = 0;
    let mut resealed = BTreeMap::new();
    progress(0, total);
    for col in SEALED {
        let count = resealed.entry(col.purpose.label()).or_insert(0);
        for row in conn.query(col.select, &[])? {
            let id = row.int("id")?;
            let aad = (col.aad)(&row)?;
            let plain = envelope::open(ring, &aad, &row.text("sealed")?)
                .map_err(|e| e.context(format!("{} (row {id})", col.name)))?;
            let sealed = envelope::seal(new_key, &aad, &plain)?;
            conn.execute(col.update, &[sealed.into(), Value::Int(id)])?;
            *count += 1;
            done += 1;
            if done % 256 == 0 || done == total {
                progress(done, total);
            }
        }
    }
    Ok(resealed)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A row holding every column any registered `aad` reads, each valued by its name.
    fn row() -> Row {
        let names = ["id", "sealed", "environment", "key", "username", "kid"];
        let columns: crate::store::Columns = names.iter().map(|n| (*n).to_owned()).collect();
        Row::new(columns, names.iter().map(|n| Value::from(*n)).collect())
    }

    #[test]
    fn every_sealed_column_builds_the_aad_of_its_purpose() {
        for col in SEALED {
            let aad = (col.aad)(&row()).unwrap();
            let prefix = format!("{}:", col.purpose.label());
            assert!(aad.starts_with(&prefix), "{}: {aad}", col.name);
        }
        let labels: Vec<&str> = SEALED.iter().map(|c| c.purpose.label()).collect();
        assert_eq!(labels, ["setting", "totp", "signing"]);
    }
}
