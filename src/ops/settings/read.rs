//! Reading settings: `get`, `list`, `history`, `export`, `diff`, and the
//! variables `settings run` gives its command. Each reads one consistent
//! snapshot; the key ring is loaded only when a secret is to be shown.

use super::view::{DiffRow, DiffStatus, HistoryRow, Mask, SettingView, Shown};
use super::{with_ring, Ring};
use crate::context::Context;
use crate::domain::keys;
use crate::domain::settings::{self, file, Desired, Stored};
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

/// Live settings, filtered.
pub fn list(ctx: &mut Context, req: &ListRequest) -> Result<Vec<SettingView>> {
    ident::check(&[Ident::Environment(&req.env)])?;
    with_ring(ctx, Access::Read, |c, ring, _| {
        let list = settings::list(c, &req.env, req.category.as_deref(), req.prefix.as_deref())?;
        ring_for_reveal(c, ring, req.reveal && list.iter().any(|s| s.secret))?;
        list.iter()
            .map(|s| {
                let value = shown_value(ring, s, req.reveal)?;
                Ok(SettingView::new(
                    s,
                    value.as_deref().map(String::as_str),
                    req.mask,
                ))
            })
            .collect()
    })
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
}

/// An export.
pub struct Exported {
    /// The text, in the asked format.
    pub text: String,
    /// Secrets left out (not revealed).
    pub hidden: usize,
}

/// The environment's settings in an import format or as variables.
pub fn export(ctx: &mut Context, req: &ExportRequest) -> Result<Exported> {
    ident::check(&[Ident::Environment(&req.env)])?;
    let env = req.env.as_str();
    let plain = with_ring(ctx, Access::Read, |c, ring, _| {
        load_plain(c, ring, env, None, req.reveal)
    })?;
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
            let prefix = if req.format == ExportFormat::Shell {
                "export "
            } else {
                ""
            };
            pairs(&plain.items)?
                .iter()
                .map(|(name, value)| format!("{prefix}{name}={}\n", file::shell_quote(value)))
                .collect()
        }
    };
    Ok(Exported {
        text,
        hidden: plain.hidden,
    })
}

/// `settings run`: which settings become the command's environment.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Environment.
    pub env: String,
    /// Only keys starting with this.
    pub prefix: Option<String>,
}

/// The variables `settings run` sets (`smtp.password` → `SMTP_PASSWORD`), secrets included.
pub fn run_environment(
    ctx: &mut Context,
    req: &RunRequest,
) -> Result<Vec<(String, Zeroizing<String>)>> {
    ident::check(&[Ident::Environment(&req.env)])?;
    let plain = with_ring(ctx, Access::Read, |c, ring, _| {
        load_plain(c, ring, &req.env, req.prefix.as_deref(), true)
    })?;
    pairs(&plain.items)
}

/// `settings diff`.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    /// This environment.
    pub env: String,
    /// The one to compare against.
    pub against: String,
}

/// Keys in only one environment, and keys whose values or types differ.
pub fn diff(ctx: &mut Context, req: &DiffRequest) -> Result<Vec<DiffRow>> {
    ident::check(&[
        Ident::Environment(&req.env),
        Ident::Environment(&req.against),
    ])?;
    let (env, against) = (req.env.as_str(), req.against.as_str());
    let (left, right) = with_ring(ctx, Access::Read, |c, ring, _| {
        Ok((
            load_plain(c, ring, env, None, true)?,
            load_plain(c, ring, against, None, true)?,
        ))
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
    Ok(rows)
}

fn by_key(p: &Plain) -> BTreeMap<&str, &(Stored, Desired)> {
    p.items.iter().map(|i| (i.0.key.as_str(), i)).collect()
}
