//! `keyward roles`: roles, their permissions, and who holds them.

use crate::context::Context;
use crate::error::Result;
use crate::ops::roles::{self as ops, Changed, Membership, Pairs};
use crate::output::Reply;
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
    match cmd {
        RolesCommand::Add { name, description } => {
            let role = ops::add(ctx, &ops::AddRole { name, description })?;
            let msg = format!("created role '{}'", role.name);
            Ok(Reply::object(role).with_message(msg).quiet_table())
        }
        RolesCommand::List => Ok(Reply::rows(ops::list(ctx)?)),
        RolesCommand::Show { name } => Ok(Reply::object(ops::show(ctx, &name)?)),
        RolesCommand::Delete { name } => Ok(Reply::object(ops::delete(ctx, &name)?)
            .with_message(format!("deleted role '{name}'"))
            .quiet_table()),
        RolesCommand::Grant { name, permissions } => {
            let done = ops::grant(ctx, &Pairs { name, permissions })?;
            Ok(changed(done, "already had them", "granted", "to"))
        }
        RolesCommand::Revoke { name, permissions } => {
            let done = ops::revoke(ctx, &Pairs { name, permissions })?;
            Ok(changed(done, "did not have them", "revoked", "from"))
        }
        RolesCommand::Assign { name, username } => {
            let change = ops::assign(
                ctx,
                &Membership {
                    role: name,
                    username,
                },
            )?;
            let msg = if change.changed {
                format!("'{}' now has role '{}'", change.username, change.role)
            } else {
                format!("'{}' already had role '{}'", change.username, change.role)
            };
            Ok(Reply::object(change).with_message(msg).quiet_table())
        }
        RolesCommand::Unassign { name, username } => {
            let change = ops::unassign(
                ctx,
                &Membership {
                    role: name,
                    username,
                },
            )?;
            let msg = if change.changed {
                format!("'{}' no longer has role '{}'", change.username, change.role)
            } else {
                format!("'{}' did not have role '{}'", change.username, change.role)
            };
            Ok(Reply::object(change).with_message(msg).quiet_table())
        }
        RolesCommand::Permissions => Ok(Reply::rows(ops::permissions(ctx)?)),
    }
}

/// The reply to a grant or revoke: the role, and what changed.
fn changed(done: Changed, unchanged: &str, verb: &str, preposition: &str) -> Reply {
    let name = &done.role.name;
    let msg = if done.changed.is_empty() {
        format!("role '{name}' {unchanged}: nothing changed")
    } else {
        format!("{verb} {} {preposition} '{name}'", done.changed.join(", "))
    };
    Reply::object(done.role).with_message(msg).quiet_table()
}
