//! Token-signing keys (`signing_keys`): Ed25519, one signer at a time, the
//! private half sealed with `signing:<kid>`; retired keys keep only their
//! public half, published until the last token they signed has expired.

use crate::crypto::envelope;
use crate::crypto::jws::{self, Jwk, Jwks};
use crate::crypto::keyring::Keyring;
use crate::crypto::purpose::Aad;
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::keys;
use crate::error::{Error, Result};
use crate::store::Conn;
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The key that signs, unsealed.
pub struct Signer {
    /// Its id (the RFC 7638 thumbprint).
    pub kid: String,
    seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl Signer {
    /// Signs claims into a compact JWS.
    pub fn sign(&self, claims: &jws::Claims) -> Result<Zeroizing<String>> {
        jws::sign(&self.seed, &self.kid, claims)
    }
}

fn aad(kid: &str) -> String {
    Aad::Signing { kid }.to_string()
}

#[derive(Serialize)]
struct Created<'a> {
    algorithm: &'a str,
}

/// Makes a new signing key, sealed under the ring's active key, and records it.
fn create(conn: &mut dyn Conn, ring: &Keyring, stamp: Stamp<'_>) -> Result<Signer> {
    keys::ensure(conn, ring, stamp)?;
    let pair = jws::generate()?;
    let sealed = envelope::seal(ring.active(), &aad(&pair.kid), pair.seed.as_ref())?;
    conn.execute(
        "INSERT INTO signing_keys (kid, algorithm, public_key, private_key, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            pair.kid.as_str().into(),
            jws::ALG.into(),
            pair.public.as_str().into(),
            sealed.into(),
            stamp.at.into(),
        ],
    )?;
    audit::record(
        conn,
        stamp,
        Event::new("signing_key.create", "signing_key", pair.kid.as_str()).details_of(&Created {
            algorithm: jws::ALG,
        }),
    )?;
    Ok(Signer {
        kid: pair.kid,
        seed: pair.seed,
    })
}

/// The active signer, created on first use (audited write transaction).
pub fn signer(conn: &mut dyn Conn, ring: &Keyring, stamp: Stamp<'_>) -> Result<Signer> {
    let row = conn.query_opt(
        "SELECT kid, public_key, private_key FROM signing_keys WHERE retired_at IS NULL",
        &[],
    )?;
    let Some(row) = row else {
        return create(conn, ring, stamp);
    };
    let kid = row.text("kid")?;
    let sealed = row.opt_text("private_key")?.ok_or_else(|| {
        Error::integrity(format!(
            "signing key {kid} is active but has no private key"
        ))
    })?;
    // Name the key, and for a damaged one the way out (rotating never opens it).
    let unusable = |e: Error| {
        if e.kind() == crate::error::ErrorKind::Integrity {
            Error::integrity(format!(
                "signing key {kid}: {}: run `keyward sessions rotate-signing-key` to replace it \
                 (the tokens it signed still verify)",
                e.message()
            ))
        } else {
            e.context(format!("signing key {kid}"))
        }
    };
    let plain = envelope::open(ring, &aad(&kid), &sealed).map_err(unusable)?;
    let seed: [u8; 32] = plain.as_slice().try_into().map_err(|_| {
        unusable(Error::integrity(
            "its private key does not hold a 32-byte Ed25519 seed",
        ))
    })?;
    let seed = Zeroizing::new(seed);
    // A public half changed behind keyward's back: what it signed could not be verified.
    if jws::public_of(&seed) != row.text("public_key")? {
        return Err(Error::integrity(format!(
            "signing key {kid}: its public key does not match its private key: restore the \
             signing_keys table from a backup, or run `keyward sessions rotate-signing-key` \
             to sign with a new key (what this key signed then cannot be verified)"
        )));
    }
    Ok(Signer { kid, seed })
}

/// Records that a token signed by `kid` may be valid until `exp`, so its
/// public half stays published until then.
pub fn note_expiry(conn: &mut dyn Conn, kid: &str, exp: OffsetDateTime) -> Result<()> {
    conn.execute(
        "UPDATE signing_keys SET last_expiry = $1 \
         WHERE kid = $2 AND (last_expiry IS NULL OR last_expiry < $1)",
        &[exp.into(), kid.into()],
    )?;
    Ok(())
}

/// The public half (base64url) of a published key.
pub fn public_key(conn: &mut dyn Conn, kid: &str) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT public_key FROM signing_keys WHERE kid = $1",
        &[kid.into()],
    )?
    .map(|r| r.text("public_key"))
    .transpose()
}

/// A published key as `sessions jwks` lists it in a table.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedKey {
    /// Its id.
    pub kid: String,
    /// `EdDSA`.
    pub algorithm: String,
    /// `active` (signs) or `retired` (verifies tokens it signed until they expire).
    pub state: &'static str,
    /// When it was made.
    #[serde(with = "crate::output::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stopped signing.
    #[serde(with = "crate::output::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    /// The latest expiry of a token it signed.
    #[serde(with = "crate::output::rfc3339::option")]
    pub last_expiry: Option<OffsetDateTime>,
    /// The public key (base64url).
    #[serde(skip)]
    pub public_key: String,
}

impl crate::output::TableRow for PublishedKey {
    const COLUMNS: &'static [&'static str] = &[
        "kid",
        "algorithm",
        "state",
        "created_at",
        "retired_at",
        "last_expiry",
    ];
}

/// Every published key: the signer first, then retired ones, newest first.
pub fn published(conn: &mut dyn Conn) -> Result<Vec<PublishedKey>> {
    conn.query(
        "SELECT kid, algorithm, public_key, created_at, retired_at, last_expiry FROM signing_keys \
         ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, id DESC",
        &[],
    )?
    .iter()
    .map(|r| {
        let retired_at = r.opt_time("retired_at")?;
        Ok(PublishedKey {
            kid: r.text("kid")?,
            algorithm: r.text("algorithm")?,
            state: if retired_at.is_some() {
                "retired"
            } else {
                "active"
            },
            created_at: r.time("created_at")?,
            retired_at,
            last_expiry: r.opt_time("last_expiry")?,
            public_key: r.text("public_key")?,
        })
    })
    .collect()
}

/// The JWKS of the published keys.
pub fn jwks(keys: &[PublishedKey]) -> Jwks {
    Jwks {
        keys: keys
            .iter()
            .map(|k| Jwk::ed25519(&k.kid, &k.public_key))
            .collect(),
    }
}

/// What `rotate-signing-key` did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotated {
    /// The new signer.
    pub kid: String,
    /// The key it replaced, if there was one (still published until its tokens expire).
    pub retired_kid: Option<String>,
    /// Until when the retired key stays published (its last token's expiry).
    #[serde(with = "crate::output::rfc3339::option")]
    pub retired_published_until: Option<OffsetDateTime>,
}

#[derive(Serialize)]
struct RotatedDetails<'a> {
    retired_kid: Option<&'a str>,
}

/// Retires the signer (dropping its private half) and makes a new one.
pub fn rotate(conn: &mut dyn Conn, ring: &Keyring, stamp: Stamp<'_>) -> Result<Rotated> {
    let old = conn.query_opt(
        "SELECT kid, last_expiry FROM signing_keys WHERE retired_at IS NULL",
        &[],
    )?;
    let (retired_kid, until) = match old {
        Some(r) => {
            let kid = r.text("kid")?;
            conn.execute(
                "UPDATE signing_keys SET retired_at = $1, private_key = NULL WHERE kid = $2",
                &[stamp.at.into(), kid.as_str().into()],
            )?;
            (Some(kid), r.opt_time("last_expiry")?)
        }
        None => (None, None),
    };
    let signer = create(conn, ring, stamp)?;
    audit::record(
        conn,
        stamp,
        Event::new("signing_key.rotate", "signing_key", signer.kid.as_str()).details_of(
            &RotatedDetails {
                retired_kid: retired_kid.as_deref(),
            },
        ),
    )?;
    Ok(Rotated {
        kid: signer.kid.clone(),
        retired_kid,
        retired_published_until: until,
    })
}

/// Deletes retired keys no token of which can still be valid at `now`
/// (their last expiry, plus `leeway`, has passed); returns their ids.
pub fn prune_retired(
    conn: &mut dyn Conn,
    now: OffsetDateTime,
    leeway: time::Duration,
) -> Result<Vec<String>> {
    let cutoff = crate::time::sub(now, leeway)?;
    conn.query(
        "DELETE FROM signing_keys WHERE retired_at IS NOT NULL \
         AND (last_expiry IS NULL OR last_expiry < $1) RETURNING kid",
        &[cutoff.into()],
    )?
    .iter()
    .map(|r| r.text("kid"))
    .collect()
}
