//! Revoking sessions: one, all of a user's, and with the user changes that end them.
//!
//! The rule is here once: [`revoke_user_sessions`] ends every session of a
//! user still usable at the change's instant, with a reason, inside the
//! caller's transaction. `sessions revoke-all` calls it, and so do `users
//! passwd`, `lock` and `update --active false` (whose own audit event counts
//! what it revoked). The lockout after failed passwords never calls it:
//! anyone who knows a username could otherwise log its owner out.

use super::{repo, RevokeReason, Session};
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::users;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};
use crate::store::Conn;
use serde::Serialize;
use time::OffsetDateTime;

/// Revokes every session of `user` still usable at `stamp.at`, with
/// `reason`; returns their ids, lowest first. It records no audit event of
/// its own: the caller's event says how many went.
pub fn revoke_user_sessions(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    user: UserId,
    reason: RevokeReason,
) -> Result<Vec<SessionId>> {
    let mut ids = repo::revoke_user(conn, user, stamp.at, reason)?;
    ids.sort_unstable();
    Ok(ids)
}

/// "session N not found" (exit 3).
pub fn not_found(id: SessionId) -> Error {
    Error::not_found(format!(
        "session {id} not found: `keyward sessions list --all` shows the sessions kept"
    ))
}

/// One session as of `now` (exit 3 when there is none).
pub fn get(conn: &mut dyn Conn, id: SessionId, now: OffsetDateTime) -> Result<Session> {
    repo::find(conn, id, now)?.ok_or_else(|| not_found(id))
}

/// What revoking one session came to.
#[derive(Debug, Clone)]
pub enum Revoked {
    /// Revoked now (the session as it is after).
    Now(Session),
    /// It already was; nothing changed and nothing was recorded.
    Already(Session),
}

#[derive(Serialize)]
struct RevokeDetails<'a> {
    username: &'a str,
    reason: RevokeReason,
}

/// Revokes one session (reason `revoked`) and records `session.revoke`;
/// one already revoked is left as it is, with no event (exit 3 when there is
/// no such session).
pub fn revoke(conn: &mut dyn Conn, stamp: Stamp<'_>, id: SessionId) -> Result<Revoked> {
    let session = get(conn, id, stamp.at)?;
    if session.revoked_at.is_some() || !repo::revoke(conn, id, stamp.at, RevokeReason::Revoked)? {
        return Ok(Revoked::Already(get(conn, id, stamp.at)?));
    }
    audit::record(
        conn,
        stamp,
        Event::new("session.revoke", "session", id.to_string()).details_of(&RevokeDetails {
            username: &session.username,
            reason: RevokeReason::Revoked,
        }),
    )?;
    Ok(Revoked::Now(get(conn, id, stamp.at)?))
}

/// What `sessions revoke-all` reports.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedAll {
    /// Whose sessions.
    pub username: String,
    /// How many were revoked.
    pub revoked: usize,
    /// Their ids, lowest first.
    pub session_ids: Vec<SessionId>,
}

#[derive(Serialize)]
struct RevokeAllDetails<'a> {
    count: usize,
    session_ids: &'a [SessionId],
}

/// Revokes every active session of a user (reason `revoke_all`) and records
/// one `session.revoke_all` event; none to revoke changes and records
/// nothing (exit 3 when there is no such user).
pub fn revoke_all(conn: &mut dyn Conn, stamp: Stamp<'_>, username: &str) -> Result<RevokedAll> {
    let user = users::user_id(conn, username)?;
    let ids = revoke_user_sessions(conn, stamp, user, RevokeReason::RevokeAll)?;
    if !ids.is_empty() {
        audit::record(
            conn,
            stamp,
            Event::new("session.revoke_all", "user", username).details_of(&RevokeAllDetails {
                count: ids.len(),
                session_ids: &ids,
            }),
        )?;
    }
    Ok(RevokedAll {
        username: username.to_owned(),
        revoked: ids.len(),
        session_ids: ids,
    })
}

/// Where a leaked token was found (`apikeys scan --revoke`), for the audit event.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Leak<'a> {
    /// The file (`-` for stdin).
    pub file: &'a str,
    /// The line, from 1.
    pub line: u64,
}

#[derive(Serialize)]
struct LeakedDetails<'a> {
    username: &'a str,
    reason: RevokeReason,
    via: &'static str,
    file: &'a str,
    line: u64,
}

/// Revokes one session whose refresh token leaked (reason `leaked`) and
/// records `session.revoke` with where it was found; returns false, changing
/// and recording nothing, when it was already revoked.
pub fn revoke_leaked(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    (id, username): (SessionId, &str),
    leak: Leak<'_>,
) -> Result<bool> {
    if !repo::revoke(conn, id, stamp.at, RevokeReason::Leaked)? {
        return Ok(false);
    }
    audit::record(
        conn,
        stamp,
        Event::new("session.revoke", "session", id.to_string()).details_of(&LeakedDetails {
            username,
            reason: RevokeReason::Leaked,
            via: "scan",
            file: leak.file,
            line: leak.line,
        }),
    )?;
    Ok(true)
}
