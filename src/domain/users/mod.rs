//! Users: the account types and rules (username, email, password policy,
//! the lockout decision), and the audited changes an administrator makes.
//! Every change records its audit event in the same transaction, stamped
//! with the operation's actor and instant; no event ever holds a password,
//! hash or TOTP secret. A new password, an operator's lock, disabling and
//! deleting end the user's sessions in that transaction, and their event
//! counts them (`sessions_revoked`).
//!
//! `login.rs` records login checks (failure counting, lockout, rehash),
//! `access.rs` answers `users can`,
//! `totp.rs` holds the TOTP rules and flows, `repo.rs` the SQL.

mod access;
pub mod login;
pub mod repo;
pub mod totp;

pub use access::{can, refusal, Permission};

pub use login::{
    after_failure, lock_words, record_login, record_unknown_login, AfterFailure, Attempt,
    LockReason, Lockout, LoginCheck, LoginReason,
};

use crate::domain::audit::{self, Event, Stamp};
use crate::domain::roles;
use crate::domain::sessions::{repo as sessions_repo, revoke::revoke_user_sessions, RevokeReason};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::store::Conn;
use serde::Serialize;
use time::OffsetDateTime;

/// `users lock` without a duration: until `users unlock`.
pub fn indefinitely() -> OffsetDateTime {
    time::macros::datetime!(9999-12-31 23:59:59 UTC)
}

/// The lock in force at `now`, from a stored `locked_until` (a lock that has run out is none).
pub fn locked_at(stored: Option<OffsetDateTime>, now: OffsetDateTime) -> Option<OffsetDateTime> {
    stored.filter(|t| *t > now)
}

/// A user as shown: never a hash or a secret.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Row id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Lowercased email.
    pub email: String,
    /// Whether the account may log in at all.
    pub is_active: bool,
    /// Whether it is locked now.
    pub locked: bool,
    /// Until when it is locked.
    #[serde(with = "crate::output::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// Who or what locked it, when locked now (`operator`, `failed_attempts`).
    pub lock_reason: Option<LockReason>,
    /// Consecutive failed logins.
    pub failed_login_attempts: i64,
    /// Last successful login.
    #[serde(with = "crate::output::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    /// Last password change.
    #[serde(with = "crate::output::rfc3339::option")]
    pub password_changed_at: Option<OffsetDateTime>,
    /// Whether TOTP is active.
    pub totp_enabled: bool,
    /// Whether a TOTP enrolment awaits its first code.
    pub totp_pending: bool,
    /// Role names.
    pub roles: Vec<String>,
    /// Created.
    #[serde(with = "crate::output::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "crate::output::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Checks a username against `^[a-z0-9][a-z0-9_.-]{2,31}$` (see [`crate::ident`]).
pub fn validate_username(name: &str) -> Result<()> {
    crate::ident::username(name)
}

/// Validates an email address and returns it lowercased.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let bad = || {
        Error::invalid(format!(
            "invalid email address {}: expected name@domain.tld",
            crate::ident::shown(&email)
        ))
    };
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if local_ok && domain_ok && email.len() <= 254 {
        Ok(email)
    } else {
        Err(bad())
    }
}

/// Applies the password policy; returns whether a weak password was let through by `allow_weak`.
pub fn check_password_policy(
    password: &str,
    username: &str,
    email: &str,
    allow_weak: bool,
) -> Result<bool> {
    let problem = if password.chars().count() < 12 {
        Some("it is shorter than 12 characters".to_owned())
    } else if password.to_lowercase().contains(&username.to_lowercase()) {
        Some("it contains the username".to_owned())
    } else {
        let local = email.split('@').next().unwrap_or_default();
        let estimate = zxcvbn::zxcvbn(password, &[username, email, local]);
        let score = u8::from(estimate.score());
        (score < 3).then(|| {
            let hint = estimate
                .feedback()
                .and_then(|f| {
                    f.warning()
                        .map(|w| w.to_string())
                        .or_else(|| f.suggestions().first().map(|s| s.to_string()))
                })
                .unwrap_or_else(|| "it is too easy to guess".into());
            format!("it is too weak (strength {score} of 4, at least 3 needed): {hint}")
        })
    };
    match problem {
        None => Ok(false),
        Some(_) if allow_weak => Ok(true),
        Some(why) => Err(Error::invalid(format!(
            "password refused: {}. Choose a longer passphrase, or pass --allow-weak to accept it anyway",
            why.trim_end().trim_end_matches('.')
        ))),
    }
}

fn not_found(username: &str) -> Error {
    Error::not_found(format!("user '{username}' not found"))
}

/// The id of a user (exit 2 for a malformed name, 3 when absent).
pub fn user_id(conn: &mut dyn Conn, username: &str) -> Result<UserId> {
    validate_username(username)?;
    repo::id_of(conn, username)?.ok_or_else(|| not_found(username))
}

/// One user by name with roles, as of `now` (exit 2 for a malformed name, 3 when absent).
pub fn get(conn: &mut dyn Conn, username: &str, now: OffsetDateTime) -> Result<User> {
    validate_username(username)?;
    let mut user = repo::find(conn, username, now)?.ok_or_else(|| not_found(username))?;
    user.roles = repo::roles_of(conn, user.id)?;
    Ok(user)
}

/// Which users `list` shows.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Only members of this role (which must exist).
    pub role: Option<String>,
    /// Only users locked now.
    pub locked_only: bool,
}

/// Users matching the filter, by username, as of `now`.
pub fn list(conn: &mut dyn Conn, filter: &ListFilter, now: OffsetDateTime) -> Result<Vec<User>> {
    if let Some(r) = &filter.role {
        roles::role_id(conn, r)?;
    }
    let mut users = repo::all(conn, now)?;
    for (id, name) in repo::memberships(conn)? {
        if let Some(u) = users.iter_mut().find(|u| u.id == id) {
            u.roles.push(name);
        }
    }
    users.retain(|u| {
        (!filter.locked_only || u.locked)
            && filter
                .role
                .as_ref()
                .is_none_or(|r| u.roles.iter().any(|x| x == r))
    });
    Ok(users)
}

/// A user to create; the password is already hashed.
pub struct NewUser<'a> {
    /// Validated username.
    pub username: &'a str,
    /// Normalised email.
    pub email: &'a str,
    /// Roles to assign (must exist).
    pub roles: &'a [String],
    /// PHC hash.
    pub password_hash: &'a str,
    /// Whether the policy was overridden.
    pub weak_password_allowed: bool,
}

/// Refuses a username that is taken (exit 4).
pub fn ensure_username_free(conn: &mut dyn Conn, username: &str) -> Result<()> {
    match repo::id_of(conn, username)? {
        Some(_) => Err(Error::conflict(format!("user '{username}' already exists"))),
        None => Ok(()),
    }
}

fn ensure_email_free(conn: &mut dyn Conn, email: &str, except: Option<UserId>) -> Result<()> {
    match repo::email_owner(conn, email)? {
        Some((id, owner)) if Some(id) != except => Err(Error::conflict(format!(
            "email {email} is already used by user '{owner}'"
        ))),
        _ => Ok(()),
    }
}

#[derive(Serialize)]
struct Created<'a> {
    email: &'a str,
    roles: Vec<String>,
    weak_password_allowed: bool,
}

/// Creates a user with roles.
pub fn add(conn: &mut dyn Conn, stamp: Stamp<'_>, new: &NewUser<'_>) -> Result<User> {
    ensure_username_free(conn, new.username)?;
    ensure_email_free(conn, new.email, None)?;
    let role_ids = new
        .roles
        .iter()
        .map(|r| roles::role_id(conn, r))
        .collect::<Result<Vec<_>>>()?;
    let id = repo::insert(conn, new, stamp.at)?;
    for rid in role_ids {
        repo::add_role(conn, id, rid, stamp.at)?;
    }
    let mut roles = new.roles.to_vec();
    roles.sort();
    roles.dedup();
    audit::record(
        conn,
        stamp,
        Event::new("user.create", "user", new.username).details_of(&Created {
            email: new.email,
            roles,
            weak_password_allowed: new.weak_password_allowed,
        }),
    )?;
    get(conn, new.username, stamp.at)
}

/// Changes to a user's profile (`None`: unchanged).
#[derive(Debug, Default, Clone, Copy)]
pub struct Changes<'a> {
    /// A normalised email.
    pub email: Option<&'a str>,
    /// The active flag.
    pub active: Option<bool>,
}

#[derive(Serialize)]
struct Change<T> {
    from: T,
    to: T,
}

#[derive(Serialize)]
struct Updated<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Change<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_active: Option<Change<bool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions_revoked: Option<usize>,
}

/// A user as a change left it, and how many of their sessions it ended.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The user after the change.
    pub user: User,
    /// Sessions still usable before the change that it ended.
    pub sessions_revoked: usize,
}

/// Changes email and/or the active flag (disabling ends the user's
/// sessions); audited only when something changed.
pub fn update(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    username: &str,
    changes: Changes<'_>,
) -> Result<Changed> {
    let before = get(conn, username, stamp.at)?;
    let mut updated = Updated {
        email: None,
        is_active: None,
        sessions_revoked: None,
    };
    if let Some(e) = changes.email.filter(|e| *e != before.email) {
        ensure_email_free(conn, e, Some(before.id))?;
        repo::set_email(conn, before.id, e, stamp.at)?;
        updated.email = Some(Change {
            from: &before.email,
            to: e,
        });
    }
    if let Some(a) = changes.active.filter(|a| *a != before.is_active) {
        repo::set_active(conn, before.id, a, stamp.at)?;
        updated.is_active = Some(Change {
            from: before.is_active,
            to: a,
        });
        if !a {
            let ended = revoke_user_sessions(conn, stamp, before.id, RevokeReason::UserDisabled)?;
            updated.sessions_revoked = Some(ended.len());
        }
    }
    if updated.email.is_some() || updated.is_active.is_some() {
        audit::record(
            conn,
            stamp,
            Event::new("user.update", "user", username).details_of(&updated),
        )?;
    }
    Ok(Changed {
        user: get(conn, username, stamp.at)?,
        sessions_revoked: updated.sessions_revoked.unwrap_or(0),
    })
}

#[derive(Serialize)]
struct PasswordChanged {
    weak_password_allowed: bool,
    sessions_revoked: usize,
}

/// Replaces the password hash and ends the user's sessions; returns how many it ended.
pub fn set_password(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    username: &str,
    hash: &str,
    weak_allowed: bool,
) -> Result<usize> {
    let id = user_id(conn, username)?;
    repo::set_password(conn, id, hash, stamp.at)?;
    let ended = revoke_user_sessions(conn, stamp, id, RevokeReason::PasswordChanged)?.len();
    audit::record(
        conn,
        stamp,
        Event::new("user.password_change", "user", username).details_of(&PasswordChanged {
            weak_password_allowed: weak_allowed,
            sessions_revoked: ended,
        }),
    )?;
    Ok(ended)
}

#[derive(Serialize)]
struct LockedUntil {
    until: String,
    sessions_revoked: usize,
}

/// Locks until `until` (see [`indefinitely`]) and ends the user's sessions
/// (an operator's lock; the lockout after failed passwords is
/// [`login::after_failure`]'s and ends none).
pub fn lock(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    username: &str,
    until: OffsetDateTime,
) -> Result<Changed> {
    let id = user_id(conn, username)?;
    repo::set_lock(conn, id, until, stamp.at)?;
    let ended = revoke_user_sessions(conn, stamp, id, RevokeReason::UserLocked)?.len();
    let until = if until == indefinitely() {
        "unlock".to_owned()
    } else {
        crate::time::rfc3339(until)
    };
    audit::record(
        conn,
        stamp,
        Event::new("user.lock", "user", username).details_of(&LockedUntil {
            until,
            sessions_revoked: ended,
        }),
    )?;
    Ok(Changed {
        user: get(conn, username, stamp.at)?,
        sessions_revoked: ended,
    })
}

/// Unlocks and clears the failure count.
pub fn unlock(conn: &mut dyn Conn, stamp: Stamp<'_>, username: &str) -> Result<User> {
    let id = user_id(conn, username)?;
    repo::unlock(conn, id, stamp.at)?;
    audit::record(conn, stamp, Event::new("user.unlock", "user", username))?;
    get(conn, username, stamp.at)
}

#[derive(Serialize)]
struct Deleted<'a> {
    email: &'a str,
    roles: &'a [String],
    sessions_revoked: usize,
    api_keys_deleted: u64,
}

/// Deletes a user; sessions, role assignments and API keys go with it.
/// Returns it as it was, with how many of its sessions were still usable.
pub fn delete(conn: &mut dyn Conn, stamp: Stamp<'_>, username: &str) -> Result<Changed> {
    let user = get(conn, username, stamp.at)?;
    let ended = sessions_repo::active_ids(conn, user.id, stamp.at)?.len();
    let keys = crate::domain::apikeys::repo::count_of_user(conn, user.id)?;
    repo::delete(conn, user.id)?;
    audit::record(
        conn,
        stamp,
        Event::new("user.delete", "user", username).details_of(&Deleted {
            email: &user.email,
            roles: &user.roles,
            sessions_revoked: ended,
            api_keys_deleted: keys,
        }),
    )?;
    Ok(Changed {
        user,
        sessions_revoked: ended,
    })
}

/// The user's effective permissions as `(resource:action, role)`, sorted.
pub fn permissions_of(conn: &mut dyn Conn, user: UserId) -> Result<Vec<(String, String)>> {
    repo::permissions_of(conn, user)
}

/// Whether an account's tokens work at `now` (a session's refresh, an API
/// key's verification): it exists, is active, and is not locked by an
/// operator. A lockout after failed passwords does not stop them: that would
/// let anyone who knows a username cut its owner's sessions and keys off.
pub fn works_for_tokens(conn: &mut dyn Conn, user: UserId, now: OffsetDateTime) -> Result<bool> {
    let Some(row) = repo::login_by_id(conn, user)? else {
        return Ok(false);
    };
    let operator_lock = locked_at(row.locked_until, now).is_some()
        && row.lock_reason != Some(LockReason::FailedAttempts);
    Ok(row.is_active && !operator_lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "a.b-c_d", "007", "abc"] {
            validate_username(ok).unwrap();
        }
        for bad in ["ab", "Alice", "_x1", "a b", "x".repeat(33).as_str(), "élan"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            normalize_email("Alice@Example.COM").unwrap(),
            "alice@example.com"
        );
        for bad in [
            "alice",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@x.com",
            "a@x.c0m",
            "a..b@x.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(!check_password_policy(
            "correct horse battery staple 9",
            "alice",
            "alice@example.com",
            false
        )
        .unwrap());
        for weak in ["short", "password1234", "alicealice12345"] {
            assert_eq!(
                check_password_policy(weak, "alice", "alice@example.com", false)
                    .unwrap_err()
                    .exit_code(),
                2,
                "{weak}"
            );
            assert!(check_password_policy(weak, "alice", "alice@example.com", true).unwrap());
            let msg = check_password_policy(weak, "alice", "alice@example.com", false)
                .unwrap_err()
                .to_string();
            assert!(!msg.contains(".."), "one period before `Choose`: {msg}");
        }
    }
}
