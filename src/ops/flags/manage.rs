//! The definition and state verbs of `keyward flags`: `add`, `list`, `show`,
//! `enable`, `disable`, `set`, `target`, `untarget`, `delete`, `copy`. Each
//! checks every name it is given before opening the store, and changes run in
//! one audited write transaction that decides on the rows it reads there.

use crate::context::Context;
use crate::domain::flags::change::{self, Changed, Edit, NewFlag, Unknown};
use crate::domain::flags::repo::{self, EnvState, Flag};
use crate::domain::flags::{check_name, check_percentage, State};
use crate::error::{Error, Result};
use crate::ident::{self, shown, Ident};
use crate::ops::audited;
use crate::output::TableRow;
use crate::store;
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// One flag as `list` shows it: the definition and the state in one environment.
#[derive(Debug, Clone, Serialize)]
pub struct FlagRow {
    /// The name.
    pub name: String,
    /// The environment the state is from.
    pub environment: String,
    /// Whether the flag has a state there (false: never configured, so off).
    pub configured: bool,
    /// On or off there.
    pub enabled: bool,
    /// The rollout percentage there.
    pub percentage: u8,
    /// Targeted usernames there.
    pub target_users: Vec<String>,
    /// Targeted role names there.
    pub target_roles: Vec<String>,
    /// The bucketing group.
    pub group: String,
    /// What it is for.
    pub description: Option<String>,
}

impl TableRow for FlagRow {
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "enabled",
        "percentage",
        "target_users",
        "target_roles",
        "group",
        "description",
    ];
}

/// A flag's state in one environment, as `show` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EnvStateView {
    /// On or off.
    pub enabled: bool,
    /// The rollout percentage.
    pub percentage: u8,
    /// Targeted usernames.
    pub target_users: Vec<String>,
    /// Targeted role names.
    pub target_roles: Vec<String>,
    /// When the state there last changed.
    #[serde(with = "crate::output::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A flag as `show` (and `add`) shows it: the definition, and the state in
/// every environment where it is configured, keyed by environment (an
/// environment absent from the map never configured it: off there).
#[derive(Debug, Clone, Serialize)]
pub struct FlagView {
    /// The definition.
    #[serde(flatten)]
    pub flag: Flag,
    /// The state per environment.
    pub environments: BTreeMap<String, EnvStateView>,
}

impl FlagView {
    fn of(flag: Flag, states: Vec<EnvState>) -> Self {
        let environments = states
            .into_iter()
            .map(|s| {
                let view = EnvStateView {
                    enabled: s.state.enabled,
                    percentage: s.state.percentage,
                    target_users: s.state.target_users,
                    target_roles: s.state.target_roles,
                    updated_at: s.updated_at,
                };
                (s.environment, view)
            })
            .collect();
        FlagView { flag, environments }
    }
}

/// A flag's state in one environment after a state verb.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// The flag.
    pub name: String,
    /// The environment.
    pub environment: String,
    /// The environment copied from (`copy` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// On or off.
    pub enabled: bool,
    /// The rollout percentage.
    pub percentage: u8,
    /// Targeted usernames.
    pub target_users: Vec<String>,
    /// Targeted role names.
    pub target_roles: Vec<String>,
    /// Whether the verb changed anything (false: already so, nothing audited).
    pub changed: bool,
}

/// What a state verb did: the state now, the state before, and warnings for people.
#[derive(Debug, Clone)]
pub struct Switched {
    /// The state now.
    pub view: StateView,
    /// The state before (`None`: never configured there).
    pub before: Option<State>,
    /// Warnings (unknown users or roles targeted).
    pub warnings: Vec<String>,
}

impl Switched {
    fn of(done: Changed, from: Option<&str>, warnings: Vec<String>) -> Self {
        Switched {
            view: StateView {
                name: done.flag.name,
                environment: done.environment,
                from: from.map(str::to_owned),
                enabled: done.after.enabled,
                percentage: done.after.percentage,
                target_users: done.after.target_users,
                target_roles: done.after.target_roles,
                changed: done.changed,
            },
            before: done.before,
            warnings,
        }
    }
}

/// `flags add`.
#[derive(Debug, Clone)]
pub struct AddRequest {
    /// The name.
    pub name: String,
    /// `--description`.
    pub description: Option<String>,
    /// `--group` (default: the name).
    pub group: Option<String>,
    /// `--enabled`: also switch it on in `env`.
    pub enabled: bool,
    /// `--percentage`: also set the rollout in `env`.
    pub percentage: Option<i64>,
    /// The current environment (`--env`).
    pub env: String,
}

/// What `add` did: the flag, and warnings for people.
#[derive(Debug, Clone)]
pub struct Added {
    /// The flag as `show` shows it.
    pub view: FlagView,
    /// Warnings (another flag differs only in case).
    pub warnings: Vec<String>,
}

/// Creates a flag; with `--enabled` or `--percentage`, also its state in the environment.
pub fn add(ctx: &mut Context, req: &AddRequest) -> Result<Added> {
    check_name(&req.name, "flag name")?;
    if let Some(g) = &req.group {
        check_name(g, "group")?;
    }
    ident::check(&[Ident::Environment(&req.env)])?;
    if let Some(d) = &req.description {
        ident::check(&[Ident::Description(d)])?;
    }
    let percentage = req.percentage.map(check_percentage).transpose()?;
    let initial = (req.enabled || percentage.is_some()).then(|| {
        (
            req.env.as_str(),
            State {
                enabled: req.enabled,
                percentage: percentage.unwrap_or(0),
                ..State::default()
            },
        )
    });
    let new = NewFlag {
        name: &req.name,
        description: req.description.as_deref(),
        group: req.group.as_deref(),
        initial,
    };
    audited(ctx, |c, stamp| {
        let flag = change::add(c, stamp, &new)?;
        let warnings = repo::case_twins(c, &req.name)?
            .iter()
            .map(|twin| {
                format!(
                    "flag {} differs from {} only in case: names are case-sensitive, so they are two flags",
                    shown(&req.name),
                    shown(twin)
                )
            })
            .collect();
        let states = repo::env_states_of(c, &flag)?;
        Ok(Added {
            view: FlagView::of(flag, states),
            warnings,
        })
    })
}

/// Every flag with its state in `env` (off where never configured), by name.
pub fn list(ctx: &mut Context, env: &str) -> Result<Vec<FlagRow>> {
    ident::check(&[Ident::Environment(env)])?;
    let rows = store::read(ctx.store()?, |c| repo::all_in(c, env))?;
    Ok(rows
        .into_iter()
        .map(|(flag, state)| {
            let configured = state.is_some();
            let s = state.unwrap_or_default();
            FlagRow {
                name: flag.name,
                environment: env.to_owned(),
                configured,
                enabled: s.enabled,
                percentage: s.percentage,
                target_users: s.target_users,
                target_roles: s.target_roles,
                group: flag.group,
                description: flag.description,
            }
        })
        .collect())
}

/// One flag with its state in every environment where it is configured.
pub fn show(ctx: &mut Context, name: &str) -> Result<FlagView> {
    check_name(name, "flag name")?;
    store::read(ctx.store()?, |c| {
        let flag = repo::get(c, name)?;
        let states = repo::env_states_of(c, &flag)?;
        Ok(FlagView::of(flag, states))
    })
}

/// `flags enable` / `flags disable`: a flag in the current environment.
#[derive(Debug, Clone)]
pub struct StateRequest {
    /// The flag.
    pub name: String,
    /// The current environment (`--env`).
    pub env: String,
}

/// Applies one edit in its own audited transaction.
fn edit(ctx: &mut Context, req: &StateRequest, what: &Edit) -> Result<Changed> {
    check_name(&req.name, "flag name")?;
    ident::check(&[Ident::Environment(&req.env)])?;
    audited(ctx, |c, stamp| {
        change::edit(c, stamp, &req.name, &req.env, what)
    })
}

/// Switches a flag on in the environment.
pub fn enable(ctx: &mut Context, req: &StateRequest) -> Result<Switched> {
    Ok(Switched::of(
        edit(ctx, req, &Edit::Enable)?,
        None,
        Vec::new(),
    ))
}

/// Switches a flag off in the environment.
pub fn disable(ctx: &mut Context, req: &StateRequest) -> Result<Switched> {
    Ok(Switched::of(
        edit(ctx, req, &Edit::Disable)?,
        None,
        Vec::new(),
    ))
}

/// `flags set NAME --percentage N`.
#[derive(Debug, Clone)]
pub struct PercentageRequest {
    /// The flag and the environment.
    pub flag: StateRequest,
    /// The rollout percentage, 0 to 100 (checked).
    pub percentage: i64,
}

/// Sets a flag's rollout percentage in the environment.
pub fn set_percentage(ctx: &mut Context, req: &PercentageRequest) -> Result<Switched> {
    let p = check_percentage(req.percentage)?;
    Ok(Switched::of(
        edit(ctx, &req.flag, &Edit::Percentage(p))?,
        None,
        Vec::new(),
    ))
}

/// `flags target` / `flags untarget`.
#[derive(Debug, Clone)]
pub struct TargetRequest {
    /// The flag and the environment.
    pub flag: StateRequest,
    /// `--user`: user ids (usernames, or the application's own ids).
    pub users: Vec<String>,
    /// `--role`: role names.
    pub roles: Vec<String>,
}

/// Checks the flag, the environment and every username and role name.
fn check_targets(req: &TargetRequest) -> Result<()> {
    check_name(&req.flag.name, "flag name")?;
    ident::check(&[Ident::Environment(&req.flag.env)])?;
    if req.users.is_empty() && req.roles.is_empty() {
        return Err(Error::invalid(
            "name at least one --user or --role to (un)target",
        ));
    }
    // Targeted users are the ids the application evaluates (`flags eval
    // --user`): keyward usernames, but also `4711` or an email address.
    req.users
        .iter()
        .try_for_each(|u| crate::domain::flags::check_user_id(u))?;
    ident::check(&req.roles.iter().map(|r| Ident::Role(r)).collect::<Vec<_>>())
}

/// The warnings for targets that name no user or role (yet).
fn unknown_warnings(unknown: &Unknown) -> Vec<String> {
    let users = unknown.users.iter().map(|u| {
        format!(
            "no keyward user {} exists (yet): targeted anyway (eval decides by the id given)",
            shown(u)
        )
    });
    let roles = unknown.roles.iter().map(|r| {
        format!(
            "no role {} exists (yet): targeted anyway; `keyward roles add {r}` creates it",
            shown(r)
        )
    });
    users.chain(roles).collect()
}

/// Targets users and roles in the environment: the flag is on for them
/// (when enabled there), whatever the percentage. Unknown users or roles
/// are accepted, with a warning each.
pub fn target(ctx: &mut Context, req: &TargetRequest) -> Result<Switched> {
    check_targets(req)?;
    let what = Edit::Target {
        users: req.users.clone(),
        roles: req.roles.clone(),
    };
    let (done, unknown) = audited(ctx, |c, stamp| {
        let unknown = change::unknown_targets(c, &req.users, &req.roles)?;
        let done = change::edit(c, stamp, &req.flag.name, &req.flag.env, &what)?;
        Ok((done, unknown))
    })?;
    Ok(Switched::of(done, None, unknown_warnings(&unknown)))
}

/// Removes users and roles from the targets in the environment.
pub fn untarget(ctx: &mut Context, req: &TargetRequest) -> Result<Switched> {
    check_targets(req)?;
    let what = Edit::Untarget {
        users: req.users.clone(),
        roles: req.roles.clone(),
    };
    let done = edit(ctx, &req.flag, &what)?;
    Ok(Switched::of(done, None, Vec::new()))
}

/// `flags copy NAME --from A --to B`.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    /// The flag.
    pub name: String,
    /// The environment copied from.
    pub from: String,
    /// The environment copied to.
    pub to: String,
}

/// Copies a flag's state (on/off, percentage, targets) from one environment
/// to another, as an audited change in the target (exit 3 when the source
/// never configured it).
pub fn copy(ctx: &mut Context, req: &CopyRequest) -> Result<Switched> {
    check_name(&req.name, "flag name")?;
    ident::check(&[Ident::Environment(&req.from), Ident::Environment(&req.to)])?;
    if req.from == req.to {
        return Err(Error::invalid(format!(
            "--from and --to are both {}: name two environments",
            shown(&req.from)
        )));
    }
    let done = audited(ctx, |c, stamp| {
        change::copy(c, stamp, &req.name, &req.from, &req.to)
    })?;
    Ok(Switched::of(done, Some(&req.from), Vec::new()))
}

/// What `flags delete` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// The flag.
    pub name: String,
    /// Always true.
    pub deleted: bool,
    /// The environments whose state went with it.
    pub environments: Vec<String>,
}

/// Deletes a flag's definition and its state in every environment, after confirmation.
pub fn delete(ctx: &mut Context, name: &str) -> Result<Deleted> {
    // Only to say "not found" before asking; the write decides on its own read.
    let view = show(ctx, name)?;
    let envs: Vec<&str> = view.environments.keys().map(String::as_str).collect();
    ctx.confirm(&format!(
        "delete flag {} and its state in {} environment(s){}",
        shown(name),
        envs.len(),
        if envs.is_empty() {
            String::new()
        } else {
            format!(" ({})", envs.join(", "))
        }
    ))?;
    let (flag, states) = audited(ctx, |c, stamp| change::delete(c, stamp, name))?;
    Ok(Deleted {
        name: flag.name,
        deleted: true,
        environments: states.into_iter().map(|s| s.environment).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_are_fields() {
        crate::output::assert_columns(&FlagRow {
            name: "f".into(),
            environment: "development".into(),
            configured: false,
            enabled: false,
            percentage: 0,
            target_users: Vec::new(),
            target_roles: Vec::new(),
            group: "f".into(),
            description: None,
        });
    }

    #[test]
    fn unknown_targets_are_warned_about_by_name() {
        let w = unknown_warnings(&Unknown {
            users: vec!["bob".into()],
            roles: vec!["beta".into()],
        });
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("\"bob\""), "{w:?}");
        assert!(w[1].contains("\"beta\""), "{w:?}");
    }
}
