//! `keyward flags`: feature flags defined once (name, description, bucketing
//! group) and switched per environment (`--env`): on or off, a rollout
//! percentage, targeted users and roles.

use super::flags_eval::{self, EvalArgs, ExportArgs};
use crate::config::Format;
use crate::context::Context;
use crate::error::Result;
use crate::ident::shown;
use crate::ops::flags::manage::{
    self as ops, AddRequest, CopyRequest, FlagView, PercentageRequest, StateRequest, Switched,
    TargetRequest,
};
use crate::output::{self, Reply};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

/// The users and roles `target` and `untarget` name (at least one).
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub(crate) struct Targets {
    /// A username (repeatable); need not exist yet
    #[arg(long = "user", value_name = "USER")]
    users: Vec<String>,
    /// A role name (repeatable); need not exist yet
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum FlagsCommand {
    /// Define a flag (global); with --enabled or --percentage also set its state in --env
    Add {
        /// Flag name: letters, digits, `_`, `.`, `-` (case-sensitive)
        name: String,
        /// What the flag is for
        #[arg(long)]
        description: Option<String>,
        /// Bucketing group (Unleash's groupId): flags sharing one roll out to the same users [default: the name]
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Also switch it on in the current environment
        #[arg(long)]
        enabled: bool,
        /// Also set its rollout percentage (0 to 100) in the current environment
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        percentage: Option<i64>,
    },
    /// List every flag with its state in --env (never configured there: off, 0 %)
    List,
    /// Show a flag's definition and its state in every environment where it is configured
    Show {
        /// Flag name
        name: String,
    },
    /// Switch a flag on in --env
    Enable {
        /// Flag name
        name: String,
    },
    /// Switch a flag off in --env
    Disable {
        /// Flag name
        name: String,
    },
    /// Set a flag's rollout percentage in --env
    Set {
        /// Flag name
        name: String,
        /// Percentage of users (by bucket) the flag is on for, 0 to 100
        #[arg(long, value_name = "N", required = true, allow_negative_numbers = true)]
        percentage: i64,
    },
    /// Turn a flag on for users or roles in --env, whatever the percentage
    Target {
        /// Flag name
        name: String,
        #[command(flatten)]
        targets: Targets,
    },
    /// Stop targeting users or roles in --env
    Untarget {
        /// Flag name
        name: String,
        #[command(flatten)]
        targets: Targets,
    },
    /// Delete a flag: its definition and its state in every environment
    Delete {
        /// Flag name
        name: String,
    },
    /// Copy a flag's state (on/off, percentage, targets) from one environment to another
    Copy {
        /// Flag name
        name: String,
        /// Source environment
        #[arg(long, value_name = "ENV")]
        from: String,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
    },
    /// Decide a flag for users in this environment: enabled, reason and bucket (exit 3 for an unknown flag)
    Eval(EvalArgs),
    /// Print this environment's flags for applications to evaluate offline
    Export(ExportArgs),
}

pub(crate) fn run(ctx: &mut Context, cmd: FlagsCommand) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let at = |name: String| StateRequest {
        name,
        env: env.clone(),
    };
    match cmd {
        FlagsCommand::Add {
            name,
            description,
            group,
            enabled,
            percentage,
        } => {
            let req = AddRequest {
                name,
                description,
                group,
                enabled,
                percentage,
                env: env.clone(),
            };
            add(ctx, &req)
        }
        FlagsCommand::List => Ok(Reply::rows(ops::list(ctx, &env)?)),
        FlagsCommand::Show { name } => {
            let view = ops::show(ctx, &name)?;
            Ok(if ctx.config.output == Format::Table {
                Reply::object(show_table(&view))
            } else {
                Reply::object(view)
            })
        }
        FlagsCommand::Enable { name } => Ok(enable(&ops::enable(ctx, &at(name))?)),
        FlagsCommand::Disable { name } => Ok(disable(&ops::disable(ctx, &at(name))?)),
        FlagsCommand::Set { name, percentage } => {
            let req = PercentageRequest {
                flag: at(name),
                percentage,
            };
            Ok(set(&ops::set_percentage(ctx, &req)?))
        }
        FlagsCommand::Target { name, targets } => {
            let req = TargetRequest {
                flag: at(name),
                users: targets.users,
                roles: targets.roles,
            };
            Ok(target(&ops::target(ctx, &req)?, true))
        }
        FlagsCommand::Untarget { name, targets } => {
            let req = TargetRequest {
                flag: at(name),
                users: targets.users,
                roles: targets.roles,
            };
            Ok(target(&ops::untarget(ctx, &req)?, false))
        }
        FlagsCommand::Delete { name } => {
            let done = ops::delete(ctx, &name)?;
            let msg = format!(
                "deleted flag {} and its state in {} environment(s)",
                shown(&done.name),
                done.environments.len()
            );
            Ok(Reply::object(done).with_message(msg).quiet_table())
        }
        FlagsCommand::Copy { name, from, to } => {
            Ok(copy(&ops::copy(ctx, &CopyRequest { name, from, to })?))
        }
        FlagsCommand::Eval(args) => flags_eval::eval(ctx, args),
        FlagsCommand::Export(args) => flags_eval::export(ctx, args),
    }
}

fn add(ctx: &mut Context, req: &AddRequest) -> Result<Reply> {
    let added = ops::add(ctx, req)?;
    for w in &added.warnings {
        output::warn(w);
    }
    let view = &added.view;
    let mut msg = format!("created flag {}", shown(&view.flag.name));
    if let Some(s) = view.environments.get(&req.env) {
        msg.push_str(&format!(
            " ({}, {} % in '{}')",
            on_off(s.enabled),
            s.percentage,
            req.env
        ));
        if s.enabled && s.percentage == 0 {
            msg.push_str(&nobody_yet(&view.flag.name, &req.env));
        }
    }
    Ok(Reply::object(&added.view).with_message(msg).quiet_table())
}

fn on_off(enabled: bool) -> &'static str {
    if enabled {
        "on"
    } else {
        "off"
    }
}

/// The hint for a flag switched on at 0 % with no targets: on for nobody yet.
fn nobody_yet(name: &str, env: &str) -> String {
    format!(
        "; at 0 % it is on only for targeted users and roles: \
         `keyward flags set {name} --percentage 100 --env {env}` turns it on for everyone"
    )
}

/// `"flag \"x\" … in 'env'"`: the common start of the state verbs' messages.
fn flag_in(s: &Switched) -> String {
    format!("flag {} in '{}'", shown(&s.view.name), s.view.environment)
}

fn reply(s: &Switched, msg: String) -> Reply {
    for w in &s.warnings {
        output::warn(w);
    }
    Reply::object(&s.view).with_message(msg).quiet_table()
}

fn enable(s: &Switched) -> Reply {
    let v = &s.view;
    let msg = if !v.changed {
        format!("{} is already enabled: nothing changed", flag_in(s))
    } else if v.percentage == 0 && v.target_users.is_empty() && v.target_roles.is_empty() {
        format!(
            "enabled {}{}",
            flag_in(s),
            nobody_yet(&v.name, &v.environment)
        )
    } else {
        format!("enabled {}", flag_in(s))
    };
    reply(s, msg)
}

fn disable(s: &Switched) -> Reply {
    let msg = if s.view.changed {
        format!("disabled {}", flag_in(s))
    } else {
        format!("{} is already disabled: nothing changed", flag_in(s))
    };
    reply(s, msg)
}

fn set(s: &Switched) -> Reply {
    let v = &s.view;
    let before = s.before.as_ref().map_or(0, |b| b.percentage);
    let mut msg = if v.changed {
        format!("{}: {before} % -> {} %", flag_in(s), v.percentage)
    } else {
        format!(
            "{} is already at {} %: nothing changed",
            flag_in(s),
            v.percentage
        )
    };
    if !v.enabled {
        msg.push_str(&format!(
            " (the flag is off there: `keyward flags enable {} --env {}` switches it on)",
            v.name, v.environment
        ));
    }
    reply(s, msg)
}

fn names(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

fn target(s: &Switched, adding: bool) -> Reply {
    let v = &s.view;
    let now = format!(
        "users: {}; roles: {}",
        names(&v.target_users),
        names(&v.target_roles)
    );
    let msg = if v.changed {
        format!("{} now targets {now}", flag_in(s))
    } else if adding {
        format!("{} already targets them: nothing changed", flag_in(s))
    } else {
        format!("{} did not target them: nothing changed", flag_in(s))
    };
    let msg = if adding && !v.enabled {
        format!(
            "{msg} (the flag is off there: targets count once `keyward flags enable {} --env {}` switches it on)",
            v.name, v.environment
        )
    } else {
        msg
    };
    reply(s, msg)
}

fn copy(s: &Switched) -> Reply {
    let v = &s.view;
    let from = v.from.as_deref().unwrap_or_default();
    let msg = if v.changed {
        format!(
            "copied flag {} from '{from}' to '{}': {}, {} %, users: {}; roles: {}",
            shown(&v.name),
            v.environment,
            on_off(v.enabled),
            v.percentage,
            names(&v.target_users),
            names(&v.target_roles)
        )
    } else {
        format!(
            "{} already has the state it has in '{from}': nothing changed",
            flag_in(s)
        )
    };
    reply(s, msg)
}

/// `show` as a key/value table: the definition, then one row per environment.
fn show_table(view: &FlagView) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(view.flag.name));
    m.insert("description".into(), json!(view.flag.description));
    m.insert("group".into(), json!(view.flag.group));
    m.insert(
        "created_at".into(),
        json!(crate::time::rfc3339(view.flag.created_at)),
    );
    m.insert(
        "updated_at".into(),
        json!(crate::time::rfc3339(view.flag.updated_at)),
    );
    if view.environments.is_empty() {
        m.insert(
            "environments".into(),
            json!("none configured (off everywhere)"),
        );
    }
    for (env, s) in &view.environments {
        m.insert(
            format!("[{env}]"),
            json!(format!(
                "{}, {} %, users: {}; roles: {} (since {})",
                on_off(s.enabled),
                s.percentage,
                names(&s.target_users),
                names(&s.target_roles),
                crate::time::rfc3339(s.updated_at)
            )),
        );
    }
    Value::Object(m)
}
