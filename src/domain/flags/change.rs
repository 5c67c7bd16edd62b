//! Changing flags: a definition added or deleted, a state switched,
//! re-weighted, (un)targeted or copied in one environment. Each function runs
//! inside the caller's audited write transaction, decides on the rows it reads
//! there, and records its audit event (`flag.*`, target type `flag`, the name
//! as target, the environment and the state before and after) in it. A change
//! that changes nothing writes nothing and records nothing.

use super::repo::{self, EnvState, Flag};
use super::State;
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::{roles, users};
use crate::error::{Error, Result};
use crate::store::Conn;
use serde_json::{json, Map, Value};

/// A change to a flag's state in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Turn it on.
    Enable,
    /// Turn it off.
    Disable,
    /// Set the rollout percentage (0 to 100, checked).
    Percentage(u8),
    /// Add users and roles to the targets.
    Target {
        /// Usernames.
        users: Vec<String>,
        /// Role names.
        roles: Vec<String>,
    },
    /// Remove users and roles from the targets.
    Untarget {
        /// Usernames.
        users: Vec<String>,
        /// Role names.
        roles: Vec<String>,
    },
}

impl Edit {
    /// The audit action recording it.
    pub fn action(&self) -> &'static str {
        match self {
            Edit::Enable => "flag.enable",
            Edit::Disable => "flag.disable",
            Edit::Percentage(_) => "flag.set_percentage",
            Edit::Target { .. } => "flag.target",
            Edit::Untarget { .. } => "flag.untarget",
        }
    }

    /// The state after the edit (targets kept sorted, without duplicates).
    pub fn apply(&self, state: &State) -> State {
        let mut next = state.clone();
        match self {
            Edit::Enable => next.enabled = true,
            Edit::Disable => next.enabled = false,
            Edit::Percentage(p) => next.percentage = *p,
            Edit::Target { users, roles } => {
                next.target_users.extend(users.iter().cloned());
                next.target_roles.extend(roles.iter().cloned());
            }
            Edit::Untarget { users, roles } => {
                next.target_users.retain(|u| !users.contains(u));
                next.target_roles.retain(|r| !roles.contains(r));
            }
        }
        for names in [&mut next.target_users, &mut next.target_roles] {
            names.sort();
            names.dedup();
        }
        next
    }
}

/// What a change to one environment's state did.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The flag's definition.
    pub flag: Flag,
    /// The environment changed.
    pub environment: String,
    /// The state before (`None`: never configured there, so off).
    pub before: Option<State>,
    /// The state after (the same as before when nothing changed).
    pub after: State,
    /// Whether anything changed (and was written and audited).
    pub changed: bool,
}

/// A new flag: its definition, and its state in one environment when
/// `--enabled` or `--percentage` was given.
#[derive(Debug, Clone)]
pub struct NewFlag<'a> {
    /// The name (checked).
    pub name: &'a str,
    /// What it is for.
    pub description: Option<&'a str>,
    /// The bucketing group (`None`: the name).
    pub group: Option<&'a str>,
    /// The environment and the state written there.
    pub initial: Option<(&'a str, State)>,
}

fn not_configured(name: &str, env: &str) -> Error {
    Error::not_found(format!(
        "flag {} was never configured in environment {} (it is off there): nothing to copy; \
         `keyward flags show {name}` lists where it is configured",
        crate::ident::shown(name),
        crate::ident::shown(env)
    ))
}

/// Creates a flag (exit 4 when the name exists, in exactly that case).
pub fn add(conn: &mut dyn Conn, stamp: Stamp<'_>, new: &NewFlag<'_>) -> Result<Flag> {
    super::check_name(new.name, "flag name")?;
    if let Some(g) = new.group {
        super::check_name(g, "group")?;
    }
    if repo::find(conn, new.name)?.is_some() {
        return Err(Error::conflict(format!(
            "flag {} already exists: `keyward flags show {}` shows it",
            crate::ident::shown(new.name),
            new.name
        )));
    }
    // The group is stored only when it differs from the name (NULL = the name).
    let group = new.group.filter(|g| *g != new.name);
    let id = repo::insert(conn, new.name, new.description, group, stamp.at)?;
    let mut details = json!({
        "description": new.description,
        "group": group.unwrap_or(new.name),
    });
    if let (Some((env, state)), Value::Object(m)) = (&new.initial, &mut details) {
        repo::put_state(conn, id, env, state, stamp.at)?;
        m.insert("environment".into(), json!(env));
        m.insert("before".into(), Value::Null);
        m.insert("after".into(), json!(state));
    }
    audit::record(
        conn,
        stamp,
        Event::new("flag.create", "flag", new.name).details(details),
    )?;
    repo::get(conn, new.name)
}

/// Applies `edit` to a flag's state in `env` (the row is created on the
/// first change there); writes and audits only when the state changes.
pub fn edit(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    name: &str,
    env: &str,
    edit: &Edit,
) -> Result<Changed> {
    let flag = repo::get(conn, name)?;
    let before = repo::state(conn, &flag, env)?;
    let after = edit.apply(before.as_ref().unwrap_or(&State::default()));
    let changed = write_state(conn, stamp, &flag, env, (before.as_ref(), &after), |d| {
        Event::new(edit.action(), "flag", name).details(Value::Object(d))
    })?;
    Ok(Changed {
        flag,
        environment: env.to_owned(),
        before,
        after,
        changed,
    })
}

/// Copies a flag's state from `from` to `to` (exit 3 when never configured
/// in `from`: copying "off" would silently switch `to` off).
pub fn copy(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    name: &str,
    from: &str,
    to: &str,
) -> Result<Changed> {
    let flag = repo::get(conn, name)?;
    let source = repo::state(conn, &flag, from)?.ok_or_else(|| not_configured(name, from))?;
    let before = repo::state(conn, &flag, to)?;
    let changed = write_state(
        conn,
        stamp,
        &flag,
        to,
        (before.as_ref(), &source),
        |mut d| {
            d.insert("from".into(), json!(from));
            Event::new("flag.copy", "flag", name).details(Value::Object(d))
        },
    )?;
    Ok(Changed {
        flag,
        environment: to.to_owned(),
        before,
        after: source,
        changed,
    })
}

/// Writes `after` as the flag's state in `env` and records the event built
/// from the details `{environment, before, after}`, unless the state is
/// unchanged (a never-configured state counts as the default, off).
fn write_state(
    conn: &mut dyn Conn,
    stamp: Stamp<'_>,
    flag: &Flag,
    env: &str,
    (before, after): (Option<&State>, &State),
    event: impl FnOnce(Map<String, Value>) -> Event,
) -> Result<bool> {
    if before.cloned().unwrap_or_default() == *after {
        return Ok(false);
    }
    repo::put_state(conn, flag.id, env, after, stamp.at)?;
    let mut details = Map::new();
    details.insert("environment".into(), json!(env));
    details.insert("before".into(), json!(before));
    details.insert("after".into(), json!(after));
    audit::record(conn, stamp, event(details))?;
    Ok(true)
}

/// Deletes a flag's definition and its state in every environment; returns them as they were.
pub fn delete(conn: &mut dyn Conn, stamp: Stamp<'_>, name: &str) -> Result<(Flag, Vec<EnvState>)> {
    let flag = repo::get(conn, name)?;
    let states = repo::env_states_of(conn, &flag)?;
    repo::delete(conn, flag.id)?;
    let before: Map<String, Value> = states
        .iter()
        .map(|s| (s.environment.clone(), json!(s.state)))
        .collect();
    audit::record(
        conn,
        stamp,
        Event::new("flag.delete", "flag", name).details(json!({
            "description": flag.description,
            "group": flag.group,
            "environments": states.iter().map(|s| &s.environment).collect::<Vec<_>>(),
            "before": before,
            "after": Value::Null,
        })),
    )?;
    Ok((flag, states))
}

/// The targets that name no user or role (yet): targeting them is allowed
/// (users may be created later), but worth a warning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unknown {
    /// Usernames with no user.
    pub users: Vec<String>,
    /// Role names with no role.
    pub roles: Vec<String>,
}

/// Which of `users` and `roles` do not exist.
pub fn unknown_targets(
    conn: &mut dyn Conn,
    user_names: &[String],
    role_names: &[String],
) -> Result<Unknown> {
    let mut unknown = Unknown::default();
    for u in user_names {
        if users::repo::id_of(conn, u)?.is_none() && !unknown.users.contains(u) {
            unknown.users.push(u.clone());
        }
    }
    for r in role_names {
        if !roles::repo::exists(conn, r)? && !unknown.roles.contains(r) {
            unknown.roles.push(r.clone());
        }
    }
    Ok(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn edits_apply_to_a_state() {
        let off = State::default();
        assert!(Edit::Enable.apply(&off).enabled);
        assert_eq!(
            Edit::Disable.apply(&off),
            off,
            "disabling off changes nothing"
        );
        assert_eq!(Edit::Percentage(30).apply(&off).percentage, 30);
        let targeted = Edit::Target {
            users: names(&["bob", "ann", "bob"]),
            roles: names(&["ops"]),
        }
        .apply(&off);
        assert_eq!(targeted.target_users, names(&["ann", "bob"]));
        assert_eq!(targeted.target_roles, names(&["ops"]));
        let again = Edit::Target {
            users: names(&["ann"]),
            roles: Vec::new(),
        }
        .apply(&targeted);
        assert_eq!(again, targeted, "targeting a targeted user changes nothing");
        let untargeted = Edit::Untarget {
            users: names(&["bob", "zed"]),
            roles: names(&["ops"]),
        }
        .apply(&targeted);
        assert_eq!(untargeted.target_users, names(&["ann"]));
        assert!(untargeted.target_roles.is_empty());
    }

    #[test]
    fn actions_are_named_for_the_audit() {
        assert_eq!(Edit::Enable.action(), "flag.enable");
        assert_eq!(Edit::Percentage(1).action(), "flag.set_percentage");
        let t = Edit::Untarget {
            users: Vec::new(),
            roles: Vec::new(),
        };
        assert_eq!(t.action(), "flag.untarget");
    }
}
