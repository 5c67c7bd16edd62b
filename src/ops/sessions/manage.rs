//! Listing, showing and revoking sessions (`sessions list`, `show`,
//! `revoke`, `revoke-all`). Nothing here ever returns a token or a hash:
//! [`Session`] has neither.

use super::parse_id;
use crate::context::Context;
use crate::domain::sessions::repo::{self, ListFilter};
use crate::domain::sessions::revoke::{self, Revoked};
use crate::domain::sessions::Session;
use crate::domain::users;
use crate::error::Result;
use crate::ident::{self, Ident};
use crate::ops::audited;
use crate::store;
use serde::Serialize;

pub use crate::domain::sessions::revoke::RevokedAll;

/// `sessions list`.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// `--user U`: only this user's (who must exist).
    pub user: Option<String>,
    /// `--all`: revoked and expired ones too.
    pub all: bool,
}

/// Sessions, newest first: the active ones, or all kept with `--all`.
pub fn list(ctx: &mut Context, req: &ListRequest) -> Result<Vec<Session>> {
    if let Some(u) = &req.user {
        ident::check(&[Ident::Username(u)])?;
    }
    let now = ctx.clock.now();
    store::read(ctx.store()?, |c| {
        let user = req
            .user
            .as_deref()
            .map(|u| users::user_id(c, u))
            .transpose()?;
        repo::list(c, ListFilter { user, all: req.all }, now)
    })
}

/// `sessions show`: the session and its user's roles now.
#[derive(Debug, Clone, Serialize)]
pub struct SessionDetail {
    /// The session.
    #[serde(flatten)]
    pub session: Session,
    /// The user's roles now (an access token carries those of its issue).
    pub roles: Vec<String>,
}

/// One session by id (exit 2 for an id that is not a number, 3 when absent).
pub fn show(ctx: &mut Context, id: &str) -> Result<SessionDetail> {
    let id = parse_id(id)?;
    let now = ctx.clock.now();
    store::read(ctx.store()?, |c| {
        let session = revoke::get(c, id, now)?;
        let roles = users::repo::roles_of(c, session.user_id)?;
        Ok(SessionDetail { session, roles })
    })
}

/// What `sessions revoke` reports: the session after, and whether it
/// already was revoked (then nothing changed and nothing was recorded).
#[derive(Debug, Clone, Serialize)]
pub struct RevokedSession {
    /// The session as it is now.
    #[serde(flatten)]
    pub session: Session,
    /// True when it was revoked before this command.
    pub already_revoked: bool,
}

/// Revokes one session after confirmation (exit 3 when there is none). One
/// already revoked is reported as such (exit 0), with no new audit event.
pub fn revoke_one(ctx: &mut Context, id: &str) -> Result<RevokedSession> {
    let id = parse_id(id)?;
    let now = ctx.clock.now();
    let before = store::read(ctx.store()?, |c| revoke::get(c, id, now))?;
    ctx.confirm(&format!("revoke session {id} of '{}'", before.username))?;
    // Decided again on the row as the write transaction reads it.
    Ok(match audited(ctx, |c, s| revoke::revoke(c, s, id))? {
        Revoked::Now(session) => RevokedSession {
            session,
            already_revoked: false,
        },
        Revoked::Already(session) => RevokedSession {
            session,
            already_revoked: true,
        },
    })
}

/// Revokes every active session of a user after confirmation, with one
/// audit event (none when there was nothing to revoke).
pub fn revoke_all(ctx: &mut Context, username: &str) -> Result<RevokedAll> {
    ident::check(&[Ident::Username(username)])?;
    let now = ctx.clock.now();
    let active = store::read(ctx.store()?, |c| {
        let user = users::user_id(c, username)?;
        repo::active_ids(c, user, now)
    })?;
    let n = active.len();
    ctx.confirm(&format!(
        "revoke every active session of '{username}' ({n} now)"
    ))?;
    audited(ctx, |c, s| revoke::revoke_all(c, s, username))
}
