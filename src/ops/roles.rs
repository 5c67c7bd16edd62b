//! Operations of `keyward roles`: each verb in its transaction, returning views.

use crate::context::Context;
use crate::domain::roles::{self, PermissionInfo, Role};
use crate::error::Result;
use crate::ident::{self, Ident};
use crate::output::TableRow;
use crate::store;
use serde::Serialize;

impl TableRow for Role {
    const COLUMNS: &'static [&'static str] =
        &["name", "description", "is_system", "permissions", "members"];
}

impl TableRow for PermissionInfo {
    const COLUMNS: &'static [&'static str] = &["permission", "roles"];
}

use super::audited;

/// `roles add`.
#[derive(Debug, Clone)]
pub struct AddRole {
    /// The role's name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
}

/// Creates a role.
pub fn add(ctx: &mut Context, req: &AddRole) -> Result<Role> {
    ident::check(&[Ident::Role(&req.name)])?;
    if let Some(d) = &req.description {
        ident::check(&[Ident::Description(d)])?;
    }
    audited(ctx, |c, s| {
        roles::add(c, s, &req.name, req.description.as_deref())
    })
}

/// Every role with its permissions and members (a constant number of queries).
pub fn list(ctx: &mut Context) -> Result<Vec<Role>> {
    store::read(ctx.store()?, roles::list)
}

/// One role.
pub fn show(ctx: &mut Context, name: &str) -> Result<Role> {
    ident::check(&[Ident::Role(name)])?;
    store::read(ctx.store()?, |c| roles::show(c, name))
}

/// What `roles delete` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// The role's name.
    pub name: String,
    /// Always true.
    pub deleted: bool,
}

/// Deletes a role after confirmation (none asked for a system role: it is refused).
pub fn delete(ctx: &mut Context, name: &str) -> Result<Deleted> {
    ident::check(&[Ident::Role(name)])?;
    let role = show(ctx, name)?;
    if !role.is_system {
        ctx.confirm(&format!(
            "delete role '{name}' ({} member(s))",
            role.members.len()
        ))?;
    }
    audited(ctx, |c, s| roles::delete(c, s, name))?;
    Ok(Deleted {
        name: name.to_owned(),
        deleted: true,
    })
}

/// `roles grant` / `roles revoke`.
#[derive(Debug, Clone)]
pub struct Pairs {
    /// The role's name.
    pub name: String,
    /// `resource:action` pairs.
    pub permissions: Vec<String>,
}

/// A role after a grant or revoke, and the pairs that changed.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The role as it is now.
    pub role: Role,
    /// The pairs newly granted or revoked (empty: nothing changed).
    pub changed: Vec<String>,
}

/// The role's name and every pair, checked before anything is read.
fn check_pairs(req: &Pairs) -> Result<()> {
    ident::check(&[Ident::Role(&req.name)])?;
    req.permissions
        .iter()
        .try_for_each(|p| ident::check(&[Ident::Permission(p)]))
}

/// Grants pairs (creating new ones); one bad pair changes nothing.
pub fn grant(ctx: &mut Context, req: &Pairs) -> Result<Changed> {
    check_pairs(req)?;
    audited(ctx, |c, s| {
        let changed = roles::grant(c, s, &req.name, &req.permissions)?;
        Ok(Changed {
            role: roles::show(c, &req.name)?,
            changed,
        })
    })
}

/// Revokes pairs after confirmation.
pub fn revoke(ctx: &mut Context, req: &Pairs) -> Result<Changed> {
    check_pairs(req)?;
    show(ctx, &req.name)?;
    ctx.confirm(&format!(
        "revoke {} from role '{}'",
        req.permissions.join(", "),
        req.name
    ))?;
    audited(ctx, |c, s| {
        let changed = roles::revoke(c, s, &req.name, &req.permissions)?;
        Ok(Changed {
            role: roles::show(c, &req.name)?,
            changed,
        })
    })
}

/// `roles assign` / `roles unassign`.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The role's name.
    pub role: String,
    /// The user's name.
    pub username: String,
}

/// What `assign` and `unassign` report.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipChange {
    /// The role.
    pub role: String,
    /// The user.
    pub username: String,
    /// Whether anything changed.
    pub changed: bool,
}

/// Gives a role to a user.
pub fn assign(ctx: &mut Context, req: &Membership) -> Result<MembershipChange> {
    ident::check(&[Ident::Role(&req.role), Ident::Username(&req.username)])?;
    let changed = audited(ctx, |c, s| roles::assign(c, s, &req.role, &req.username))?;
    Ok(MembershipChange {
        role: req.role.clone(),
        username: req.username.clone(),
        changed,
    })
}

/// Takes a role from a user.
pub fn unassign(ctx: &mut Context, req: &Membership) -> Result<MembershipChange> {
    ident::check(&[Ident::Role(&req.role), Ident::Username(&req.username)])?;
    let changed = audited(ctx, |c, s| roles::unassign(c, s, &req.role, &req.username))?;
    Ok(MembershipChange {
        role: req.role.clone(),
        username: req.username.clone(),
        changed,
    })
}

/// Every permission with the roles granting it.
pub fn permissions(ctx: &mut Context) -> Result<Vec<PermissionInfo>> {
    store::read(ctx.store()?, roles::permissions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_are_fields() {
        crate::output::assert_columns(&Role {
            name: "r".into(),
            description: None,
            is_system: false,
            permissions: Vec::new(),
            members: Vec::new(),
        });
        crate::output::assert_columns(&PermissionInfo {
            permission: "a:read".into(),
            resource: "a".into(),
            action: "read".into(),
            roles: Vec::new(),
        });
    }
}
