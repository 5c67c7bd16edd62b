//! `settings import`: a settings file applied declaratively. The plan (what
//! to add, change, remove) is made on the rows read in the transaction that
//! applies it; a dry run makes the same plan in a read transaction.

use super::{with_ring, Ring};
use crate::context::Context;
use crate::domain::keys;
use crate::domain::settings::dotenv;
use crate::domain::settings::file::{self, SettingsFile};
use crate::domain::settings::{self, stays_secret, Change, Changes, Desired, Journal, Stored};
use crate::error::{Error, Result};
use crate::store::{Access, Conn};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use zeroize::Zeroizing;

/// `settings import`.
#[derive(Debug)]
pub struct ImportRequest {
    /// The environment asked for (`--env`, `KEYWARD_ENV` or the default).
    pub env: String,
    /// Whether it was asked for explicitly (then a file naming another is refused).
    pub env_explicit: bool,
    /// The file's text.
    pub text: Zeroizing<String>,
    /// What to call the file in errors (its path, or `stdin`).
    pub source: String,
    /// Make the plan only.
    pub dry_run: bool,
    /// Also delete live settings the file does not name.
    pub prune: bool,
}

/// A key whose fields change.
#[derive(Debug, Clone, Serialize)]
pub struct PlanChange {
    /// Key.
    pub key: String,
    /// The fields that change.
    pub fields: Changes,
}

/// What an import does (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The environment.
    pub environment: String,
    /// Whether it is a dry run.
    pub dry_run: bool,
    /// Whether anything was written.
    pub applied: bool,
    /// Keys created.
    pub added: Vec<String>,
    /// Keys changed, with their fields.
    pub changed: Vec<PlanChange>,
    /// Keys deleted (`--prune`).
    pub removed: Vec<String>,
    /// How many keys already held what the file says.
    pub unchanged: usize,
}

/// The environment the import goes to: the file's, unless another was asked for explicitly.
fn target_env(req: &ImportRequest, parsed: &SettingsFile) -> Result<String> {
    let (asked, source) = (&req.env, &req.source);
    match &parsed.environment {
        Some(file_env) if req.env_explicit && file_env != asked => Err(Error::invalid(format!(
            "{source} is for environment '{file_env}' but '{asked}' was asked for (--env or KEYWARD_ENV): drop one of them"
        ))),
        Some(file_env) => Ok(file_env.clone()),
        None => Ok(asked.clone()),
    }
}

/// Applies a settings file (or plans it, with `dry_run`) in one transaction.
pub fn import(ctx: &mut Context, req: &ImportRequest) -> Result<Plan> {
    let parsed = file::parse(&req.text, &req.source)?;
    let max = ctx.config.max_value_size;
    for e in &parsed.entries {
        settings::check_size(&e.key, &e.want.value, max).map_err(|err| err.context(&req.source))?;
    }
    let env = target_env(req, &parsed)?;
    if req.prune && parsed.entries.is_empty() {
        return Err(Error::invalid(format!(
            "{} names no settings: with --prune it would delete every setting in '{env}'. Refusing; use `keyward settings delete` for that",
            req.source
        )));
    }
    if req.prune && !req.dry_run {
        ctx.confirm(&format!(
            "import into '{env}' and delete every setting the file does not name"
        ))?;
    }
    let access = if req.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    let bar = progress(ctx, parsed.entries.len(), req.dry_run);
    let plan = with_ring(ctx, access, |c, ring, stamp| {
        bar.set_position(0);
        let stamp = (!req.dry_run).then_some(stamp);
        keys::gate(c, ring.get(), stamp)?;
        let current: BTreeMap<String, Stored> = settings::all(c, &env)?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        // A dotenv file's variables become keys on the rows just read.
        let resolved;
        let parsed = if parsed.entries.iter().any(|e| e.var.is_some()) {
            resolved = SettingsFile {
                environment: None,
                entries: dotenv::resolve(&parsed, &current, &req.source)?,
            };
            &resolved
        } else {
            &parsed
        };
        ring.require_if(
            current.values().any(|s| s.secret) || parsed.entries.iter().any(|e| e.want.secret),
        )?;
        let mut journal = stamp.map(|s| Journal::new(c, s)).transpose()?;
        let mut plan = Plan {
            environment: env.clone(),
            dry_run: req.dry_run,
            applied: false,
            added: vec![],
            changed: vec![],
            removed: vec![],
            unchanged: 0,
        };
        let step = Step {
            ring,
            env: &env,
            current: &current,
            bar: &bar,
        };
        step.entries(c, journal.as_mut(), parsed, &mut plan)?;
        if req.prune {
            step.prune(c, journal.as_mut(), parsed, &mut plan)?;
        }
        if let Some(mut j) = journal {
            bar.set_message("recording history and audit");
            j.flush(c)?;
            plan.applied =
                !(plan.added.is_empty() && plan.changed.is_empty() && plan.removed.is_empty());
        }
        Ok(plan)
    });
    bar.finish_and_clear();
    plan
}

/// Imports of at least this many entries show a progress bar (on a terminal).
const PROGRESS_FROM: usize = 1000;

/// A progress bar over the file's entries on stderr, drawn only on a
/// terminal and only for large imports (a hidden one otherwise).
fn progress(ctx: &Context, entries: usize, dry_run: bool) -> indicatif::ProgressBar {
    if entries < PROGRESS_FROM {
        return indicatif::ProgressBar::hidden();
    }
    let what = if dry_run { "planning" } else { "applying" };
    ctx.progress(entries as u64, what)
}

/// What every part of one import attempt shares.
struct Step<'s, 'r> {
    ring: &'s Ring<'r>,
    env: &'s str,
    current: &'s BTreeMap<String, Stored>,
    bar: &'s indicatif::ProgressBar,
}

impl Step<'_, '_> {
    /// Plans (and, with a journal, applies) the file's entries.
    fn entries(
        &self,
        c: &mut dyn Conn,
        mut journal: Option<&mut Journal<'_>>,
        parsed: &SettingsFile,
        plan: &mut Plan,
    ) -> Result<()> {
        let ring = self.ring.get();
        let mut creates: Vec<(&str, &Desired)> = Vec::new();
        for e in &parsed.entries {
            self.bar.inc(1);
            let cur = self.current.get(&e.key);
            let want = Desired {
                secret: stays_secret(cur, e.secrecy),
                ..e.want.clone()
            };
            let fields = settings::changed_fields(ring, cur, &want)?;
            match &fields {
                f if f.is_unchanged() => {
                    plan.unchanged += 1;
                    continue;
                }
                Changes::Created => plan.added.push(e.key.clone()),
                _ => plan.changed.push(PlanChange {
                    key: e.key.clone(),
                    fields,
                }),
            }
            match (journal.as_deref_mut(), cur) {
                // A new key has nothing to keep secret: the file's entry as it is.
                (Some(_), None) => creates.push((e.key.as_str(), &e.want)),
                (Some(j), Some(_)) => {
                    let change = Change {
                        env: self.env,
                        key: &e.key,
                        current: cur,
                        want: &want,
                        rollback: false,
                    };
                    settings::apply(c, j, ring, change)?;
                }
                (None, _) => {}
            }
        }
        if let Some(j) = journal {
            self.bar
                .set_message(format!("creating {} setting(s)", creates.len()));
            settings::create_many(c, j, ring, self.env, &creates)?;
        }
        Ok(())
    }

    /// Plans (and, with a journal, applies) deleting live settings the file does not name.
    fn prune(
        &self,
        c: &mut dyn Conn,
        mut journal: Option<&mut Journal<'_>>,
        parsed: &SettingsFile,
        plan: &mut Plan,
    ) -> Result<()> {
        let named: HashSet<&str> = parsed.entries.iter().map(|e| e.key.as_str()).collect();
        for (key, s) in self.current {
            if !s.deleted && !named.contains(key.as_str()) {
                plan.removed.push(key.clone());
                if let Some(j) = journal.as_deref_mut() {
                    settings::delete(c, j, self.env, key, None)?;
                }
            }
        }
        Ok(())
    }
}
