//! Users: validation, password policy, the login check with lockout, TOTP,
//! and permission checks. Every change records its audit event in the same
//! transaction; no event ever holds a password, hash or TOTP secret.

use crate::config::AuthConfig;
use crate::crypto::envelope;
use crate::crypto::keyring::Keyring;
use crate::crypto::password::{self, Verdict};
use crate::domain::audit::{self, Event};
use crate::domain::{keys, roles};
use crate::error::{Error, Result};
use crate::store::{Conn, Row, Value};
use serde::Serialize;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// `users lock` without a duration: until `users unlock`.
pub fn indefinitely() -> OffsetDateTime {
    time::macros::datetime!(9999-12-31 23:59:59 UTC)
}

/// A user as shown: never a hash or a secret.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Row id.
    pub id: i64,
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

const USER_COLUMNS: &str = "id, username, email, is_active, locked_until, failed_login_attempts, \
     last_login_at, password_changed_at, totp_enabled, totp_secret IS NOT NULL, created_at, updated_at";

fn user_from_row(r: &Row, now: OffsetDateTime) -> Result<User> {
    let locked_until = r.opt_time(4)?;
    let totp_enabled = r.bool(8)?;
    Ok(User {
        id: r.int(0)?,
        username: r.text(1)?,
        email: r.text(2)?,
        is_active: r.bool(3)?,
        locked: locked_until.is_some_and(|t| t > now),
        locked_until: locked_until.filter(|t| *t > now),
        failed_login_attempts: r.int(5)?,
        last_login_at: r.opt_time(6)?,
        password_changed_at: r.opt_time(7)?,
        totp_enabled,
        totp_pending: !totp_enabled && r.bool(9)?,
        roles: Vec::new(),
        created_at: r.time(10)?,
        updated_at: r.time(11)?,
    })
}

/// Checks a username against `^[a-z0-9][a-z0-9_.-]{2,31}$`.
pub fn validate_username(name: &str) -> Result<()> {
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid username {name:?}: use 3 to 32 lowercase letters, digits, `_`, `.` or `-`, starting with a letter or digit"
        )))
    }
}

/// Validates an email address and returns it lowercased.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let bad = || {
        Error::invalid(format!(
            "invalid email address {email:?}: expected name@domain.tld"
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
            "password refused: {why}. Choose a longer passphrase, or pass --allow-weak to accept it anyway"
        ))),
    }
}

fn not_found(username: &str) -> Error {
    Error::not_found(format!("user '{username}' not found"))
}

/// The id of a user (exit 3 when absent).
pub(crate) fn user_id(conn: &mut dyn Conn, username: &str) -> Result<i64> {
    conn.query_opt(
        "SELECT id FROM users WHERE username = $1",
        &[username.into()],
    )?
    .ok_or_else(|| not_found(username))?
    .int(0)
}

fn roles_of(conn: &mut dyn Conn, user_id: i64) -> Result<Vec<String>> {
    conn.query(
        "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1 ORDER BY r.name",
        &[user_id.into()],
    )?
    .iter()
    .map(|r| r.text(0))
    .collect()
}

/// One user by name (exit 3 when absent).
pub fn get(conn: &mut dyn Conn, username: &str) -> Result<User> {
    let now = crate::time::now();
    let row = conn
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"),
            &[username.into()],
        )?
        .ok_or_else(|| not_found(username))?;
    let mut user = user_from_row(&row, now)?;
    user.roles = roles_of(conn, user.id)?;
    Ok(user)
}

/// Users, optionally only members of `role` or only those locked now.
pub fn list(conn: &mut dyn Conn, role: Option<&str>, locked_only: bool) -> Result<Vec<User>> {
    let now = crate::time::now();
    if let Some(r) = role {
        roles::role_id(conn, r)?;
    }
    let mut users = conn
        .query(
            &format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"),
            &[],
        )?
        .iter()
        .map(|r| user_from_row(r, now))
        .collect::<Result<Vec<_>>>()?;
    let memberships = conn.query(
        "SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id ORDER BY r.name",
        &[],
    )?;
    for m in &memberships {
        let (id, name) = (m.int(0)?, m.text(1)?);
        if let Some(u) = users.iter_mut().find(|u| u.id == id) {
            u.roles.push(name);
        }
    }
    users.retain(|u| {
        (!locked_only || u.locked) && role.is_none_or(|r| u.roles.iter().any(|x| x == r))
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

fn ensure_email_free(conn: &mut dyn Conn, email: &str, except: Option<i64>) -> Result<()> {
    if let Some(r) = conn.query_opt(
        "SELECT id, username FROM users WHERE email = $1",
        &[email.into()],
    )? {
        if Some(r.int(0)?) != except {
            return Err(Error::conflict(format!(
                "email {email} is already used by user '{}'",
                r.text(1)?
            )));
        }
    }
    Ok(())
}

/// Creates a user with roles.
pub fn add(conn: &mut dyn Conn, actor: &str, new: &NewUser<'_>) -> Result<User> {
    if conn
        .query_opt(
            "SELECT 1 FROM users WHERE username = $1",
            &[new.username.into()],
        )?
        .is_some()
    {
        return Err(Error::conflict(format!(
            "user '{}' already exists",
            new.username
        )));
    }
    ensure_email_free(conn, new.email, None)?;
    let role_ids = new
        .roles
        .iter()
        .map(|r| roles::role_id(conn, r))
        .collect::<Result<Vec<_>>>()?;
    let now = crate::time::now();
    let id = conn
        .query_one(
            "INSERT INTO users (username, email, password_hash, password_changed_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4, $4) RETURNING id",
            &[new.username.into(), new.email.into(), new.password_hash.into(), now.into()],
        )?
        .int(0)?;
    for rid in role_ids {
        conn.execute(
            "INSERT INTO user_roles (user_id, role_id, assigned_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[id.into(), rid.into(), now.into()],
        )?;
    }
    let mut roles = new.roles.to_vec();
    roles.sort();
    roles.dedup();
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("user.create", "user", new.username).details(serde_json::json!({
            "email": new.email,
            "roles": roles,
            "weak_password_allowed": new.weak_password_allowed,
        })),
    )?;
    get(conn, new.username)
}

/// Changes email and/or the active flag.
pub fn update(
    conn: &mut dyn Conn,
    actor: &str,
    username: &str,
    email: Option<&str>,
    active: Option<bool>,
) -> Result<User> {
    let before = get(conn, username)?;
    let mut changes = serde_json::Map::new();
    let now = crate::time::now();
    if let Some(e) = email.filter(|e| *e != before.email) {
        ensure_email_free(conn, e, Some(before.id))?;
        conn.execute(
            "UPDATE users SET email = $1, updated_at = $2 WHERE id = $3",
            &[e.into(), now.into(), before.id.into()],
        )?;
        changes.insert(
            "email".into(),
            serde_json::json!({"from": before.email, "to": e}),
        );
    }
    if let Some(a) = active.filter(|a| *a != before.is_active) {
        conn.execute(
            "UPDATE users SET is_active = $1, updated_at = $2 WHERE id = $3",
            &[a.into(), now.into(), before.id.into()],
        )?;
        changes.insert(
            "is_active".into(),
            serde_json::json!({"from": before.is_active, "to": a}),
        );
    }
    if !changes.is_empty() {
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("user.update", "user", username).details(changes.into()),
        )?;
    }
    get(conn, username)
}

/// Replaces the password hash.
pub fn set_password(
    conn: &mut dyn Conn,
    actor: &str,
    username: &str,
    hash: &str,
    weak_allowed: bool,
) -> Result<()> {
    let id = user_id(conn, username)?;
    let now = crate::time::now();
    conn.execute(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3",
        &[hash.into(), now.into(), id.into()],
    )?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("user.password_change", "user", username)
            .details(serde_json::json!({ "weak_password_allowed": weak_allowed })),
    )?;
    Ok(())
}

/// Locks until `until` (see [`indefinitely`]).
pub fn lock(
    conn: &mut dyn Conn,
    actor: &str,
    username: &str,
    until: OffsetDateTime,
) -> Result<User> {
    let id = user_id(conn, username)?;
    conn.execute(
        "UPDATE users SET locked_until = $1, updated_at = $2 WHERE id = $3",
        &[until.into(), crate::time::now().into(), id.into()],
    )?;
    let until_text = if until == indefinitely() {
        "unlock".to_owned()
    } else {
        crate::time::rfc3339(until)
    };
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("user.lock", "user", username)
            .details(serde_json::json!({ "until": until_text })),
    )?;
    get(conn, username)
}

/// Unlocks and clears the failure count.
pub fn unlock(conn: &mut dyn Conn, actor: &str, username: &str) -> Result<User> {
    let id = user_id(conn, username)?;
    conn.execute(
        "UPDATE users SET locked_until = NULL, failed_login_attempts = 0, updated_at = $1 WHERE id = $2",
        &[crate::time::now().into(), id.into()],
    )?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("user.unlock", "user", username),
    )?;
    get(conn, username)
}

/// Deletes a user; sessions, role assignments and API keys go with it.
pub fn delete(conn: &mut dyn Conn, actor: &str, username: &str) -> Result<()> {
    let user = get(conn, username)?;
    conn.execute("DELETE FROM users WHERE id = $1", &[user.id.into()])?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("user.delete", "user", username)
            .details(serde_json::json!({ "email": user.email, "roles": user.roles })),
    )?;
    Ok(())
}

/// What the stored credentials say before the (slow) hash check.
pub struct Credentials {
    /// Row id.
    pub id: i64,
    /// PHC string.
    pub hash: String,
    /// Whether the account may log in.
    pub active: bool,
    /// Locked until, if in the future.
    pub locked_until: Option<OffsetDateTime>,
}

/// Reads a user's credentials (None when the user does not exist).
pub fn credentials(conn: &mut dyn Conn, username: &str) -> Result<Option<Credentials>> {
    let now = crate::time::now();
    conn.query_opt(
        "SELECT id, password_hash, is_active, locked_until FROM users WHERE username = $1",
        &[username.into()],
    )?
    .map(|r| {
        Ok(Credentials {
            id: r.int(0)?,
            hash: r.text(1)?,
            active: r.bool(2)?,
            locked_until: r.opt_time(3)?.filter(|t| *t > now),
        })
    })
    .transpose()
}

/// The result of a login check.
#[derive(Debug, Clone, Serialize)]
pub struct LoginCheck {
    /// The username checked.
    pub username: String,
    /// Whether the login is allowed.
    pub valid: bool,
    /// `ok`, `wrong_password`, `locked`, `disabled`.
    pub reason: &'static str,
    /// Failed attempts now counted.
    pub failed_login_attempts: i64,
    /// Locked until, when locked.
    #[serde(with = "crate::output::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// Whether the stored hash was upgraded to the configured iterations.
    pub rehashed: bool,
}

/// Counts one failed login or code for user `id` (whose stored state is
/// `failures`, `locked_until`), locking at the configured maximum.
/// Returns the new count and the lock, if one was set.
#[allow(clippy::too_many_arguments)]
fn count_failure(
    conn: &mut dyn Conn,
    actor: &str,
    username: &str,
    id: i64,
    failures: i64,
    stored_lock: Option<OffsetDateTime>,
    auth: &AuthConfig,
    action: &str,
) -> Result<(i64, Option<OffsetDateTime>)> {
    let now = crate::time::now();
    // A lock that has run out starts a fresh count.
    let failures = if stored_lock.is_some_and(|t| t <= now) {
        1
    } else {
        failures + 1
    };
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new(action, "user", username)
            .details(serde_json::json!({"failed_login_attempts": failures})),
    )?;
    if failures >= i64::from(auth.max_failed_logins) {
        let until = crate::time::add(now, auth.lockout_duration)?;
        conn.execute(
            "UPDATE users SET failed_login_attempts = $1, locked_until = $2 WHERE id = $3",
            &[failures.into(), until.into(), id.into()],
        )?;
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("user.lock", "user", username).details(serde_json::json!({
                "until": crate::time::rfc3339(until),
                "after_failed_attempts": failures,
            })),
        )?;
        return Ok((failures, Some(until)));
    }
    conn.execute(
        "UPDATE users SET failed_login_attempts = $1, locked_until = NULL WHERE id = $2",
        &[failures.into(), id.into()],
    )?;
    Ok((failures, None))
}

/// Records a check for a user that does not exist, with the same work as a real one.
pub fn record_unknown_login(
    conn: &mut dyn Conn,
    actor: &str,
    username: &str,
) -> Result<LoginCheck> {
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("user.login_failed", "user", username)
            .details(serde_json::json!({"reason": "unknown_user"})),
    )?;
    Ok(LoginCheck {
        username: username.to_owned(),
        valid: false,
        reason: "wrong_password",
        failed_login_attempts: 0,
        locked_until: None,
        rehashed: false,
    })
}

/// Records the outcome of a password check (write transaction). The verdict
/// was reached outside the lock against `creds.hash`; the row is read again
/// here, so a password changed or an account disabled meanwhile wins.
/// `rehash` is the upgraded hash to store when the old one was weaker than configured.
pub fn record_login(
    conn: &mut dyn Conn,
    actor: &str,
    username: &str,
    creds: &Credentials,
    password_ok: bool,
    rehash: Option<&str>,
    auth: &AuthConfig,
) -> Result<LoginCheck> {
    let now = crate::time::now();
    let current = conn
        .query_opt(
            "SELECT password_hash, locked_until, failed_login_attempts, is_active FROM users WHERE id = $1",
            &[creds.id.into()],
        )?
        .ok_or_else(|| not_found(username))?;
    let stored_lock = current.opt_time(1)?;
    let locked_until = stored_lock.filter(|t| *t > now);
    let failures = current.int(2)?;
    // A password changed since the check was made: the verdict no longer holds.
    let password_ok = password_ok && current.text(0)? == creds.hash;
    let mut check = LoginCheck {
        username: username.to_owned(),
        valid: false,
        reason: "wrong_password",
        failed_login_attempts: failures,
        locked_until,
        rehashed: false,
    };
    let deny = |conn: &mut dyn Conn, reason: &'static str, check: &mut LoginCheck| -> Result<()> {
        check.reason = reason;
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("user.login_denied", "user", username)
                .details(serde_json::json!({"reason": reason})),
        )?;
        Ok(())
    };
    if !current.bool(3)? {
        deny(conn, "disabled", &mut check)?;
        return Ok(check);
    }
    if locked_until.is_some() {
        deny(conn, "locked", &mut check)?;
        return Ok(check);
    }
    if password_ok {
        // Store the upgraded hash only if nobody changed the password meanwhile.
        if let Some(new_hash) = rehash {
            check.rehashed = conn.execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
                &[new_hash.into(), creds.id.into(), creds.hash.as_str().into()],
            )? == 1;
        }
        conn.execute(
            "UPDATE users SET failed_login_attempts = 0, locked_until = NULL, last_login_at = $1 WHERE id = $2",
            &[now.into(), creds.id.into()],
        )?;
        check.valid = true;
        check.reason = "ok";
        check.failed_login_attempts = 0;
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("user.login", "user", username)
                .details(serde_json::json!({"rehashed": check.rehashed})),
        )?;
        return Ok(check);
    }
    let (count, lock) = count_failure(
        conn,
        actor,
        username,
        creds.id,
        failures,
        stored_lock,
        auth,
        "user.login_failed",
    )?;
    check.failed_login_attempts = count;
    if lock.is_some() {
        check.locked_until = lock;
        check.reason = "locked";
    }
    Ok(check)
}

/// Checks a password against a PHC hash (slow; call outside transactions).
pub fn verify_password(password: &str, hash: &str, iterations: u32) -> Result<Verdict> {
    password::verify(password.as_bytes(), hash, iterations)
}

/// The answer to `users can`.
#[derive(Debug, Clone, Serialize)]
pub struct Permission {
    /// Who.
    pub username: String,
    /// `resource:action` asked.
    pub permission: String,
    /// The answer.
    pub allowed: bool,
    /// Roles granting it (directly or through `resource:admin`).
    pub granted_by: Vec<String>,
    /// Why not, when refused.
    pub reason: Option<String>,
}

/// The user's effective permissions, `resource:action`, sorted.
pub fn permissions_of(conn: &mut dyn Conn, user_id: i64) -> Result<Vec<(String, String)>> {
    conn.query(
        "SELECT DISTINCT p.resource, p.action, r.name FROM user_roles ur \
         JOIN roles r ON r.id = ur.role_id \
         JOIN role_permissions rp ON rp.role_id = ur.role_id \
         JOIN permissions p ON p.id = rp.permission_id \
         WHERE ur.user_id = $1 ORDER BY p.resource, p.action, r.name",
        &[user_id.into()],
    )?
    .iter()
    .map(|r| Ok((format!("{}:{}", r.text(0)?, r.text(1)?), r.text(2)?)))
    .collect()
}

/// Whether a user may do `resource:action` (admin on a resource implies the rest).
pub fn can(conn: &mut dyn Conn, username: &str, permission: &str) -> Result<Permission> {
    let (resource, action) = roles::parse_permission(permission)?;
    let user = get(conn, username)?;
    let grants = permissions_of(conn, user.id)?;
    let wanted = [format!("{resource}:{action}"), format!("{resource}:admin")];
    let mut granted_by: Vec<String> = grants
        .iter()
        .filter(|(p, _)| wanted.contains(p))
        .map(|(_, role)| role.clone())
        .collect();
    granted_by.dedup();
    let reason = if !user.is_active {
        Some(format!("user '{username}' is disabled"))
    } else if user.locked {
        Some(format!("user '{username}' is locked"))
    } else if granted_by.is_empty() {
        Some(format!(
            "no role of '{username}' grants {resource}:{action}"
        ))
    } else {
        None
    };
    Ok(Permission {
        username: username.to_owned(),
        permission: format!("{resource}:{action}"),
        allowed: reason.is_none(),
        granted_by,
        reason,
    })
}

fn totp_aad(username: &str) -> String {
    crate::crypto::purpose::Aad::Totp { username }.to_string()
}

fn totp_for(secret: Vec<u8>) -> totp_rs::TOTP {
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret)
}

/// The `otpauth://` URI for a secret.
pub fn totp_uri(username: &str, secret: &[u8]) -> String {
    let encoded = match totp_rs::Secret::Raw(secret.to_vec()).to_encoded() {
        totp_rs::Secret::Encoded(s) => s,
        totp_rs::Secret::Raw(_) => String::new(),
    };
    format!("otpauth://totp/keyward:{username}?secret={encoded}&issuer=keyward&algorithm=SHA1&digits=6&period=30")
}

/// Starts a TOTP enrolment: a new 20-byte secret, stored encrypted, active after a first good code.
pub fn totp_enroll(
    conn: &mut dyn Conn,
    actor: &str,
    ring: &Keyring,
    username: &str,
) -> Result<String> {
    let user = get(conn, username)?;
    if user.totp_enabled {
        return Err(Error::conflict(format!(
            "user '{username}' already has TOTP enabled: run `keyward users totp disable {username}` first"
        )));
    }
    keys::ensure(
        conn,
        ring,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
    )?;
    let secret = zeroize::Zeroizing::new(crate::crypto::random::bytes::<20>()?);
    let sealed = envelope::seal(ring.active(), &totp_aad(username), secret.as_ref())?;
    conn.execute(
        "UPDATE users SET totp_secret = $1, totp_enabled = FALSE, totp_last_step = NULL, updated_at = $2 WHERE id = $3",
        &[sealed.into(), crate::time::now().into(), user.id.into()],
    )?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("user.totp_enroll", "user", username),
    )?;
    Ok(totp_uri(username, secret.as_ref()))
}

/// The result of `totp verify`.
#[derive(Debug, Clone, Serialize)]
pub struct TotpCheck {
    /// Who.
    pub username: String,
    /// Whether the code is accepted.
    pub valid: bool,
    /// `ok`, `invalid_code`, `code_already_used`.
    pub reason: &'static str,
    /// Whether this code activated the enrolment.
    pub activated: bool,
}

/// Checks a code: ±1 step, and never a step at or before the last one used.
/// Bad codes count towards the same lockout as wrong passwords, so codes cannot be guessed.
pub fn totp_verify(
    conn: &mut dyn Conn,
    actor: &str,
    ring: &Keyring,
    username: &str,
    code: &str,
    now_unix: u64,
    auth: &AuthConfig,
) -> Result<TotpCheck> {
    let row = conn
        .query_opt(
            "SELECT id, totp_secret, totp_enabled, totp_last_step, locked_until, failed_login_attempts FROM users WHERE username = $1",
            &[username.into()],
        )?
        .ok_or_else(|| not_found(username))?;
    let Some(sealed) = row.opt_text(1)? else {
        return Err(Error::not_found(format!(
            "user '{username}' has no TOTP enrolment: run `keyward users totp enroll {username}`"
        )));
    };
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid("a TOTP code is 6 digits"));
    }
    let stored_lock = row.opt_time(4)?;
    if stored_lock.is_some_and(|t| t > crate::time::now()) {
        return Ok(TotpCheck {
            username: username.to_owned(),
            valid: false,
            reason: "locked",
            activated: false,
        });
    }
    let secret = envelope::open(ring, &totp_aad(username), &sealed)?;
    let totp = totp_for(secret.to_vec());
    let last = row.opt_int(3)?;
    let current = now_unix / 30;
    let mut matched = None;
    for step in current.saturating_sub(1)..=current + 1 {
        let candidate = totp.generate(step * 30);
        if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) {
            matched = Some(step);
        }
    }
    let enabled = row.bool(2)?;
    let (valid, reason) = match matched {
        None => (false, "invalid_code"),
        Some(step) if last.is_some_and(|l| i64::try_from(step).unwrap_or(i64::MAX) <= l) => {
            (false, "code_already_used")
        }
        Some(_) => (true, "ok"),
    };
    let mut check = TotpCheck {
        username: username.to_owned(),
        valid,
        reason,
        activated: false,
    };
    if let (true, Some(step)) = (valid, matched) {
        conn.execute(
            "UPDATE users SET totp_last_step = $1, totp_enabled = TRUE WHERE id = $2",
            &[
                Value::Int(i64::try_from(step).unwrap_or(i64::MAX)),
                row.int(0)?.into(),
            ],
        )?;
        if !enabled {
            check.activated = true;
            audit::record(
                conn,
                audit::Stamp {
                    actor,
                    at: crate::time::now(),
                },
                Event::new("user.totp_enable", "user", username),
            )?;
        }
    } else {
        let (_, lock) = count_failure(
            conn,
            actor,
            username,
            row.int(0)?,
            row.int(5)?,
            stored_lock,
            auth,
            "user.totp_failed",
        )?;
        if lock.is_some() {
            check.reason = "locked";
        }
    }
    Ok(check)
}

/// Removes TOTP from an account.
pub fn totp_disable(conn: &mut dyn Conn, actor: &str, username: &str) -> Result<()> {
    let id = user_id(conn, username)?;
    conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_enabled = FALSE, totp_last_step = NULL, updated_at = $1 WHERE id = $2",
        &[crate::time::now().into(), id.into()],
    )?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("user.totp_disable", "user", username),
    )?;
    Ok(())
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
        }
    }

    #[test]
    fn totp_matches_rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", truncated to 6 digits.
        let t = totp_for(b"12345678901234567890".to_vec());
        assert_eq!(t.generate(59), "287082");
        assert_eq!(t.generate(1_111_111_109), "081804");
        assert_eq!(t.generate(2_000_000_000), "279037");
    }
}
