//! Reading settings: `get`, `list`, `history`, `export`, `diff`, and the
//! variables `settings run` gives its command. Each reads one consistent
//! snapshot; the key ring is loaded only when a secret is to be shown.

use super::view::{DiffRow, DiffStatus, EnvRow, HistoryRow, Mask, SettingView, Shown};
use super::{with_ring, Ring};
use crate::context::Context;
use crate::domain::keys;
use crate::domain::settings::envs::{self, EmptyEnv};
use crate::domain::settings::{self, dotenv, file, vars, Desired, Stored};
use crate::error::{Error, Result};
use crate::ident::{self, Ident};
use crate::store::{Access, Conn};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// `settings get`.
#[derive(Debug, Clone)]
pub struct GetRequest {
    /// Environment.
    pub env: String,
    /// Key.
    pub key: String,
    /// Show a secret's value.
    pub reveal: bool,
    /// How an unrevealed secret shows.
    pub mask: Mask,
}

/// A setting as `get` found it.
#[derive(Debug)]
pub struct Got {
    /// The view.
    pub view: SettingView,
    /// The plaintext, unless it is an unrevealed secret (for `--raw`).
    pub value: Option<Zeroizing<String>>,
}

impl Got {
    /// The bare value for `--raw`; a secret must have been revealed.
    pub fn raw(self) -> Result<Zeroizing<String>> {
        let key = &self.view.key;
        self.value.ok_or_else(|| {
            Error::invalid(format!(
                "'{key}' is secret: add --reveal to print its value"
            ))
        })
    }
}

/// `settings list`.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// Environment.
    pub env: String,
    /// Only this category.
    pub category: Option<String>,
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Show secrets' values.
    pub reveal: bool,
    /// How an unrevealed secret shows.
    pub mask: Mask,
}

/// What `list` found.
#[derive(Debug)]
pub struct Listed {
    /// How many settings were handed to the sink.
    pub shown: u64,
    /// Set when the environment holds no setting at all (a mistyped `--env`?).
    pub empty: Option<EmptyEnv>,
}

/// `settings history`.
#[derive(Debug, Clone)]
pub struct HistoryRequest {
    /// Environment.
    pub env: String,
    /// Key.
    pub key: String,
    /// Show secrets' values.
    pub reveal: bool,
    /// How an unrevealed secret shows.
    pub mask: Mask,
}

/// The plaintext of a live setting, or None for an unrevealed secret.
fn shown_value(ring: &Ring<'_>, s: &Stored, reveal: bool) -> Result<Option<Zeroizing<String>>> {
    match &s.value {
        Some(_) if s.secret && !reveal => Ok(None),
        Some(stored) => {
            settings::plaintext(ring.get(), &s.environment, &s.key, s.secret, stored).map(Some)
        }
        None => Ok(None),
    }
}

/// Requires the ring when a secret is to be shown, and checks it.
fn ring_for_reveal(c: &mut dyn Conn, ring: &Ring<'_>, needed: bool) -> Result<()> {
    ring.require_if(needed)?;
    keys::check_ring(c, ring.get())
}

/// One live setting.
pub fn get(ctx: &mut Context, req: &GetRequest) -> Result<Got> {
    ident::check(&[Ident::Environment(&req.env), Ident::SettingKey(&req.key)])?;
    with_ring(ctx, Access::Read, |c, ring, _| {
        let s = settings::get(c, &req.env, &req.key)?;
        ring_for_reveal(c, ring, req.reveal && s.secret)?;
        let value = shown_value(ring, &s, req.reveal)?;
        Ok(Got {
            view: SettingView::new(&s, value.as_deref().map(String::as_str), req.mask),
            value,
        })
    })
}

/// Hands the live settings matching the filter to `sink`, by key, a page at
/// a time in one read transaction (each secret decrypted as its row comes).
/// Whether the key ring is needed is settled before the first row is handed
/// on, so a retry with the ring loaded never repeats output.
pub fn list(
    ctx: &mut Context,
    req: &ListRequest,
    sink: &mut dyn FnMut(&SettingView) -> Result<()>,
) -> Result<Listed> {
    ident::check(&[Ident::Environment(&req.env)])?;
    let filter = settings::ListFilter {
        env: &req.env,
        category: req.category.as_deref(),
        prefix: req.prefix.as_deref(),
    };
    with_ring(ctx, Access::Read, |c, ring, _| {
        let secrets = req.reveal && settings::any_secret_in(c, &filter)?;
        ring_for_reveal(c, ring, secrets)?;
        let (mut shown, mut after) = (0u64, None::<String>);
        loop {
            let page = settings::list_page(c, &filter, after.as_deref(), settings::LIST_PAGE)?;
            for s in &page {
                let value = shown_value(ring, s, req.reveal)?;
                sink(&SettingView::new(
                    s,
                    value.as_deref().map(String::as_str),
                    req.mask,
                ))?;
                shown += 1;
            }
            if (page.len() as i64) < settings::LIST_PAGE {
                break;
            }
            after = page.last().map(|s| s.key.clone());
        }
        let empty = empty_if(c, shown == 0, &req.env)?;
        Ok(Listed { shown, empty })
    })
}

/// When `nothing` was found, whether that is because `env` holds no setting at all.
fn empty_if(c: &mut dyn Conn, nothing: bool, env: &str) -> Result<Option<EmptyEnv>> {
    if nothing {
        envs::empty_environment(c, env)
    } else {
        Ok(None)
    }
}

/// Every version of a setting, oldest first.
pub fn history(ctx: &mut Context, req: &HistoryRequest) -> Result<Vec<HistoryRow>> {
    ident::check(&[Ident::Environment(&req.env), Ident::SettingKey(&req.key)])?;
    let (env, key) = (req.env.as_str(), req.key.as_str());
    with_ring(ctx, Access::Read, |c, ring, _| {
        let versions = settings::history(c, env, key)?;
        ring_for_reveal(c, ring, req.reveal && versions.iter().any(|v| v.secret))?;
        versions
            .iter()
            .map(|v| {
                let value = match (&v.value, v.secret && !req.reveal) {
                    (None, _) => Shown::Value(serde_json::Value::Null),
                    (Some(_), true) => Shown::Masked(req.mask),
                    (Some(stored), false) => {
                        let text = settings::plaintext(ring.get(), env, key, v.secret, stored)?;
                        Shown::Value(v.value_type.to_json(&text))
                    }
                };
                Ok(HistoryRow {
                    version: v.version,
                    action: v.action,
                    value,
                    value_type: v.value_type,
                    secret: v.secret,
                    category: v.category.clone(),
                    description: v.description.clone(),
                    actor: v.actor.clone(),
                    changed_at: v.changed_at,
                })
            })
            .collect()
    })
}

/// Live settings with their plaintext values (secrets only with `reveal`).
struct Plain {
    /// Each setting with its opened state.
    items: Vec<(Stored, Desired)>,
    /// Secrets left out (not revealed).
    hidden: usize,
}

/// Loads `env`'s live settings with plaintexts, inside the caller's transaction.
fn load_plain(
    c: &mut dyn Conn,
    ring: &Ring<'_>,
    env: &str,
    prefix: Option<&str>,
    reveal: bool,
) -> Result<Plain> {
    let list = settings::list(c, env, None, prefix)?;
    ring_for_reveal(c, ring, reveal && list.iter().any(|s| s.secret))?;
    let mut out = Plain {
        items: Vec::new(),
        hidden: 0,
    };
    for s in list {
        if s.secret && !reveal {
            out.hidden += 1;
            continue;
        }
        let Some(stored) = &s.value else { continue };
        let value = settings::plaintext(ring.get(), env, &s.key, s.secret, stored)?;
        let d = Desired::of(&s, value);
        out.items.push((s, d));
    }
    Ok(out)
}

fn pairs(items: &[(Stored, Desired)]) -> Result<Vec<(String, Zeroizing<String>)>> {
    settings::env_pairs(items.iter().map(|(s, d)| (s.key.as_str(), &d.value)))
}

/// The formats `settings export` writes: the import format as YAML or JSON,
/// `NAME='value'` lines (dotenv) or `export NAME='value'` lines (shell).
// No doc comments on the variants: clap would show them in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Yaml,
    Json,
    Dotenv,
    Shell,
}

/// `settings export`.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Environment.
    pub env: String,
    /// Format.
    pub format: ExportFormat,
    /// Include secrets' values.
    pub reveal: bool,
    /// Protected variables (`PATH`, `LD_PRELOAD`, …) to write all the same (dotenv, shell).
    pub allow_vars: Vec<String>,
}

/// An export.
pub struct Exported {
    /// The text, in the asked format.
    pub text: String,
    /// Secrets left out (not revealed).
    pub hidden: usize,
    /// Protected variables left out (dotenv, shell), by name.
    pub skipped: Vec<String>,
    /// Set when the environment holds no setting at all.
    pub empty: Option<EmptyEnv>,
}

/// The environment's settings in an import format or as variables.
pub fn export(ctx: &mut Context, req: &ExportRequest) -> Result<Exported> {
    ident::check(&[Ident::Environment(&req.env)])?;
    let env = req.env.as_str();
    for name in &req.allow_vars {
        vars::validate_var_name(name)?;
    }
    let (plain, empty) = with_ring(ctx, Access::Read, |c, ring, _| {
        let plain = load_plain(c, ring, env, None, req.reveal)?;
        let empty = empty_if(c, plain.items.is_empty() && plain.hidden == 0, env)?;
        Ok((plain, empty))
    })?;
    let mut skipped = Vec::new();
    let text = match req.format {
        ExportFormat::Yaml | ExportFormat::Json => {
            let entries: Vec<(String, serde_json::Value)> = plain
                .items
                .iter()
                .map(|(s, d)| (s.key.clone(), file::to_entry(d)))
                .collect();
            if req.format == ExportFormat::Json {
                file::to_json(env, &entries)
            } else {
                file::to_yaml(env, &entries)
            }
        }
        ExportFormat::Dotenv | ExportFormat::Shell => {
            let shell = req.format == ExportFormat::Shell;
            let screened = vars::screen(pairs(&plain.items)?, &req.allow_vars);
            skipped = screened.skipped;
            // Left out, and said so where the file is read too (names only).
            let notes = skipped.iter().map(|name| {
                format!("# {name} left out: it decides what runs (export --allow-var {name} writes it)\n")
            });
            // Each variable under a `# keyward:` line naming its key, type and secrecy.
            let lines = (plain.items.iter())
                .filter(|(s, _)| !skipped.contains(&settings::env_var_name(&s.key)))
                .map(|(s, d)| dotenv::lines(shell, &s.key, d));
            notes.chain(lines).collect()
        }
    };
    Ok(Exported {
        text,
        hidden: plain.hidden,
        skipped,
        empty,
    })
}

/// `settings run`: which settings become the command's environment.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Environment.
    pub env: String,
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Protected variables (`PATH`, `LD_PRELOAD`, …) to set all the same (`--allow-var`).
    pub allow_vars: Vec<String>,
}

/// The environment `settings run` gives its command.
pub struct RunEnvironment {
    /// The variables to set (`smtp.password` → `SMTP_PASSWORD`), secrets included.
    pub vars: Vec<(String, Zeroizing<String>)>,
    /// Protected variables left out, by name.
    pub skipped: Vec<String>,
    /// Set when the environment holds no setting at all.
    pub empty: Option<EmptyEnv>,
}

/// The variables `settings run` sets, less the protected ones not allowed by name.
pub fn run_environment(ctx: &mut Context, req: &RunRequest) -> Result<RunEnvironment> {
    ident::check(&[Ident::Environment(&req.env)])?;
    for name in &req.allow_vars {
        vars::validate_var_name(name)?;
    }
    let (plain, empty) = with_ring(ctx, Access::Read, |c, ring, _| {
        let plain = load_plain(c, ring, &req.env, req.prefix.as_deref(), true)?;
        let empty = empty_if(c, plain.items.is_empty(), &req.env)?;
        Ok((plain, empty))
    })?;
    let screened = vars::screen(pairs(&plain.items)?, &req.allow_vars);
    Ok(RunEnvironment {
        vars: screened.kept,
        skipped: screened.skipped,
        empty,
    })
}

/// `settings diff`.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    /// This environment.
    pub env: String,
    /// The one to compare against.
    pub against: String,
}

/// What `diff` found.
#[derive(Debug)]
pub struct Diffed {
    /// The differences.
    pub rows: Vec<DiffRow>,
    /// The compared environments that hold no setting at all.
    pub empty: Vec<EmptyEnv>,
}

/// Keys in only one environment, and keys whose values or types differ.
pub fn diff(ctx: &mut Context, req: &DiffRequest) -> Result<Diffed> {
    ident::check(&[
        Ident::Environment(&req.env),
        Ident::Environment(&req.against),
    ])?;
    let (env, against) = (req.env.as_str(), req.against.as_str());
    let (left, right, empty) = with_ring(ctx, Access::Read, |c, ring, _| {
        let left = load_plain(c, ring, env, None, true)?;
        let right = load_plain(c, ring, against, None, true)?;
        let empty = [
            empty_if(c, left.items.is_empty(), env)?,
            empty_if(c, right.items.is_empty(), against)?,
        ];
        Ok((left, right, empty.into_iter().flatten().collect()))
    })?;
    let (left, right) = (by_key(&left), by_key(&right));
    let mut keys: Vec<&str> = left.keys().chain(right.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let mut rows = Vec::new();
    for k in keys {
        let (status, secret) = match (left.get(k), right.get(k)) {
            (Some(l), None) => (DiffStatus::OnlyIn(env.to_owned()), l.0.secret),
            (None, Some(r)) => (DiffStatus::OnlyIn(against.to_owned()), r.0.secret),
            (Some(l), Some(r)) => {
                if *l.1.value == *r.1.value && l.1.value_type == r.1.value_type {
                    continue;
                }
                (DiffStatus::Different, l.0.secret || r.0.secret)
            }
            (None, None) => continue,
        };
        rows.push(DiffRow {
            key: k.to_owned(),
            status,
            secret,
        });
    }
    Ok(Diffed { rows, empty })
}

fn by_key(p: &Plain) -> BTreeMap<&str, &(Stored, Desired)> {
    p.items.iter().map(|i| (i.0.key.as_str(), i)).collect()
}

/// `settings envs`: every environment that has or had settings, with its counts.
pub fn envs(ctx: &mut Context) -> Result<Vec<EnvRow>> {
    let list = crate::store::read(ctx.store()?, |c| envs::list(c))?;
    Ok(list.into_iter().map(EnvRow::from).collect())
}
