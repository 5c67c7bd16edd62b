//! `flags eval`: a flag's decision for users, as support and scripts ask
//! for it. The flag's state and the targeted roles its users hold are read
//! in one short read transaction; the users are then decided in memory with
//! [`flags::decide`], so a cohort streamed from stdin costs no query per
//! user and holds no transaction open while it is read.

use crate::context::Context;
use crate::domain::flags::{self, repo, Reason, State};
use crate::error::Result;
use crate::ident::{self, Ident};
use crate::output::TableRow;
use crate::store::{self, Conn};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;

/// `flags eval`: which flag, in which environment, with which extra roles.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// The environment (`--env`).
    pub env: String,
    /// The flag's name.
    pub flag: String,
    /// Roles every evaluated user holds besides theirs in the database (`--role`).
    pub roles: Vec<String>,
}

/// One user's decision, as `flags eval` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Evaluation<'a> {
    /// The user id evaluated.
    pub user: &'a str,
    /// The flag.
    pub flag: &'a str,
    /// The environment.
    pub environment: &'a str,
    /// On or off for this user.
    pub enabled: bool,
    /// Why (`disabled`, `targeted_user`, `targeted_role`, `rollout`, `not_in_rollout`).
    pub reason: Reason,
    /// The user's bucket for the flag's group, 1 to 100.
    pub bucket: u8,
}

impl TableRow for Evaluation<'_> {
    const COLUMNS: &'static [&'static str] =
        &["user", "flag", "environment", "enabled", "reason", "bucket"];
}

/// How many users were decided, and how many of them have the flag on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Users evaluated.
    pub users: u64,
    /// Of them, those with the flag on.
    pub enabled: u64,
}

impl Tally {
    /// Whether every user evaluated has the flag on (true for none).
    pub fn all_enabled(&self) -> bool {
        self.enabled == self.users
    }

    fn count(&mut self, e: &Evaluation<'_>) {
        self.users += 1;
        self.enabled += u64::from(e.enabled);
    }
}

/// A flag's state in one environment, with what decides it for users:
/// evaluates users in memory.
#[derive(Debug)]
struct Evaluator {
    flag: String,
    environment: String,
    group: String,
    state: State,
    /// `--role`, for everyone.
    roles: Vec<String>,
    /// The targeted roles each user holds in the database, by username (only
    /// users holding one; empty when no role is targeted or the flag is off).
    held: HashMap<String, Vec<String>>,
}

impl Evaluator {
    /// Reads the flag and its state in `req.env` (exit 3 for an unknown flag).
    fn load(c: &mut dyn Conn, req: &EvalRequest) -> Result<Self> {
        let flag = repo::get(c, &req.flag)?;
        let state = repo::state(c, &flag, &req.env)?.unwrap_or_default();
        Ok(Evaluator {
            flag: flag.name,
            environment: req.env.clone(),
            group: flag.group,
            state,
            roles: req.roles.clone(),
            held: HashMap::new(),
        })
    }

    /// Whether a user's roles can change a decision: the flag is on and targets roles.
    fn roles_matter(&self) -> bool {
        self.state.enabled && !self.state.target_roles.is_empty()
    }

    /// Reads the targeted roles `user` holds (none when no such user).
    fn read_roles_of(&mut self, c: &mut dyn Conn, user: &str) -> Result<()> {
        if self.roles_matter() && !self.held.contains_key(user) {
            self.held
                .extend(repo::holders_of(c, &self.state.target_roles, Some(user))?);
        }
        Ok(())
    }

    /// Reads the targeted roles of every user holding one (a cohort).
    fn read_all_roles(&mut self, c: &mut dyn Conn) -> Result<()> {
        if self.roles_matter() {
            self.held = repo::holders_of(c, &self.state.target_roles, None)?;
        }
        Ok(())
    }

    /// The roles `user` is decided with: theirs (as read) and `--role`.
    fn roles_of(&self, user: &str) -> Cow<'_, [String]> {
        match self.held.get(user) {
            None => Cow::Borrowed(&self.roles),
            Some(held) if self.roles.is_empty() => Cow::Borrowed(held),
            Some(held) => Cow::Owned([held.as_slice(), &self.roles].concat()),
        }
    }

    /// Decides the flag for `user` (an id already checked).
    fn eval<'a>(&'a self, user: &'a str) -> Evaluation<'a> {
        let roles = if self.held.is_empty() {
            Cow::Borrowed(self.roles.as_slice())
        } else {
            self.roles_of(user)
        };
        let d = flags::decide(&self.state, &self.group, user, &roles);
        Evaluation {
            user,
            flag: &self.flag,
            environment: &self.environment,
            enabled: d.enabled,
            reason: d.reason,
            bucket: d.bucket,
        }
    }
}

fn check(req: &EvalRequest) -> Result<()> {
    ident::check(&[Ident::Environment(&req.env)])?;
    flags::check_name(&req.flag, "flag name")?;
    let roles: Vec<Ident<'_>> = req.roles.iter().map(|r| Ident::Role(r)).collect();
    ident::check(&roles)
}

/// `flags eval NAME --user U…`: decides the flag for each user (their roles
/// read from the database when they exist, plus `req.roles`) and hands the
/// evaluations to `sink` in the order given.
pub fn evaluate(
    ctx: &mut Context,
    req: &EvalRequest,
    users: &[String],
    sink: &mut dyn FnMut(&Evaluation<'_>) -> Result<()>,
) -> Result<Tally> {
    check(req)?;
    for u in users {
        flags::check_user_id(u)?;
    }
    let ev = store::read(ctx.store()?, |c| {
        let mut ev = Evaluator::load(c, req)?;
        for u in users {
            ev.read_roles_of(c, u)?;
        }
        Ok(ev)
    })?;
    let mut tally = Tally::default();
    for u in users {
        let e = ev.eval(u);
        tally.count(&e);
        sink(&e)?;
    }
    Ok(tally)
}

/// One user id read from a cohort, with the line it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortLine {
    /// The line number, from 1.
    pub number: u64,
    /// The user id on it.
    pub user: String,
}

/// `flags eval NAME --users-stdin`: reads the flag's state and every user
/// holding one of its targeted roles in one read transaction, then decides
/// each user `users` yields as it comes and hands the evaluation to `sink`
/// (memory stays bounded by the targeted roles' members, whatever the
/// cohort's length), until `users` ends or `sink` returns false (its reader
/// went away). A malformed id stops it with exit 2, naming its line.
pub fn evaluate_cohort(
    ctx: &mut Context,
    req: &EvalRequest,
    users: &mut dyn Iterator<Item = Result<CohortLine>>,
    sink: &mut dyn FnMut(&Evaluation<'_>) -> Result<bool>,
) -> Result<Tally> {
    check(req)?;
    let ev = store::read(ctx.store()?, |c| {
        let mut ev = Evaluator::load(c, req)?;
        ev.read_all_roles(c)?;
        Ok(ev)
    })?;
    let mut tally = Tally::default();
    for line in users {
        let line = line?;
        flags::check_user_id(&line.user)
            .map_err(|e| e.context(format_args!("line {} of stdin", line.number)))?;
        let e = ev.eval(&line.user);
        tally.count(&e);
        if !sink(&e)? {
            break;
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluator(state: State, held: &[(&str, &[&str])], roles: &[&str]) -> Evaluator {
        Evaluator {
            flag: "f".into(),
            environment: "staging".into(),
            group: "gr1".into(),
            state,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            held: held
                .iter()
                .map(|(u, rs)| {
                    (
                        (*u).to_owned(),
                        rs.iter().map(|r| (*r).to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn roles_from_the_database_and_the_command_line() {
        let state = State {
            enabled: true,
            percentage: 0,
            target_users: vec!["123".into()],
            target_roles: vec!["beta".into(), "ops".into()],
        };
        let ev = evaluator(state.clone(), &[("ann", &["beta"])], &[]);
        assert_eq!(ev.eval("ann").reason, Reason::TargetedRole);
        assert_eq!(ev.eval("bob").reason, Reason::NotInRollout);
        assert_eq!(ev.eval("123").reason, Reason::TargetedUser);
        let ev = evaluator(state.clone(), &[("ann", &["beta"])], &["ops"]);
        assert_eq!(ev.eval("bob").reason, Reason::TargetedRole);
        assert_eq!(ev.eval("ann").reason, Reason::TargetedRole);
        let ev = evaluator(state, &[], &["viewer"]);
        assert_eq!(ev.eval("bob").reason, Reason::NotInRollout);
    }

    #[test]
    fn the_view_carries_the_decision() {
        let state = State {
            enabled: true,
            percentage: 73,
            ..State::default()
        };
        let ev = evaluator(state, &[], &[]);
        let e = ev.eval("123");
        assert_eq!(
            serde_json::to_value(e).unwrap(),
            serde_json::json!({"user": "123", "flag": "f", "environment": "staging",
                "enabled": true, "reason": "rollout", "bucket": 73})
        );
        crate::output::assert_columns(&e);
        let mut t = Tally::default();
        t.count(&e);
        assert!(t.all_enabled());
        t.count(&evaluator(State::default(), &[], &[]).eval("x"));
        assert!(!t.all_enabled());
    }
}
