//! Configuration: flags > environment > config file > defaults, resolved once.
//!
//! Nothing is opened or created here except reading the config file; the
//! database and the key are only touched by the commands that need them.

use crate::error::{Error, Result};
use crate::store::target::{self, PgParts};
use crate::store::{DatabaseTarget, SqliteLocation};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Default PBKDF2 iterations: OWASP's figure for PBKDF2-HMAC-SHA256.
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 600_000;

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
                "{from}: unknown output format {other:?}: use table, json or yaml"
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
    /// Warnings found while resolving (printed on stderr by the binary).
    pub warnings: Vec<String>,
    /// Warnings about password hashing, printed by commands that hash.
    pub hashing_warnings: Vec<String>,
    /// A fixed "now" from `KEYWARD_TEST_NOW` (RFC 3339), honoured by debug
    /// builds only: the test suite's settable clock for the binary.
    pub test_now: Option<time::OffsetDateTime>,
}

/// The YAML config file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database: Option<FileDatabase>,
    encryption: Option<FileEncryption>,
    environment: Option<String>,
    actor: Option<String>,
    output: Option<String>,
    auth: Option<FileAuth>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<String>,
    client: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    name: Option<String>,
    user: Option<String>,
    password: Option<String>,
    filename: Option<String>,
    ssl_mode: Option<String>,
    pool_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEncryption {
    key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    pbkdf2_iterations: Option<u32>,
    max_failed_logins: Option<u32>,
    lockout_duration: Option<String>,
}

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

/// The login name of the user running keyward.
pub fn os_login_name() -> Option<String> {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    // SAFETY: getuid has no preconditions; getpwuid returns a pointer into
    // static storage or NULL, read immediately and copied.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_str()
                .ok()
                .map(str::to_owned);
        }
    }
    None
}

/// Checks an environment name against `^[a-z][a-z0-9_-]{0,31}$`.
pub fn validate_environment(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid environment name {name:?}: use lowercase letters, digits, `_` or `-`, starting with a letter (at most 32)"
        )))
    }
}

impl Config {
    /// Resolves flags, environment (through `env`), the config file and defaults.
    pub fn resolve(
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
        dirs: &Dirs,
    ) -> Result<Self> {
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let warnings = Vec::new();
        let test_now = if cfg!(debug_assertions) {
            env("KEYWARD_TEST_NOW")
                .map(|v| crate::time::parse_stored(&v).map_err(|e| e.context("KEYWARD_TEST_NOW")))
                .transpose()?
        } else {
            None
        };
        let mut hashing_warnings = Vec::new();

        // The config file: explicit (must exist) or default (may be absent).
        let (file, config_file) = match flags
            .config
            .clone()
            .or_else(|| env("KEYWARD_CONFIG").map(PathBuf::from))
        {
            Some(path) => (
                read_config_file(&path, true)?.unwrap_or_default(),
                Some(path),
            ),
            None => match dirs.config.as_ref().map(|d| d.join("config.yaml")) {
                Some(path) => match read_config_file(&path, false)? {
                    Some(f) => (f, Some(path)),
                    None => (FileConfig::default(), None),
                },
                None => (FileConfig::default(), None),
            },
        };
        let fdb = file.database.unwrap_or_default();

        // Database.
        let database = if let Some(url) = &flags.database_url {
            target::parse_url(url)?
        } else if let Some(url) = env("DATABASE_URL") {
            target::parse_url(&url).map_err(|e| e.context("DATABASE_URL"))?
        } else if let Some(client) = env("DATABASE_CLIENT") {
            from_parts(
                &client,
                "DATABASE_CLIENT",
                |k| env(&format!("DATABASE_{k}")),
                dirs,
            )?
        } else if let Some(url) = &fdb.url {
            target::parse_url(url).map_err(|e| e.context("config file database.url"))?
        } else if let Some(client) = &fdb.client {
            let get = |k: &str| -> Option<String> {
                match k {
                    "HOST" => fdb.host.clone(),
                    "PORT" => fdb.port.map(|p| p.to_string()),
                    "NAME" => fdb.name.clone(),
                    "USER" => fdb.user.clone(),
                    "PASSWORD" => fdb.password.clone(),
                    "FILENAME" => fdb.filename.clone(),
                    "SSL_MODE" => fdb.ssl_mode.clone(),
                    _ => None,
                }
            };
            from_parts(client, "config file database.client", get, dirs)?
        } else {
            default_sqlite(dirs)?
        };
        let url_has_sslmode = flags
            .database_url
            .clone()
            .or_else(|| env("DATABASE_URL"))
            .is_some_and(|u| u.contains("sslmode="));
        let mut database = database;
        if let (DatabaseTarget::Postgres(pg), Some(mode), false) =
            (&mut database, env("DATABASE_SSL_MODE"), url_has_sslmode)
        {
            pg.ssl_mode =
                crate::store::SslMode::parse(&mode).map_err(|e| e.context("DATABASE_SSL_MODE"))?;
        }
        let pool_size = match env("DATABASE_POOL_SIZE") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "DATABASE_POOL_SIZE {v:?} must be a number from 1 to 64"
                    ))
                })?,
            None => match fdb.pool_size {
                Some(n) if !(1..=64).contains(&n) => {
                    return Err(Error::invalid(format!(
                        "config file database.pool_size {n} must be from 1 to 64"
                    )))
                }
                Some(n) => n,
                None => 4,
            },
        };

        // Key.
        let key = if let Some(path) = &flags.key_file {
            KeyConfig::File {
                path: path.clone(),
                is_default: false,
            }
        } else if let Some(value) = env("DATABASE_ENCRYPTION_KEY") {
            KeyConfig::Env {
                var: "DATABASE_ENCRYPTION_KEY",
                value: SecretString::new(value),
            }
        } else if let Some(path) = env("KEYWARD_KEY_FILE") {
            KeyConfig::File {
                path: PathBuf::from(path),
                is_default: false,
            }
        } else if let Some(path) = file.encryption.and_then(|e| e.key_file) {
            KeyConfig::File {
                path,
                is_default: false,
            }
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
        };
        let previous_keys = env("KEYWARD_PREVIOUS_KEYS").map(SecretString::new);

        // Environment of settings.
        let explicit_environment = flags
            .env
            .clone()
            .or_else(|| env("KEYWARD_ENV"))
            .or(file.environment);
        let environment_explicit = explicit_environment.is_some();
        let environment = explicit_environment.unwrap_or_else(|| "development".into());
        validate_environment(&environment)?;

        let actor = flags
            .actor
            .clone()
            .or_else(|| env("KEYWARD_ACTOR"))
            .or(file.actor)
            .or_else(os_login_name)
            .unwrap_or_else(|| format!("uid:{}", unsafe_uid()));
        if actor.trim().is_empty() || actor.len() > 128 {
            return Err(Error::invalid("the actor name must be 1 to 128 characters"));
        }

        let output = match flags.output {
            Some(f) => f,
            None => match env("KEYWARD_OUTPUT") {
                Some(v) => Format::parse(&v, "KEYWARD_OUTPUT")?,
                None => match &file.output {
                    Some(v) => Format::parse(v, "config file output")?,
                    None => Format::Table,
                },
            },
        };

        let fauth = file.auth.unwrap_or_default();
        let pbkdf2_iterations = match env("KEYWARD_PBKDF2_ITERATIONS") {
            Some(v) => v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                Error::invalid(format!(
                    "KEYWARD_PBKDF2_ITERATIONS {v:?} must be a positive number"
                ))
            })?,
            None => match fauth.pbkdf2_iterations {
                Some(0) => {
                    return Err(Error::invalid(
                        "config file auth.pbkdf2_iterations must be a positive number",
                    ))
                }
                Some(n) => n,
                None => DEFAULT_PBKDF2_ITERATIONS,
            },
        };
        if pbkdf2_iterations < DEFAULT_PBKDF2_ITERATIONS {
            hashing_warnings.push(format!(
                "PBKDF2 iterations set to {pbkdf2_iterations}, below the recommended {DEFAULT_PBKDF2_ITERATIONS}: new password hashes are weaker"
            ));
        }
        let max_failed_logins = match env("KEYWARD_MAX_FAILED_LOGINS") {
            Some(v) => v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                Error::invalid(format!(
                    "KEYWARD_MAX_FAILED_LOGINS {v:?} must be a positive number"
                ))
            })?,
            None => match fauth.max_failed_logins {
                Some(0) => {
                    return Err(Error::invalid(
                        "config file auth.max_failed_logins must be a positive number",
                    ))
                }
                Some(n) => n,
                None => 5,
            },
        };
        let lockout_duration = match env("KEYWARD_LOCKOUT_DURATION").or(fauth.lockout_duration) {
            Some(v) => {
                crate::time::parse_duration(&v).map_err(|e| e.context("lockout duration"))?
            }
            None => time::Duration::minutes(15),
        };
        if lockout_duration <= time::Duration::ZERO || lockout_duration > time::Duration::days(3650)
        {
            return Err(Error::invalid(
                "auth.lockout_duration must be between 1s and 3650d",
            ));
        }

        Ok(Config {
            database,
            pool_size,
            key,
            previous_keys,
            environment,
            environment_explicit,
            actor,
            output,
            auth: AuthConfig {
                pbkdf2_iterations,
                max_failed_logins,
                lockout_duration,
            },
            config_file,
            warnings,
            hashing_warnings,
            test_now,
        })
    }
}

fn unsafe_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

fn read_config_file(path: &Path, must_exist: bool) -> Result<Option<FileConfig>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(None),
        Err(e) => {
            return Err(Error::invalid(format!(
                "cannot read config file {}: {e}",
                path.display()
            )))
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(FileConfig::default()));
    }
    serde_yaml::from_str(&text).map(Some).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        // serde_yaml's message may quote the offending value; a config file
        // can hold a password, so keep only the kind of fault.
        let what = e.to_string();
        let what = what.split(" at line").next().unwrap_or(&what).to_owned();
        Error::invalid(format!("config file {}{at}: {what}", path.display()))
    })
}

fn from_parts(
    client: &str,
    from: &str,
    get: impl Fn(&str) -> Option<String>,
    dirs: &Dirs,
) -> Result<DatabaseTarget> {
    match client {
        "sqlite" | "sqlite3" => match get("FILENAME") {
            Some(f) if f == ":memory:" => Ok(DatabaseTarget::Sqlite(SqliteLocation::Memory)),
            Some(f) => Ok(DatabaseTarget::Sqlite(SqliteLocation::File {
                path: PathBuf::from(f),
                is_default: false,
            })),
            None => default_sqlite(dirs),
        },
        "postgres" | "postgresql" | "pg" => {
            let parts = PgParts {
                host: get("HOST"),
                port: get("PORT"),
                name: get("NAME"),
                user: get("USER"),
                password: get("PASSWORD"),
                ssl_mode: get("SSL_MODE"),
            };
            Ok(DatabaseTarget::Postgres(Box::new(target::pg_from_parts(
                &parts,
            )?)))
        }
        other => Err(Error::invalid(format!(
            "{from}: unknown database client {other:?}: use sqlite or postgres"
        ))),
    }
}

fn default_sqlite(dirs: &Dirs) -> Result<DatabaseTarget> {
    let dir = dirs.data.as_ref().ok_or_else(|| {
        Error::invalid("cannot find the platform data directory (is HOME set?): pass --database-url or set DATABASE_URL")
    })?;
    Ok(DatabaseTarget::Sqlite(SqliteLocation::File {
        path: dir.join("keyward.db"),
        is_default: true,
    }))
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
        Config::resolve(flags, &|k| map.get(k).cloned(), &dirs)
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
        assert!(c.warnings.is_empty());
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
