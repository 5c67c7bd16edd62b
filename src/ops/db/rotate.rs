//! `db rotate-key`: re-seal every secret under a new key in one transaction,
//! then point the managed key file at it.

use crate::context::Context;
use crate::crypto::keyring::{self, Key, KeySource, Keyring};
use crate::domain::audit;
use crate::domain::keys::{self, Rotation};
use crate::error::Result;
use crate::store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// What `db rotate-key` did.
#[derive(Debug, Clone, Serialize)]
pub struct RotateReport {
    /// The key that was active.
    pub from_kid: String,
    /// The key now active.
    pub to_kid: String,
    /// Ciphertexts re-encrypted.
    pub reencrypted: u64,
    /// The key file rewritten with the new key first, when the key came from a file.
    pub key_file_updated: Option<String>,
    /// Ciphertexts re-encrypted per purpose (`setting`, `totp`).
    pub resealed: BTreeMap<&'static str, u64>,
    /// True when the rotation had already committed (an earlier run was
    /// interrupted before it rewrote the key file) and this run only
    /// finished it: nothing was re-encrypted now.
    pub finished_earlier: bool,
    /// The file holding the new key.
    #[serde(skip)]
    pub new_key_file: PathBuf,
    /// Whether that file was created now.
    #[serde(skip)]
    pub new_key_created: bool,
    /// For a key from the environment: the variable and the shell lines to run (no key in them).
    #[serde(skip)]
    pub env_update: Option<(String, Zeroizing<String>)>,
}

/// Re-encrypts every sealed value under the key in `new_key_file` (made,
/// mode 0600, when it does not exist), after confirmation, and rewrites the
/// managed key file with the new key first.
pub fn rotate_key(ctx: &mut Context, new_key_file: &Path) -> Result<RotateReport> {
    let actor = ctx.actor().to_owned();
    let clock = ctx.clock.clone();
    // Check everything that can be checked before asking.
    ctx.store_and_keyring()?;
    let (new_key, created) = keys::new_key_from_file(new_key_file)?;
    let (store, ring) = ctx.store_and_keyring()?;
    if !created {
        // A rotation to this key that committed but was killed before it
        // rewrote the key file: re-running it finishes the job.
        if let Some(done) = store::read(store, |c| keys::committed_rotation(c, ring, &new_key))? {
            let mut report = follow_key_source(ring, &new_key, new_key_file, done, false)?;
            report.finished_earlier = true;
            ctx.reload_keyring();
            return Ok(report);
        }
    }
    let total = store::read(store, |c| {
        keys::check(c, ring)?;
        keys::ensure_fresh(c, new_key.kid())?;
        keys::count_sealed(c)
    })?;
    // A key to be created is named only once it exists: a refusal must not
    // name a key that a later run (making another one) would not use.
    let to = if created {
        format!("a new key (to be created in {})", new_key_file.display())
    } else {
        format!("key {} from {}", new_key.kid(), new_key_file.display())
    };
    let what = format!(
        "re-encrypt {total} secret value(s) from key {} to {to}",
        ring.active().kid()
    );
    ctx.confirm(&what)?;
    if created {
        // Written before the rotation commits, so the new key is never only in the database's hands.
        keyring::write_key_file(new_key_file, &[&new_key], false)?;
    }
    let bar = ctx.progress(total, "re-encrypting");
    let (store, ring) = ctx.store_and_keyring()?;
    let old_kid = ring.active().kid().to_owned();
    let rotation = store::write(store, |c| {
        let stamp = audit::Stamp::new(&actor, &*clock);
        keys::rotate(c, ring, &new_key, stamp, &mut |done, _| {
            bar.set_position(done)
        })
    })
    .map_err(|e| {
        // The file is kept: after a failed commit the outcome is unknown, and
        // a key the database may use must never be lost.
        if created {
            e.context(format!(
                "{} was created for this rotation; if `keyward db health` still names key {old_kid}, the rotation did not happen and that file can be removed",
                new_key_file.display()
            ))
        } else {
            e
        }
    })?;
    bar.finish_and_clear();
    let report = follow_key_source(ring, &new_key, new_key_file, rotation, created)?;
    ctx.reload_keyring();
    Ok(report)
}

/// After the rotation committed: rewrites a key file with the new key first,
/// or, for a key from the environment, says what to set.
fn follow_key_source(
    ring: &Keyring,
    new_key: &Key,
    new_key_file: &Path,
    rotation: Rotation,
    created: bool,
) -> Result<RotateReport> {
    let mut key_file_updated = None;
    let mut env_update = None;
    match ring.source() {
        KeySource::File(path) => {
            let new_ring = keys::rotated_ring(new_key, ring);
            keyring::write_key_file(path, &new_ring, true).map_err(|e| {
                e.context(format!(
                    "the database now uses key {}, but updating {} failed; copy {} to it",
                    rotation.to_kid,
                    path.display(),
                    new_key_file.display()
                ))
            })?;
            key_file_updated = Some(path.display().to_string());
        }
        KeySource::EnvVar(var) => {
            env_update = Some((var.clone(), keys::env_instructions(var, new_key_file)));
        }
    }
    Ok(RotateReport {
        from_kid: rotation.from_kid,
        to_kid: rotation.to_kid,
        reencrypted: rotation.reencrypted,
        key_file_updated,
        resealed: rotation.resealed,
        new_key_file: new_key_file.to_path_buf(),
        new_key_created: created,
        finished_earlier: false,
        env_update,
    })
}
