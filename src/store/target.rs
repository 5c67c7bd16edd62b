//! Where the database is: parsed from a URL or from `DATABASE_*` parts.
//!
//! Display and Debug never show a password.

use crate::error::{Error, Result};
use std::fmt;
use std::path::PathBuf;

/// A database to open.
#[derive(Clone, PartialEq)]
pub enum DatabaseTarget {
    /// An SQLite database.
    Sqlite(SqliteLocation),
    /// A PostgreSQL server.
    Postgres(Box<PgTarget>),
}

/// Where an SQLite database lives.
#[derive(Clone, PartialEq, Debug)]
pub enum SqliteLocation {
    /// A file; `is_default` when it is the platform data dir default;
    /// `read_only` from the URL's `mode=ro`.
    File {
        path: PathBuf,
        is_default: bool,
        read_only: bool,
    },
    /// A private in-memory database (gone when the process exits).
    Memory,
}

/// TLS policy towards PostgreSQL, as libpq names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS or fail; the certificate is not verified.
    Require,
    /// TLS with the certificate chain and host name verified.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's names.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "prefer" | "allow" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(Error::invalid(format!(
                "unknown sslmode {}: use disable, prefer, require or verify-full",
                crate::ident::shown(other)
            ))),
        }
    }

    /// libpq's name.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A PostgreSQL connection: tokio-postgres settings plus our TLS policy.
#[derive(Clone)]
pub struct PgTarget {
    /// Connection settings (host, port, user, password, dbname, options…).
    pub config: tokio_postgres::Config,
    /// TLS policy.
    pub ssl_mode: SslMode,
    /// Extra root certificates (PEM) for `verify-full`.
    pub ssl_root_cert: Option<PathBuf>,
}

impl PartialEq for PgTarget {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl fmt::Display for PgTarget {
    /// `postgres://user@host:port/db`, never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let host = c
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = c.get_ports().first().copied().unwrap_or(5432);
        let user = c.get_user().unwrap_or("");
        let db = c.get_dbname().unwrap_or(user);
        write!(f, "postgres://")?;
        if !user.is_empty() {
            write!(f, "{user}")?;
            if c.get_password().is_some() {
                write!(f, ":***")?;
            }
            write!(f, "@")?;
        }
        write!(f, "{host}:{port}/{db}")
    }
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgTarget({self}, sslmode={})", self.ssl_mode.name())
    }
}

impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::Sqlite(SqliteLocation::File { path, .. }) => {
                write!(f, "{}", path.display())
            }
            DatabaseTarget::Sqlite(SqliteLocation::Memory) => write!(f, "sqlite::memory:"),
            DatabaseTarget::Postgres(pg) => write!(f, "{pg}"),
        }
    }
}

impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseTarget({self})")
    }
}

/// Parses a database URL (SPEC §1). A relative SQLite path stays relative (to the working directory).
pub fn parse_url(url: &str) -> Result<DatabaseTarget> {
    let url = url.trim();
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(DatabaseTarget::Sqlite(SqliteLocation::Memory));
    }
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(Error::invalid(
                "database URL `sqlite://` names no file: use sqlite:///abs/path.db or sqlite://relative/path.db",
            ));
        }
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| Error::invalid("database URL has a path that is not UTF-8"))?;
        return Ok(DatabaseTarget::Sqlite(SqliteLocation::File {
            path: PathBuf::from(decoded.as_ref()),
            is_default: false,
            read_only: sqlite_read_only(query)?,
        }));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return parse_pg_url(url).map(|t| DatabaseTarget::Postgres(Box::new(t)));
    }
    const USE: &str = "use sqlite:///path.db, sqlite::memory: or postgres://user:pass@host:port/db";
    // Only a scheme is shown: a mistyped URL with no `:` after its scheme
    // would otherwise be quoted whole, password and all.
    match url.split_once(':') {
        Some((scheme, _)) if looks_like_scheme(scheme) => Err(Error::invalid(format!(
            "unsupported database URL scheme {}: {USE}",
            crate::ident::shown(scheme)
        ))),
        _ => Err(Error::invalid(format!(
            "the database URL does not start with a scheme (its text is not shown: it may hold a password): {USE}"
        ))),
    }
}

/// RFC 3986's scheme: a letter, then letters, digits, `+ - .` (at most 32 here).
fn looks_like_scheme(s: &str) -> bool {
    s.len() <= 32
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// A URL's query as `(decoded key, raw pair, decoded value)`, refusing an
/// option given twice (drivers let the last one win, so a second `mode` or
/// `sslmode` would silently undo the first). Keys are decoded before they
/// are compared, as the drivers decode them; a value is never echoed.
fn query_options<'q>(query: &'q str, known: &[&str]) -> Result<Vec<(String, &'q str, String)>> {
    let mut out: Vec<(String, &str, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_encoding::percent_decode_str(k)
            .decode_utf8()
            .map_err(|_| Error::invalid("database URL has an option name that is not UTF-8"))?
            .into_owned();
        let value = percent_encoding::percent_decode_str(v)
            .decode_utf8()
            .map_err(|_| {
                Error::invalid(format!(
                    "database URL option {} has a value that is not UTF-8",
                    option_shown(&key, known)
                ))
            })?
            .into_owned();
        if out.iter().any(|(seen, _, _)| *seen == key) {
            return Err(Error::invalid(format!(
                "database URL option {} is given more than once: give it once (keyward will not pick one of them)",
                option_shown(&key, known)
            )));
        }
        out.push((key, pair, value));
    }
    Ok(out)
}

/// An option's name as a message shows it: a mistyped URL
/// (`postgres://?user:pw@host/db`) can put the password in a "name", so it
/// is shown only as a likely typo of a `known` option (see [`crate::error::name_shown`]).
fn option_shown(key: &str, known: &[&str]) -> String {
    crate::error::name_shown(key, "a password", known)
}

/// The options an SQLite URL takes.
const SQLITE_OPTIONS: [&str; 1] = ["mode"];

/// The options a PostgreSQL URL takes: keyward's own (`sslmode`,
/// `sslrootcert`) and those the driver knows.
const PG_OPTIONS: [&str; 22] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslnegotiation",
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// The driver's text with the name of an `unknown option` shown as [`option_shown`] does.
fn driver_text(text: &str) -> String {
    let marker = "unknown option `";
    let Some(at) = text.find(marker) else {
        return text.to_owned();
    };
    let start = at + marker.len();
    let Some(len) = text[start..].rfind('`') else {
        return text[..at].to_owned() + "unknown option";
    };
    let shown = option_shown(&text[start..start + len], &PG_OPTIONS);
    format!(
        "{}unknown option {shown}{}",
        &text[..at],
        &text[start + len + 1..]
    )
}

/// The options of an SQLite URL: only `mode=ro` (read-only) and `mode=rw`
/// (the default) are honoured, once; any other option is refused rather than ignored.
fn sqlite_read_only(query: &str) -> Result<bool> {
    let mut read_only = false;
    for (k, _, v) in query_options(query, &SQLITE_OPTIONS)? {
        match (k.as_str(), v.as_str()) {
            ("mode", "ro") => read_only = true,
            ("mode", "rw") => read_only = false,
            ("mode", _) => {
                return Err(Error::invalid(
                    "database URL option `mode` must be ro (read-only) or rw (read-write)",
                ))
            }
            _ => {
                return Err(Error::invalid(format!(
                    "database URL option {} is not supported for SQLite: the only option is mode=ro or mode=rw",
                    option_shown(&k, &SQLITE_OPTIONS)
                )));
            }
        }
    }
    Ok(read_only)
}

fn parse_pg_url(url: &str) -> Result<PgTarget> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut ssl_mode = SslMode::Prefer;
    let mut ssl_root_cert = None;
    let mut kept = Vec::new();
    let mut kept_keys = Vec::new();
    for (k, pair, v) in query_options(query.unwrap_or_default(), &PG_OPTIONS)? {
        match k.as_str() {
            "sslmode" => ssl_mode = SslMode::parse(&v)?,
            "sslrootcert" => ssl_root_cert = Some(PathBuf::from(v)),
            _ => {
                kept.push(pair);
                kept_keys.push(k);
            }
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: tokio_postgres::Config = rebuilt.parse().map_err(|e| {
        // tokio-postgres errors name the bad part (an unknown option, the
        // option whose value is bad), never the password or a value.
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        // A name it quotes can hold control characters: shown escaped.
        let text = crate::text::visible(&driver_text(&format!("{e}{cause}")), false, None);
        Error::invalid(format!("invalid PostgreSQL URL: {text}"))
    })?;
    refuse_said_twice(base, &kept_keys)?;
    apply_pg_defaults(&mut config)?;
    Ok(PgTarget {
        config,
        ssl_mode,
        ssl_root_cert,
    })
}

/// Refuses a query option that repeats what the URL already says before
/// its `?` (`user` or `password` beside `user:pw@`, `dbname` beside
/// `/db`): the driver would silently keep the query's.
fn refuse_said_twice(base: &str, keys: &[String]) -> Result<()> {
    let Ok(said) = base.parse::<tokio_postgres::Config>() else {
        return Ok(());
    };
    let twice = keys.iter().find(|k| match k.as_str() {
        "user" => said.get_user().is_some(),
        "password" => said.get_password().is_some(),
        "dbname" => said.get_dbname().is_some(),
        _ => false,
    });
    match twice {
        Some(k) => Err(Error::invalid(format!(
            "database URL gives `{k}` twice (before the `?` and as an option): give it once"
        ))),
        None => Ok(()),
    }
}

/// The pieces of `DATABASE_CLIENT=postgres` configuration.
#[derive(Default, Debug, Clone)]
pub struct PgParts {
    /// Server host (default localhost).
    pub host: Option<String>,
    /// Server port (default 5432).
    pub port: Option<String>,
    /// Database name.
    pub name: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// TLS mode.
    pub ssl_mode: Option<String>,
}

/// Builds a PostgreSQL target from separate parts.
pub fn pg_from_parts(parts: &PgParts) -> Result<PgTarget> {
    let mut config = tokio_postgres::Config::new();
    config.host(parts.host.as_deref().unwrap_or("localhost"));
    if let Some(port) = &parts.port {
        let port: u16 = port.parse().map_err(|_| {
            Error::invalid(format!(
                "DATABASE_PORT {} is not a port number",
                crate::ident::shown(port)
            ))
        })?;
        config.port(port);
    }
    if let Some(user) = &parts.user {
        config.user(user);
    }
    if let Some(pw) = &parts.password {
        config.password(pw);
    }
    if let Some(db) = &parts.name {
        config.dbname(db);
    }
    apply_pg_defaults(&mut config)?;
    let ssl_mode = match &parts.ssl_mode {
        Some(m) => SslMode::parse(m)?,
        None => SslMode::Prefer,
    };
    Ok(PgTarget {
        config,
        ssl_mode,
        ssl_root_cert: None,
    })
}

fn apply_pg_defaults(config: &mut tokio_postgres::Config) -> Result<()> {
    if config.get_hosts().is_empty() {
        config.host("localhost");
    }
    if config.get_user().is_none() {
        if let Some(user) = crate::config::os_login_name()? {
            config.user(&user);
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(5));
    }
    config.application_name("keyward");
    Ok(())
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
