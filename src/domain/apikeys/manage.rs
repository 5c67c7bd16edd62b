//! Making keys (`create`, and the new key of `rotate`), each in the caller's
//! audited write with its audit event. The key itself is returned once and
//! never stored, logged or audited: only its prefix and hash are.

use super::repo::{self, KeyRow, NewKeyRow};
use super::{grants, RevokeReason, Status, MAX_PERMISSIONS};
use crate::crypto::token::{self, NewKey};
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::users;
use crate::error::{Error, ErrorKind, Result};
use crate::ident::shown;
use crate::ids::{ApiKeyId, UserId};
use crate::store::Conn;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// What a new key holds, checked by the caller's parsers.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Its name.
    pub name: String,
    /// Its owner's username.
    pub user: Option<String>,
    /// `resource:action` pairs (parsed).
    pub permissions: Vec<String>,
    /// Normalised networks.
    pub allowed_ips: Vec<String>,
    /// Per minute.
    pub rate_limit_per_minute: Option<u32>,
    /// When it stops working.
    pub expires_at: Option<OffsetDateTime>,
}

/// A key just made: the whole key (shown once) and its stored row.
pub struct Made {
    /// The key and its prefix.
    pub new: NewKey,
    /// The row as stored, as of its creation.
    pub row: KeyRow,
}

#[derive(Serialize)]
struct Created<'a> {
    name: &'a str,
    user: Option<&'a str>,
    permissions: &'a [String],
    allowed_ips: &'a [String],
    rate_limit_per_minute: Option<u32>,
    #[serde(with = "crate::output::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    rotated_from: Option<&'a str>,
}

/// Checks that every permission exists and, for a key with an owner, that
/// the owner has it now; returns the owner's id. Unknown user or
/// permission: exit 3; a permission the owner lacks: exit 5.
pub fn check_grants(conn: &mut dyn Conn, g: &Grants) -> Result<Option<UserId>> {
    if g.permissions.len() > MAX_PERMISSIONS {
        return Err(Error::invalid(format!(
            "too many --permission: at most {MAX_PERMISSIONS} per key"
        )));
    }
    let known = repo::known_permissions(conn)?;
    for p in &g.permissions {
        if !known.contains(p) {
            return Err(Error::not_found(format!(
                "no permission {}: `keyward roles permissions` lists them",
                shown(p)
            )));
        }
    }
    let Some(username) = g.user.as_deref() else {
        return Ok(None);
    };
    let user = users::user_id(conn, username)?;
    let held: Vec<String> = users::permissions_of(conn, user)?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    for p in &g.permissions {
        if !grants(&held, p)? {
            return Err(Error::denied(format!(
                "'{username}' does not have {p}, so a key of theirs cannot hold it: grant it to one of their roles first, or make a key without --user"
            )));
        }
    }
    Ok(Some(user))
}

/// Makes a key with grants `g` (checked by [`check_grants`], which returned
/// `user`), replacing `rotated_from` if given, and records `apikey.create`
/// (for a rotation the caller records `apikey.rotate` instead: `audit`
/// false). A prefix already taken (one chance in about 10^14 per key) is
/// tried again with a new key, up to three times.
pub fn make(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    (g, user): (&Grants, Option<UserId>),
    rotated_from: Option<(ApiKeyId, &str)>,
    audit: bool,
) -> Result<Made> {
    let mut tries = 0;
    let (new, id) = loop {
        tries += 1;
        let new = token::new_api_key()?;
        if repo::by_prefix(conn, &new.prefix, stamp.at)?.is_some() && tries < 3 {
            continue;
        }
        let id = repo::insert(
            conn,
            &NewKeyRow {
                name: &g.name,
                key_prefix: &new.prefix,
                key_hash: &token::hash(&new.key),
                user,
                permissions: &g.permissions,
                allowed_ips: &g.allowed_ips,
                rate_limit_per_minute: g.rate_limit_per_minute,
                expires_at: g.expires_at,
                rotated_from: rotated_from.map(|(id, _)| id),
                created_at: stamp.at,
                created_by: stamp.actor,
            },
        )
        .map_err(|e| match e.kind() {
            ErrorKind::Conflict => e.context("a new key's prefix collided; run the command again"),
            _ => e,
        })?;
        break (new, id);
    };
    if audit {
        audit::record(
            conn,
            stamp,
            Event::new("apikey.create", "api_key", &new.prefix).details_of(&Created {
                name: &g.name,
                user: g.user.as_deref(),
                permissions: &g.permissions,
                allowed_ips: &g.allowed_ips,
                rate_limit_per_minute: g.rate_limit_per_minute,
                expires_at: g.expires_at,
                rotated_from: rotated_from.map(|(_, p)| p),
            }),
        )?;
    }
    let row = repo::by_id(conn, id, stamp.at)?
        .ok_or_else(|| Error::internal("a key just inserted is not there"))?;
    Ok(Made { new, row })
}

/// What [`revoke`] did.
#[derive(Debug, Clone)]
pub enum Revoked {
    /// Revoked now; `was_rotating`: it was a rotated key in its grace period.
    Now {
        /// The row after the change.
        row: KeyRow,
        /// Whether a rotation's grace period was cut short.
        was_rotating: bool,
    },
    /// It was already revoked: nothing changed, nothing audited.
    Already(KeyRow),
}

#[derive(Serialize)]
struct RevokeDetails<'a> {
    name: &'a str,
    user: Option<&'a str>,
    reason: &'a str,
    was_rotating: bool,
}

fn reread(conn: &mut dyn Conn, id: ApiKeyId, at: OffsetDateTime) -> Result<KeyRow> {
    repo::by_id(conn, id, at)?.ok_or_else(|| {
        Error::not_found(format!(
            "no API key {id}: `keyward apikeys list --all` lists them"
        ))
    })
}

/// Revokes key `id` now, deciding on the row read here: a key already
/// revoked is left as it is; a rotated key in its grace period is revoked
/// now (the grace ends). Records `apikey.revoke` when something changed.
pub fn revoke(conn: &mut dyn Conn, stamp: Stamp<'_>, id: ApiKeyId) -> Result<Revoked> {
    let row = reread(conn, id, stamp.at)?;
    if row.key.status == Status::Revoked {
        return Ok(Revoked::Already(row));
    }
    // Not revoked now, so a revoked_at is a rotation's grace end, still ahead.
    let was_rotating = row.key.revoked_at.is_some();
    let reason = RevokeReason::Revoked;
    repo::set_revoked(conn, id, stamp.at, reason)?;
    audit::record(
        conn,
        stamp,
        Event::new("apikey.revoke", "api_key", &row.key.key_prefix).details_of(&RevokeDetails {
            name: &row.key.name,
            user: row.key.user.as_deref(),
            reason: reason.as_str(),
            was_rotating,
        }),
    )?;
    Ok(Revoked::Now {
        row: reread(conn, id, stamp.at)?,
        was_rotating,
    })
}

/// A rotation: the new key (shown once), the old key's row after the
/// change, and when the old key stops working.
pub struct Rotated {
    /// The new key and its row.
    pub made: Made,
    /// The old key, now ending at `works_until`.
    pub old: KeyRow,
    /// The end of the grace period (the old key's `revoked_at`).
    pub works_until: OffsetDateTime,
}

#[derive(Serialize)]
struct RotateDetails<'a> {
    name: &'a str,
    new_prefix: &'a str,
    grace: String,
    #[serde(with = "crate::output::rfc3339")]
    old_key_works_until: OffsetDateTime,
}

/// Why key `old` cannot be rotated (exit 4), if it cannot: it was rotated
/// already (then the newer key is the one to rotate), or it is revoked.
fn rotation_conflict(old: &KeyRow) -> Option<Error> {
    let k = &old.key;
    let rotated = k.rotated_to.is_some()
        || k.revoked_reason.as_deref() == Some(RevokeReason::Rotated.as_str());
    if rotated {
        let newer = k
            .rotated_to_prefix
            .as_deref()
            .map(|p| format!(" to {p}"))
            .unwrap_or_default();
        return Some(Error::conflict(format!(
            "API key {} was already rotated{newer}: rotate that one",
            k.key_prefix
        )));
    }
    (k.status == Status::Revoked).then(|| {
        Error::conflict(format!(
            "API key {} is revoked: there is nothing to rotate (create a new key instead)",
            k.key_prefix
        ))
    })
}

/// The grants of a rotation's new key: the old key's, its expiry (if it
/// had one) the same lifetime from `now`.
fn successor(old: &KeyRow, now: OffsetDateTime) -> Result<Grants> {
    let k = &old.key;
    let expires_at = k
        .expires_at
        .map(|e| crate::time::add(now, e - k.created_at))
        .transpose()?;
    Ok(Grants {
        name: k.name.clone(),
        user: k.user.clone(),
        permissions: k.permissions.clone(),
        allowed_ips: k.allowed_ips.clone(),
        rate_limit_per_minute: k.rate_limit_per_minute,
        expires_at,
    })
}

/// Replaces key `id` with a new one holding the same grants (checked again
/// against the owner: exit 5 when they lost one), and ends the old key
/// `grace` from now. Refuses (exit 4) a revoked key or one already rotated;
/// an expired key may be rotated. Records one `apikey.rotate`.
pub fn rotate(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    id: ApiKeyId,
    grace: Duration,
) -> Result<Rotated> {
    let old = reread(conn, id, stamp.at)?;
    if let Some(e) = rotation_conflict(&old) {
        return Err(e);
    }
    let g = successor(&old, stamp.at)?;
    if g.user.is_some() != old.user_id.is_some() {
        return Err(Error::integrity(format!(
            "API key {} belongs to a user who is not there: repair the row",
            old.key.key_prefix
        )));
    }
    let user = check_grants(conn, &g)
        .map_err(|e| e.context(format!("cannot rotate API key {}", old.key.key_prefix)))?;
    let works_until = crate::time::add(stamp.at, grace)?;
    let made = make(
        conn,
        stamp,
        (&g, user),
        Some((old.key.id, &old.key.key_prefix)),
        false,
    )?;
    repo::set_revoked(conn, id, works_until, RevokeReason::Rotated)?;
    audit::record(
        conn,
        stamp,
        Event::new("apikey.rotate", "api_key", &old.key.key_prefix).details_of(&RotateDetails {
            name: &old.key.name,
            new_prefix: &made.new.prefix,
            grace: crate::time::format_duration(grace),
            old_key_works_until: works_until,
        }),
    )?;
    Ok(Rotated {
        old: reread(conn, id, stamp.at)?,
        made,
        works_until,
    })
}
