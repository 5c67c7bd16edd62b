//! The users' SQL, written once in portable form; rows read by column name.

use super::{LockReason, User};
use crate::error::Result;
use crate::ids::{RoleId, UserId};
use crate::store::{Conn, Row};
use time::OffsetDateTime;

const USER_COLUMNS: &str =
    "id, username, email, is_active, locked_until, lock_reason, failed_login_attempts, \
     last_login_at, password_changed_at, totp_enabled, totp_secret IS NOT NULL AS has_totp_secret, \
     created_at, updated_at";

fn user_from_row(r: &Row, now: OffsetDateTime) -> Result<User> {
    let locked_until = super::locked_at(r.opt_time("locked_until")?, now);
    let totp_enabled = r.bool("totp_enabled")?;
    Ok(User {
        id: UserId(r.int("id")?),
        username: r.text("username")?,
        email: r.text("email")?,
        is_active: r.bool("is_active")?,
        locked: locked_until.is_some(),
        lock_reason: locked_until.and(LockReason::from_stored(
            r.opt_text("lock_reason")?.as_deref(),
        )),
        locked_until,
        failed_login_attempts: r.int("failed_login_attempts")?,
        last_login_at: r.opt_time("last_login_at")?,
        password_changed_at: r.opt_time("password_changed_at")?,
        totp_enabled,
        totp_pending: !totp_enabled && r.bool("has_totp_secret")?,
        roles: Vec::new(),
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

/// A user's id by name.
pub fn id_of(conn: &mut dyn Conn, username: &str) -> Result<Option<UserId>> {
    conn.query_opt(
        "SELECT id FROM users WHERE username = $1",
        &[username.into()],
    )?
    .map(|r| Ok(UserId(r.int("id")?)))
    .transpose()
}

/// One user (without roles), shown as of `now`.
pub fn find(conn: &mut dyn Conn, username: &str, now: OffsetDateTime) -> Result<Option<User>> {
    conn.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"),
        &[username.into()],
    )?
    .map(|r| user_from_row(&r, now))
    .transpose()
}

/// Every user (without roles), by username, shown as of `now`.
pub fn all(conn: &mut dyn Conn, now: OffsetDateTime) -> Result<Vec<User>> {
    conn.query(
        &format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"),
        &[],
    )?
    .iter()
    .map(|r| user_from_row(r, now))
    .collect()
}

/// A user's role names, sorted.
pub fn roles_of(conn: &mut dyn Conn, user: UserId) -> Result<Vec<String>> {
    conn.query(
        "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1 ORDER BY r.name",
        &[user.into()],
    )?
    .iter()
    .map(|r| r.text("name"))
    .collect()
}

/// Every membership `(user, role name)`, in role-name order.
pub fn memberships(conn: &mut dyn Conn) -> Result<Vec<(UserId, String)>> {
    conn.query(
        "SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id ORDER BY r.name",
        &[],
    )?
    .iter()
    .map(|r| Ok((UserId(r.int("user_id")?), r.text("name")?)))
    .collect()
}

/// The user holding `email`, as `(id, username)`.
pub fn email_owner(conn: &mut dyn Conn, email: &str) -> Result<Option<(UserId, String)>> {
    conn.query_opt(
        "SELECT id, username FROM users WHERE email = $1",
        &[email.into()],
    )?
    .map(|r| Ok((UserId(r.int("id")?), r.text("username")?)))
    .transpose()
}

/// Inserts a user; returns its id.
pub fn insert(
    conn: &mut dyn Conn,
    new: &super::NewUser<'_>,
    now: OffsetDateTime,
) -> Result<UserId> {
    Ok(UserId(
        conn.query_one(
            "INSERT INTO users (username, email, password_hash, password_changed_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4, $4) RETURNING id",
            &[new.username.into(), new.email.into(), new.password_hash.into(), now.into()],
        )?
        .int("id")?,
    ))
}

/// Gives a role to a user (nothing when already held).
pub fn add_role(
    conn: &mut dyn Conn,
    user: UserId,
    role: RoleId,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "INSERT INTO user_roles (user_id, role_id, assigned_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[user.into(), role.into(), now.into()],
    )?;
    Ok(())
}

/// Sets the email.
pub fn set_email(
    conn: &mut dyn Conn,
    user: UserId,
    email: &str,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "UPDATE users SET email = $1, updated_at = $2 WHERE id = $3",
        &[email.into(), now.into(), user.into()],
    )?;
    Ok(())
}

/// Sets the active flag.
pub fn set_active(
    conn: &mut dyn Conn,
    user: UserId,
    active: bool,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "UPDATE users SET is_active = $1, updated_at = $2 WHERE id = $3",
        &[active.into(), now.into(), user.into()],
    )?;
    Ok(())
}

/// Replaces the password hash.
pub fn set_password(
    conn: &mut dyn Conn,
    user: UserId,
    hash: &str,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3",
        &[hash.into(), now.into(), user.into()],
    )?;
    Ok(())
}

/// Locks until `until` (an administrator's lock).
pub fn set_lock(
    conn: &mut dyn Conn,
    user: UserId,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "UPDATE users SET locked_until = $1, lock_reason = $2, updated_at = $3 WHERE id = $4",
        &[
            until.into(),
            LockReason::Operator.as_str().into(),
            now.into(),
            user.into(),
        ],
    )?;
    Ok(())
}

/// Unlocks and clears the failure count.
pub fn unlock(conn: &mut dyn Conn, user: UserId, now: OffsetDateTime) -> Result<()> {
    conn.execute(
        "UPDATE users SET locked_until = NULL, lock_reason = NULL, failed_login_attempts = 0, updated_at = $1 WHERE id = $2",
        &[now.into(), user.into()],
    )?;
    Ok(())
}

/// Deletes a user (sessions, role assignments and API keys go by cascade).
pub fn delete(conn: &mut dyn Conn, user: UserId) -> Result<()> {
    conn.execute("DELETE FROM users WHERE id = $1", &[user.into()])?;
    Ok(())
}

/// What the login check reads of a user.
pub struct LoginRow {
    /// Row id.
    pub id: UserId,
    /// PHC string.
    pub password_hash: String,
    /// Whether the account may log in.
    pub is_active: bool,
    /// The stored lock, current or run out.
    pub locked_until: Option<OffsetDateTime>,
    /// Who or what set that lock.
    pub lock_reason: Option<LockReason>,
    /// Consecutive failures counted.
    pub failed_login_attempts: i64,
}

fn login_row(r: &Row) -> Result<LoginRow> {
    Ok(LoginRow {
        id: UserId(r.int("id")?),
        password_hash: r.text("password_hash")?,
        is_active: r.bool("is_active")?,
        locked_until: r.opt_time("locked_until")?,
        lock_reason: LockReason::from_stored(r.opt_text("lock_reason")?.as_deref()),
        failed_login_attempts: r.int("failed_login_attempts")?,
    })
}

const LOGIN_COLUMNS: &str =
    "id, password_hash, is_active, locked_until, lock_reason, failed_login_attempts";

/// The login state of a user by name.
pub fn login_by_name(conn: &mut dyn Conn, username: &str) -> Result<Option<LoginRow>> {
    conn.query_opt(
        &format!("SELECT {LOGIN_COLUMNS} FROM users WHERE username = $1"),
        &[username.into()],
    )?
    .map(|r| login_row(&r))
    .transpose()
}

/// The login state of a user by id.
pub fn login_by_id(conn: &mut dyn Conn, user: UserId) -> Result<Option<LoginRow>> {
    conn.query_opt(
        &format!("SELECT {LOGIN_COLUMNS} FROM users WHERE id = $1"),
        &[user.into()],
    )?
    .map(|r| login_row(&r))
    .transpose()
}

/// Stores an upgraded hash unless the password changed meanwhile; true when stored.
pub fn rehash(conn: &mut dyn Conn, user: UserId, new_hash: &str, old_hash: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
        &[new_hash.into(), user.into(), old_hash.into()],
    )? == 1)
}

/// A successful login: the count and any lock cleared, the time noted.
pub fn logged_in(conn: &mut dyn Conn, user: UserId, now: OffsetDateTime) -> Result<()> {
    conn.execute(
        "UPDATE users SET failed_login_attempts = 0, locked_until = NULL, lock_reason = NULL, last_login_at = $1 WHERE id = $2",
        &[now.into(), user.into()],
    )?;
    Ok(())
}

/// Stores the failure count and the lock it led to (or none), the lockout
/// policy recorded as that lock's reason.
pub fn set_failures(
    conn: &mut dyn Conn,
    user: UserId,
    failures: i64,
    lock: Option<OffsetDateTime>,
) -> Result<()> {
    let reason = lock.map(|_| LockReason::FailedAttempts.as_str());
    conn.execute(
        "UPDATE users SET failed_login_attempts = $1, locked_until = $2, lock_reason = $3 WHERE id = $4",
        &[failures.into(), lock.into(), reason.into(), user.into()],
    )?;
    Ok(())
}

/// A user's effective permissions as `(resource:action, role)`, sorted.
pub fn permissions_of(conn: &mut dyn Conn, user: UserId) -> Result<Vec<(String, String)>> {
    conn.query(
        "SELECT DISTINCT p.resource, p.action, r.name AS role FROM user_roles ur \
         JOIN roles r ON r.id = ur.role_id \
         JOIN role_permissions rp ON rp.role_id = ur.role_id \
         JOIN permissions p ON p.id = rp.permission_id \
         WHERE ur.user_id = $1 ORDER BY p.resource, p.action, r.name",
        &[user.into()],
    )?
    .iter()
    .map(|r| {
        Ok((
            format!("{}:{}", r.text("resource")?, r.text("action")?),
            r.text("role")?,
        ))
    })
    .collect()
}

/// What a TOTP check reads of a user.
pub struct TotpRow {
    /// Row id.
    pub id: UserId,
    /// The sealed secret, when enrolled.
    pub secret: Option<String>,
    /// Whether the enrolment is active.
    pub enabled: bool,
    /// The last time step accepted.
    pub last_step: Option<i64>,
    /// Whether the account may log in.
    pub is_active: bool,
    /// The stored lock, current or run out.
    pub locked_until: Option<OffsetDateTime>,
    /// Who or what set that lock.
    pub lock_reason: Option<LockReason>,
    /// Consecutive failures counted.
    pub failed_login_attempts: i64,
}

/// The TOTP state of a user by name.
pub fn totp_by_name(conn: &mut dyn Conn, username: &str) -> Result<Option<TotpRow>> {
    conn.query_opt(
        "SELECT id, totp_secret, totp_enabled, totp_last_step, is_active, locked_until, lock_reason, \
         failed_login_attempts FROM users WHERE username = $1",
        &[username.into()],
    )?
    .map(|r| {
        Ok(TotpRow {
            id: UserId(r.int("id")?),
            secret: r.opt_text("totp_secret")?,
            enabled: r.bool("totp_enabled")?,
            last_step: r.opt_int("totp_last_step")?,
            is_active: r.bool("is_active")?,
            locked_until: r.opt_time("locked_until")?,
            lock_reason: LockReason::from_stored(r.opt_text("lock_reason")?.as_deref()),
            failed_login_attempts: r.int("failed_login_attempts")?,
        })
    })
    .transpose()
}

/// Stores a new, not yet active, TOTP secret.
pub fn set_totp_secret(
    conn: &mut dyn Conn,
    user: UserId,
    sealed: &str,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "UPDATE users SET totp_secret = $1, totp_enabled = FALSE, totp_last_step = NULL, updated_at = $2 WHERE id = $3",
        &[sealed.into(), now.into(), user.into()],
    )?;
    Ok(())
}

/// Notes the step of an accepted code and activates the enrolment.
pub fn use_totp_step(conn: &mut dyn Conn, user: UserId, step: i64) -> Result<()> {
    conn.execute(
        "UPDATE users SET totp_last_step = $1, totp_enabled = TRUE WHERE id = $2",
        &[step.into(), user.into()],
    )?;
    Ok(())
}

/// Removes TOTP from an account.
pub fn clear_totp(conn: &mut dyn Conn, user: UserId, now: OffsetDateTime) -> Result<()> {
    conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_enabled = FALSE, totp_last_step = NULL, updated_at = $1 WHERE id = $2",
        &[now.into(), user.into()],
    )?;
    Ok(())
}
