//! The sessions' SQL, written once in portable form; rows read by column name.

use super::{ends_at, status, RevokeReason, Session};
use crate::error::Result;
use crate::ids::{SessionId, UserId};
use crate::store::{Conn, Row};
use time::OffsetDateTime;

const SESSION_COLUMNS: &str = "s.id, s.user_id, u.username, s.device, s.ip_address, s.created_at, \
     s.expires_at, s.refresh_expires_at, s.last_used_at, s.refresh_count, s.revoked_at, \
     s.revoked_reason";

/// The condition "still usable at `$param`" on the columns of `sessions`
/// (qualified with `table`, e.g. `s.`, or unqualified with `""`), in the form
/// the ends index serves.
pub fn active_at(table: &str, param: usize) -> String {
    format!(
        "{table}revoked_at IS NULL AND COALESCE({table}refresh_expires_at, {table}expires_at) > ${param}"
    )
}

fn session_from_row(r: &Row, now: OffsetDateTime) -> Result<Session> {
    let expires_at = r.time("expires_at")?;
    let refresh_expires_at = r.opt_time("refresh_expires_at")?;
    let revoked_at = r.opt_time("revoked_at")?;
    Ok(Session {
        id: SessionId(r.int("id")?),
        user_id: UserId(r.int("user_id")?),
        username: r.text("username")?,
        status: status(revoked_at, ends_at(expires_at, refresh_expires_at), now),
        device: r.opt_text("device")?,
        ip_address: r.opt_text("ip_address")?,
        created_at: r.time("created_at")?,
        expires_at,
        refresh_expires_at,
        last_used_at: r.opt_time("last_used_at")?,
        refresh_count: r.int("refresh_count")?,
        revoked_at,
        revoked_reason: r.opt_text("revoked_reason")?,
    })
}

/// A new session's row.
pub struct NewSession<'a> {
    /// Whose.
    pub user: UserId,
    /// The first access token's `jti`.
    pub access_jti: &'a str,
    /// The refresh family id.
    pub family: &'a str,
    /// The hash of the first refresh token.
    pub refresh_hash: &'a str,
    /// From `--device`.
    pub device: Option<&'a str>,
    /// From `--ip`.
    pub ip_address: Option<&'a str>,
    /// The login's instant.
    pub created_at: OffsetDateTime,
    /// The access token's expiry.
    pub expires_at: OffsetDateTime,
    /// The refresh token's expiry.
    pub refresh_expires_at: OffsetDateTime,
}

/// Inserts a session; returns its id.
pub fn insert(conn: &mut dyn Conn, s: &NewSession<'_>) -> Result<SessionId> {
    let row = conn.query_one(
        "INSERT INTO sessions (user_id, access_jti, refresh_jti, refresh_hash, device, ip_address, \
         created_at, expires_at, refresh_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        &[
            s.user.into(),
            s.access_jti.into(),
            s.family.into(),
            s.refresh_hash.into(),
            s.device.into(),
            s.ip_address.into(),
            s.created_at.into(),
            s.expires_at.into(),
            s.refresh_expires_at.into(),
        ],
    )?;
    Ok(SessionId(row.int("id")?))
}

/// One session, shown as of `now`.
pub fn find(conn: &mut dyn Conn, id: SessionId, now: OffsetDateTime) -> Result<Option<Session>> {
    conn.query_opt(
        &format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
        ),
        &[id.into()],
    )?
    .map(|r| session_from_row(&r, now))
    .transpose()
}

/// Which sessions `list` shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    /// Only this user's.
    pub user: Option<UserId>,
    /// Include revoked and expired ones.
    pub all: bool,
}

/// Sessions matching `filter`, newest first, shown as of `now`.
pub fn list(conn: &mut dyn Conn, filter: ListFilter, now: OffsetDateTime) -> Result<Vec<Session>> {
    let mut sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE 1 = 1"
    );
    let mut params = Vec::new();
    if !filter.all {
        params.push(now.into());
        sql.push_str(&format!(" AND {}", active_at("s.", params.len())));
    }
    if let Some(user) = filter.user {
        params.push(user.into());
        sql.push_str(&format!(" AND s.user_id = ${}", params.len()));
    }
    sql.push_str(" ORDER BY s.id DESC");
    conn.query(&sql, &params)?
        .iter()
        .map(|r| session_from_row(r, now))
        .collect()
}

/// What a refresh needs to know of the session a family belongs to.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    /// The session.
    pub id: SessionId,
    /// Whose.
    pub user: UserId,
    /// The user's name.
    pub username: String,
    /// The hash of the one refresh token that may be presented next.
    pub refresh_hash: Option<String>,
    /// The session's end.
    pub refresh_expires_at: Option<OffsetDateTime>,
    /// The access token's expiry.
    pub expires_at: OffsetDateTime,
    /// When revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// Times refreshed.
    pub refresh_count: i64,
}

/// The session of a refresh family.
pub fn by_family(conn: &mut dyn Conn, family: &str) -> Result<Option<RefreshRow>> {
    conn.query_opt(
        "SELECT s.id, s.user_id, u.username, s.refresh_hash, s.refresh_expires_at, s.expires_at, \
         s.revoked_at, s.refresh_count \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.refresh_jti = $1",
        &[family.into()],
    )?
    .map(|r| {
        Ok(RefreshRow {
            id: SessionId(r.int("id")?),
            user: UserId(r.int("user_id")?),
            username: r.text("username")?,
            refresh_hash: r.opt_text("refresh_hash")?,
            refresh_expires_at: r.opt_time("refresh_expires_at")?,
            expires_at: r.time("expires_at")?,
            revoked_at: r.opt_time("revoked_at")?,
            refresh_count: r.int("refresh_count")?,
        })
    })
    .transpose()
}

/// A refresh: the next token's hash and the new access token.
pub struct Rotation<'a> {
    /// The session.
    pub id: SessionId,
    /// The hash presented (it must still be the newest).
    pub old_hash: &'a str,
    /// The next refresh token's hash.
    pub new_hash: &'a str,
    /// The new access token's `jti`.
    pub access_jti: &'a str,
    /// The new access token's expiry.
    pub expires_at: OffsetDateTime,
    /// The refresh's instant.
    pub at: OffsetDateTime,
}

/// Moves a session to its next refresh token, only if `old_hash` is still
/// the newest and it is not revoked; returns whether it did.
pub fn rotate(conn: &mut dyn Conn, r: &Rotation<'_>) -> Result<bool> {
    let n = conn.execute(
        "UPDATE sessions SET refresh_hash = $1, access_jti = $2, expires_at = $3, last_used_at = $4, \
         refresh_count = refresh_count + 1 \
         WHERE id = $5 AND refresh_hash = $6 AND revoked_at IS NULL",
        &[
            r.new_hash.into(),
            r.access_jti.into(),
            r.expires_at.into(),
            r.at.into(),
            r.id.into(),
            r.old_hash.into(),
        ],
    )?;
    Ok(n == 1)
}

/// Revokes one session unless it already is; returns whether it did.
pub fn revoke(
    conn: &mut dyn Conn,
    id: SessionId,
    at: OffsetDateTime,
    reason: RevokeReason,
) -> Result<bool> {
    let n = conn.execute(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        &[at.into(), reason.as_str().into(), id.into()],
    )?;
    Ok(n == 1)
}

/// Revokes every session of a user that is still usable at `at`; returns their ids.
pub fn revoke_user(
    conn: &mut dyn Conn,
    user: UserId,
    at: OffsetDateTime,
    reason: RevokeReason,
) -> Result<Vec<SessionId>> {
    conn.query(
        &format!(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
             WHERE user_id = $3 AND {} RETURNING id",
            active_at("", 1)
        ),
        &[at.into(), reason.as_str().into(), user.into()],
    )?
    .iter()
    .map(|r| Ok(SessionId(r.int("id")?)))
    .collect()
}

/// The ids of a user's sessions still usable at `at`.
pub fn active_ids(conn: &mut dyn Conn, user: UserId, at: OffsetDateTime) -> Result<Vec<SessionId>> {
    conn.query(
        &format!(
            "SELECT s.id FROM sessions s WHERE s.user_id = $2 AND {} ORDER BY s.id",
            active_at("s.", 1)
        ),
        &[at.into(), user.into()],
    )?
    .iter()
    .map(|r| Ok(SessionId(r.int("id")?)))
    .collect()
}
