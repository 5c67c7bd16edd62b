//! Sessions: a login's row, its access tokens (EdDSA JWTs signed with the
//! keys of [`signing`]) and its family of rotating refresh tokens.
//!
//! A session's refresh tokens share their first 12 characters, the family
//! id (`refresh_jti`: the hour the session began, then 8 random characters);
//! only the newest one's hash is stored
//! (`refresh_hash`). Presenting a token of the family that is not the newest
//! one is presenting a spent token: the session is revoked
//! (`refresh_reuse`). Nothing here prints or reads the clock; times come in
//! through the caller's [`Stamp`](crate::domain::audit::Stamp).

pub mod prune;
pub mod repo;
pub mod revoke;
pub mod signing;
pub mod tokens;

use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};
use serde::Serialize;
use time::OffsetDateTime;

/// The length of a refresh family id (the random characters after `kwr_`
/// shared by every refresh token of one session).
pub const FAMILY_LEN: usize = 12;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Usable: not revoked, and its refresh token (or access token) has not expired.
    Active,
    /// Past its refresh expiry (or access expiry when it has no refresh token).
    Expired,
    /// Revoked (see `revoked_reason`).
    Revoked,
}

/// A session as `list` and `show` report it: never a token or a hash.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// The session's id (the `sid` claim).
    pub id: SessionId,
    /// The user's id.
    #[serde(skip)]
    pub user_id: UserId,
    /// Whose session.
    pub username: String,
    /// `active`, `expired` or `revoked`.
    pub status: Status,
    /// The device given at login.
    pub device: Option<String>,
    /// The address given at login.
    pub ip_address: Option<String>,
    /// When it was created (the login).
    #[serde(with = "crate::output::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the newest access token expires.
    #[serde(with = "crate::output::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When the refresh token expires (the session's end).
    #[serde(with = "crate::output::rfc3339::option")]
    pub refresh_expires_at: Option<OffsetDateTime>,
    /// When it was last refreshed.
    #[serde(with = "crate::output::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// How many times it was refreshed.
    pub refresh_count: i64,
    /// When it was revoked.
    #[serde(with = "crate::output::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Why: `revoked` (by an operator), `refresh_reuse`, `password_changed`,
    /// `user_locked`, `user_disabled`, `revoke_all`, `leaked`.
    pub revoked_reason: Option<String>,
}

impl crate::output::TableRow for Session {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "username",
        "status",
        "device",
        "ip_address",
        "created_at",
        "refresh_expires_at",
    ];
}

/// When a session stops being usable: its refresh expiry, or its access
/// expiry when it has none.
pub fn ends_at(
    expires_at: OffsetDateTime,
    refresh_expires_at: Option<OffsetDateTime>,
) -> OffsetDateTime {
    refresh_expires_at.unwrap_or(expires_at)
}

/// A session's status at `now`.
pub fn status(
    revoked_at: Option<OffsetDateTime>,
    ends: OffsetDateTime,
    now: OffsetDateTime,
) -> Status {
    if revoked_at.is_some() {
        Status::Revoked
    } else if ends <= now {
        Status::Expired
    } else {
        Status::Active
    }
}

/// The longest `--device` label.
pub const MAX_DEVICE: usize = 200;

/// Checks a `--device` label: 1 to 200 characters, no control characters.
pub fn check_device(device: &str) -> Result<()> {
    if device.is_empty()
        || device.chars().count() > MAX_DEVICE
        || device.chars().any(char::is_control)
    {
        return Err(Error::invalid(format!(
            "--device {} must be 1 to {MAX_DEVICE} characters with no control characters",
            crate::ident::shown(device)
        )));
    }
    Ok(())
}

/// Checks an `--ip` address (IPv4 or IPv6) and returns its canonical form.
pub fn check_ip(ip: &str) -> Result<String> {
    ip.trim()
        .parse::<std::net::IpAddr>()
        .map(|a| a.to_string())
        .map_err(|_| {
            Error::invalid(format!(
                "--ip {} is not an IPv4 or IPv6 address (e.g. 203.0.113.7 or 2001:db8::1)",
                crate::ident::shown(ip)
            ))
        })
}

/// Why a session was revoked (`revoked_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// `sessions revoke ID`.
    Revoked,
    /// `sessions revoke-all USER`.
    RevokeAll,
    /// A spent refresh token was presented again.
    RefreshReuse,
    /// `users passwd`.
    PasswordChanged,
    /// `users lock` (an operator's lock; the lockout after failed passwords ends no session).
    UserLocked,
    /// `users update --active false`.
    UserDisabled,
    /// `apikeys scan --revoke`: its refresh token was found in a file or a stream.
    Leaked,
}

impl RevokeReason {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Revoked => "revoked",
            RevokeReason::RevokeAll => "revoke_all",
            RevokeReason::RefreshReuse => "refresh_reuse",
            RevokeReason::PasswordChanged => "password_changed",
            RevokeReason::UserLocked => "user_locked",
            RevokeReason::UserDisabled => "user_disabled",
            RevokeReason::Leaked => "leaked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_revocation_then_expiry() {
        let t = crate::time::parse_stored("2030-01-01T00:00:00Z").unwrap();
        let later = t + time::Duration::hours(1);
        assert_eq!(status(None, later, t), Status::Active);
        assert_eq!(status(None, t, t), Status::Expired);
        assert_eq!(status(Some(t), later, t), Status::Revoked);
        assert_eq!(ends_at(t, Some(later)), later);
        assert_eq!(ends_at(t, None), t);
        for r in [
            RevokeReason::Revoked,
            RevokeReason::RevokeAll,
            RevokeReason::RefreshReuse,
            RevokeReason::PasswordChanged,
            RevokeReason::UserLocked,
            RevokeReason::UserDisabled,
            RevokeReason::Leaked,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
