//! The command line: clap definitions, dispatch, and the one place errors
//! become exit codes.

mod apikeys;
mod apikeys_manage;
mod apikeys_scan;
mod apikeys_verify;
mod audit;
mod db;
mod flags;
mod flags_eval;
mod roles;
mod sessions;
mod settings;
mod users;

use crate::config::{Config, Flags, Format};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::{self, Data, Reply};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit codes, shown in `--help` and the man page.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (for checks: allowed / valid / enabled)
  1  internal error
  2  usage or invalid input
  3  not found
  4  conflict (already exists, version mismatch, protected row)
  5  denied (wrong password, locked, invalid key or token, permission absent)
  6  database unavailable or schema not migrated
  7  key problem (no key, wrong key, unreadable or too-open key file)
  8  integrity failure (tampered ciphertext, broken audit chain)";

/// keyward: settings and authentication database manager.
#[derive(Debug, Parser)]
#[command(
    name = "keyward",
    version,
    about = "Manage a web application's settings-and-authentication database",
    long_about = "keyward manages the users, roles, sessions, encrypted versioned settings, feature \
                  flags and API keys of a web application's database, on SQLite (the default, no \
                  set-up) or PostgreSQL. Encryption and hashing run in this process: the database \
                  only ever sees ciphertext and hashes.",
    after_help = EXIT_CODES,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
struct GlobalArgs {
    /// Database URL: sqlite:///abs.db, sqlite://rel.db, sqlite::memory:, postgres://user:pass@host:port/db?sslmode=… [env: DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Key file: one base64 key per line, the first active [env: KEYWARD_KEY_FILE; or DATABASE_ENCRYPTION_KEY]
    #[arg(long, global = true, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// YAML config file [env: KEYWARD_CONFIG] [default: config.yaml in the platform config dir]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Environment of settings [env: KEYWARD_ENV] [default: development]
    #[arg(long = "env", global = true, value_name = "ENV")]
    env: Option<String>,
    /// Name recorded in the audit log [env: KEYWARD_ACTOR] [default: your login name]
    #[arg(long, global = true, value_name = "NAME")]
    actor: Option<String>,
    /// Output format [env: KEYWARD_OUTPUT] [default: table]
    #[arg(short = 'o', long, global = true, value_enum, value_name = "FORMAT")]
    output: Option<Format>,
    /// Proceed with destructive actions without asking
    #[arg(short = 'y', long, global = true)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, migrate, check and back up the database; rotate the encryption key
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Manage users: passwords, lockout, TOTP, permission checks
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage roles and their RESOURCE:ACTION permissions
    #[command(subcommand)]
    Roles(roles::RolesCommand),
    /// Log users in: signed access tokens, rotating refresh tokens, revocation
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// Per-environment settings: versioned, encrypted when secret, importable
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// Feature flags: defined once, switched per environment, percentage rollout and targeting
    #[command(subcommand)]
    Flags(flags::FlagsCommand),
    /// API keys: shown once, scoped, allowlisted, rate limited, rotated with grace, verified, scanned for leaks
    #[command(subcommand)]
    Apikeys(apikeys::ApikeysCommand),
    /// Read and verify the tamper-evident audit trail
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Print a shell completion script
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The clap command tree (for completions and man pages).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs keyward with the process's arguments and environment; returns the exit code.
pub fn main() -> ExitCode {
    set_up_process();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // Usage errors quote the arguments: shown through output, escaped.
            output::usage_error(&e.render().to_string());
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match run(cli) {
        Ok((style, reply)) => finish(style, reply),
        Err(e) => report(&e),
    }
}

/// Process-wide settings, made before any thread exists.
#[allow(unsafe_code)]
fn set_up_process() {
    // Files keyward creates (database, backups, key files) are private.
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    // One malloc arena: the pool's worker thread would otherwise build its own
    // (a 64 MiB reservation grown page by page), a visible part of start-up.
    // SAFETY: mallopt only tunes glibc's allocator; called before any thread exists.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The one place an error becomes an exit code: printed once, mapped by its kind.
fn report(e: &Error) -> ExitCode {
    output::error(e);
    ExitCode::from(e.exit_code())
}

fn finish(style: output::Style, reply: Reply) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = output::render(&mut out, style, &reply).and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader went away; the outcome still decides the exit code.
            return match &reply.failure {
                Some(f) => ExitCode::from(f.exit_code()),
                None => ExitCode::from(reply.exit.unwrap_or(0)),
            };
        }
        return report(&Error::internal(format!("cannot write output: {e}")));
    }
    if let Some(msg) = &reply.message {
        output::note(msg);
    }
    match (&reply.failure, reply.exit) {
        (Some(e), _) => report(e),
        (None, Some(code)) => ExitCode::from(code),
        (None, None) => ExitCode::SUCCESS,
    }
}

fn run(cli: Cli) -> Result<(output::Style, Reply)> {
    // Completions need no configuration: a broken config file must not stop them.
    if let Command::Completions { shell } = cli.command {
        let style = output::Style {
            format: Format::Table,
            no_color: true,
        };
        return Ok((style, completions(shell)?));
    }
    let g = cli.global;
    let flags = Flags {
        database_url: g.database_url,
        key_file: g.key_file,
        config: g.config,
        env: g.env,
        actor: g.actor,
        output: g.output,
    };
    let config = Config::from_process(&flags)?;
    let style = output::Style {
        format: config.output,
        no_color: config.no_color,
    };
    let mut ctx = Context::new(config, g.yes);
    let reply = match cli.command {
        Command::Db(c) => db::run(&mut ctx, c)?,
        Command::Users(c) => users::run(&mut ctx, c)?,
        Command::Roles(c) => roles::run(&mut ctx, c)?,
        Command::Sessions(c) => sessions::run(&mut ctx, c)?,
        Command::Settings(c) => settings::run(&mut ctx, c)?,
        Command::Flags(c) => flags::run(&mut ctx, c)?,
        Command::Apikeys(c) => apikeys::run(&mut ctx, c)?,
        Command::Audit(c) => audit::run(&mut ctx, c)?,
        Command::Completions { shell } => completions(shell)?,
    };
    Ok((style, reply))
}

/// The completion script for `shell`.
fn completions(shell: clap_complete::Shell) -> Result<Reply> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "keyward", &mut buf);
    let text = String::from_utf8(buf).map_err(Error::internal)?;
    Ok(Reply {
        data: Data::Raw(text),
        ..Reply::default()
    })
}
