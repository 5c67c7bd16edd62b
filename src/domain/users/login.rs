//! The login check's rules and its record: the decision on the row read in
//! the write transaction, failure counting and lockout (a pure function of
//! the row, the instant and the policy), the rehash, and the audit events.

use super::{locked_at, repo};
use crate::config::AuthConfig;
use crate::domain::audit::{self, Event, Stamp};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::store::Conn;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// Why a login check came out as it did (`reason` in its JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginReason {
    /// The password is right and the account may log in.
    Ok,
    /// The password is wrong, or the user does not exist (not told apart).
    WrongPassword,
    /// The account is locked (by an administrator or after failures).
    Locked,
    /// The account is disabled.
    Disabled,
}

/// Who or what locked an account (`lock_reason` in JSON and in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    /// `keyward users lock`, by an operator.
    Operator,
    /// The lockout policy, after too many failed passwords or TOTP codes.
    FailedAttempts,
}

impl LockReason {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            LockReason::Operator => "operator",
            LockReason::FailedAttempts => "failed_attempts",
        }
    }

    /// From the stored form; `None` for a lock set before keyward recorded why.
    pub fn from_stored(s: Option<&str>) -> Option<Self> {
        match s {
            Some("operator") => Some(LockReason::Operator),
            Some("failed_attempts") => Some(LockReason::FailedAttempts),
            _ => None,
        }
    }
}

/// How a lock is told: "locked until … by an operator", "locked until …
/// after too many failed attempts" ("until `keyward users unlock`" for an
/// operator's lock without end).
pub fn lock_words(reason: Option<LockReason>, until: Option<OffsetDateTime>) -> String {
    let by = match reason {
        Some(LockReason::Operator) => " by an operator",
        Some(LockReason::FailedAttempts) => " after too many failed attempts",
        None => "",
    };
    let until = match until {
        Some(t) if t == super::indefinitely() => "until `keyward users unlock`".to_owned(),
        Some(t) => format!("until {}", crate::time::rfc3339(t)),
        None => String::new(),
    };
    let until = if until.is_empty() {
        String::new()
    } else {
        format!(" {until}")
    };
    format!("locked{until}{by}")
}

/// The result of a login check.
#[derive(Debug, Clone, Serialize)]
pub struct LoginCheck {
    /// The username checked.
    pub username: String,
    /// Whether the login is allowed.
    pub valid: bool,
    /// `ok`, `wrong_password`, `locked`, `disabled`.
    pub reason: LoginReason,
    /// Failed attempts now counted.
    pub failed_login_attempts: i64,
    /// Locked until, when locked.
    #[serde(with = "crate::output::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// Who or what locked it, when locked (`operator`, `failed_attempts`).
    pub lock_reason: Option<LockReason>,
    /// Whether the stored hash was upgraded to the configured iterations.
    pub rehashed: bool,
}

/// The lockout policy: how many failures lock an account, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    /// Consecutive failures that lock the account.
    pub max_failures: u32,
    /// How long the lock lasts.
    pub duration: Duration,
}

impl From<&AuthConfig> for Lockout {
    fn from(auth: &AuthConfig) -> Self {
        Lockout {
            max_failures: auth.max_failed_logins,
            duration: auth.lockout_duration,
        }
    }
}

/// The failure count after one more failure, and the lock it sets, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterFailure {
    /// Consecutive failures now counted.
    pub failures: i64,
    /// The lock set by this failure.
    pub lock_until: Option<OffsetDateTime>,
}

/// One more failure for an account that had `failures` and the stored lock
/// `locked_until`, at `now`: a lock that has run out starts a fresh count;
/// reaching the maximum locks for the policy's duration.
pub fn after_failure(
    failures: i64,
    locked_until: Option<OffsetDateTime>,
    now: OffsetDateTime,
    policy: Lockout,
) -> Result<AfterFailure> {
    let failures = if locked_until.is_some_and(|t| t <= now) {
        1
    } else {
        failures + 1
    };
    let lock_until = if failures >= i64::from(policy.max_failures) {
        Some(crate::time::add(now, policy.duration)?)
    } else {
        None
    };
    Ok(AfterFailure {
        failures,
        lock_until,
    })
}

/// What a login attempt comes to on the current row, before counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refused whatever the password: disabled or locked.
    Deny(LoginReason),
    /// The password is right.
    Accept,
    /// The password is wrong: count a failure.
    Fail,
}

/// Decides on the row read in the write transaction: a disabled account,
/// then a lock in force, then the password (right only if still the one checked).
pub fn decide(row: &repo::LoginRow, now: OffsetDateTime, password_ok: bool) -> Decision {
    if !row.is_active {
        Decision::Deny(LoginReason::Disabled)
    } else if locked_at(row.locked_until, now).is_some() {
        Decision::Deny(LoginReason::Locked)
    } else if password_ok {
        Decision::Accept
    } else {
        Decision::Fail
    }
}

/// What kind of failure is counted (its audit action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A wrong password: `user.login_failed`.
    Password,
    /// A wrong or replayed TOTP code: `user.totp_failed`.
    TotpCode,
}

impl FailureKind {
    fn action(self) -> &'static str {
        match self {
            FailureKind::Password => "user.login_failed",
            FailureKind::TotpCode => "user.totp_failed",
        }
    }
}

/// A failure to count against a user.
pub struct Failure<'a> {
    /// The user's id.
    pub user: UserId,
    /// The user's name (the audit target).
    pub username: &'a str,
    /// The stored count.
    pub failures: i64,
    /// The stored lock, current or run out.
    pub locked_until: Option<OffsetDateTime>,
    /// What failed.
    pub kind: FailureKind,
}

#[derive(Serialize)]
struct Counted {
    failed_login_attempts: i64,
}

#[derive(Serialize)]
struct AutoLock {
    until: String,
    after_failed_attempts: i64,
}

/// Counts one failed login or code, locking at the policy's maximum.
pub fn count_failure(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    failure: &Failure<'_>,
    policy: Lockout,
) -> Result<AfterFailure> {
    let after = after_failure(failure.failures, failure.locked_until, stamp.at, policy)?;
    audit::record(
        conn,
        stamp,
        Event::new(failure.kind.action(), "user", failure.username).details_of(&Counted {
            failed_login_attempts: after.failures,
        }),
    )?;
    repo::set_failures(conn, failure.user, after.failures, after.lock_until)?;
    // (set_failures records the policy as the lock's reason when it locks.)
    if let Some(until) = after.lock_until {
        audit::record(
            conn,
            stamp,
            Event::new("user.lock", "user", failure.username).details_of(&AutoLock {
                until: crate::time::rfc3339(until),
                after_failed_attempts: after.failures,
            }),
        )?;
    }
    Ok(after)
}

/// The reason recorded for a check of a user that does not exist.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum UnknownReason {
    UnknownUser,
    InvalidUsername,
}

#[derive(Serialize)]
struct Because<R> {
    reason: R,
}

#[derive(Serialize)]
struct Invalid {
    reason: UnknownReason,
    length: usize,
}

/// Records a check for a user that does not exist, with the same work as a real one;
/// the answer has the same shape as a wrong password's. A username that is
/// not well-formed (no account can have it) is recorded, and answered, only
/// in the bounded, escaped form of [`crate::ident::shown`] (its quotes tell
/// it from a real username), with its length.
pub fn record_unknown_login(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    username: &str,
) -> Result<LoginCheck> {
    let (target, event) = if crate::ident::is_username(username) {
        let e = Event::new("user.login_failed", "user", username);
        (
            username.to_owned(),
            e.details_of(&Because {
                reason: UnknownReason::UnknownUser,
            }),
        )
    } else {
        let shown = crate::ident::shown(username);
        let e = Event::new("user.login_failed", "user", shown.clone());
        (
            shown,
            e.details_of(&Invalid {
                reason: UnknownReason::InvalidUsername,
                length: username.len(),
            }),
        )
    };
    audit::record(conn, stamp, event)?;
    Ok(LoginCheck {
        username: target,
        valid: false,
        reason: LoginReason::WrongPassword,
        failed_login_attempts: 0,
        locked_until: None,
        lock_reason: None,
        rehashed: false,
    })
}

/// A password check made outside the lock, to record.
pub struct Attempt<'a> {
    /// The user's name.
    pub username: &'a str,
    /// The user's id, as read before the check.
    pub user: UserId,
    /// The hash the verdict was reached against.
    pub checked_hash: &'a str,
    /// Whether the password matched `checked_hash`.
    pub password_ok: bool,
    /// The upgraded hash to store when the old one was weaker than configured.
    pub rehash: Option<&'a str>,
}

#[derive(Serialize)]
struct LoggedIn {
    rehashed: bool,
}

/// Records the outcome of a password check (write transaction). The row is
/// read again here, so a password changed or an account disabled or locked
/// since the check wins.
pub fn record_login(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    attempt: &Attempt<'_>,
    policy: Lockout,
) -> Result<LoginCheck> {
    let username = attempt.username;
    let current = repo::login_by_id(conn, attempt.user)?
        .ok_or_else(|| Error::not_found(format!("user '{username}' not found")))?;
    // A password changed since the check was made: the verdict no longer holds.
    let password_ok = attempt.password_ok && current.password_hash == attempt.checked_hash;
    let mut check = LoginCheck {
        username: username.to_owned(),
        valid: false,
        reason: LoginReason::WrongPassword,
        failed_login_attempts: current.failed_login_attempts,
        locked_until: locked_at(current.locked_until, stamp.at),
        lock_reason: None,
        rehashed: false,
    };
    match decide(&current, stamp.at, password_ok) {
        Decision::Deny(reason) => {
            check.reason = reason;
            if check.locked_until.is_some() {
                check.lock_reason = current.lock_reason;
            }
            audit::record(
                conn,
                stamp,
                Event::new("user.login_denied", "user", username).details_of(&Because { reason }),
            )?;
        }
        Decision::Accept => {
            // Store the upgraded hash only if nobody changed the password meanwhile.
            if let Some(new_hash) = attempt.rehash {
                check.rehashed = repo::rehash(conn, current.id, new_hash, attempt.checked_hash)?;
            }
            repo::logged_in(conn, current.id, stamp.at)?;
            check.valid = true;
            check.reason = LoginReason::Ok;
            check.failed_login_attempts = 0;
            audit::record(
                conn,
                stamp,
                Event::new("user.login", "user", username).details_of(&LoggedIn {
                    rehashed: check.rehashed,
                }),
            )?;
        }
        Decision::Fail => {
            let failure = Failure {
                user: current.id,
                username,
                failures: current.failed_login_attempts,
                locked_until: current.locked_until,
                kind: FailureKind::Password,
            };
            let after = count_failure(conn, stamp, &failure, policy)?;
            check.failed_login_attempts = after.failures;
            if after.lock_until.is_some() {
                check.locked_until = after.lock_until;
                check.lock_reason = Some(LockReason::FailedAttempts);
                check.reason = LoginReason::Locked;
            }
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        crate::time::parse_stored(s).unwrap()
    }

    const POLICY: Lockout = Lockout {
        max_failures: 5,
        duration: Duration::minutes(15),
    };

    #[test]
    fn the_fifth_failure_locks_for_the_policy_duration() {
        let now = at("2030-01-01T00:00:00Z");
        let fourth = after_failure(3, None, now, POLICY).unwrap();
        assert_eq!(fourth.failures, 4);
        assert_eq!(fourth.lock_until, None);
        let fifth = after_failure(4, None, now, POLICY).unwrap();
        assert_eq!(fifth.failures, 5);
        assert_eq!(fifth.lock_until, Some(at("2030-01-01T00:15:00Z")));
    }

    #[test]
    fn a_lock_that_ran_out_starts_a_fresh_count() {
        let now = at("2030-01-01T00:16:00Z");
        let after = after_failure(5, Some(at("2030-01-01T00:15:00Z")), now, POLICY).unwrap();
        assert_eq!(
            after,
            AfterFailure {
                failures: 1,
                lock_until: None
            }
        );
    }

    #[test]
    fn disabled_then_locked_then_password() {
        let now = at("2030-01-01T00:00:00Z");
        let mut row = repo::LoginRow {
            id: UserId(1),
            password_hash: String::new(),
            is_active: false,
            locked_until: Some(at("2030-01-01T00:15:00Z")),
            lock_reason: Some(LockReason::FailedAttempts),
            failed_login_attempts: 5,
        };
        assert_eq!(
            decide(&row, now, true),
            Decision::Deny(LoginReason::Disabled)
        );
        row.is_active = true;
        assert_eq!(decide(&row, now, true), Decision::Deny(LoginReason::Locked));
        assert_eq!(
            decide(&row, at("2030-01-01T00:16:00Z"), true),
            Decision::Accept
        );
        row.locked_until = None;
        assert_eq!(decide(&row, now, false), Decision::Fail);
    }

    #[test]
    fn reasons_keep_their_strings() {
        for (r, s) in [
            (LoginReason::Ok, "ok"),
            (LoginReason::WrongPassword, "wrong_password"),
            (LoginReason::Locked, "locked"),
            (LoginReason::Disabled, "disabled"),
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), s);
        }
        assert_eq!(
            serde_json::to_value(Because {
                reason: UnknownReason::UnknownUser
            })
            .unwrap(),
            serde_json::json!({"reason": "unknown_user"})
        );
    }

    #[test]
    fn locks_are_told_with_their_reason() {
        let t = at("2030-01-01T00:15:00Z");
        assert_eq!(
            lock_words(Some(LockReason::Operator), Some(t)),
            "locked until 2030-01-01T00:15:00.000000Z by an operator"
        );
        assert_eq!(
            lock_words(
                Some(LockReason::Operator),
                Some(super::super::indefinitely())
            ),
            "locked until `keyward users unlock` by an operator"
        );
        assert_eq!(
            lock_words(Some(LockReason::FailedAttempts), Some(t)),
            "locked until 2030-01-01T00:15:00.000000Z after too many failed attempts"
        );
        assert_eq!(lock_words(None, None), "locked");
        for r in [LockReason::Operator, LockReason::FailedAttempts] {
            assert_eq!(LockReason::from_stored(Some(r.as_str())), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
