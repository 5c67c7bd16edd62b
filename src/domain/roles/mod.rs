//! Roles and permissions: `resource:action` pairs granted to roles, roles
//! assigned to users. `admin` on a resource implies read, write and delete.
//! System roles (seeded) cannot be deleted.
//!
//! This file holds the rules and the role views; `repo.rs` holds the SQL.

pub mod repo;

use crate::domain::audit::{self, Event};
use crate::error::{Error, Result};
use crate::ids::RoleId;
use crate::store::Conn;
use serde::Serialize;

pub use repo::role_id;

pub use crate::ident::ACTIONS;

/// Parses `resource:action`, checking both parts (see [`crate::ident`]).
pub fn parse_permission(s: &str) -> Result<(String, String)> {
    crate::ident::permission(s)
}

/// Checks a role name (see [`crate::ident`]).
pub fn validate_name(name: &str) -> Result<()> {
    crate::ident::role(name)
}

/// The pairs that grant `resource:action`: itself and, for the other
/// actions, `resource:admin` (admin implies read, write and delete).
pub fn granting(resource: &str, action: &str) -> Vec<String> {
    let mut pairs = vec![format!("{resource}:{action}")];
    if action != "admin" {
        pairs.push(format!("{resource}:admin"));
    }
    pairs
}

/// A role as shown.
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Seeded and protected.
    pub is_system: bool,
    /// Granted `resource:action` pairs.
    pub permissions: Vec<String>,
    /// Usernames holding it.
    pub members: Vec<String>,
}

/// One role with its permissions and members (exit 3 when absent).
pub fn show(conn: &mut dyn Conn, name: &str) -> Result<Role> {
    let row = repo::find(conn, name)?;
    let permissions = repo::grants(conn, Some(row.id))?
        .remove(&row.id)
        .unwrap_or_default();
    let members = repo::members(conn, Some(row.id))?
        .remove(&row.id)
        .unwrap_or_default();
    Ok(Role {
        name: row.name,
        description: row.description,
        is_system: row.is_system,
        permissions,
        members,
    })
}

/// Every role, by name: three queries however many roles there are.
pub fn list(conn: &mut dyn Conn) -> Result<Vec<Role>> {
    let rows = repo::all(conn)?;
    let mut grants = repo::grants(conn, None)?;
    let mut members = repo::members(conn, None)?;
    Ok(rows
        .into_iter()
        .map(|r| Role {
            permissions: grants.remove(&r.id).unwrap_or_default(),
            members: members.remove(&r.id).unwrap_or_default(),
            name: r.name,
            description: r.description,
            is_system: r.is_system,
        })
        .collect())
}

#[derive(Serialize)]
struct Described<'a> {
    description: Option<&'a str>,
}

#[derive(Serialize)]
struct Pairs<'a> {
    permissions: &'a [String],
}

#[derive(Serialize)]
struct Removed<'a> {
    permissions: &'a [String],
    members: &'a [String],
}

#[derive(Serialize)]
struct Member<'a> {
    user: &'a str,
}

/// Creates a role.
pub fn add(
    conn: &mut dyn Conn,
    stamp: audit::Stamp<'_>,
    name: &str,
    description: Option<&str>,
) -> Result<Role> {
    validate_name(name)?;
    if repo::exists(conn, name)? {
        return Err(Error::conflict(format!("role '{name}' already exists")));
    }
    repo::insert(conn, name, description, stamp.at)?;
    audit::record(
        conn,
        stamp,
        Event::new("role.create", "role", name).details_of(&Described { description }),
    )?;
    show(conn, name)
}

/// Deletes a role (system roles refused, exit 4); returns it as it was.
pub fn delete(conn: &mut dyn Conn, stamp: audit::Stamp<'_>, name: &str) -> Result<Role> {
    let id = repo::role_id(conn, name)?;
    let role = show(conn, name)?;
    if role.is_system {
        return Err(Error::conflict(format!(
            "role '{name}' is a system role and cannot be deleted"
        )));
    }
    repo::delete(conn, id)?;
    audit::record(
        conn,
        stamp,
        Event::new("role.delete", "role", name).details_of(&Removed {
            permissions: &role.permissions,
            members: &role.members,
        }),
    )?;
    Ok(role)
}

/// Parses every pair first, so one bad pair changes nothing.
fn parse_all(perms: &[String]) -> Result<Vec<(String, String)>> {
    perms.iter().map(|p| parse_permission(p)).collect()
}

/// Grants pairs, creating any that do not exist yet. Returns those newly granted.
pub fn grant(
    conn: &mut dyn Conn,
    stamp: audit::Stamp<'_>,
    name: &str,
    perms: &[String],
) -> Result<Vec<String>> {
    change_grants(
        conn,
        stamp,
        (name, perms),
        "role.grant",
        &mut |c, rid, pair| repo::grant(c, rid, pair, stamp.at),
    )
}

/// Revokes pairs. Returns those that were granted and now are not.
pub fn revoke(
    conn: &mut dyn Conn,
    stamp: audit::Stamp<'_>,
    name: &str,
    perms: &[String],
) -> Result<Vec<String>> {
    change_grants(
        conn,
        stamp,
        (name, perms),
        "role.revoke",
        &mut |c, rid, pair| repo::revoke(c, rid, pair),
    )
}

/// Grants or revokes one `(resource, action)` pair of a role; true when it changed.
type GrantChange<'a> = dyn FnMut(&mut dyn Conn, RoleId, (&str, &str)) -> Result<bool> + 'a;

/// One grant or revoke: every pair parsed first (one bad pair changes
/// nothing), `change` applied to each, and the pairs it changed audited as
/// `event`. Returns those pairs.
fn change_grants(
    conn: &mut dyn Conn,
    stamp: audit::Stamp<'_>,
    (name, perms): (&str, &[String]),
    event: &str,
    change: &mut GrantChange<'_>,
) -> Result<Vec<String>> {
    let rid = repo::role_id(conn, name)?;
    let mut changed = Vec::new();
    for (resource, action) in parse_all(perms)? {
        if change(conn, rid, (&resource, &action))? {
            changed.push(format!("{resource}:{action}"));
        }
    }
    if !changed.is_empty() {
        audit::record(
            conn,
            stamp,
            Event::new(event, "role", name).details_of(&Pairs {
                permissions: &changed,
            }),
        )?;
    }
    Ok(changed)
}

/// Gives a role to a user; false when already held.
pub fn assign(
    conn: &mut dyn Conn,
    stamp: audit::Stamp<'_>,
    name: &str,
    username: &str,
) -> Result<bool> {
    let rid = repo::role_id(conn, name)?;
    let uid = crate::domain::users::user_id(conn, username)?;
    let changed = repo::assign(conn, uid, rid, stamp.at)?;
    if changed {
        audit::record(
            conn,
            stamp,
            Event::new("role.assign", "role", name).details_of(&Member { user: username }),
        )?;
    }
    Ok(changed)
}

/// Takes a role from a user; false when not held.
pub fn unassign(
    conn: &mut dyn Conn,
    stamp: audit::Stamp<'_>,
    name: &str,
    username: &str,
) -> Result<bool> {
    let rid = repo::role_id(conn, name)?;
    let uid = crate::domain::users::user_id(conn, username)?;
    let changed = repo::unassign(conn, uid, rid)?;
    if changed {
        audit::record(
            conn,
            stamp,
            Event::new("role.unassign", "role", name).details_of(&Member { user: username }),
        )?;
    }
    Ok(changed)
}

/// A permission with the roles granting it.
#[derive(Debug, Clone, Serialize)]
pub struct PermissionInfo {
    /// `resource:action`.
    pub permission: String,
    /// Resource.
    pub resource: String,
    /// Action.
    pub action: String,
    /// Roles granting it.
    pub roles: Vec<String>,
}

/// Every permission known to the database.
pub fn permissions(conn: &mut dyn Conn) -> Result<Vec<PermissionInfo>> {
    let mut out: Vec<PermissionInfo> = Vec::new();
    for (resource, action, role) in repo::permission_table(conn)? {
        let permission = format!("{resource}:{action}");
        if out.last().is_none_or(|p| p.permission != permission) {
            out.push(PermissionInfo {
                permission,
                resource,
                action,
                roles: Vec::new(),
            });
        }
        if let (Some(role), Some(last)) = (role, out.last_mut()) {
            last.roles.push(role);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse() {
        assert_eq!(
            parse_permission("settings:read").unwrap(),
            ("settings".into(), "read".into())
        );
        assert_eq!(
            parse_permission("billing_v2:admin").unwrap().0,
            "billing_v2"
        );
        for bad in [
            "settings",
            "Settings:read",
            "settings:fly",
            ":read",
            "9x:read",
            "a-b:read",
        ] {
            assert_eq!(parse_permission(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn admin_implies_the_other_actions() {
        assert_eq!(
            granting("billing", "delete"),
            ["billing:delete", "billing:admin"]
        );
        assert_eq!(granting("billing", "admin"), ["billing:admin"]);
    }
}
