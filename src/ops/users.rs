//! Operations of `keyward users`: each verb as one flow over the store, the
//! clock and (for TOTP) the key ring, returning typed views. The login check
//! ([`login_check`]) is the one `sessions login` reuses.

use crate::context::Context;
use crate::crypto::password::{self, Verdict};
use crate::domain::audit::Stamp;
use crate::domain::users::{self, totp, Attempt, Changes, Lockout, LoginCheck, NewUser, User};
use crate::error::{Error, Result};
use crate::ident::{self, Ident};
use crate::output::TableRow;
use crate::store;
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

pub use crate::domain::users::totp::{TotpCheck, TotpReason};
pub use crate::domain::users::{
    lock_words, Changed, ListFilter, LockReason, LoginReason, Permission,
};

/// Checks a username at the edge, before any lookup, write or audit entry.
fn check_name(username: &str) -> Result<()> {
    ident::check(&[Ident::Username(username)])
}

impl TableRow for User {
    const COLUMNS: &'static [&'static str] = &[
        "username",
        "email",
        "roles",
        "is_active",
        "locked",
        "last_login_at",
    ];
}

use super::audited;

/// Where a new password comes from: asked only once the request is known to be
/// acceptable (a prompt, or a line of stdin).
pub type PasswordSource<'a> = &'a dyn Fn() -> Result<Zeroizing<String>>;

/// Applies the policy to a new password and hashes it; returns the hash and
/// whether a weak password was let through.
fn new_hash(
    ctx: &Context,
    pw: &str,
    (username, email): (&str, &str),
    allow_weak: bool,
) -> Result<(String, bool)> {
    let weak = users::check_password_policy(pw, username, email, allow_weak)?;
    ctx.warn_before_hashing();
    let hash = password::hash(pw.as_bytes(), ctx.config.auth.pbkdf2_iterations)?;
    Ok((hash, weak))
}

/// `users add`.
pub struct AddUser<'a> {
    /// The username (validated here).
    pub username: &'a str,
    /// The email (validated and lowercased here).
    pub email: &'a str,
    /// Roles to assign.
    pub roles: &'a [String],
    /// Accept a password that fails the policy.
    pub allow_weak: bool,
    /// The password, asked after the clash and role checks.
    pub password: PasswordSource<'a>,
}

/// A user created.
#[derive(Debug, Clone)]
pub struct Added {
    /// The new user.
    pub user: User,
    /// Whether a weak password was accepted with `--allow-weak`.
    pub weak_password_allowed: bool,
}

/// Creates a user: fails on clashes and unknown roles before asking for the password.
pub fn add(ctx: &mut Context, req: &AddUser<'_>) -> Result<Added> {
    check_name(req.username)?;
    req.roles
        .iter()
        .try_for_each(|r| ident::check(&[Ident::Role(r)]))?;
    let email = users::normalize_email(req.email)?;
    store::read(ctx.store()?, |c| {
        users::ensure_username_free(c, req.username)?;
        req.roles
            .iter()
            .try_for_each(|r| crate::domain::roles::role_id(c, r).map(drop))
    })?;
    let pw = (req.password)()?;
    let (hash, weak) = new_hash(ctx, &pw, (req.username, &email), req.allow_weak)?;
    let new = NewUser {
        username: req.username,
        email: &email,
        roles: req.roles,
        password_hash: &hash,
        weak_password_allowed: weak,
    };
    let user = audited(ctx, |c, s| users::add(c, s, &new))?;
    Ok(Added {
        user,
        weak_password_allowed: weak,
    })
}

/// Users matching the filter.
pub fn list(ctx: &mut Context, filter: &ListFilter) -> Result<Vec<User>> {
    if let Some(r) = &filter.role {
        ident::check(&[Ident::Role(r)])?;
    }
    let now = ctx.clock.now();
    store::read(ctx.store()?, |c| users::list(c, filter, now))
}

/// `users show`: the user and their effective permissions.
#[derive(Debug, Clone, Serialize)]
pub struct UserDetail {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// `resource:action` pairs granted through their roles, sorted.
    pub permissions: Vec<String>,
}

/// One user with their permissions.
pub fn show(ctx: &mut Context, username: &str) -> Result<UserDetail> {
    check_name(username)?;
    let now = ctx.clock.now();
    store::read(ctx.store()?, |c| {
        let user = users::get(c, username, now)?;
        let mut permissions: Vec<String> = users::permissions_of(c, user.id)?
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        permissions.dedup();
        Ok(UserDetail { user, permissions })
    })
}

/// `users update`.
#[derive(Debug, Clone, Default)]
pub struct UpdateUser {
    /// Who.
    pub username: String,
    /// A new email (validated and lowercased here).
    pub email: Option<String>,
    /// Enable or disable the account.
    pub active: Option<bool>,
}

/// Changes a user's email or active flag; disabling revokes their sessions
/// in the same transaction.
pub fn update(ctx: &mut Context, req: &UpdateUser) -> Result<Changed> {
    check_name(&req.username)?;
    if req.email.is_none() && req.active.is_none() {
        return Err(Error::invalid(
            "nothing to change: pass --email and/or --active true|false",
        ));
    }
    let email = req
        .email
        .as_deref()
        .map(users::normalize_email)
        .transpose()?;
    let changes = Changes {
        email: email.as_deref(),
        active: req.active,
    };
    audited(ctx, |c, s| users::update(c, s, &req.username, changes))
}

/// `users passwd`.
pub struct SetPassword<'a> {
    /// Who.
    pub username: &'a str,
    /// Accept a password that fails the policy.
    pub allow_weak: bool,
    /// The new password, asked once the user is known to exist.
    pub password: PasswordSource<'a>,
}

/// What `users passwd` reports.
#[derive(Debug, Clone, Serialize)]
pub struct PasswordChanged {
    /// Who.
    pub username: String,
    /// Always true.
    pub changed: bool,
    /// Whether a weak password was accepted with `--allow-weak`.
    pub weak_password_allowed: bool,
    /// The user's sessions it ended.
    pub sessions_revoked: usize,
}

/// Sets a new password and revokes the user's sessions, in one transaction.
pub fn passwd(ctx: &mut Context, req: &SetPassword<'_>) -> Result<PasswordChanged> {
    check_name(req.username)?;
    let now = ctx.clock.now();
    let user = store::read(ctx.store()?, |c| users::get(c, req.username, now))?;
    let pw = (req.password)()?;
    let (hash, weak) = new_hash(ctx, &pw, (req.username, &user.email), req.allow_weak)?;
    let ended = audited(ctx, |c, s| {
        users::set_password(c, s, req.username, &hash, weak)
    })?;
    Ok(PasswordChanged {
        username: req.username.to_owned(),
        changed: true,
        weak_password_allowed: weak,
        sessions_revoked: ended,
    })
}

/// `users lock`.
#[derive(Debug, Clone)]
pub struct LockUser {
    /// Who.
    pub username: String,
    /// For how long; `None`: until `users unlock`.
    pub duration: Option<Duration>,
}

/// A user locked.
#[derive(Debug, Clone)]
pub struct Locked {
    /// The user now.
    pub user: User,
    /// Until when; `None`: until `users unlock`.
    pub until: Option<OffsetDateTime>,
    /// The user's sessions it ended.
    pub sessions_revoked: usize,
}

/// Locks an account, for a while or until unlocked (a duration of zero or
/// less is refused: it would lock nothing), and revokes its sessions.
pub fn lock(ctx: &mut Context, req: &LockUser) -> Result<Locked> {
    check_name(&req.username)?;
    if req.duration.is_some_and(|d| !d.is_positive()) {
        return Err(Error::invalid(
            "--for must be longer than zero (e.g. `15m`); leave it out to lock until `keyward users unlock`",
        ));
    }
    let (changed, until) = audited(ctx, |c, s| {
        // Counted from the instant of the write, taken under the write lock.
        let until = match req.duration {
            Some(d) => crate::time::add(s.at, d)?,
            None => users::indefinitely(),
        };
        Ok((users::lock(c, s, &req.username, until)?, until))
    })?;
    Ok(Locked {
        user: changed.user,
        until: req.duration.map(|_| until),
        sessions_revoked: changed.sessions_revoked,
    })
}

/// Unlocks an account and clears its failure count.
pub fn unlock(ctx: &mut Context, username: &str) -> Result<User> {
    check_name(username)?;
    audited(ctx, |c, s| users::unlock(c, s, username))
}

/// What `users delete` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// Who.
    pub username: String,
    /// Always true.
    pub deleted: bool,
    /// Sessions still usable that went with the user.
    pub sessions_revoked: usize,
}

/// Deletes a user after confirmation (their sessions go with them).
pub fn delete(ctx: &mut Context, username: &str) -> Result<Deleted> {
    check_name(username)?;
    let now = ctx.clock.now();
    store::read(ctx.store()?, |c| users::get(c, username, now))?;
    ctx.confirm(&format!(
        "delete user '{username}' with their sessions and API keys"
    ))?;
    let changed = audited(ctx, |c, s| users::delete(c, s, username))?;
    Ok(Deleted {
        username: username.to_owned(),
        deleted: true,
        sessions_revoked: changed.sessions_revoked,
    })
}

/// A login attempt: who, and the password given.
pub struct LoginRequest<'a> {
    /// The username.
    pub username: &'a str,
    /// The password (never logged or audited).
    pub password: &'a str,
}

/// The login check (`users check-password`; `sessions login` runs the same).
///
/// The (slow) hash check runs outside any transaction; an unknown user costs
/// the same hash and a write, so timing does not tell who exists. The verdict
/// is recorded in one audited write that reads the row again: a password
/// changed, an account disabled or locked meanwhile wins. Failures count
/// towards the lockout; a right password resets it and upgrades a hash weaker
/// than configured.
///
/// A malformed username (no account can have it) is answered as an unknown
/// user is, with the same work: it is never looked up, and it is audited only
/// in a bounded, escaped form ([`crate::ident::shown`]).
pub fn login_check(ctx: &mut Context, req: &LoginRequest<'_>) -> Result<LoginCheck> {
    let policy = Lockout::from(&ctx.config.auth);
    match password_step(ctx, req)? {
        PasswordStep::Unknown => {
            audited(ctx, |c, s| users::record_unknown_login(c, s, req.username))
        }
        PasswordStep::Known(checked) => {
            let attempt = checked.attempt(req.username);
            audited(ctx, |c, s| users::record_login(c, s, &attempt, policy))
        }
    }
}

/// The password half of the login check, made outside any transaction: the
/// (slow) hash check, or the same work for a user that does not exist.
pub(crate) enum PasswordStep {
    /// No such user (or a malformed name): record with `record_unknown_login`.
    Unknown,
    /// A user's password checked: record with `record_login`.
    Known(CheckedPassword),
}

/// A password checked against a user's hash as read before the check.
pub(crate) struct CheckedPassword {
    /// Whose.
    pub user: crate::ids::UserId,
    /// The hash the verdict was reached against.
    pub checked_hash: String,
    /// Whether it matched.
    pub password_ok: bool,
    /// The upgraded hash to store when the old one was weaker than configured.
    pub rehash: Option<String>,
}

impl CheckedPassword {
    /// The attempt to record for `username`.
    pub fn attempt<'a>(&'a self, username: &'a str) -> Attempt<'a> {
        Attempt {
            username,
            user: self.user,
            checked_hash: &self.checked_hash,
            password_ok: self.password_ok,
            rehash: self.rehash.as_deref(),
        }
    }
}

/// Checks a password outside any transaction (see [`login_check`]).
pub(crate) fn password_step(ctx: &mut Context, req: &LoginRequest<'_>) -> Result<PasswordStep> {
    let iterations = ctx.config.auth.pbkdf2_iterations;
    let row = if ident::is_username(req.username) {
        store::read(ctx.store()?, |c| {
            users::repo::login_by_name(c, req.username)
        })?
    } else {
        None
    };
    let Some(row) = row else {
        password::dummy_verify(req.password.as_bytes(), iterations);
        return Ok(PasswordStep::Unknown);
    };
    let verdict = password::verify(req.password.as_bytes(), &row.password_hash, iterations)?;
    let (password_ok, rehash) = match verdict {
        Verdict::Valid { needs_rehash: true } => {
            ctx.warn_before_hashing();
            let upgraded = password::hash(req.password.as_bytes(), iterations)?;
            (true, Some(upgraded))
        }
        Verdict::Valid {
            needs_rehash: false,
        } => (true, None),
        Verdict::Invalid => (false, None),
    };
    Ok(PasswordStep::Known(CheckedPassword {
        user: row.id,
        checked_hash: row.password_hash,
        password_ok,
        rehash,
    }))
}

/// `users can`.
#[derive(Debug, Clone)]
pub struct CanRequest {
    /// Who.
    pub username: String,
    /// `resource:action`.
    pub permission: String,
}

/// Whether a user may do `resource:action` now.
pub fn can(ctx: &mut Context, req: &CanRequest) -> Result<Permission> {
    ident::check(&[
        Ident::Username(&req.username),
        Ident::Permission(&req.permission),
    ])?;
    let now = ctx.clock.now();
    store::read(ctx.store()?, |c| {
        users::can(c, &req.username, &req.permission, now)
    })
}

/// What `totp enroll` reports (the URI holds the secret: shown once).
#[derive(Debug, Clone, Serialize)]
pub struct TotpEnrollment {
    /// Who.
    pub username: String,
    /// The `otpauth://` URI.
    pub uri: String,
    /// Always false: the first good code activates it.
    pub active: bool,
}

/// Starts a TOTP enrolment.
pub fn totp_enroll(ctx: &mut Context, username: &str) -> Result<TotpEnrollment> {
    check_name(username)?;
    let actor = ctx.actor().to_owned();
    let clock = std::sync::Arc::clone(&ctx.clock);
    let (store, ring) = ctx.store_and_keyring()?;
    let uri = store::write(store, |c| {
        totp::enroll(c, Stamp::new(&actor, &*clock), ring, username)
    })?;
    Ok(TotpEnrollment {
        username: username.to_owned(),
        uri,
        active: false,
    })
}

/// `totp verify`.
#[derive(Debug, Clone)]
pub struct TotpRequest {
    /// Who.
    pub username: String,
    /// The code given.
    pub code: String,
}

/// Checks a TOTP code at `ctx.clock`'s instant.
pub fn totp_verify(ctx: &mut Context, req: &TotpRequest) -> Result<TotpCheck> {
    check_name(&req.username)?;
    totp::parse_code(&req.code)?;
    let actor = ctx.actor().to_owned();
    let clock = std::sync::Arc::clone(&ctx.clock);
    let policy = Lockout::from(&ctx.config.auth);
    let (store, ring) = ctx.store_and_keyring()?;
    store::write(store, |c| {
        let stamp = Stamp::new(&actor, &*clock);
        totp::verify(c, stamp, ring, (&req.username, &req.code), policy)
    })
}

/// What `totp disable` reports.
#[derive(Debug, Clone, Serialize)]
pub struct TotpDisabled {
    /// Who.
    pub username: String,
    /// Always false.
    pub totp_enabled: bool,
}

/// Removes TOTP from an account.
pub fn totp_disable(ctx: &mut Context, username: &str) -> Result<TotpDisabled> {
    check_name(username)?;
    audited(ctx, |c, s| totp::disable(c, s, username))?;
    Ok(TotpDisabled {
        username: username.to_owned(),
        totp_enabled: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_columns_are_fields() {
        let t = crate::time::parse_stored("2030-01-01T00:00:00Z").unwrap();
        crate::output::assert_columns(&User {
            id: crate::ids::UserId(1),
            username: "alice".into(),
            email: "alice@example.com".into(),
            is_active: true,
            locked: false,
            locked_until: None,
            lock_reason: None,
            failed_login_attempts: 0,
            last_login_at: None,
            password_changed_at: None,
            totp_enabled: false,
            totp_pending: false,
            roles: Vec::new(),
            created_at: t,
            updated_at: t,
        });
    }
}
