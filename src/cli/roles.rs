//! `keyward roles`: roles, their permissions, and who holds them.

use crate::context::Context;
use crate::domain::roles;
use crate::error::Result;
use crate::output::Reply;
use crate::store;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum RolesCommand {
    /// Create a role
    Add {
        /// Role name
        name: String,
        /// What the role is for
        #[arg(long)]
        description: Option<String>,
    },
    /// List roles
    List,
    /// Show a role's permissions and members
    Show { name: String },
    /// Delete a role (system roles cannot be deleted)
    Delete { name: String },
    /// Grant RESOURCE:ACTION pairs (created if new; admin implies read, write, delete)
    Grant {
        name: String,
        /// RESOURCE:ACTION, e.g. settings:read
        #[arg(required = true, value_name = "RESOURCE:ACTION")]
        permissions: Vec<String>,
    },
    /// Revoke RESOURCE:ACTION pairs
    Revoke {
        name: String,
        #[arg(required = true, value_name = "RESOURCE:ACTION")]
        permissions: Vec<String>,
    },
    /// Give the role to a user
    Assign { name: String, username: String },
    /// Take the role from a user
    Unassign { name: String, username: String },
    /// List every permission and the roles granting it
    Permissions,
}

pub(crate) fn run(ctx: &mut Context, cmd: RolesCommand) -> Result<Reply> {
    let actor = ctx.actor().to_owned();
    match cmd {
        RolesCommand::Add { name, description } => {
            let role = store::write(ctx.store()?, |c| {
                roles::add(c, &actor, &name, description.as_deref())
            })?;
            Ok(Reply::object(role)
                .with_message(format!("created role '{name}'"))
                .quiet_table())
        }
        RolesCommand::List => {
            let list = store::read(ctx.store()?, roles::list)?;
            Ok(Reply::list(
                &["name", "description", "is_system", "permissions", "members"],
                list,
            ))
        }
        RolesCommand::Show { name } => Ok(Reply::object(store::read(ctx.store()?, |c| {
            roles::show(c, &name)
        })?)),
        RolesCommand::Delete { name } => {
            let role = store::read(ctx.store()?, |c| roles::show(c, &name))?;
            if !role.is_system {
                ctx.confirm(&format!(
                    "delete role '{name}' ({} member(s))",
                    role.members.len()
                ))?;
            }
            store::write(ctx.store()?, |c| roles::delete(c, &actor, &name))?;
            Ok(
                Reply::object(serde_json::json!({"name": name, "deleted": true}))
                    .with_message(format!("deleted role '{name}'"))
                    .quiet_table(),
            )
        }
        RolesCommand::Grant { name, permissions } => {
            let added = store::write(ctx.store()?, |c| {
                roles::grant(c, &actor, &name, &permissions)
            })?;
            let role = store::read(ctx.store()?, |c| roles::show(c, &name))?;
            let msg = if added.is_empty() {
                format!("role '{name}' already had them: nothing changed")
            } else {
                format!("granted {} to '{name}'", added.join(", "))
            };
            Ok(Reply::object(role).with_message(msg).quiet_table())
        }
        RolesCommand::Revoke { name, permissions } => {
            store::read(ctx.store()?, |c| roles::show(c, &name))?;
            ctx.confirm(&format!(
                "revoke {} from role '{name}'",
                permissions.join(", ")
            ))?;
            let removed = store::write(ctx.store()?, |c| {
                roles::revoke(c, &actor, &name, &permissions)
            })?;
            let role = store::read(ctx.store()?, |c| roles::show(c, &name))?;
            let msg = if removed.is_empty() {
                format!("role '{name}' did not have them: nothing changed")
            } else {
                format!("revoked {} from '{name}'", removed.join(", "))
            };
            Ok(Reply::object(role).with_message(msg).quiet_table())
        }
        RolesCommand::Assign { name, username } => {
            let changed =
                store::write(ctx.store()?, |c| roles::assign(c, &actor, &name, &username))?;
            let msg = if changed {
                format!("'{username}' now has role '{name}'")
            } else {
                format!("'{username}' already had role '{name}'")
            };
            Ok(Reply::object(
                serde_json::json!({"role": name, "username": username, "changed": changed}),
            )
            .with_message(msg)
            .quiet_table())
        }
        RolesCommand::Unassign { name, username } => {
            let changed = store::write(ctx.store()?, |c| {
                roles::unassign(c, &actor, &name, &username)
            })?;
            let msg = if changed {
                format!("'{username}' no longer has role '{name}'")
            } else {
                format!("'{username}' did not have role '{name}'")
            };
            Ok(Reply::object(
                serde_json::json!({"role": name, "username": username, "changed": changed}),
            )
            .with_message(msg)
            .quiet_table())
        }
        RolesCommand::Permissions => {
            let list = store::read(ctx.store()?, roles::permissions)?;
            Ok(Reply::list(&["permission", "roles"], list))
        }
    }
}
