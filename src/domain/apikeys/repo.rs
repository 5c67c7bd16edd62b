//! The API keys' SQL, written once in portable form; rows read by column name.

use super::{status, ApiKey, RevokeReason};
use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, UserId};
use crate::store::{self, Conn, Row};
use time::OffsetDateTime;

/// A key's row with its owner's name and its rotation neighbours' ids and
/// prefixes (`k` the key, `u` the owner, `f` the key it replaced, `t` the
/// newest key that replaced it).
const SELECT: &str = "SELECT k.id, k.name, k.key_prefix, k.key_hash, k.user_id, u.username, \
     k.permissions, k.allowed_ips, k.rate_limit_per_minute, k.expires_at, k.revoked_at, \
     k.revoked_reason, k.rotated_from, f.key_prefix AS rotated_from_prefix, \
     t.id AS rotated_to, t.key_prefix AS rotated_to_prefix, k.created_at, k.created_by, \
     k.last_used_at, k.last_used_ip, k.failure_count, k.last_failure_at, k.last_failure_reason \
     FROM api_keys k \
     LEFT JOIN users u ON u.id = k.user_id \
     LEFT JOIN api_keys f ON f.id = k.rotated_from \
     LEFT JOIN api_keys t ON t.id = (SELECT MAX(n.id) FROM api_keys n WHERE n.rotated_from = k.id)";

/// A key as stored, with what `verify` needs beyond the view.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// The view (as of the `now` it was read at).
    pub key: ApiKey,
    /// The owner's id (none: a service key).
    pub user_id: Option<UserId>,
    /// Hex SHA-256 of the whole key.
    pub key_hash: String,
}

fn count(r: &Row, column: &str) -> Result<u64> {
    let n = r.int(column)?;
    u64::try_from(n).map_err(|_| Error::integrity(format!("api_keys.{column} is negative ({n})")))
}

/// A key's row as read, or an error naming the row (its id and prefix) when
/// a column holds what keyward never writes (a row edited behind its back).
fn key_from_row(r: &Row, now: OffsetDateTime) -> Result<KeyRow> {
    fields_of(r, now).map_err(|e| {
        let id = r
            .int("id")
            .map(|i| i.to_string())
            .unwrap_or_else(|_| "?".into());
        let prefix = r
            .text("key_prefix")
            .map(|p| {
                if crate::crypto::token::is_api_key_prefix(&p) {
                    p
                } else {
                    crate::ident::shown(&p)
                }
            })
            .unwrap_or_else(|_| "?".into());
        e.context(format!("API key {id} ({prefix})"))
    })
}

fn fields_of(r: &Row, now: OffsetDateTime) -> Result<KeyRow> {
    let expires_at = r.opt_time("expires_at")?;
    let revoked_at = r.opt_time("revoked_at")?;
    let rate = r
        .opt_int("rate_limit_per_minute")?
        .map(|n| {
            u32::try_from(n).map_err(|_| {
                Error::integrity(format!(
                    "api_keys.rate_limit_per_minute is out of range ({n})"
                ))
            })
        })
        .transpose()?;
    let user_id = r.opt_int("user_id")?.map(UserId);
    Ok(KeyRow {
        key: ApiKey {
            id: ApiKeyId(r.int("id")?),
            name: r.text("name")?,
            key_prefix: r.text("key_prefix")?,
            status: status(revoked_at, expires_at, now),
            user: r.opt_text("username")?,
            permissions: store::string_list(&r.text("permissions")?, "api_keys.permissions")?,
            allowed_ips: store::string_list(&r.text("allowed_ips")?, "api_keys.allowed_ips")?,
            rate_limit_per_minute: rate,
            expires_at,
            revoked_at,
            revoked_reason: r.opt_text("revoked_reason")?,
            rotated_from: r.opt_int("rotated_from")?.map(ApiKeyId),
            rotated_from_prefix: r.opt_text("rotated_from_prefix")?,
            rotated_to: r.opt_int("rotated_to")?.map(ApiKeyId),
            rotated_to_prefix: r.opt_text("rotated_to_prefix")?,
            created_at: r.time("created_at")?,
            created_by: r.opt_text("created_by")?,
            last_used_at: r.opt_time("last_used_at")?,
            last_used_ip: r.opt_text("last_used_ip")?,
            failure_count: count(r, "failure_count")?,
            last_failure_at: r.opt_time("last_failure_at")?,
            last_failure_reason: r.opt_text("last_failure_reason")?,
        },
        user_id,
        key_hash: r.text("key_hash")?,
    })
}

/// One key by id, as of `now`.
pub fn by_id(conn: &mut dyn Conn, id: ApiKeyId, now: OffsetDateTime) -> Result<Option<KeyRow>> {
    conn.query_opt(&format!("{SELECT} WHERE k.id = $1"), &[id.into()])?
        .map(|r| key_from_row(&r, now))
        .transpose()
}

/// One key by its prefix (`kw_<8>`), as of `now`.
pub fn by_prefix(conn: &mut dyn Conn, prefix: &str, now: OffsetDateTime) -> Result<Option<KeyRow>> {
    conn.query_opt(
        &format!("{SELECT} WHERE k.key_prefix = $1"),
        &[prefix.into()],
    )?
    .map(|r| key_from_row(&r, now))
    .transpose()
}

/// Keys in id order, as of `now`: the active ones (a rotated key within its
/// grace period included), or every one with `all`.
pub fn list(conn: &mut dyn Conn, all: bool, now: OffsetDateTime) -> Result<Vec<ApiKey>> {
    let rows = if all {
        conn.query(&format!("{SELECT} ORDER BY k.id"), &[])?
    } else {
        conn.query(
            &format!(
                "{SELECT} WHERE (k.revoked_at IS NULL OR k.revoked_at > $1) \
                 AND (k.expires_at IS NULL OR k.expires_at > $1) ORDER BY k.id"
            ),
            &[now.into()],
        )?
    };
    rows.iter().map(|r| Ok(key_from_row(r, now)?.key)).collect()
}

/// A new key's row.
pub struct NewKeyRow<'a> {
    /// Its name.
    pub name: &'a str,
    /// `kw_<8>`.
    pub key_prefix: &'a str,
    /// Hex SHA-256 of the whole key.
    pub key_hash: &'a str,
    /// Its owner.
    pub user: Option<UserId>,
    /// Sorted `resource:action` pairs.
    pub permissions: &'a [String],
    /// Sorted, normalised networks.
    pub allowed_ips: &'a [String],
    /// Per minute.
    pub rate_limit_per_minute: Option<u32>,
    /// When it stops working.
    pub expires_at: Option<OffsetDateTime>,
    /// The key it replaces (`rotate`).
    pub rotated_from: Option<ApiKeyId>,
    /// Now.
    pub created_at: OffsetDateTime,
    /// The actor.
    pub created_by: &'a str,
}

/// Inserts a key; returns its id. A prefix already taken is a conflict
/// (exit 4; 8 random characters make it a one-in-10^14 event per key).
pub fn insert(conn: &mut dyn Conn, k: &NewKeyRow<'_>) -> Result<ApiKeyId> {
    let row = conn.query_one(
        "INSERT INTO api_keys (name, key_prefix, key_hash, user_id, permissions, allowed_ips, \
         rate_limit_per_minute, expires_at, rotated_from, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        &[
            k.name.into(),
            k.key_prefix.into(),
            k.key_hash.into(),
            k.user.into(),
            store::string_list_text(k.permissions).into(),
            store::string_list_text(k.allowed_ips).into(),
            k.rate_limit_per_minute.into(),
            k.expires_at.into(),
            k.rotated_from.into(),
            k.created_at.into(),
            k.created_by.into(),
        ],
    )?;
    Ok(ApiKeyId(row.int("id")?))
}

/// Sets when a key ends and why (`revoke`, `rotate` with its grace end,
/// `scan --revoke`). Returns whether a row changed.
pub fn set_revoked(
    conn: &mut dyn Conn,
    id: ApiKeyId,
    at: OffsetDateTime,
    reason: RevokeReason,
) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at = $1, revoked_reason = $2 WHERE id = $3",
        &[at.into(), reason.as_str().into(), id.into()],
    )? == 1)
}

/// Records a successful verification at `now` from `ip`, counting it in the
/// rate window `window` (the minute `now` falls in): one atomic UPDATE that
/// starts a new window, or adds one to the current window's count while it
/// is under the key's limit. Returns false, changing nothing, when the
/// limit is used up (rate limited). Concurrent verifications serialise on
/// the row (PostgreSQL re-checks the condition on the row it waited for;
/// SQLite's writers take turns), so no more than the limit succeed.
///
/// The window never moves back: a host whose clock is behind the one that
/// started the stored window counts against that window instead of
/// starting its own (two hosts a few seconds apart would otherwise reset
/// each other's count). A stored window more than a minute ahead of `now`
/// (a clock far off, or a row edited by hand) is replaced.
pub fn record_use(
    conn: &mut dyn Conn,
    id: ApiKeyId,
    (now, window): (OffsetDateTime, OffsetDateTime),
    ip: Option<&str>,
) -> Result<bool> {
    let fresh = "(rate_window_start IS NULL OR rate_window_start < $1 OR rate_window_start > $5)";
    Ok(conn.execute(
        &format!(
            "UPDATE api_keys SET \
             rate_window_count = CASE WHEN {fresh} THEN 1 ELSE rate_window_count + 1 END, \
             rate_window_start = CASE WHEN {fresh} THEN $1 ELSE rate_window_start END, \
             last_used_at = $2, last_used_ip = $3 \
             WHERE id = $4 AND (rate_limit_per_minute IS NULL OR {fresh} \
             OR rate_window_count < rate_limit_per_minute)"
        ),
        &[
            window.into(),
            now.into(),
            ip.into(),
            id.into(),
            (window + time::Duration::MINUTE).into(),
        ],
    )? == 1)
}

/// Counts a refused verification of a key (found by its prefix).
pub fn record_failure(
    conn: &mut dyn Conn,
    id: ApiKeyId,
    now: OffsetDateTime,
    reason: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE api_keys SET failure_count = failure_count + 1, last_failure_at = $1, \
         last_failure_reason = $2 WHERE id = $3",
        &[now.into(), reason.into(), id.into()],
    )?;
    Ok(())
}

/// The permissions that exist (`resource:action`), to check `--permission`.
pub fn known_permissions(conn: &mut dyn Conn) -> Result<Vec<String>> {
    conn.query(
        "SELECT resource, action FROM permissions ORDER BY resource, action",
        &[],
    )?
    .iter()
    .map(|r| Ok(format!("{}:{}", r.text("resource")?, r.text("action")?)))
    .collect()
}

/// How many keys (in any state) belong to `user`: those that go with the
/// user when it is deleted (`ON DELETE CASCADE`).
pub fn count_of_user(conn: &mut dyn Conn, user: UserId) -> Result<u64> {
    count(
        &conn.query_one(
            "SELECT COUNT(*) AS n FROM api_keys WHERE user_id = $1",
            &[user.into()],
        )?,
        "n",
    )
}
