//! Seed data: the built-in permissions and the 4 system roles of SPEC §2,
//! each grant with the seed version that introduced it.
//!
//! `seed_grants` records every built-in grant applied to a system role. A
//! later keyward that adds a permission (the next seed version) brings it to
//! the existing system roles once, through `db migrate` or `db seed`; a grant
//! already recorded is never applied again, so an operator's revoke stays
//! revoked. Creating a system role applies and records all its grants.

use crate::domain::audit::{self, Event};
use crate::error::{Error, Result};
use crate::store::Conn;
use serde::Serialize;
use std::collections::BTreeSet;

/// A built-in permission, `resource:action`, and the seed version that introduced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// `resource:action`.
    pub permission: &'static str,
    /// The seed version that introduced it (1: the original 13).
    pub since: u32,
}

/// A system role and the built-in grants it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemRole {
    /// The role's name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Its grants, each with the seed version that introduced it.
    pub grants: Vec<Builtin>,
}

/// A seed list: the permissions and the system roles with their grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedList {
    /// Every built-in permission.
    pub permissions: Vec<Builtin>,
    /// Every system role.
    pub roles: Vec<SystemRole>,
}

/// The seeded permissions of seed version 1, `resource:action`.
pub const PERMISSIONS: [&str; 13] = [
    "users:read",
    "users:write",
    "users:delete",
    "roles:read",
    "roles:write",
    "settings:read",
    "settings:write",
    "settings:delete",
    "flags:read",
    "flags:write",
    "apikeys:read",
    "apikeys:write",
    "audit:read",
];

/// The system roles with their descriptions.
pub const SYSTEM_ROLES: [(&str, &str); 4] = [
    ("admin", "Full access to everything"),
    (
        "operator",
        "Day-to-day operations; cannot delete users or settings, nor change roles",
    ),
    (
        "developer",
        "Reads and writes settings and feature flags, reads the audit log",
    ),
    ("viewer", "Read-only access"),
];

/// Whether a system role carries a permission of seed version 1 (SPEC §2).
fn v1_grant(role: &str, permission: &str) -> bool {
    match role {
        "admin" => true,
        "operator" => !matches!(
            permission,
            "users:delete" | "settings:delete" | "roles:write"
        ),
        "developer" => matches!(
            permission,
            "settings:read" | "settings:write" | "flags:read" | "flags:write" | "audit:read"
        ),
        "viewer" => permission.ends_with(":read"),
        _ => false,
    }
}

/// This keyward's seed list. A new built-in permission is added here with the
/// next seed version, and granted to the system roles that should carry it.
pub fn builtin() -> SeedList {
    let v1 = |permission| Builtin {
        permission,
        since: 1,
    };
    SeedList {
        permissions: PERMISSIONS.into_iter().map(v1).collect(),
        roles: SYSTEM_ROLES
            .into_iter()
            .map(|(name, description)| SystemRole {
                name,
                description,
                grants: PERMISSIONS
                    .into_iter()
                    .filter(|p| v1_grant(name, p))
                    .map(v1)
                    .collect(),
            })
            .collect(),
    }
}

/// The permissions a system role carries in this keyward's seed list.
pub fn role_permissions(role: &str) -> Vec<&'static str> {
    builtin()
        .roles
        .into_iter()
        .filter(|r| r.name == role)
        .flat_map(|r| r.grants)
        .map(|g| g.permission)
        .collect()
}

/// What seeding added.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seeded {
    /// Permissions created.
    pub permissions_added: u64,
    /// System roles created.
    pub roles_added: u64,
    /// Role grants added.
    pub grants_added: u64,
}

impl Seeded {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        self.permissions_added + self.roles_added + self.grants_added > 0
    }
}

/// Ensures this keyward's seed data exists (see [`seed_with`]).
pub fn seed(conn: &mut dyn Conn, stamp: audit::Stamp<'_>) -> Result<Seeded> {
    seed_with(conn, &builtin(), stamp)
}

/// Brings this keyward's new built-in grants to existing system roles (see [`upgrade_with`]).
pub fn upgrade(conn: &mut dyn Conn, stamp: audit::Stamp<'_>) -> Result<Seeded> {
    upgrade_with(conn, &builtin(), stamp)
}

/// Ensures `list` exists, inside an audited write transaction: missing
/// permissions, missing system roles, and every grant not yet recorded in
/// `seed_grants` (all of a new role's). Audited as `db.seed` when something changed.
pub fn seed_with(conn: &mut dyn Conn, list: &SeedList, stamp: audit::Stamp<'_>) -> Result<Seeded> {
    let mut out = Seeded::default();
    add_permissions(conn, list, stamp, &mut out)?;
    for role in &list.roles {
        out.roles_added += conn.execute(
            "INSERT INTO roles (name, description, is_system, created_at, updated_at) \
             VALUES ($1, $2, TRUE, $3, $3) ON CONFLICT (name) DO NOTHING",
            &[role.name.into(), role.description.into(), stamp.at.into()],
        )?;
    }
    apply_grants(conn, list, stamp, &mut out)?;
    finish(conn, stamp, out)
}

/// For `db migrate`: when the database has its system roles, creates the
/// built-in permissions it lacks and applies every grant of `list` not yet
/// recorded in `seed_grants`; without system roles (never seeded) it does nothing.
pub fn upgrade_with(
    conn: &mut dyn Conn,
    list: &SeedList,
    stamp: audit::Stamp<'_>,
) -> Result<Seeded> {
    let mut out = Seeded::default();
    if system_roles(conn)?.is_empty() {
        return Ok(out);
    }
    add_permissions(conn, list, stamp, &mut out)?;
    apply_grants(conn, list, stamp, &mut out)?;
    finish(conn, stamp, out)
}

/// Whether [`upgrade_with`] would change anything (read only): the database
/// has system roles, and lacks a permission of `list` or has not recorded one
/// of its grants to an existing system role.
pub fn upgrade_pending(conn: &mut dyn Conn, list: &SeedList) -> Result<bool> {
    let existing = system_roles(conn)?;
    if existing.is_empty() {
        return Ok(false);
    }
    let have: BTreeSet<(String, String)> = conn
        .query("SELECT resource, action FROM permissions", &[])?
        .iter()
        .map(|r| Ok((r.text("resource")?, r.text("action")?)))
        .collect::<Result<_>>()?;
    let owned = |p: &str| {
        let (resource, action) = split(p);
        (resource.to_owned(), action.to_owned())
    };
    if list
        .permissions
        .iter()
        .any(|p| !have.contains(&owned(p.permission)))
    {
        return Ok(true);
    }
    let done = recorded(conn)?;
    Ok(list
        .roles
        .iter()
        .filter(|r| existing.contains(r.name))
        .flat_map(|r| r.grants.iter().map(move |g| (r.name, g.permission)))
        .any(|(role, p)| {
            let (resource, action) = owned(p);
            !done.contains(&(role.to_owned(), resource, action))
        }))
}

/// Audits a seeding that changed something.
fn finish(conn: &mut dyn Conn, stamp: audit::Stamp<'_>, out: Seeded) -> Result<Seeded> {
    if out.changed() {
        let details = serde_json::to_value(&out).map_err(Error::internal)?;
        audit::record(
            conn,
            stamp,
            Event::new("db.seed", "database", "seed").details(details),
        )?;
    }
    Ok(out)
}

fn split(permission: &str) -> (&str, &str) {
    permission.split_once(':').unwrap_or((permission, ""))
}

/// Creates the permissions of `list` the database lacks.
fn add_permissions(
    conn: &mut dyn Conn,
    list: &SeedList,
    stamp: audit::Stamp<'_>,
    out: &mut Seeded,
) -> Result<()> {
    for p in &list.permissions {
        let (resource, action) = split(p.permission);
        out.permissions_added += conn.execute(
            "INSERT INTO permissions (resource, action, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (resource, action) DO NOTHING",
            &[resource.into(), action.into(), stamp.at.into()],
        )?;
    }
    Ok(())
}

/// The names of the database's system roles.
fn system_roles(conn: &mut dyn Conn) -> Result<BTreeSet<String>> {
    conn.query("SELECT name FROM roles WHERE is_system = TRUE", &[])?
        .iter()
        .map(|r| r.text("name"))
        .collect()
}

/// The built-in grants already applied, as `(role, resource, action)`.
fn recorded(conn: &mut dyn Conn) -> Result<BTreeSet<(String, String, String)>> {
    conn.query("SELECT role_name, resource, action FROM seed_grants", &[])?
        .iter()
        .map(|r| Ok((r.text("role_name")?, r.text("resource")?, r.text("action")?)))
        .collect()
}

/// Applies, to the existing system roles, every grant of `list` not yet
/// recorded in `seed_grants`, and records it there.
fn apply_grants(
    conn: &mut dyn Conn,
    list: &SeedList,
    stamp: audit::Stamp<'_>,
    out: &mut Seeded,
) -> Result<()> {
    let existing = system_roles(conn)?;
    let done = recorded(conn)?;
    for role in list.roles.iter().filter(|r| existing.contains(r.name)) {
        for grant in &role.grants {
            let (resource, action) = split(grant.permission);
            let key = (role.name.to_owned(), resource.to_owned(), action.to_owned());
            if done.contains(&key) {
                continue;
            }
            out.grants_added += conn.execute(
                "INSERT INTO role_permissions (role_id, permission_id, granted_at) \
                 SELECT r.id, p.id, $4 FROM roles r, permissions p \
                 WHERE r.name = $1 AND p.resource = $2 AND p.action = $3 \
                 ON CONFLICT (role_id, permission_id) DO NOTHING",
                &[
                    role.name.into(),
                    resource.into(),
                    action.into(),
                    stamp.at.into(),
                ],
            )?;
            conn.execute(
                "INSERT INTO seed_grants (role_name, resource, action, since, applied_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    role.name.into(),
                    resource.into(),
                    action.into(),
                    grant.since.into(),
                    stamp.at.into(),
                ],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_roles_match_the_spec() {
        assert_eq!(role_permissions("admin").len(), 13);
        assert_eq!(role_permissions("operator").len(), 10);
        assert!(!role_permissions("operator").contains(&"roles:write"));
        assert_eq!(
            role_permissions("developer"),
            [
                "settings:read",
                "settings:write",
                "flags:read",
                "flags:write",
                "audit:read"
            ]
        );
        assert_eq!(role_permissions("viewer").len(), 6);
    }

    #[test]
    fn every_grant_is_a_listed_permission_of_no_later_version() {
        let list = builtin();
        for role in &list.roles {
            for g in &role.grants {
                let p = list
                    .permissions
                    .iter()
                    .find(|p| p.permission == g.permission);
                assert!(
                    p.is_some_and(|p| p.since <= g.since),
                    "{}: {g:?}",
                    role.name
                );
            }
        }
        assert!(list.permissions.iter().all(|p| p.since == 1));
    }
}
