//! `apikeys verify`: the flow over the repository. The shape and checksum
//! are checked offline ([`offline`]) before anything opens the store; the
//! rest ([`check`]) runs in one unaudited write transaction: the key found
//! by its prefix, its hash compared in constant time, its owner's state and
//! permissions read now, the refusal rules applied, then the use recorded
//! and counted in its rate window by one atomic UPDATE. A refusal of a key
//! whose prefix matched is counted on that key's row.

use super::repo;
use super::{grants, refusal, retry_after, window_start, ApiKey, Presented, Reason};
use crate::crypto::token::{self, Flaw};
use crate::domain::users;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::store::Conn;
use serde::Serialize;
use std::net::IpAddr;
use time::OffsetDateTime;

/// What is checked: the key (trimmed), where it is used from, what for.
pub struct Request<'a> {
    /// The presented key.
    pub key: &'a str,
    /// `--ip`, parsed (an IPv4-mapped address is the IPv4 address).
    pub ip: Option<IpAddr>,
    /// `--permission`, checked, as `resource:action`.
    pub permission: Option<&'a str>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("ip", &self.ip)
            .field("permission", &self.permission)
            .finish_non_exhaustive()
    }
}

/// A key's owner as a valid verification reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Owner {
    /// The username.
    pub username: String,
    /// The roles the user has now, sorted.
    pub roles: Vec<String>,
    /// The key's permissions the user still has (what the key may be used
    /// for now), sorted.
    pub permissions: Vec<String>,
}

/// A key that verified.
#[derive(Debug, Clone, Serialize)]
pub struct Valid {
    /// Always true.
    pub valid: bool,
    /// The key's record, read after this use was recorded.
    pub key: ApiKey,
    /// Its owner (null: a service key).
    pub owner: Option<Owner>,
}

/// A key refused, as `verify` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    /// Always false.
    pub valid: bool,
    /// Why (one word).
    pub reason: Reason,
    /// Seconds until the next rate window, for `rate_limited` (else null).
    pub retry_after: Option<u64>,
    /// The key's prefix when one was found by it (for the message only).
    #[serde(skip)]
    pub prefix: Option<String>,
}

impl Refused {
    fn new(reason: Reason) -> Self {
        Refused {
            valid: false,
            reason,
            retry_after: None,
            prefix: None,
        }
    }
}

/// The offline check: `malformed` or `bad_checksum`, or none.
pub fn offline(key: &str) -> Option<Refused> {
    match token::check_api_key(key) {
        Ok(()) => None,
        Err(Flaw::Malformed) => Some(Refused::new(Reason::Malformed)),
        Err(Flaw::BadChecksum) => Some(Refused::new(Reason::BadChecksum)),
    }
}

/// The database part of a verification at `now` (read inside the write
/// transaction this runs in, after its lock), for a key [`offline`] passed.
pub fn check(
    conn: &mut dyn Conn,
    req: &Request<'_>,
    now: OffsetDateTime,
) -> Result<std::result::Result<Valid, Refused>> {
    let prefix = token::api_key_prefix(req.key)
        .ok_or_else(|| Error::internal("verify: the key's shape was not checked"))?;
    let Some(row) = repo::by_prefix(conn, prefix, now)? else {
        return Ok(Err(Refused::new(Reason::Unknown)));
    };
    let refuse = |conn: &mut dyn Conn, reason: Reason, retry_after: Option<u64>| {
        repo::record_failure(conn, row.key.id, now, reason.as_str())?;
        Ok(Err(Refused {
            valid: false,
            reason,
            retry_after,
            prefix: Some(row.key.key_prefix.clone()),
        }))
    };
    if !token::hashes_match(&row.key_hash, &token::hash(req.key)) {
        return refuse(conn, Reason::Unknown, None);
    }
    let owner = match row.user_id {
        Some(user) => Some(owner_now(conn, user, now)?),
        None => None,
    };
    let presented = Presented {
        revoked_at: row.key.revoked_at,
        expires_at: row.key.expires_at,
        allowed_ips: &row.key.allowed_ips,
        permissions: &row.key.permissions,
        owner: owner.as_ref().map(|o| (o.works, o.permissions.as_slice())),
    };
    if let Some(reason) = refusal(&presented, req.ip, req.permission, now)? {
        return refuse(conn, reason, None);
    }
    let ip = req.ip.map(|a| a.to_string());
    if !repo::record_use(conn, row.key.id, (now, window_start(now)?), ip.as_deref())? {
        return refuse(conn, Reason::RateLimited, Some(retry_after(now)?));
    }
    let key = repo::by_id(conn, row.key.id, now)?
        .ok_or_else(|| Error::internal("verify: the key's row vanished in its transaction"))?
        .key;
    let owner = match owner {
        Some(o) => Some(Owner {
            username: key.user.clone().unwrap_or_default(),
            permissions: effective(&key.permissions, &o.permissions)?,
            roles: o.roles,
        }),
        None => None,
    };
    Ok(Ok(Valid {
        valid: true,
        key,
        owner,
    }))
}

/// An owner as read now.
struct OwnerNow {
    works: bool,
    roles: Vec<String>,
    permissions: Vec<String>,
}

fn owner_now(conn: &mut dyn Conn, user: UserId, now: OffsetDateTime) -> Result<OwnerNow> {
    // Read whether or not the account works: the permission check comes
    // before the owner's state (`domain::apikeys::refusal`).
    let works = users::works_for_tokens(conn, user, now)?;
    let mut permissions: Vec<String> = users::permissions_of(conn, user)?
        .into_iter()
        .map(|(p, _role)| p)
        .collect();
    permissions.dedup();
    let roles = users::repo::roles_of(conn, user)?;
    Ok(OwnerNow {
        works,
        roles,
        permissions,
    })
}

/// The key's permissions its owner still has: each one the owner holds
/// (`resource:admin` held by the owner covers the key's read, write and
/// delete); of a key's `resource:admin` the owner no longer holds, the read,
/// write and delete the owner still has. Sorted.
fn effective(key: &[String], owner: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(key.len());
    for p in key {
        if grants(owner, p)? {
            out.push(p.clone());
        } else if let Some(resource) = p.strip_suffix(":admin") {
            for action in ["read", "write", "delete"] {
                let implied = format!("{resource}:{action}");
                if grants(owner, &implied)? {
                    out.push(implied);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn effective_permissions_are_what_both_hold() {
        let key = v(&["flags:read", "settings:admin"]);
        assert_eq!(
            effective(&key, &v(&["flags:admin", "settings:admin"])).unwrap(),
            v(&["flags:read", "settings:admin"])
        );
        assert_eq!(
            effective(&key, &v(&["settings:read", "settings:delete"])).unwrap(),
            v(&["settings:delete", "settings:read"])
        );
        assert!(effective(&key, &[]).unwrap().is_empty());
    }

    #[test]
    fn offline_refusals() {
        let made = token::new_api_key().unwrap();
        assert!(offline(&made.key).is_none());
        assert_eq!(offline("kw_nope").unwrap().reason, Reason::Malformed);
        let mut bad = made.key.to_string();
        let last = bad.pop().unwrap();
        bad.push(if last == '0' { '1' } else { '0' });
        assert_eq!(offline(&bad).unwrap().reason, Reason::BadChecksum);
    }
}
