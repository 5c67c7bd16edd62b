//! Which database: a URL, or parts (`DATABASE_CLIENT`, `DATABASE_HOST`, …)
//! from the environment or the config file, or the default SQLite file.

use super::file::FileDatabase;
use super::{Dirs, Env, Flags};
use crate::error::{Error, Result};
use crate::store::target::{self, PgParts};
use crate::store::{DatabaseTarget, SqliteLocation};
use std::path::PathBuf;

/// Resolves the database, first found wins: the flag's URL, `DATABASE_URL`,
/// `DATABASE_CLIENT` with its parts, the file's URL, the file's parts, the
/// default SQLite file. `DATABASE_SSL_MODE` applies when the URL set no `sslmode`.
/// Parts without a client (which would silently fall back to the local
/// SQLite file) are refused, and so are parts the client does not use.
pub(super) fn resolve(
    flags: &Flags,
    env: &Env<'_>,
    fdb: &FileDatabase,
    dirs: &Dirs,
) -> Result<DatabaseTarget> {
    let env_part = |k: &str| env.get(&format!("DATABASE_{k}"));
    let mut database = if let Some(url) = &flags.database_url {
        target::parse_url(url)?
    } else if let Some(url) = env.get("DATABASE_URL") {
        target::parse_url(&url).map_err(|e| e.context("DATABASE_URL"))?
    } else if let Some(client) = env.get("DATABASE_CLIENT") {
        from_parts(&client, Source::Env, env_part, dirs)?
    } else {
        refuse_parts_without_client(Source::Env, env_part)?;
        if let Some(url) = &fdb.url {
            target::parse_url(url).map_err(|e| e.context("config file database.url"))?
        } else if let Some(client) = &fdb.client {
            from_parts(client, Source::File, |k| fdb.part(k), dirs)
                .map_err(|e| e.context("config file"))?
        } else {
            default_sqlite(dirs)?
        }
    };
    let url_has_sslmode = flags
        .database_url
        .clone()
        .or_else(|| env.get("DATABASE_URL"))
        .is_some_and(|u| u.contains("sslmode="));
    match (&mut database, env.get("DATABASE_SSL_MODE")) {
        (DatabaseTarget::Postgres(pg), Some(mode)) if !url_has_sslmode => {
            pg.ssl_mode =
                crate::store::SslMode::parse(&mode).map_err(|e| e.context("DATABASE_SSL_MODE"))?;
        }
        (DatabaseTarget::Sqlite(_), Some(_)) => {
            return Err(Error::invalid(format!(
                "DATABASE_SSL_MODE does not apply to the SQLite database {database}: unset it, or give a PostgreSQL database"
            )));
        }
        _ => {}
    }
    Ok(database)
}

/// Where database parts come from, to name them in messages.
#[derive(Clone, Copy)]
pub(super) enum Source {
    /// `DATABASE_<PART>` variables.
    Env,
    /// `database.<part>` in the config file.
    File,
}

impl Source {
    /// The name of a part (`HOST`) as its source spells it.
    pub(super) fn name(self, part: &str) -> String {
        match self {
            Source::Env => format!("DATABASE_{part}"),
            Source::File => format!("database.{}", part.to_ascii_lowercase()),
        }
    }
}

/// The parts a PostgreSQL client uses (TLS aside: `SSL_MODE` also applies to a PostgreSQL URL).
const PG_PARTS: [&str; 5] = ["HOST", "PORT", "NAME", "USER", "PASSWORD"];
/// Every part only PostgreSQL uses, refused beside an SQLite client.
const PG_ONLY_PARTS: [&str; 6] = ["HOST", "PORT", "NAME", "USER", "PASSWORD", "SSL_MODE"];
/// The parts an SQLite client uses.
const SQLITE_PARTS: [&str; 1] = ["FILENAME"];

/// Refuses database parts set without the client they are for. The file's
/// `ssl_mode` is one of them; `DATABASE_SSL_MODE` may still apply to a
/// PostgreSQL URL from the file, and is refused later for an SQLite database.
pub(super) fn refuse_parts_without_client(
    from: Source,
    get: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let ssl_mode: &[&str] = match from {
        Source::File => &["SSL_MODE"],
        Source::Env => &[],
    };
    let mut parts = PG_PARTS.iter().chain(&SQLITE_PARTS).chain(ssl_mode);
    match parts.find(|k| get(k).is_some()) {
        Some(part) => Err(Error::invalid(format!(
            "{} is set but {} is not: set {} to postgres or sqlite (or give a URL instead); keyward will not fall back to the local SQLite file",
            from.name(part),
            from.name("CLIENT"),
            from.name("CLIENT"),
        ))),
        None => Ok(()),
    }
}

/// Refuses parts that the chosen client does not use (a host for SQLite, a file name for PostgreSQL).
fn refuse_foreign_parts(
    client: &str,
    foreign: &[&str],
    from: Source,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<()> {
    match foreign.iter().find(|k| get(k).is_some()) {
        Some(part) => Err(Error::invalid(format!(
            "{} does not apply when {} is {client}: unset it, or change the client",
            from.name(part),
            from.name("CLIENT"),
        ))),
        None => Ok(()),
    }
}

/// The SQLite pool size: `DATABASE_POOL_SIZE` > the file's > 4, from 1 to 64.
pub(super) fn pool_size(env: &Env<'_>, fdb: &FileDatabase) -> Result<u32> {
    match env.get("DATABASE_POOL_SIZE") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "DATABASE_POOL_SIZE {} must be a number from 1 to 64",
                    crate::ident::shown(&v)
                ))
            }),
        None => match fdb.pool_size {
            Some(n) if !(1..=64).contains(&n) => Err(Error::invalid(format!(
                "config file database.pool_size {n} must be from 1 to 64"
            ))),
            Some(n) => Ok(n),
            None => Ok(4),
        },
    }
}

fn from_parts(
    client: &str,
    from: Source,
    get: impl Fn(&str) -> Option<String>,
    dirs: &Dirs,
) -> Result<DatabaseTarget> {
    match client {
        "sqlite" | "sqlite3" => {
            refuse_foreign_parts(client, &PG_ONLY_PARTS, from, &get)?;
            match get("FILENAME") {
                Some(f) if f == ":memory:" => Ok(DatabaseTarget::Sqlite(SqliteLocation::Memory)),
                Some(f) => Ok(DatabaseTarget::Sqlite(SqliteLocation::File {
                    path: PathBuf::from(f),
                    is_default: false,
                    read_only: false,
                })),
                None => default_sqlite(dirs),
            }
        }
        "postgres" | "postgresql" | "pg" => {
            refuse_foreign_parts(client, &SQLITE_PARTS, from, &get)?;
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
            "{}: unknown database client {}: use sqlite or postgres",
            from.name("CLIENT"),
            crate::ident::shown(other)
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
        read_only: false,
    }))
}
