//! `keyward settings`: per-environment, versioned, encrypted-when-secret settings.
//!
//! Each verb resolves its arguments (a value from argv, stdin or a file),
//! calls one operation of [`crate::ops::settings`] and renders its view.

use crate::config::Format;
use crate::context::Context;
use crate::domain::settings::{Action, ValueType};
use crate::error::{Error, Result};
use crate::ops::settings::{self as ops, ExportFormat, Mask, Plan};
use crate::output::{Data, Reply};
use crate::secret;
use clap::Subcommand;
use std::path::{Path, PathBuf};
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
        } => import(ctx, &file, dry_run, prune),
        SettingsCommand::Export { format, reveal } => export(ctx, format, reveal),
        SettingsCommand::Run { prefix, command } => {
            let env = ctx.config.environment.clone();
            let pairs = ops::run_environment(ctx, &ops::RunRequest { env, prefix })?;
            run_command(&pairs, &command)
        }
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
    Ok(Reply::rows(ops::list(ctx, &req)?))
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
    let msg = format!(
        "rolled '{}' in '{}' back to the value of version {}, as version {}",
        req.key, req.env, req.to_version, written.version
    );
    Ok(Reply::object(written).with_message(msg).quiet_table())
}

fn export(ctx: &mut Context, format: Option<ExportFormat>, reveal: bool) -> Result<Reply> {
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
        },
    )?;
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
    let rows = ops::diff(ctx, &req)?;
    let msg = format!(
        "{} difference(s) between '{}' and '{}'",
        rows.len(),
        req.env,
        req.against
    );
    Ok(Reply::rows(rows).with_message(msg))
}

/// Where `set` reads its value from.
enum ValueSource {
    Argv(String),
    Stdin,
    File(PathBuf),
}

impl ValueSource {
    fn of(value: Option<String>, stdin: bool, file: Option<PathBuf>) -> Result<Self> {
        match (value, stdin, file) {
            (Some(v), false, None) => Ok(ValueSource::Argv(v)),
            (None, true, None) => Ok(ValueSource::Stdin),
            (None, false, Some(path)) => Ok(ValueSource::File(path)),
            _ => Err(Error::invalid(
                "give the value as an argument, with --value-stdin, or with --from-file FILE",
            )),
        }
    }

    fn read(self) -> Result<Zeroizing<String>> {
        match self {
            ValueSource::Argv(v) => Ok(Zeroizing::new(v)),
            ValueSource::Stdin => secret::stdin_all("value"),
            ValueSource::File(path) => read_file(&path),
        }
    }
}

fn read_file(path: &Path) -> Result<Zeroizing<String>> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))
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
    req.value = source.read()?;
    let out = ops::set(ctx, &req)?;
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

fn import(ctx: &mut Context, file: &Path, dry_run: bool, prune: bool) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let (text, source) = if file.as_os_str() == "-" {
        (secret::stdin_all("settings file")?, "stdin".to_owned())
    } else {
        (read_file(file)?, file.display().to_string())
    };
    let plan = ops::import(
        ctx,
        &ops::ImportRequest {
            env,
            env_explicit: ctx.config.environment_explicit,
            text,
            source,
            dry_run,
            prune,
        },
    )?;
    let summary = summary(&plan);
    if ctx.config.output == Format::Table {
        return Ok(Reply {
            data: Data::Text(plan_lines(&plan)),
            message: Some(summary),
            ..Reply::default()
        });
    }
    Ok(Reply::object(plan).with_message(summary))
}

/// The plan for people: `+ key`, `~ key (fields)`, `- key`.
fn plan_lines(plan: &Plan) -> String {
    let added = plan.added.iter().map(|k| format!("+ {k}\n"));
    let changed = (plan.changed.iter()).map(|c| format!("~ {} ({})\n", c.key, c.fields));
    let removed = plan.removed.iter().map(|k| format!("- {k}\n"));
    added.chain(changed).chain(removed).collect()
}

fn summary(plan: &Plan) -> String {
    let verb = if plan.applied {
        "applied"
    } else if plan.dry_run {
        "dry run, nothing changed"
    } else {
        "nothing to do"
    };
    format!(
        "{}: {} to add, {} to change, {} to remove, {} unchanged ({verb})",
        plan.environment,
        plan.added.len(),
        plan.changed.len(),
        plan.removed.len(),
        plan.unchanged
    )
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

/// Runs the command with the settings as its environment; its exit code passes through.
fn run_command(pairs: &[(String, Zeroizing<String>)], command: &[String]) -> Result<Reply> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::invalid("no command given after --"))?;
    let mut child = std::process::Command::new(program);
    child.args(args);
    for (name, value) in pairs {
        child.env(name, value.as_str());
    }
    let exit = |code: u8| Reply {
        exit: Some(code),
        ..Reply::default()
    };
    let status = match child.status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::output::error(format!("command not found: {program}"));
            return Ok(exit(127));
        }
        Err(e) => {
            crate::output::error(format!("cannot run {program}: {e}"));
            return Ok(exit(126));
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    Ok(exit(u8::try_from(code).unwrap_or(1)))
}
