//! Roles and permissions: `resource:action` pairs granted to roles, roles
//! assigned to users. `admin` on a resource implies read, write and delete.
//! System roles (seeded) cannot be deleted.

use crate::domain::audit::{self, Event};
use crate::error::{Error, Result};
use crate::store::Conn;
use serde::Serialize;

/// The actions a permission may name.
pub const ACTIONS: [&str; 4] = ["read", "write", "delete", "admin"];

/// Parses `resource:action`, checking both parts.
pub fn parse_permission(s: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "invalid permission {s:?}: {why}; expected RESOURCE:ACTION, e.g. settings:read (actions: read, write, delete, admin)"
        ))
    };
    let (resource, action) = s.split_once(':').ok_or_else(|| bad("no `:`"))?;
    let resource_ok = (1..=64).contains(&resource.len())
        && resource
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
        && resource
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if !resource_ok {
        return Err(bad(
            "the resource must be lowercase letters, digits or `_`, starting with a letter",
        ));
    }
    if !ACTIONS.contains(&action) {
        return Err(bad(&format!("unknown action {action:?}")));
    }
    Ok((resource.to_owned(), action.to_owned()))
}

/// Checks a role name: lowercase letters, digits, `_`, `.`, `-`; 2 to 64, starting with a letter.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = (2..=64).contains(&name.len())
        && name.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid role name {name:?}: use 2 to 64 lowercase letters, digits, `_`, `.` or `-`, starting with a letter"
        )))
    }
}

/// The id of a role (exit 3 when absent).
pub fn role_id(conn: &mut dyn Conn, name: &str) -> Result<i64> {
    conn.query_opt("SELECT id FROM roles WHERE name = $1", &[name.into()])?
        .ok_or_else(|| {
            Error::not_found(format!("role '{name}' not found: see `keyward roles list`"))
        })?
        .int(0)
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

fn load(conn: &mut dyn Conn, name: &str) -> Result<Role> {
    let row = conn
        .query_opt(
            "SELECT id, name, description, is_system FROM roles WHERE name = $1",
            &[name.into()],
        )?
        .ok_or_else(|| {
            Error::not_found(format!("role '{name}' not found: see `keyward roles list`"))
        })?;
    let id = row.int(0)?;
    let permissions = conn
        .query(
            "SELECT p.resource, p.action FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id \
             WHERE rp.role_id = $1 ORDER BY p.resource, p.action",
            &[id.into()],
        )?
        .iter()
        .map(|r| Ok(format!("{}:{}", r.text(0)?, r.text(1)?)))
        .collect::<Result<Vec<_>>>()?;
    let members = conn
        .query(
            "SELECT u.username FROM user_roles ur JOIN users u ON u.id = ur.user_id WHERE ur.role_id = $1 ORDER BY u.username",
            &[id.into()],
        )?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<Vec<_>>>()?;
    Ok(Role {
        name: row.text(1)?,
        description: row.opt_text(2)?,
        is_system: row.bool(3)?,
        permissions,
        members,
    })
}

/// One role with its permissions and members.
pub fn show(conn: &mut dyn Conn, name: &str) -> Result<Role> {
    load(conn, name)
}

/// Every role.
pub fn list(conn: &mut dyn Conn) -> Result<Vec<Role>> {
    let names = conn
        .query("SELECT name FROM roles ORDER BY name", &[])?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<Vec<_>>>()?;
    names.iter().map(|n| load(conn, n)).collect()
}

/// Creates a role.
pub fn add(
    conn: &mut dyn Conn,
    actor: &str,
    name: &str,
    description: Option<&str>,
) -> Result<Role> {
    validate_name(name)?;
    if conn
        .query_opt("SELECT 1 FROM roles WHERE name = $1", &[name.into()])?
        .is_some()
    {
        return Err(Error::conflict(format!("role '{name}' already exists")));
    }
    let now = crate::time::now();
    conn.execute(
        "INSERT INTO roles (name, description, is_system, created_at, updated_at) VALUES ($1, $2, FALSE, $3, $3)",
        &[name.into(), description.into(), now.into()],
    )?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("role.create", "role", name)
            .details(serde_json::json!({"description": description})),
    )?;
    load(conn, name)
}

/// Deletes a role (system roles refused, exit 4).
pub fn delete(conn: &mut dyn Conn, actor: &str, name: &str) -> Result<()> {
    let role = load(conn, name)?;
    if role.is_system {
        return Err(Error::conflict(format!(
            "role '{name}' is a system role and cannot be deleted"
        )));
    }
    conn.execute("DELETE FROM roles WHERE name = $1", &[name.into()])?;
    audit::record(
        conn,
        audit::Stamp {
            actor,
            at: crate::time::now(),
        },
        Event::new("role.delete", "role", name)
            .details(serde_json::json!({"permissions": role.permissions, "members": role.members})),
    )?;
    Ok(())
}

/// Grants pairs, creating any that do not exist yet. Returns those newly granted.
pub fn grant(
    conn: &mut dyn Conn,
    actor: &str,
    name: &str,
    perms: &[String],
) -> Result<Vec<String>> {
    let rid = role_id(conn, name)?;
    let now = crate::time::now();
    let mut added = Vec::new();
    for p in perms {
        let (resource, action) = parse_permission(p)?;
        conn.execute(
            "INSERT INTO permissions (resource, action, created_at) VALUES ($1, $2, $3) ON CONFLICT (resource, action) DO NOTHING",
            &[resource.as_str().into(), action.as_str().into(), now.into()],
        )?;
        let n = conn.execute(
            "INSERT INTO role_permissions (role_id, permission_id, granted_at) \
             SELECT $1, id, $4 FROM permissions WHERE resource = $2 AND action = $3 \
             ON CONFLICT (role_id, permission_id) DO NOTHING",
            &[
                rid.into(),
                resource.as_str().into(),
                action.as_str().into(),
                now.into(),
            ],
        )?;
        if n > 0 {
            added.push(format!("{resource}:{action}"));
        }
    }
    if !added.is_empty() {
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("role.grant", "role", name)
                .details(serde_json::json!({"permissions": added})),
        )?;
    }
    Ok(added)
}

/// Revokes pairs. Returns those that were granted and now are not.
pub fn revoke(
    conn: &mut dyn Conn,
    actor: &str,
    name: &str,
    perms: &[String],
) -> Result<Vec<String>> {
    let rid = role_id(conn, name)?;
    let mut removed = Vec::new();
    for p in perms {
        let (resource, action) = parse_permission(p)?;
        let n = conn.execute(
            "DELETE FROM role_permissions WHERE role_id = $1 AND permission_id IN \
             (SELECT id FROM permissions WHERE resource = $2 AND action = $3)",
            &[rid.into(), resource.as_str().into(), action.as_str().into()],
        )?;
        if n > 0 {
            removed.push(format!("{resource}:{action}"));
        }
    }
    if !removed.is_empty() {
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("role.revoke", "role", name)
                .details(serde_json::json!({"permissions": removed})),
        )?;
    }
    Ok(removed)
}

/// Gives a role to a user; false when already held.
pub fn assign(conn: &mut dyn Conn, actor: &str, name: &str, username: &str) -> Result<bool> {
    let rid = role_id(conn, name)?;
    let uid = crate::domain::users::user_id(conn, username)?;
    let n = conn.execute(
        "INSERT INTO user_roles (user_id, role_id, assigned_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, role_id) DO NOTHING",
        &[uid.into(), rid.into(), crate::time::now().into()],
    )?;
    if n > 0 {
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("role.assign", "role", name).details(serde_json::json!({"user": username})),
        )?;
    }
    Ok(n > 0)
}

/// Takes a role from a user; false when not held.
pub fn unassign(conn: &mut dyn Conn, actor: &str, name: &str, username: &str) -> Result<bool> {
    let rid = role_id(conn, name)?;
    let uid = crate::domain::users::user_id(conn, username)?;
    let n = conn.execute(
        "DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2",
        &[uid.into(), rid.into()],
    )?;
    if n > 0 {
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("role.unassign", "role", name)
                .details(serde_json::json!({"user": username})),
        )?;
    }
    Ok(n > 0)
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
    let rows = conn.query(
        "SELECT p.resource, p.action, r.name FROM permissions p \
         LEFT JOIN role_permissions rp ON rp.permission_id = p.id LEFT JOIN roles r ON r.id = rp.role_id \
         ORDER BY p.resource, p.action, r.name",
        &[],
    )?;
    let mut out: Vec<PermissionInfo> = Vec::new();
    for r in &rows {
        let (resource, action, role) = (r.text(0)?, r.text(1)?, r.opt_text(2)?);
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
}
