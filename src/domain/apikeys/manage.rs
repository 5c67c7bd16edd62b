//! Making keys (`create`, and the new key of `rotate`), each in the caller's
//! audited write with its audit event. The key itself is returned once and
//! never stored, logged or audited: only its prefix and hash are.

use super::repo::{self, KeyRow, NewKeyRow};
use super::{grants, MAX_PERMISSIONS};
use crate::crypto::token::{self, NewKey};
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::users;
use crate::error::{Error, ErrorKind, Result};
use crate::ident::shown;
use crate::ids::{ApiKeyId, UserId};
use crate::store::Conn;
use serde::Serialize;
use time::OffsetDateTime;

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
