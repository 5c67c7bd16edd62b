//! `users can`: whether a user may do `resource:action` now, and why not.

use super::{get, lock_words, permissions_of, User};
use crate::domain::roles;
use crate::error::Result;
use crate::store::Conn;
use serde::Serialize;
use time::OffsetDateTime;

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

/// Why `user` may not do `permission`, given the roles granting it; `None` when allowed.
pub fn refusal(user: &User, permission: &str, granted_by: &[String]) -> Option<String> {
    let username = &user.username;
    if !user.is_active {
        Some(format!("user '{username}' is disabled"))
    } else if user.locked {
        Some(format!(
            "user '{username}' is {}",
            lock_words(user.lock_reason, user.locked_until)
        ))
    } else if granted_by.is_empty() {
        Some(format!("no role of '{username}' grants {permission}"))
    } else {
        None
    }
}

/// Whether a user may do `resource:action` at `now` (admin on a resource implies the rest).
pub fn can(
    conn: &mut dyn Conn,
    username: &str,
    permission: &str,
    now: OffsetDateTime,
) -> Result<Permission> {
    let (resource, action) = roles::parse_permission(permission)?;
    let user = get(conn, username, now)?;
    let wanted = roles::granting(&resource, &action);
    let mut granted_by: Vec<String> = permissions_of(conn, user.id)?
        .into_iter()
        .filter(|(p, _)| wanted.contains(p))
        .map(|(_, role)| role)
        .collect();
    granted_by.dedup();
    let permission = format!("{resource}:{action}");
    let reason = refusal(&user, &permission, &granted_by);
    Ok(Permission {
        username: username.to_owned(),
        permission,
        allowed: reason.is_none(),
        granted_by,
        reason,
    })
}
