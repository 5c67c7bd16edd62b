//! Seed data: the 13 permissions and 4 system roles of SPEC §2. Idempotent.

use crate::domain::audit::{self, Event};
use crate::error::Result;
use crate::store::Conn;
use serde::Serialize;

/// The seeded permissions, `resource:action`.
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

/// The permissions a system role carries.
pub fn role_permissions(role: &str) -> Vec<&'static str> {
    PERMISSIONS
        .iter()
        .copied()
        .filter(|p| match role {
            "admin" => true,
            "operator" => !matches!(*p, "users:delete" | "settings:delete" | "roles:write"),
            "developer" => matches!(
                *p,
                "settings:read" | "settings:write" | "flags:read" | "flags:write" | "audit:read"
            ),
            "viewer" => p.ends_with(":read"),
            _ => false,
        })
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

/// Ensures the seed data exists (inside a write transaction): missing
/// permissions, and missing system roles with their grants. Grants an
/// operator revoked later are not restored.
pub fn seed(conn: &mut dyn Conn, actor: &str) -> Result<Seeded> {
    let now = crate::time::now();
    let mut out = Seeded::default();
    for p in PERMISSIONS {
        let (resource, action) = p.split_once(':').unwrap_or((p, ""));
        out.permissions_added += conn.execute(
            "INSERT INTO permissions (resource, action, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (resource, action) DO NOTHING",
            &[resource.into(), action.into(), now.into()],
        )?;
    }
    for (name, description) in SYSTEM_ROLES {
        let created = conn.execute(
            "INSERT INTO roles (name, description, is_system, created_at, updated_at) \
             VALUES ($1, $2, TRUE, $3, $3) ON CONFLICT (name) DO NOTHING",
            &[name.into(), description.into(), now.into()],
        )?;
        out.roles_added += created;
        // Grants go with a role's creation only: an operator's later revoke stays revoked.
        if created == 0 {
            continue;
        }
        for p in role_permissions(name) {
            let (resource, action) = p.split_once(':').unwrap_or((p, ""));
            out.grants_added += conn.execute(
                "INSERT INTO role_permissions (role_id, permission_id, granted_at) \
                 SELECT r.id, p.id, $4 FROM roles r, permissions p \
                 WHERE r.name = $1 AND p.resource = $2 AND p.action = $3 \
                 ON CONFLICT (role_id, permission_id) DO NOTHING",
                &[name.into(), resource.into(), action.into(), now.into()],
            )?;
        }
    }
    if out.changed() {
        audit::record(
            conn,
            audit::Stamp {
                actor,
                at: crate::time::now(),
            },
            Event::new("db.seed", "database", "seed")
                .details(serde_json::to_value(&out).unwrap_or_default()),
        )?;
    }
    Ok(out)
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
}
