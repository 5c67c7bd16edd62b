//! `keyward settings`: per-environment, versioned, encrypted-when-secret settings.
//!
//! Each verb resolves its arguments (a value from argv, stdin or a file),
//! calls one operation of [`crate::ops::settings`] and renders its view.

mod import;
mod input;
mod run;

use crate::config::Format;
use crate::context::Context;
use crate::domain::settings::{Action, ValueType};
use crate::error::Result;
use crate::ops::settings::{self as ops, ExportFormat, Mask};
use crate::output::{warn, Data, Reply, RowStream, Style};
use clap::Subcommand;
use input::ValueSource;
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Debug, Subcommand)]
pub(crate) enum SettingsCommand {
    /// Create or change a setting (a new version when anything differs)
    Set {
        /// Setting key, e.g. smtp.host
        key: String,
        /// The value (for secrets prefer --value-stdin: argv ends up in shell history)
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
        /// Read the value from stdin (all of it, minus one trailing newline; on a terminal, asked for without echo)
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
    /// List settings, by key (streamed a page at a time)
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
    /// Apply a settings file (YAML, JSON or dotenv) declaratively: print the plan, apply it in one transaction
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
    /// Print the environment's settings (every format re-imports with `import`)
    Export {
        /// Output format
        /// [default: json with `-o json`, else yaml]
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Include secrets' values (otherwise they are left out)
        #[arg(long)]
        reveal: bool,
        /// Write this protected variable (PATH, LD_PRELOAD, …) in dotenv/shell exports all the same
        #[arg(long = "allow-var", value_name = "NAME")]
        allow_vars: Vec<String>,
    },
    /// Run a command with the settings as environment variables (smtp.password → SMTP_PASSWORD)
    Run {
        /// Only keys starting with this
        #[arg(long)]
        prefix: Option<String>,
        /// Set this protected variable (PATH, LD_PRELOAD, …) from settings all the same
        #[arg(long = "allow-var", value_name = "NAME")]
        allow_vars: Vec<String>,
        /// The command and its arguments, after --
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// List the environments that have settings, with their counts
    Envs,
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

pub(crate) fn run(ctx: &mut Context, cmd: SettingsCommand) -> Result<Reply> {
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
            let source = ValueSource::of(value, value_stdin, from_file)?;
            let req = ops::SetRequest {
                env: ctx.config.environment.clone(),
                key,
                value: Zeroizing::default(),
                secret,
                value_type,
                category,
                description,
                if_version,
            };
            set(ctx, req, source)
        }
        SettingsCommand::Get { key, reveal, raw } => get(ctx, key, reveal, raw),
        SettingsCommand::List {
            category,
            prefix,
            reveal,
        } => list(ctx, category, prefix, reveal),
        SettingsCommand::Delete { key, if_version } => delete(ctx, key, if_version),
        SettingsCommand::History { key, reveal } => history(ctx, key, reveal),
        SettingsCommand::Rollback { key, to_version } => rollback(ctx, key, to_version),
        SettingsCommand::Import {
            file,
            dry_run,
            prune,
        } => import::import(ctx, &file, dry_run, prune),
        SettingsCommand::Export {
            format,
            reveal,
            allow_vars,
        } => export(ctx, format, reveal, allow_vars),
        SettingsCommand::Run {
            prefix,
            allow_vars,
            command,
        } => run::run(
            ctx,
            run::RunArgs {
                prefix,
                allow_vars,
                command,
            },
        ),
        SettingsCommand::Envs => Ok(Reply::rows(ops::envs(ctx)?)),
        SettingsCommand::Diff { against } => diff(ctx, against),
        SettingsCommand::Promote {
            keys,
            from,
            to,
            dry_run,
        } => promote(
            ctx,
            ops::PromoteRequest {
                keys,
                from,
                to,
                dry_run,
            },
        ),
    }
}

/// How unrevealed secrets show: `********` in tables, null for scripts.
fn mask(ctx: &Context) -> Mask {
    if ctx.config.output == Format::Table {
        Mask::Stars
    } else {
        Mask::Null
    }
}

fn get(ctx: &mut Context, key: String, reveal: bool, raw: bool) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let mask = mask(ctx);
    let got = ops::get(
        ctx,
        &ops::GetRequest {
            env,
            key,
            reveal,
            mask,
        },
    )?;
    if raw {
        // The bare value, as Vault's `-field` prints it: no newline added.
        return Ok(Reply {
            data: Data::Raw(got.raw()?.to_string()),
            ..Reply::default()
        });
    }
    Ok(Reply::object(got.view))
}

fn list(
    ctx: &mut Context,
    category: Option<String>,
    prefix: Option<String>,
    reveal: bool,
) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let mask = mask(ctx);
    let req = ops::ListRequest {
        env,
        category,
        prefix,
        reveal,
        mask,
    };
    let mut stream = RowStream::stdout::<ops::SettingView>(Style::of(&ctx.config));
    let listed = ops::list(ctx, &req, &mut |row| stream.push(row))?;
    stream.finish()?;
    if let Some(empty) = &listed.empty {
        warn(empty);
    }
    Ok(Reply::default())
}

fn history(ctx: &mut Context, key: String, reveal: bool) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let mask = mask(ctx);
    let req = ops::HistoryRequest {
        env,
        key,
        reveal,
        mask,
    };
    Ok(Reply::rows(ops::history(ctx, &req)?))
}

fn delete(ctx: &mut Context, key: String, if_version: Option<i64>) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let req = ops::DeleteRequest {
        env,
        key,
        if_version,
    };
    let written = ops::delete(ctx, &req)?;
    let msg = format!(
        "deleted '{}' from '{}' (version {}; `settings rollback` can restore it)",
        req.key, req.env, written.version
    );
    Ok(Reply::object(written).with_message(msg).quiet_table())
}

fn rollback(ctx: &mut Context, key: String, to_version: i64) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let req = ops::RollbackRequest {
        env,
        key,
        to_version,
    };
    let written = ops::rollback(ctx, &req)?;
    let msg = if written.action == Action::Unchanged {
        format!(
            "'{}' in '{}' already holds what version {} held: nothing changed (version {})",
            req.key, req.env, req.to_version, written.version
        )
    } else {
        format!(
            "rolled '{}' in '{}' back to the value of version {}, as version {}",
            req.key, req.env, req.to_version, written.version
        )
    };
    Ok(Reply::object(written).with_message(msg).quiet_table())
}

fn export(
    ctx: &mut Context,
    format: Option<ExportFormat>,
    reveal: bool,
    allow_vars: Vec<String>,
) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let format = format.unwrap_or(match ctx.config.output {
        Format::Json => ExportFormat::Json,
        _ => ExportFormat::Yaml,
    });
    let out = ops::export(
        ctx,
        &ops::ExportRequest {
            env,
            format,
            reveal,
            allow_vars,
        },
    )?;
    if let Some(empty) = &out.empty {
        warn(empty);
    }
    if !out.skipped.is_empty() {
        warn(format!(
            "left out of the export: {} (they decide what runs; name one with --allow-var NAME to write it)",
            out.skipped.join(", ")
        ));
    }
    let hidden = out.hidden;
    let message = (hidden > 0)
        .then(|| format!("{hidden} secret setting(s) left out: add --reveal to include them"));
    Ok(Reply {
        data: Data::Raw(out.text),
        message,
        ..Reply::default()
    })
}

fn diff(ctx: &mut Context, against: String) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let req = ops::DiffRequest { env, against };
    let diffed = ops::diff(ctx, &req)?;
    for empty in &diffed.empty {
        warn(empty);
    }
    let msg = format!(
        "{} difference(s) between '{}' and '{}'",
        diffed.rows.len(),
        req.env,
        req.against
    );
    Ok(Reply::rows(diffed.rows).with_message(msg))
}

fn set(ctx: &mut Context, mut req: ops::SetRequest, source: ValueSource) -> Result<Reply> {
    // A bad key is refused before any value is read.
    crate::domain::settings::validate_key(&req.key)?;
    let from_argv = matches!(source, ValueSource::Argv(_));
    let argv_warning = "a secret given on the command line may stay in your shell history and process list; prefer --value-stdin";
    // Said before the write, so it is said even when the write then fails.
    if req.secret && from_argv {
        crate::output::warn(argv_warning);
    }
    req.value = source.read(&req.key, ctx.config.max_value_size)?;
    let out = ops::set(ctx, &req)?;
    // A first setting in an environment named like an existing one: a typo?
    if let Some(c) = out
        .new_environment
        .as_ref()
        .and_then(|e| e.closest.as_ref())
    {
        let (key, env) = (&req.key, &req.env);
        warn(format!(
            "'{key}' is the first setting of environment '{env}': did you mean '{c}'? (`keyward settings envs` lists them)"
        ));
    }
    // An existing secret stayed secret: only the write could tell.
    if out.secret && from_argv && !req.secret {
        crate::output::warn(argv_warning);
    }
    let (key, env, written) = (&req.key, &req.env, out.written);
    let msg = match written.action {
        Action::Unchanged => format!(
            "'{key}' in '{env}' already has that value: nothing changed (version {})",
            written.version
        ),
        Action::Create => format!("created '{key}' in '{env}' (version {})", written.version),
        _ => format!("updated '{key}' in '{env}' to version {}", written.version),
    };
    Ok(Reply::object(written).with_message(msg).quiet_table())
}

fn promote(ctx: &mut Context, req: ops::PromoteRequest) -> Result<Reply> {
    let rows = ops::promote(ctx, &req)?;
    let (n, from, to) = (rows.len(), &req.from, &req.to);
    let changed = rows.iter().filter(|r| r.action != Action::Unchanged);
    let changed = changed.count();
    let msg = if req.dry_run {
        format!("{changed} of {n} setting(s) would change in '{to}' (dry run, nothing changed)")
    } else {
        format!("promoted {changed} of {n} setting(s) from '{from}' to '{to}'")
    };
    Ok(Reply::rows(rows).with_message(msg))
}
