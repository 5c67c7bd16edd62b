//! Configuration: flags > environment > config file > defaults, resolved once.
//!
//! Nothing is opened or created here except reading the config file
//! (`file.rs`); the database (`database.rs`) and the key are only touched by
//! the commands that need them.

mod database;
mod env;
mod file;

pub(crate) use env::Env;
pub use env::Reader;

use crate::crypto::password::{DEFAULT_ITERATIONS, MAX_ITERATIONS};
use crate::error::{Error, Result};
use crate::store::DatabaseTarget;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables for people.
    Table,
    /// One JSON document.
    Json,
    /// One YAML document.
    Yaml,
}

impl Format {
    fn parse(s: &str, from: &str) -> Result<Self> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "yaml" => Ok(Format::Yaml),
            other => Err(Error::invalid(format!(
                "{from}: unknown output format {}: use table, json or yaml",
                crate::ident::shown(other)
            ))),
        }
    }
}

/// What the command line says (the highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--env`.
    pub env: Option<String>,
    /// `--actor`.
    pub actor: Option<String>,
    /// `-o/--output`.
    pub output: Option<Format>,
}

/// A secret string: zeroized on drop, redacted in Debug.
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: String) -> Self {
        SecretString(Zeroizing::new(s))
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Where the encryption key comes from (not yet read).
#[derive(Debug, Clone)]
pub enum KeyConfig {
    /// A base64 key in an environment variable.
    Env {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: SecretString,
    },
    /// A key file; `is_default` for the platform config dir's `key`.
    File {
        /// The file.
        path: PathBuf,
        /// Whether it is the default location (so `db init` may create it).
        is_default: bool,
    },
}

/// Authentication policy.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// PBKDF2 iterations for new hashes.
    pub pbkdf2_iterations: u32,
    /// Failed logins before lockout.
    pub max_failed_logins: u32,
    /// How long a lockout lasts.
    pub lockout_duration: time::Duration,
    /// Sessions: how long an access token lasts (`auth.access_ttl`, 15m).
    pub access_ttl: time::Duration,
    /// Sessions: how long a session can be refreshed (`auth.refresh_ttl`, 7d).
    pub refresh_ttl: time::Duration,
    /// Access tokens' `iss` (`auth.issuer`, `keyward`).
    pub issuer: String,
    /// Access tokens' `aud` (`auth.audience`; none by default).
    pub audience: Option<String>,
}

/// The resolved configuration a command runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database.
    pub database: DatabaseTarget,
    /// r2d2 pool size for SQLite.
    pub pool_size: u32,
    /// The encryption key's source.
    pub key: KeyConfig,
    /// Previous keys from `KEYWARD_PREVIOUS_KEYS` (decrypt only).
    pub previous_keys: Option<SecretString>,
    /// Environment of settings.
    pub environment: String,
    /// Whether the environment was chosen (flag, KEYWARD_ENV, config file) rather than defaulted.
    pub environment_explicit: bool,
    /// Who is recorded in the audit log.
    pub actor: String,
    /// Output format.
    pub output: Format,
    /// Authentication policy.
    pub auth: AuthConfig,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Warnings about password hashing, printed by commands that hash.
    pub hashing_warnings: Vec<String>,
    /// A fixed "now" from `KEYWARD_TEST_NOW` (RFC 3339), honoured by debug
    /// builds only: the test suite's settable clock for the binary.
    pub test_now: Option<time::OffsetDateTime>,
    /// `NO_COLOR` is set (to anything): tables draw no styling.
    pub no_color: bool,
    /// The largest setting value accepted, in bytes (`KEYWARD_MAX_VALUE_SIZE`,
    /// `settings.max_value_size`).
    pub max_value_size: u64,
}

/// The default cap on a setting's value: 1 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: u64 = 1 << 20;
/// The highest cap that may be configured: 256 MiB (a secret's envelope is a
/// third larger, and PostgreSQL holds at most 1 GB in a text value).
pub const MAX_MAX_VALUE_SIZE: u64 = 256 << 20;

/// The platform directories keyward uses.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// Where `keyward.db` lives by default.
    pub data: Option<PathBuf>,
    /// Where `config.yaml` and `key` live by default.
    pub config: Option<PathBuf>,
}

impl Dirs {
    /// The platform's directories for keyward (`directories`).
    pub fn platform() -> Self {
        match directories::ProjectDirs::from("", "", "keyward") {
            Some(p) => Dirs {
                data: Some(p.data_dir().to_path_buf()),
                config: Some(p.config_dir().to_path_buf()),
            },
            None => Dirs {
                data: None,
                config: None,
            },
        }
    }
}

/// The login name of the user running keyward: `USER`, `LOGNAME`,
/// `USERNAME`, else the password database. A login variable that is not
/// UTF-8 is exit 2 naming it, not skipped.
#[allow(unsafe_code, clippy::disallowed_methods)]
pub fn os_login_name() -> Result<Option<String>> {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return v.into_string().map(Some).map_err(|_| env::not_unicode(var));
        }
    }
    // SAFETY: getuid has no preconditions; getpwuid returns a pointer into
    // static storage or NULL, read immediately and copied.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return Ok(std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_str()
                .ok()
                .map(str::to_owned));
        }
    }
    Ok(None)
}

/// Checks an environment name against `^[a-z][a-z0-9_-]{0,31}$` (see [`crate::ident`]).
pub fn validate_environment(name: &str) -> Result<()> {
    crate::ident::environment(name)
}

impl Config {
    /// Resolves flags, the process's environment, the config file and the
    /// platform's defaults: the only place keyward reads its environment.
    /// A variable that is not UTF-8 is exit 2 naming it (see `env.rs`).
    pub fn from_process(flags: &Flags) -> Result<Self> {
        #[allow(clippy::disallowed_methods)]
        let read = |k: &str| std::env::var_os(k);
        Self::resolve(flags, &read, &Dirs::platform())
    }

    /// Resolves flags, environment (through `env`), the config file and defaults.
    pub fn resolve(flags: &Flags, env: Reader<'_>, dirs: &Dirs) -> Result<Self> {
        let env = Env::new(env);
        let resolved = Self::resolve_in(flags, &env, dirs);
        env.finish(resolved)
    }

    fn resolve_in(flags: &Flags, env: &Env<'_>, dirs: &Dirs) -> Result<Self> {
        let no_color = env.is_present("NO_COLOR");
        let test_now = test_now(env)?;
        let (file, config_file) = file::load(flags.config.as_ref(), env, dirs.config.as_ref())?;
        let fdb = file.database.unwrap_or_default();
        let database = database::resolve(flags, env, &fdb, dirs)?;
        let pool_size = database::pool_size(env, &fdb)?;
        let key = key_config(flags, env, file.encryption.and_then(|e| e.key_file), dirs);
        let previous_keys = env.get("KEYWARD_PREVIOUS_KEYS").map(SecretString::new);
        let explicit_environment = flags
            .env
            .clone()
            .or_else(|| env.get("KEYWARD_ENV"))
            .or(file.environment);
        let environment_explicit = explicit_environment.is_some();
        let environment = explicit_environment.unwrap_or_else(|| "development".into());
        validate_environment(&environment)?;
        let actor = actor(flags, env, file.actor)?;
        let output = output(flags, env, file.output.as_deref())?;
        let (auth, hashing_warnings) = auth(env, file.auth.unwrap_or_default())?;
        let max_value_size = max_value_size(env, file.settings.unwrap_or_default())?;
        Ok(Config {
            database,
            pool_size,
            key,
            previous_keys,
            environment,
            environment_explicit,
            actor,
            output,
            auth,
            config_file,
            hashing_warnings,
            test_now,
            no_color,
            max_value_size,
        })
    }
}

/// `KEYWARD_TEST_NOW`, honoured by debug builds only.
fn test_now(env: &Env<'_>) -> Result<Option<time::OffsetDateTime>> {
    if !cfg!(debug_assertions) {
        return Ok(None);
    }
    env.get("KEYWARD_TEST_NOW")
        .map(|v| crate::time::parse_stored(&v).map_err(|e| e.context("KEYWARD_TEST_NOW")))
        .transpose()
}

/// The key's source: `--key-file` > `DATABASE_ENCRYPTION_KEY` >
/// `KEYWARD_KEY_FILE` > the file's `encryption.key_file` > the default key file.
fn key_config(flags: &Flags, env: &Env<'_>, file_key: Option<PathBuf>, dirs: &Dirs) -> KeyConfig {
    let named = |path: PathBuf| KeyConfig::File {
        path,
        is_default: false,
    };
    if let Some(path) = &flags.key_file {
        named(path.clone())
    } else if let Some(value) = env.get("DATABASE_ENCRYPTION_KEY") {
        KeyConfig::Env {
            var: "DATABASE_ENCRYPTION_KEY",
            value: SecretString::new(value),
        }
    } else if let Some(path) = env.get_path("KEYWARD_KEY_FILE") {
        named(path)
    } else if let Some(path) = file_key {
        named(path)
    } else {
        match &dirs.config {
            Some(dir) => KeyConfig::File {
                path: dir.join("key"),
                is_default: true,
            },
            None => KeyConfig::Env {
                var: "DATABASE_ENCRYPTION_KEY",
                value: SecretString::default(),
            },
        }
    }
}

/// Who is recorded in the audit log: flag > `KEYWARD_ACTOR` > file > login name > `uid:<n>`.
fn actor(flags: &Flags, env: &Env<'_>, file_actor: Option<String>) -> Result<String> {
    let named = flags
        .actor
        .clone()
        .or_else(|| env.get("KEYWARD_ACTOR"))
        .or(file_actor);
    let actor = match named {
        Some(a) => a,
        None => os_login_name()?.unwrap_or_else(|| format!("uid:{}", unsafe_uid())),
    };
    if actor.trim().is_empty() || actor.len() > 128 {
        return Err(Error::invalid("the actor name must be 1 to 128 characters"));
    }
    Ok(actor)
}

/// The output format: flag > `KEYWARD_OUTPUT` > file > table.
fn output(flags: &Flags, env: &Env<'_>, file_output: Option<&str>) -> Result<Format> {
    match flags.output {
        Some(f) => Ok(f),
        None => match env.get("KEYWARD_OUTPUT") {
            Some(v) => Format::parse(&v, "KEYWARD_OUTPUT"),
            None => match file_output {
                Some(v) => Format::parse(v, "config file output"),
                None => Ok(Format::Table),
            },
        },
    }
}

/// A count from 1 to `max` from the environment variable `var` or the
/// file's `auth.<field>`, else `default`.
fn count(
    env: &Env<'_>,
    var: &str,
    file: Option<u32>,
    field: &str,
    default: u32,
    max: u32,
) -> Result<u32> {
    let range = if max == u32::MAX {
        "a positive number".to_owned()
    } else {
        format!("a number from 1 to {max}")
    };
    match env.get(var) {
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            Ok(n) if n > max => Err(Error::invalid(format!(
                "{var} {n} is above the limit of {max}: it must be {range}"
            ))),
            _ => Err(Error::invalid(format!(
                "{var} {} must be {range}",
                crate::ident::shown(&v)
            ))),
        },
        None => match file {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(n) if n > max => Err(Error::invalid(format!(
                "config file auth.{field} {n} is above the limit of {max}: it must be {range}"
            ))),
            Some(_) => Err(Error::invalid(format!(
                "config file auth.{field} must be {range}"
            ))),
            None => Ok(default),
        },
    }
}

/// The authentication policy, and warnings about weak hashing settings.
fn auth(env: &Env<'_>, fauth: file::FileAuth) -> Result<(AuthConfig, Vec<String>)> {
    // One limit with the hash parser: a count above it would make hashes no
    // keyward can verify (a stored hash above it is refused as malformed).
    let pbkdf2_iterations = count(
        env,
        "KEYWARD_PBKDF2_ITERATIONS",
        fauth.pbkdf2_iterations,
        "pbkdf2_iterations",
        DEFAULT_ITERATIONS,
        MAX_ITERATIONS,
    )?;
    let mut hashing_warnings = Vec::new();
    if pbkdf2_iterations < DEFAULT_ITERATIONS {
        hashing_warnings.push(format!(
            "PBKDF2 iterations set to {pbkdf2_iterations}, below the recommended {DEFAULT_ITERATIONS}: new password hashes are weaker"
        ));
    }
    let max_failed_logins = count(
        env,
        "KEYWARD_MAX_FAILED_LOGINS",
        fauth.max_failed_logins,
        "max_failed_logins",
        5,
        u32::MAX,
    )?;
    let lockout_duration = match env
        .get("KEYWARD_LOCKOUT_DURATION")
        .or(fauth.lockout_duration)
    {
        Some(v) => crate::time::parse_duration(&v).map_err(|e| e.context("lockout duration"))?,
        None => time::Duration::minutes(15),
    };
    if lockout_duration <= time::Duration::ZERO || lockout_duration > time::Duration::days(3650) {
        return Err(Error::invalid(
            "auth.lockout_duration must be between 1s and 3650d",
        ));
    }
    let access_ttl = ttl(
        env,
        ("KEYWARD_ACCESS_TTL", fauth.access_ttl, "access_ttl"),
        time::Duration::minutes(15),
    )?;
    let refresh_ttl = ttl(
        env,
        ("KEYWARD_REFRESH_TTL", fauth.refresh_ttl, "refresh_ttl"),
        time::Duration::days(7),
    )?;
    let issuer = claim(env, "KEYWARD_ISSUER", fauth.issuer, "issuer")?
        .unwrap_or_else(|| "keyward".to_owned());
    let audience = claim(env, "KEYWARD_AUDIENCE", fauth.audience, "audience")?;
    let auth = AuthConfig {
        pbkdf2_iterations,
        max_failed_logins,
        lockout_duration,
        access_ttl,
        refresh_ttl,
        issuer,
        audience,
    };
    Ok((auth, hashing_warnings))
}

/// The longest token lifetime keyward accepts (`--ttl`, `auth.access_ttl`, …).
pub const MAX_TTL: time::Duration = time::Duration::days(3650);

/// A token lifetime from the environment variable, else the file's
/// `auth.<field>`, else `default`: from 1s to 3650d.
fn ttl(
    env: &Env<'_>,
    (var, file, field): (&str, Option<String>, &str),
    default: time::Duration,
) -> Result<time::Duration> {
    let (value, name) = match env.get(var) {
        Some(v) => (v, var.to_owned()),
        None => match file {
            Some(v) => (v, format!("config file auth.{field}")),
            None => return Ok(default),
        },
    };
    let d = crate::time::parse_duration(&value).map_err(|e| e.context(&name))?;
    check_ttl(d, &name)
}

/// A token lifetime from 1s to [`MAX_TTL`] (exit 2 otherwise, naming `what`).
pub fn check_ttl(d: time::Duration, what: &str) -> Result<time::Duration> {
    if d < time::Duration::seconds(1) || d > MAX_TTL {
        return Err(Error::invalid(format!(
            "{what} must be between 1s and 3650d"
        )));
    }
    Ok(d)
}

/// An `iss`/`aud` value from the environment variable, else the file's
/// `auth.<field>`: 1 to 255 printable characters, or unset.
fn claim(env: &Env<'_>, var: &str, file: Option<String>, field: &str) -> Result<Option<String>> {
    let (value, name) = match env.get(var) {
        Some(v) => (v, var.to_owned()),
        None => match file {
            Some(v) => (v, format!("config file auth.{field}")),
            None => return Ok(None),
        },
    };
    if value.is_empty() || value.chars().count() > 255 || value.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{name} {} must be 1 to 255 characters with no control characters",
            crate::ident::shown(&value)
        )));
    }
    Ok(Some(value))
}

/// The cap on a setting's value in bytes: `KEYWARD_MAX_VALUE_SIZE` > `settings.max_value_size` > 1 MiB.
fn max_value_size(env: &Env<'_>, file: file::FileSettings) -> Result<u64> {
    let (n, from) = match env.get("KEYWARD_MAX_VALUE_SIZE") {
        Some(v) => (v.parse::<u64>().ok(), "KEYWARD_MAX_VALUE_SIZE"),
        None => match file.max_value_size {
            Some(n) => (Some(n), "config file settings.max_value_size"),
            None => return Ok(DEFAULT_MAX_VALUE_SIZE),
        },
    };
    n.filter(|n| (1..=MAX_MAX_VALUE_SIZE).contains(n))
        .ok_or_else(|| {
            Error::invalid(format!(
                "{from} must be a number of bytes from 1 to {MAX_MAX_VALUE_SIZE} (e.g. 1048576)"
            ))
        })
}

#[allow(unsafe_code)]
fn unsafe_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(flags: &Flags, vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dirs = Dirs {
            data: Some("/data/keyward".into()),
            config: Some("/nonexistent-config/keyward".into()),
        };
        Config::resolve(flags, &|k| map.get(k).map(Into::into), &dirs)
    }

    #[test]
    fn defaults_are_the_platform_dirs() {
        let c = resolve(&Flags::default(), &[("USER", "x")]).unwrap();
        assert_eq!(c.database.to_string(), "/data/keyward/keyward.db");
        assert!(
            matches!(&c.key, KeyConfig::File { path, is_default: true } if path.ends_with("key"))
        );
        assert_eq!(c.environment, "development");
        assert_eq!(c.output, Format::Table);
        assert_eq!(c.auth.pbkdf2_iterations, 600_000);
        assert_eq!(c.max_value_size, 1_048_576);
    }

    #[test]
    fn value_size_cap_is_bytes_within_bounds() {
        let cap = |v: &str| resolve(&Flags::default(), &[("KEYWARD_MAX_VALUE_SIZE", v)]);
        assert_eq!(cap("2048").unwrap().max_value_size, 2048);
        for bad in ["0", "1MiB", "-1", "268435457"] {
            assert_eq!(cap(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn flags_beat_environment() {
        let flags = Flags {
            database_url: Some("sqlite:///flag.db".into()),
            env: Some("staging".into()),
            ..Flags::default()
        };
        let c = resolve(
            &flags,
            &[
                ("DATABASE_URL", "sqlite:///env.db"),
                ("KEYWARD_ENV", "production"),
            ],
        )
        .unwrap();
        assert_eq!(c.database.to_string(), "/flag.db");
        assert_eq!(c.environment, "staging");
    }

    #[test]
    fn database_parts_build_a_postgres_target() {
        let c = resolve(
            &Flags::default(),
            &[
                ("DATABASE_CLIENT", "postgres"),
                ("DATABASE_HOST", "db"),
                ("DATABASE_PORT", "6543"),
                ("DATABASE_NAME", "app"),
                ("DATABASE_USER", "u"),
                ("DATABASE_PASSWORD", "pw-secret"),
                ("DATABASE_SSL_MODE", "require"),
            ],
        )
        .unwrap();
        let shown = c.database.to_string();
        assert_eq!(shown, "postgres://u:***@db:6543/app");
        let DatabaseTarget::Postgres(pg) = &c.database else {
            panic!()
        };
        assert_eq!(pg.ssl_mode, crate::store::SslMode::Require);
    }

    #[test]
    fn low_iterations_warn_and_bad_values_fail() {
        let c = resolve(&Flags::default(), &[("KEYWARD_PBKDF2_ITERATIONS", "1000")]).unwrap();
        assert_eq!(c.auth.pbkdf2_iterations, 1000);
        assert_eq!(c.hashing_warnings.len(), 1);
        assert_eq!(
            resolve(&Flags::default(), &[("KEYWARD_ENV", "Prod!")])
                .unwrap_err()
                .exit_code(),
            2
        );
        assert_eq!(
            resolve(&Flags::default(), &[("KEYWARD_OUTPUT", "xml")])
                .unwrap_err()
                .exit_code(),
            2
        );
        assert_eq!(
            resolve(&Flags::default(), &[("DATABASE_CLIENT", "mysql")])
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn environment_key_wins_over_default_file() {
        let c = resolve(&Flags::default(), &[("DATABASE_ENCRYPTION_KEY", "abc")]).unwrap();
        assert!(matches!(
            c.key,
            KeyConfig::Env {
                var: "DATABASE_ENCRYPTION_KEY",
                ..
            }
        ));
    }
}
