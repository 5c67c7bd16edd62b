//! `keyward settings`: per-environment, versioned, encrypted-when-secret settings.

use crate::config::Format;
use crate::context::Context;
use crate::crypto::keyring::Keyring;
use crate::domain::keys;
use crate::domain::settings::{self, Desired, Journal, Stored, ValueType};
use crate::domain::settings_file;
use crate::error::{Error, Result};
use crate::output::{Data, Reply};
use crate::{secret, store};
use clap::{Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;
use zeroize::Zeroizing;

const MASK: &str = "********";
const LIST_COLUMNS: &[&str] = &[
    "key",
    "value",
    "type",
    "secret",
    "category",
    "version",
    "updated_at",
];

#[derive(Debug, Subcommand)]
pub(crate) enum SettingsCommand {
    /// Create or change a setting (a new version when anything differs)
    Set {
        /// Setting key, e.g. smtp.host
        key: String,
        /// The value (for secrets prefer --value-stdin: argv ends up in shell history)
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
        /// Read the value from stdin (all of it, minus one trailing newline)
        #[arg(long, conflicts_with_all = ["value", "from_file"])]
        value_stdin: bool,
        /// Read the value from a file, as it is
        #[arg(long, value_name = "FILE", conflicts_with = "value")]
        from_file: Option<PathBuf>,
        /// Store it encrypted; shown masked unless --reveal
        #[arg(long)]
        secret: bool,
        /// Value type (default: the current type, else string)
        #[arg(long = "type", value_enum, value_name = "TYPE")]
        value_type: Option<ValueType>,
        /// Category
        #[arg(long)]
        category: Option<String>,
        /// Description
        #[arg(long)]
        description: Option<String>,
        /// Only if the setting is at this version (0: only if it does not exist)
        #[arg(long, value_name = "N")]
        if_version: Option<i64>,
    },
    /// Show a setting
    Get {
        key: String,
        /// Show a secret's value
        #[arg(long)]
        reveal: bool,
        /// Print only the value, for $(…) in scripts
        #[arg(long)]
        raw: bool,
    },
    /// List settings
    List {
        /// Only this category
        #[arg(long)]
        category: Option<String>,
        /// Only keys starting with this
        #[arg(long)]
        prefix: Option<String>,
        /// Show secrets' values
        #[arg(long)]
        reveal: bool,
    },
    /// Delete a setting (its history stays; `rollback` can restore it)
    Delete {
        key: String,
        /// Only if the setting is at this version
        #[arg(long, value_name = "N")]
        if_version: Option<i64>,
    },
    /// Show every version of a setting
    History {
        key: String,
        /// Show secrets' values
        #[arg(long)]
        reveal: bool,
    },
    /// Write an earlier version back as a new version (also for a deleted setting)
    Rollback {
        key: String,
        /// The version to restore
        #[arg(long, value_name = "N")]
        to_version: i64,
    },
    /// Apply a YAML file declaratively: print the plan, apply it in one transaction
    Import {
        /// The file (- for stdin)
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Print the plan only
        #[arg(long)]
        dry_run: bool,
        /// Also delete settings the file does not name
        #[arg(long)]
        prune: bool,
    },
    /// Print the environment's settings (yaml/json re-import with `import`)
    Export {
        /// Output format
        /// [default: json with `-o json`, else yaml]
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Include secrets' values (otherwise they are left out)
        #[arg(long)]
        reveal: bool,
    },
    /// Run a command with the settings as environment variables (smtp.password → SMTP_PASSWORD)
    Run {
        /// Only keys starting with this
        #[arg(long)]
        prefix: Option<String>,
        /// The command and its arguments, after --
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Compare this environment (--env) with another: keys in only one, values that differ
    Diff {
        /// The environment to compare against
        #[arg(long, value_name = "ENV")]
        against: String,
    },
    /// Copy settings from one environment to another, as audited changes there
    Promote {
        /// Keys to copy
        #[arg(required = true)]
        keys: Vec<String>,
        /// Source environment
        #[arg(long, value_name = "ENV")]
        from: String,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Print the plan only
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    Yaml,
    Json,
    Dotenv,
    Shell,
}

pub(crate) fn run(ctx: &mut Context, cmd: SettingsCommand) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    match cmd {
        SettingsCommand::Set {
            key,
            value,
            value_stdin,
            from_file,
            secret,
            value_type,
            category,
            description,
            if_version,
        } => {
            settings::validate_key(&key)?;
            let mut from_argv = false;
            let raw = match (value, value_stdin, from_file) {
                (Some(v), false, None) => {
                    from_argv = true;
                    Zeroizing::new(v)
                }
                (None, true, None) => secret::stdin_all("value")?,
                (None, false, Some(path)) => {
                    Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                        Error::invalid(format!("cannot read {}: {e}", path.display()))
                    })?)
                }
                _ => return Err(Error::invalid(
                    "give the value as an argument, with --value-stdin, or with --from-file FILE",
                )),
            };
            set(
                ctx,
                &env,
                &key,
                &raw,
                from_argv,
                secret,
                value_type,
                category,
                description,
                if_version,
            )
        }
        SettingsCommand::Get { key, reveal, raw } => {
            let s = store::read(ctx.store()?, |c| settings::get(c, &env, &key))?;
            let ring = ring_for(ctx, reveal && s.secret)?;
            let value = store::read(ctx.store()?, |c| shown_value(c, ring.as_ref(), &s, reveal))?;
            if raw {
                let Some(text) = value else {
                    return Err(Error::invalid(format!(
                        "'{key}' is secret: add --reveal to print its value"
                    )));
                };
                return Ok(Reply {
                    // The bare value, as Vault's `-field` prints it: no newline added.
                    data: Data::Raw(text.to_string()),
                    ..Reply::default()
                });
            }
            Ok(Reply::object(view(
                ctx.config.output,
                &s,
                value.as_deref().map(|v| s.value_type.to_json(v)),
            )))
        }
        SettingsCommand::List {
            category,
            prefix,
            reveal,
        } => {
            let list = store::read(ctx.store()?, |c| {
                settings::list(c, &env, category.as_deref(), prefix.as_deref())
            })?;
            let ring = ring_for(ctx, reveal && list.iter().any(|s| s.secret))?;
            let format = ctx.config.output;
            let rows = store::read(ctx.store()?, |c| {
                list.iter()
                    .map(|s| {
                        let v = shown_value(c, ring.as_ref(), s, reveal)?;
                        Ok(view(
                            format,
                            s,
                            v.as_deref().map(|v| s.value_type.to_json(v)),
                        ))
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
            Ok(Reply::list(LIST_COLUMNS, rows))
        }
        SettingsCommand::Delete { key, if_version } => {
            store::read(ctx.store()?, |c| settings::get(c, &env, &key))?;
            ctx.confirm(&format!("delete setting '{key}' from '{env}'"))?;
            let actor = ctx.actor().to_owned();
            let written = store::write(ctx.store()?, |c| {
                settings::delete_one(c, &actor, &env, &key, if_version)
            })?;
            let msg = format!(
                "deleted '{key}' from '{env}' (version {}; `settings rollback` can restore it)",
                written.version
            );
            Ok(Reply::object(written).with_message(msg).quiet_table())
        }
        SettingsCommand::History { key, reveal } => {
            let has_secret = store::read(ctx.store()?, |c| {
                Ok(settings::history(c, &env, &key)?.iter().any(|v| v.secret))
            })?;
            let ring = ring_for(ctx, reveal && has_secret)?;
            let format = ctx.config.output;
            let rows = store::read(ctx.store()?, |c| {
                let versions = settings::history(c, &env, &key)?;
                // The ring is only loaded when a secret is revealed.
                keys::check_ring(c, ring.as_ref())?;
                versions
                    .iter()
                    .map(|v| {
                        let value = match (&v.value, v.secret && !reveal) {
                            (None, _) => serde_json::Value::Null,
                            (Some(_), true) => mask(format),
                            (Some(stored), false) => {
                                let text = settings::plaintext(
                                    ring.as_ref(),
                                    &env,
                                    &key,
                                    v.secret,
                                    stored,
                                )?;
                                v.value_type.to_json(&text)
                            }
                        };
                        Ok(serde_json::json!({
                            "version": v.version,
                            "action": v.action,
                            "value": value,
                            "type": v.value_type.name(),
                            "secret": v.secret,
                            "category": v.category,
                            "description": v.description,
                            "actor": v.actor,
                            "changed_at": crate::time::rfc3339(v.changed_at),
                        }))
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
            Ok(Reply::list(
                &[
                    "version",
                    "action",
                    "value",
                    "type",
                    "secret",
                    "actor",
                    "changed_at",
                ],
                rows,
            ))
        }
        SettingsCommand::Rollback { key, to_version } => rollback(ctx, &env, &key, to_version),
        SettingsCommand::Import {
            file,
            dry_run,
            prune,
        } => import(ctx, &env, &file, dry_run, prune),
        SettingsCommand::Export { format, reveal } => {
            let format = format.unwrap_or(match ctx.config.output {
                Format::Json => ExportFormat::Json,
                _ => ExportFormat::Yaml,
            });
            export(ctx, &env, format, reveal)
        }
        SettingsCommand::Run { prefix, command } => {
            run_command(ctx, &env, prefix.as_deref(), &command)
        }
        SettingsCommand::Diff { against } => diff(ctx, &env, &against),
        SettingsCommand::Promote {
            keys,
            from,
            to,
            dry_run,
        } => promote(ctx, &keys, &from, &to, dry_run),
    }
}

fn mask(format: Format) -> serde_json::Value {
    match format {
        Format::Table => MASK.into(),
        _ => serde_json::Value::Null,
    }
}

/// The key ring when the command may need to read or write a secret.
fn ring_for(ctx: &mut Context, needed: bool) -> Result<Option<Keyring>> {
    if needed {
        Ok(Some(ctx.keyring()?.clone()))
    } else {
        Ok(None)
    }
}

/// The value to show: plaintext, or None for a masked secret.
fn shown_value(
    conn: &mut dyn crate::store::Conn,
    ring: Option<&Keyring>,
    s: &Stored,
    reveal: bool,
) -> Result<Option<Zeroizing<String>>> {
    let Some(stored) = &s.value else {
        return Ok(None);
    };
    if s.secret && !reveal {
        return Ok(None);
    }
    if s.secret {
        keys::check_ring(conn, ring)?;
    }
    settings::plaintext(ring, &s.environment, &s.key, s.secret, stored).map(Some)
}

fn view(format: Format, s: &Stored, value: Option<serde_json::Value>) -> serde_json::Value {
    let value = match value {
        Some(v) => v,
        None if s.secret => mask(format),
        None => serde_json::Value::Null,
    };
    serde_json::json!({
        "key": s.key,
        "environment": s.environment,
        "value": value,
        "type": s.value_type.name(),
        "secret": s.secret,
        "category": s.category,
        "description": s.description,
        "version": s.version,
        "updated_at": crate::time::rfc3339(s.updated_at),
        "updated_by": s.updated_by,
    })
}

#[allow(clippy::too_many_arguments)]
fn set(
    ctx: &mut Context,
    env: &str,
    key: &str,
    raw: &str,
    from_argv: bool,
    secret_flag: bool,
    value_type: Option<ValueType>,
    category: Option<String>,
    description: Option<String>,
    if_version: Option<i64>,
) -> Result<Reply> {
    let actor = ctx.actor().to_owned();
    let current = store::read(ctx.store()?, |c| settings::find(c, env, key))?;
    let live = current.as_ref().filter(|c| !c.deleted);
    // A secret stays secret: a new value never silently lands in plain text.
    let secret = secret_flag || live.is_some_and(|c| c.secret);
    if secret && from_argv {
        eprintln!("warning: a secret given on the command line may stay in your shell history and process list; prefer --value-stdin");
    }
    let ty = value_type
        .or(live.map(|c| c.value_type))
        .unwrap_or(ValueType::String);
    let want = Desired {
        value: Zeroizing::new(ty.normalize(key, raw)?),
        value_type: ty,
        secret,
        category: category.or_else(|| live.and_then(|c| c.category.clone())),
        description: description.or_else(|| live.and_then(|c| c.description.clone())),
    };
    let ring = ring_for(ctx, secret || current.as_ref().is_some_and(|c| c.secret))?;
    let written = store::write(ctx.store()?, |c| {
        keys::gate(
            c,
            ring.as_ref(),
            crate::domain::audit::Stamp::new(&actor, &crate::time::SystemClock),
            true,
        )?;
        let current = settings::find(c, env, key)?;
        settings::check_version(env, key, current.as_ref(), if_version)?;
        settings::apply_one(
            c,
            &actor,
            ring.as_ref(),
            env,
            key,
            current.as_ref(),
            &want,
            false,
        )
    })?;
    let msg = match written.action {
        "unchanged" => format!(
            "'{key}' in '{env}' already has that value: nothing changed (version {})",
            written.version
        ),
        "create" => format!("created '{key}' in '{env}' (version {})", written.version),
        _ => format!("updated '{key}' in '{env}' to version {}", written.version),
    };
    Ok(Reply::object(written).with_message(msg).quiet_table())
}

fn rollback(ctx: &mut Context, env: &str, key: &str, to_version: i64) -> Result<Reply> {
    let actor = ctx.actor().to_owned();
    let versions = store::read(ctx.store()?, |c| settings::history(c, env, key))?;
    let ring = ring_for(ctx, versions.iter().any(|v| v.secret))?;
    let written = store::write(ctx.store()?, |c| {
        keys::gate(
            c,
            ring.as_ref(),
            crate::domain::audit::Stamp::new(&actor, &crate::time::SystemClock),
            true,
        )?;
        let versions = settings::history(c, env, key)?;
        let want = settings::state_at(ring.as_ref(), env, key, &versions, to_version)?;
        let current = settings::find(c, env, key)?;
        settings::apply_one(
            c,
            &actor,
            ring.as_ref(),
            env,
            key,
            current.as_ref(),
            &want,
            true,
        )
    })?;
    let msg = format!(
        "rolled '{key}' in '{env}' back to the value of version {to_version}, as version {}",
        written.version
    );
    Ok(Reply::object(written).with_message(msg).quiet_table())
}

#[derive(serde::Serialize)]
struct Plan {
    environment: String,
    dry_run: bool,
    applied: bool,
    added: Vec<String>,
    changed: Vec<serde_json::Value>,
    removed: Vec<String>,
    unchanged: usize,
}

impl Plan {
    fn lines(&self) -> String {
        let mut out = String::new();
        for k in &self.added {
            out.push_str(&format!("+ {k}\n"));
        }
        for c in &self.changed {
            let fields: Vec<&str> = c["fields"]
                .as_array()
                .map(|a| a.iter().filter_map(|f| f.as_str()).collect())
                .unwrap_or_default();
            out.push_str(&format!(
                "~ {} ({})\n",
                c["key"].as_str().unwrap_or_default(),
                fields.join(", ")
            ));
        }
        for k in &self.removed {
            out.push_str(&format!("- {k}\n"));
        }
        out
    }

    fn summary(&self) -> String {
        let verb = if self.applied {
            "applied"
        } else if self.dry_run {
            "dry run, nothing changed"
        } else {
            "nothing to do"
        };
        format!(
            "{}: {} to add, {} to change, {} to remove, {} unchanged ({verb})",
            self.environment,
            self.added.len(),
            self.changed.len(),
            self.removed.len(),
            self.unchanged
        )
    }
}

fn import(
    ctx: &mut Context,
    default_env: &str,
    file: &std::path::Path,
    dry_run: bool,
    prune: bool,
) -> Result<Reply> {
    let (text, source) = if file.as_os_str() == "-" {
        (secret::stdin_all("settings file")?, "stdin".to_owned())
    } else {
        let t = std::fs::read_to_string(file)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", file.display())))?;
        (Zeroizing::new(t), file.display().to_string())
    };
    let parsed = settings_file::parse(&text, &source)?;
    let env = match &parsed.environment {
        Some(file_env) if ctx.config.environment_explicit && file_env != default_env => {
            return Err(Error::invalid(format!(
                "{source} is for environment '{file_env}' but '{default_env}' was asked for (--env or KEYWARD_ENV): drop one of them"
            )))
        }
        Some(file_env) => file_env.clone(),
        None => default_env.to_owned(),
    };
    if prune && parsed.entries.is_empty() {
        return Err(Error::invalid(format!(
            "{source} names no settings: with --prune it would delete every setting in '{env}'. Refusing; use `keyward settings delete` for that"
        )));
    }
    if prune && !dry_run {
        ctx.confirm(&format!(
            "import into '{env}' and delete every setting the file does not name"
        ))?;
    }
    let actor = ctx.actor().to_owned();
    let has_secrets = store::read(ctx.store()?, |c| {
        Ok(c.query_opt(
            "SELECT 1 FROM settings WHERE environment = $1 AND is_encrypted = TRUE LIMIT 1",
            &[env.as_str().into()],
        )?
        .is_some())
    })?;
    let ring = ring_for(
        ctx,
        has_secrets || parsed.entries.iter().any(|(_, d, _)| d.secret),
    )?;
    let body = |c: &mut dyn crate::store::Conn, apply: bool| -> Result<Plan> {
        keys::gate(
            c,
            ring.as_ref(),
            crate::domain::audit::Stamp::new(&actor, &crate::time::SystemClock),
            apply,
        )?;
        let current: BTreeMap<String, Stored> = settings::all(c, &env)?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        let mut plan = Plan {
            environment: env.clone(),
            dry_run,
            applied: false,
            added: vec![],
            changed: vec![],
            removed: vec![],
            unchanged: 0,
        };
        let mut journal = if apply {
            Some(Journal::new(c, &actor)?)
        } else {
            None
        };
        let mut named = std::collections::HashSet::new();
        let mut creates: Vec<(&str, &Desired)> = Vec::new();
        for (key, file_want, secret_given) in &parsed.entries {
            named.insert(key.as_str());
            let cur = current.get(key);
            // A file that does not say `secret:` keeps an existing secret secret.
            let sticky;
            let want = if !secret_given
                && !file_want.secret
                && cur.is_some_and(|c| !c.deleted && c.secret)
            {
                sticky = Desired {
                    secret: true,
                    ..file_want.clone()
                };
                &sticky
            } else {
                file_want
            };
            let fields = match cur {
                Some(s) if !s.deleted => settings::changed_fields(ring.as_ref(), s, want)?,
                _ => vec!["created"],
            };
            if fields.is_empty() {
                plan.unchanged += 1;
                continue;
            }
            if fields == ["created"] {
                plan.added.push(key.clone());
            } else {
                plan.changed
                    .push(serde_json::json!({"key": key, "fields": fields}));
            }
            match (journal.as_mut(), cur) {
                // Nothing to keep secret for a new key: the file's entry as it is.
                (Some(_), None) => creates.push((key.as_str(), file_want)),
                (Some(j), Some(_)) => {
                    settings::apply(c, j, ring.as_ref(), &env, key, cur, want, false)?;
                }
                (None, _) => {}
            }
        }
        if let Some(j) = journal.as_mut() {
            settings::create_many(c, j, ring.as_ref(), &env, &creates)?;
        }
        if prune {
            for (key, s) in &current {
                if !s.deleted && !named.contains(key.as_str()) {
                    plan.removed.push(key.clone());
                    if let Some(j) = journal.as_mut() {
                        settings::delete(c, j, &env, key, None)?;
                    }
                }
            }
        }
        if let Some(mut j) = journal {
            j.flush(c)?;
            plan.applied =
                !(plan.added.is_empty() && plan.changed.is_empty() && plan.removed.is_empty());
        }
        Ok(plan)
    };
    let plan = if dry_run {
        store::read(ctx.store()?, |c| body(c, false))?
    } else {
        store::write(ctx.store()?, |c| body(c, true))?
    };
    let summary = plan.summary();
    if ctx.config.output == Format::Table {
        return Ok(Reply {
            data: Data::Raw(plan.lines()),
            message: Some(summary),
            ..Reply::default()
        });
    }
    Ok(Reply::object(plan).with_message(summary))
}

/// Live settings of an environment with plaintext values (secrets only with `reveal`).
fn load_plain(
    ctx: &mut Context,
    env: &str,
    prefix: Option<&str>,
    reveal: bool,
) -> Result<(Vec<(Stored, Desired)>, usize)> {
    let has_secrets = store::read(ctx.store()?, |c| {
        Ok(settings::list(c, env, None, prefix)?
            .iter()
            .any(|s| s.secret))
    })?;
    let ring = ring_for(ctx, reveal && has_secrets)?;
    store::read(ctx.store()?, |c| {
        keys::check_ring(c, ring.as_ref())?;
        let mut out = Vec::new();
        let mut hidden = 0;
        for s in settings::list(c, env, None, prefix)? {
            if s.secret && !reveal {
                hidden += 1;
                continue;
            }
            let value = match &s.value {
                Some(v) => settings::plaintext(ring.as_ref(), env, &s.key, s.secret, v)?,
                None => continue,
            };
            let d = Desired {
                value,
                value_type: s.value_type,
                secret: s.secret,
                category: s.category.clone(),
                description: s.description.clone(),
            };
            out.push((s, d));
        }
        Ok((out, hidden))
    })
}

fn env_pairs(list: &[(Stored, Desired)]) -> Result<Vec<(String, Zeroizing<String>)>> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut out = Vec::new();
    for (s, d) in list {
        let name = settings::env_var_name(&s.key);
        if let Some(other) = seen.insert(name.clone(), &s.key) {
            return Err(Error::invalid(format!(
                "settings '{other}' and '{}' both become the environment variable {name}: rename one",
                s.key
            )));
        }
        out.push((name, d.value.clone()));
    }
    Ok(out)
}

fn export(ctx: &mut Context, env: &str, format: ExportFormat, reveal: bool) -> Result<Reply> {
    let (list, hidden) = load_plain(ctx, env, None, reveal)?;
    let text = match format {
        ExportFormat::Yaml | ExportFormat::Json => {
            let entries: Vec<(String, serde_json::Value)> = list
                .iter()
                .map(|(s, d)| (s.key.clone(), settings_file::to_entry(d)))
                .collect();
            match format {
                ExportFormat::Json => settings_file::to_json(env, &entries),
                _ => settings_file::to_yaml(env, &entries),
            }
        }
        ExportFormat::Dotenv | ExportFormat::Shell => {
            let prefix = if matches!(format, ExportFormat::Shell) {
                "export "
            } else {
                ""
            };
            env_pairs(&list)?
                .iter()
                .map(|(name, value)| {
                    format!("{prefix}{name}={}\n", settings_file::shell_quote(value))
                })
                .collect()
        }
    };
    let message = (hidden > 0)
        .then(|| format!("{hidden} secret setting(s) left out: add --reveal to include them"));
    Ok(Reply {
        data: Data::Raw(text),
        message,
        ..Reply::default()
    })
}

fn run_command(
    ctx: &mut Context,
    env: &str,
    prefix: Option<&str>,
    command: &[String],
) -> Result<Reply> {
    let (list, _) = load_plain(ctx, env, prefix, true)?;
    let pairs = env_pairs(&list)?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::invalid("no command given after --"))?;
    let mut child = std::process::Command::new(program);
    child.args(args);
    for (name, value) in &pairs {
        child.env(name, value.as_str());
    }
    let status = match child.status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("error: command not found: {program}");
            return Ok(Reply {
                exit: Some(127),
                ..Reply::default()
            });
        }
        Err(e) => {
            eprintln!("error: cannot run {program}: {e}");
            return Ok(Reply {
                exit: Some(126),
                ..Reply::default()
            });
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    Ok(Reply {
        exit: Some(u8::try_from(code).unwrap_or(1)),
        ..Reply::default()
    })
}

fn diff(ctx: &mut Context, env: &str, against: &str) -> Result<Reply> {
    crate::config::validate_environment(against)?;
    let (left, _) = load_plain(ctx, env, None, true)?;
    let (right, _) = load_plain(ctx, against, None, true)?;
    let right: BTreeMap<&str, &(Stored, Desired)> =
        right.iter().map(|p| (p.0.key.as_str(), p)).collect();
    let left_map: BTreeMap<&str, &(Stored, Desired)> =
        left.iter().map(|p| (p.0.key.as_str(), p)).collect();
    let mut keys: Vec<&str> = left_map.keys().chain(right.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let mut rows = Vec::new();
    for k in keys {
        let (status, secret) = match (left_map.get(k), right.get(k)) {
            (Some(l), None) => (format!("only_in_{env}"), l.0.secret),
            (None, Some(r)) => (format!("only_in_{against}"), r.0.secret),
            (Some(l), Some(r)) => {
                let same = *l.1.value == *r.1.value && l.1.value_type == r.1.value_type;
                if same {
                    continue;
                }
                ("different".to_owned(), l.0.secret || r.0.secret)
            }
            (None, None) => continue,
        };
        rows.push(serde_json::json!({"key": k, "status": status, "secret": secret}));
    }
    let msg = format!(
        "{} difference(s) between '{env}' and '{against}'",
        rows.len()
    );
    Ok(Reply::list(&["key", "status", "secret"], rows).with_message(msg))
}

fn promote(
    ctx: &mut Context,
    keys_list: &[String],
    from: &str,
    to: &str,
    dry_run: bool,
) -> Result<Reply> {
    crate::config::validate_environment(from)?;
    crate::config::validate_environment(to)?;
    let actor = ctx.actor().to_owned();
    let needs_ring = store::read(ctx.store()?, |c| {
        Ok(c.query_opt(
            "SELECT 1 FROM settings WHERE (environment = $1 OR environment = $2) AND is_encrypted = TRUE LIMIT 1",
            &[from.into(), to.into()],
        )?
        .is_some())
    })?;
    let ring = ring_for(ctx, needs_ring)?;
    let body = |c: &mut dyn crate::store::Conn, apply: bool| -> Result<Vec<serde_json::Value>> {
        keys::gate(
            c,
            ring.as_ref(),
            crate::domain::audit::Stamp::new(&actor, &crate::time::SystemClock),
            apply,
        )?;
        let mut journal = if apply {
            Some(Journal::new(c, &actor)?)
        } else {
            None
        };
        let mut out = Vec::new();
        for key in keys_list {
            let src = settings::get(c, from, key)?;
            let value = settings::plaintext(
                ring.as_ref(),
                from,
                key,
                src.secret,
                src.value.as_deref().unwrap_or_default(),
            )?;
            let target = settings::find(c, to, key)?;
            // A secret in the target stays secret, as with `settings set`.
            let target_secret = target.as_ref().is_some_and(|t| !t.deleted && t.secret);
            let want = Desired {
                value,
                value_type: src.value_type,
                secret: src.secret || target_secret,
                category: src.category.clone(),
                description: src.description.clone(),
            };

            let fields = match &target {
                Some(t) if !t.deleted => settings::changed_fields(ring.as_ref(), t, &want)?,
                _ => vec!["created"],
            };
            let current_version = target.as_ref().map_or(0, |t| t.version);
            // What the change would make (or, in a dry run, would have made).
            let mut version = if fields.is_empty() {
                current_version
            } else {
                current_version + 1
            };
            if let (Some(j), false) = (journal.as_mut(), fields.is_empty()) {
                version =
                    settings::apply(c, j, ring.as_ref(), to, key, target.as_ref(), &want, false)?
                        .version;
            }
            let action = if fields.is_empty() {
                "unchanged"
            } else if fields == ["created"] {
                "create"
            } else {
                "update"
            };
            out.push(serde_json::json!({"key": key, "action": action, "fields": fields, "version": version}));
        }
        if let Some(mut j) = journal {
            j.flush(c)?;
        }
        Ok(out)
    };
    let rows = if dry_run {
        store::read(ctx.store()?, |c| body(c, false))?
    } else {
        store::write(ctx.store()?, |c| body(c, true))?
    };
    let changed = rows.iter().filter(|r| r["action"] != "unchanged").count();
    let msg = if dry_run {
        format!(
            "{changed} of {} setting(s) would change in '{to}' (dry run, nothing changed)",
            rows.len()
        )
    } else {
        format!(
            "promoted {changed} of {} setting(s) from '{from}' to '{to}'",
            rows.len()
        )
    };
    Ok(Reply::list(&["key", "action", "fields", "version"], rows).with_message(msg))
}
