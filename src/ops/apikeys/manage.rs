//! `apikeys create`, `list`, `show`, `revoke`, `rotate`. Each checks every
//! value it is given before it opens the store; changes run in one audited
//! write that decides on the rows it reads there. Nothing here returns a
//! key except [`create`] (and `rotate`), once.

use super::{find, parse_ref};
use crate::context::Context;
use crate::domain::apikeys::manage::{self as domain, Grants};
use crate::domain::apikeys::{self, ApiKey};
use crate::error::Result;
use crate::ident::{self, Ident};
use crate::ops::audited;
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
