//! The roles' SQL: roles, permissions, grants and memberships, read by column name.

use crate::error::{Error, Result};
use crate::ids::{RoleId, UserId};
use crate::store::Conn;
use std::collections::HashMap;
use time::OffsetDateTime;

/// A row of `roles`.
pub struct RoleRow {
    /// Row id.
    pub id: RoleId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Seeded and protected.
    pub is_system: bool,
}

fn not_found(name: &str) -> Error {
    Error::not_found(format!("role '{name}' not found: see `keyward roles list`"))
}

fn role_row(r: &crate::store::Row) -> Result<RoleRow> {
    Ok(RoleRow {
        id: RoleId(r.int("id")?),
        name: r.text("name")?,
        description: r.opt_text("description")?,
        is_system: r.bool("is_system")?,
    })
}

/// The id of a role (exit 3 when absent).
pub fn role_id(conn: &mut dyn Conn, name: &str) -> Result<RoleId> {
    Ok(RoleId(
        conn.query_opt("SELECT id FROM roles WHERE name = $1", &[name.into()])?
            .ok_or_else(|| not_found(name))?
            .int("id")?,
    ))
}

/// One role's row (exit 3 when absent).
pub fn find(conn: &mut dyn Conn, name: &str) -> Result<RoleRow> {
    let row = conn
        .query_opt(
            "SELECT id, name, description, is_system FROM roles WHERE name = $1",
            &[name.into()],
        )?
        .ok_or_else(|| not_found(name))?;
    role_row(&row)
}

/// Whether a role of that name exists.
pub fn exists(conn: &mut dyn Conn, name: &str) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 AS found FROM roles WHERE name = $1",
            &[name.into()],
        )?
        .is_some())
}

/// Every role, by name.
pub fn all(conn: &mut dyn Conn) -> Result<Vec<RoleRow>> {
    conn.query(
        "SELECT id, name, description, is_system FROM roles ORDER BY name",
        &[],
    )?
    .iter()
    .map(role_row)
    .collect()
}

/// A `WHERE` clause on `table.role_id` and its parameter, or nothing for every role.
fn only_role(table: &str, only: Option<RoleId>) -> (String, Vec<crate::store::Value>) {
    match only {
        Some(id) => (format!(" WHERE {table}.role_id = $1"), vec![id.into()]),
        None => (String::new(), Vec::new()),
    }
}

/// `resource:action` pairs granted, per role (in resource, action order);
/// one role when `only` is given, else every role.
pub fn grants(conn: &mut dyn Conn, only: Option<RoleId>) -> Result<HashMap<RoleId, Vec<String>>> {
    let (filter, params) = only_role("rp", only);
    let rows = conn.query(
        &format!(
            "SELECT rp.role_id, p.resource, p.action FROM role_permissions rp \
             JOIN permissions p ON p.id = rp.permission_id{filter} ORDER BY p.resource, p.action"
        ),
        &params,
    )?;
    let mut out: HashMap<RoleId, Vec<String>> = HashMap::new();
    for r in &rows {
        out.entry(RoleId(r.int("role_id")?))
            .or_default()
            .push(format!("{}:{}", r.text("resource")?, r.text("action")?));
    }
    Ok(out)
}

/// Usernames holding each role (by username); one role when `only` is given.
pub fn members(conn: &mut dyn Conn, only: Option<RoleId>) -> Result<HashMap<RoleId, Vec<String>>> {
    let (filter, params) = only_role("ur", only);
    let rows = conn.query(
        &format!(
            "SELECT ur.role_id, u.username FROM user_roles ur JOIN users u ON u.id = ur.user_id{filter} \
             ORDER BY u.username"
        ),
        &params,
    )?;
    let mut out: HashMap<RoleId, Vec<String>> = HashMap::new();
    for r in &rows {
        out.entry(RoleId(r.int("role_id")?))
            .or_default()
            .push(r.text("username")?);
    }
    Ok(out)
}

/// Inserts a role that is not a system role.
pub fn insert(
    conn: &mut dyn Conn,
    name: &str,
    description: Option<&str>,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "INSERT INTO roles (name, description, is_system, created_at, updated_at) VALUES ($1, $2, FALSE, $3, $3)",
        &[name.into(), description.into(), now.into()],
    )?;
    Ok(())
}

/// Deletes a role by id (grants and memberships go with it).
pub fn delete(conn: &mut dyn Conn, id: RoleId) -> Result<()> {
    conn.execute("DELETE FROM roles WHERE id = $1", &[id.into()])?;
    Ok(())
}

/// Grants `resource:action` to a role, creating the pair if new; true when newly granted.
pub fn grant(
    conn: &mut dyn Conn,
    role: RoleId,
    (resource, action): (&str, &str),
    now: OffsetDateTime,
) -> Result<bool> {
    conn.execute(
        "INSERT INTO permissions (resource, action, created_at) VALUES ($1, $2, $3) ON CONFLICT (resource, action) DO NOTHING",
        &[resource.into(), action.into(), now.into()],
    )?;
    let n = conn.execute(
        "INSERT INTO role_permissions (role_id, permission_id, granted_at) \
         SELECT $1, id, $4 FROM permissions WHERE resource = $2 AND action = $3 \
         ON CONFLICT (role_id, permission_id) DO NOTHING",
        &[role.into(), resource.into(), action.into(), now.into()],
    )?;
    Ok(n > 0)
}

/// Revokes `resource:action` from a role; true when it was granted.
pub fn revoke(conn: &mut dyn Conn, role: RoleId, (resource, action): (&str, &str)) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM role_permissions WHERE role_id = $1 AND permission_id IN \
         (SELECT id FROM permissions WHERE resource = $2 AND action = $3)",
        &[role.into(), resource.into(), action.into()],
    )?;
    Ok(n > 0)
}

/// Gives a role to a user; true when newly held.
pub fn assign(
    conn: &mut dyn Conn,
    user: UserId,
    role: RoleId,
    now: OffsetDateTime,
) -> Result<bool> {
    let n = conn.execute(
        "INSERT INTO user_roles (user_id, role_id, assigned_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, role_id) DO NOTHING",
        &[user.into(), role.into(), now.into()],
    )?;
    Ok(n > 0)
}

/// Takes a role from a user; true when it was held.
pub fn unassign(conn: &mut dyn Conn, user: UserId, role: RoleId) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2",
        &[user.into(), role.into()],
    )?;
    Ok(n > 0)
}

/// Every permission with the roles granting it: `(resource, action, role)`
/// rows in resource, action, role order (role `None` when none grants it).
pub fn permission_table(conn: &mut dyn Conn) -> Result<Vec<(String, String, Option<String>)>> {
    conn.query(
        "SELECT p.resource, p.action, r.name AS role FROM permissions p \
         LEFT JOIN role_permissions rp ON rp.permission_id = p.id LEFT JOIN roles r ON r.id = rp.role_id \
         ORDER BY p.resource, p.action, r.name",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.text("resource")?, r.text("action")?, r.opt_text("role")?)))
    .collect()
}
