//! `apikeys create`, `list`, `show`, `revoke`, `rotate`. Each checks every
//! value it is given before it opens the store; changes run in one audited
//! write that decides on the rows it reads there. Nothing here returns a
//! key except [`create`] (and `rotate`), once.

use super::{find, parse_ref};
use crate::context::Context;
use crate::domain::apikeys::manage::{self as domain, Grants};
use crate::domain::apikeys::{self, repo, ApiKey};
use crate::error::{Error, Result};
use crate::ident::{self, Ident};
use crate::ops::audited;
use crate::output::TableRow;
use crate::store;
use serde::Serialize;
use zeroize::Zeroizing;

/// `apikeys create`, as given.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The name.
    pub name: String,
    /// `--user`.
    pub user: Option<String>,
    /// `--permission`s.
    pub permissions: Vec<String>,
    /// `--allow-ip`s.
    pub allow_ips: Vec<String>,
    /// `--rate-limit`.
    pub rate_limit: Option<String>,
    /// `--expires-in`.
    pub expires_in: Option<time::Duration>,
}

/// A key just made: the key (this once) and its record.
#[derive(Serialize)]
pub struct Created {
    /// The whole key. Shown once; only its prefix and hash are stored.
    #[serde(serialize_with = "crate::output::reveal")]
    pub key: Zeroizing<String>,
    /// The record.
    #[serde(flatten)]
    pub record: ApiKey,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// Checks `create`'s values (exit 2 on the first bad one) into grants.
fn grants_of(req: &CreateRequest, now: time::OffsetDateTime) -> Result<Grants> {
    apikeys::check_name(&req.name)?;
    if let Some(u) = &req.user {
        ident::check(&[Ident::Username(u)])?;
    }
    if req.permissions.len() > apikeys::MAX_PERMISSIONS {
        return Err(crate::error::Error::invalid(format!(
            "too many --permission: at most {} per key",
            apikeys::MAX_PERMISSIONS
        )));
    }
    let mut permissions = req
        .permissions
        .iter()
        .map(|p| ident::permission(p).map(|(r, a)| format!("{r}:{a}")))
        .collect::<Result<Vec<_>>>()?;
    permissions.sort();
    permissions.dedup();
    let expires_at = req
        .expires_in
        .map(|d| crate::config::check_ttl(d, "--expires-in").and_then(|d| crate::time::add(now, d)))
        .transpose()?;
    Ok(Grants {
        name: req.name.trim().to_owned(),
        user: req.user.clone(),
        permissions,
        allowed_ips: apikeys::normalize_networks(&req.allow_ips)?,
        rate_limit_per_minute: req
            .rate_limit
            .as_deref()
            .map(apikeys::parse_rate_limit)
            .transpose()?,
        expires_at,
    })
}

/// Makes a key and returns it with its record, this one time.
pub fn create(ctx: &mut Context, req: &CreateRequest) -> Result<Created> {
    // Checked once before the store opens (bad input never waits for a
    // database), and the expiry computed again from the write's own instant.
    grants_of(req, ctx.clock.now())?;
    audited(ctx, |c, stamp| {
        let g = grants_of(req, stamp.at)?;
        let user = domain::check_grants(c, &g)?;
        let made = domain::make(c, stamp, (&g, user), None, true)?;
        Ok(Created {
            key: made.new.key,
            record: made.row.key,
        })
    })
}

/// One key by id or prefix (exit 3 when absent).
pub fn show(ctx: &mut Context, key: &str) -> Result<ApiKey> {
    let r = parse_ref(key)?;
    let now = ctx.clock.now();
    store::read(ctx.store()?, |c| Ok(find(c, &r, now)?.key))
}

/// One key as `list` shows it: the [`ApiKey`] view (JSON, every field) with
/// the table's columns.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Listed(pub ApiKey);

impl TableRow for Listed {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "key_prefix",
        "name",
        "user",
        "status",
        "permissions",
        "expires_at",
        "last_used_at",
    ];
}

/// Keys in id order: the active ones (a rotated key in its grace period
/// too), or every one with `all`.
pub fn list(ctx: &mut Context, all: bool) -> Result<Vec<Listed>> {
    let now = ctx.clock.now();
    let keys = store::read(ctx.store()?, |c| repo::list(c, all, now))?;
    Ok(keys.into_iter().map(Listed).collect())
}

/// What `revoke` reports: the key after it, and whether it had already
/// been revoked (then nothing changed).
#[derive(Debug, Clone, Serialize)]
pub struct RevokedKey {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKey,
    /// It was revoked before this command: nothing changed, nothing audited.
    pub already_revoked: bool,
    /// A rotated key's grace period was cut short (not in JSON: the message says it).
    #[serde(skip)]
    pub was_rotating: bool,
}

/// Revokes a key by id or prefix after confirmation, in one audited write
/// that decides on the row it reads (a key already revoked: unchanged).
pub fn revoke(ctx: &mut Context, key: &str) -> Result<RevokedKey> {
    let r = parse_ref(key)?;
    let now = ctx.clock.now();
    let before = store::read(ctx.store()?, |c| Ok(find(c, &r, now)?.key))?;
    ctx.confirm(&format!(
        "revoke API key {} {}",
        before.key_prefix,
        ident::shown(&before.name)
    ))?;
    let done = audited(ctx, |c, stamp| {
        let id = find(c, &r, stamp.at)?.key.id;
        domain::revoke(c, stamp, id)
    })?;
    Ok(match done {
        domain::Revoked::Now { row, was_rotating } => RevokedKey {
            key: row.key,
            already_revoked: false,
            was_rotating,
        },
        domain::Revoked::Already(row) => RevokedKey {
            key: row.key,
            already_revoked: true,
            was_rotating: false,
        },
    })
}

/// A key just rotated: the new key (this once), its record, and until
/// when the old key works.
#[derive(Serialize)]
pub struct RotatedKey {
    /// The new key. Shown once; only its prefix and hash are stored.
    #[serde(serialize_with = "crate::output::reveal")]
    pub key: Zeroizing<String>,
    /// The new key's record (`rotated_from` names the old one).
    #[serde(flatten)]
    pub record: ApiKey,
    /// The end of the grace period: the old key fails with `revoked` from then on.
    #[serde(with = "crate::output::rfc3339")]
    pub old_key_works_until: time::OffsetDateTime,
    /// The old key after the rotation (not in JSON: `rotated_from_prefix` names it).
    #[serde(skip)]
    pub old: ApiKey,
}

impl std::fmt::Debug for RotatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedKey")
            .field("record", &self.record)
            .field("old_key_works_until", &self.old_key_works_until)
            .finish_non_exhaustive()
    }
}

/// Checks `--grace`: 0s (the old key stops at once) to [`apikeys::MAX_GRACE`].
pub fn check_grace(grace: Option<time::Duration>) -> Result<time::Duration> {
    let g = grace.unwrap_or(apikeys::DEFAULT_GRACE);
    if g.is_negative() || g > apikeys::MAX_GRACE {
        return Err(Error::invalid(format!(
            "--grace must be between 0s and {}",
            crate::time::format_duration(apikeys::MAX_GRACE)
        )));
    }
    Ok(g)
}

/// Replaces a key by id or prefix with a new one (same name, grants,
/// allowlist, limit and lifetime) in one audited write; the old key works
/// for `grace` more (default 24h).
pub fn rotate(ctx: &mut Context, key: &str, grace: Option<time::Duration>) -> Result<RotatedKey> {
    let r = parse_ref(key)?;
    let grace = check_grace(grace)?;
    let done = audited(ctx, |c, stamp| {
        let id = find(c, &r, stamp.at)?.key.id;
        domain::rotate(c, stamp, id, grace)
    })?;
    Ok(RotatedKey {
        key: done.made.new.key,
        record: done.made.row.key,
        old_key_works_until: done.works_until,
        old: done.old.key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ApiKeyId;
    use time::{Duration, OffsetDateTime};

    #[test]
    fn grace_is_bounded() {
        assert_eq!(check_grace(None).unwrap(), apikeys::DEFAULT_GRACE);
        assert_eq!(check_grace(Some(Duration::ZERO)).unwrap(), Duration::ZERO);
        assert_eq!(
            check_grace(Some(apikeys::MAX_GRACE)).unwrap(),
            apikeys::MAX_GRACE
        );
        for bad in [apikeys::MAX_GRACE + Duration::SECOND, -Duration::SECOND] {
            assert_eq!(check_grace(Some(bad)).unwrap_err().exit_code(), 2);
        }
    }

    #[test]
    fn list_columns_are_fields() {
        crate::output::assert_columns(&Listed(ApiKey {
            id: ApiKeyId(1),
            name: "ci".into(),
            key_prefix: "kw_00000000".into(),
            status: apikeys::Status::Active,
            user: None,
            permissions: vec![],
            allowed_ips: vec![],
            rate_limit_per_minute: None,
            expires_at: None,
            revoked_at: None,
            revoked_reason: None,
            rotated_from: None,
            rotated_from_prefix: None,
            rotated_to: None,
            rotated_to_prefix: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            created_by: None,
            last_used_at: None,
            last_used_ip: None,
            failure_count: 0,
            last_failure_at: None,
            last_failure_reason: None,
        }));
    }
}
