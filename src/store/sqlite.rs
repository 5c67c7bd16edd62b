//! The SQLite backend: rusqlite behind an r2d2 pool.
//!
//! WAL, `foreign_keys=ON`, a busy timeout, and writers that take the lock up
//! front with `BEGIN IMMEDIATE`, so concurrent processes queue rather than
//! fail with "database is locked".

use super::migrate::{self, HISTORY_TABLE};
use super::{Access, Conn, Dialect, MigrationState, Row, SqliteLocation, Store, Value};
use crate::error::{Error, Result};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// An SQLite database.
pub struct SqliteStore {
    pool: r2d2::Pool<SqliteConnectionManager>,
    location: String,
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (or, with `create`, creates) the database. Connects lazily.
    pub fn open(loc: &SqliteLocation, pool_size: u32, create: bool) -> Result<Self> {
        let pool_size = pool_size.max(1);
        let (manager, location, path, size) = match loc {
            SqliteLocation::Memory => (
                SqliteConnectionManager::memory(),
                "sqlite::memory:".to_owned(),
                None,
                // Every connection to :memory: is a new database: keep exactly one.
                1,
            ),
            SqliteLocation::File { path, is_default } => {
                if !path.exists() {
                    if !create {
                        let hint = if *is_default {
                            "run `keyward db init` to create it"
                        } else {
                            "check the path, or run `keyward db init` to create it"
                        };
                        return Err(Error::unavailable(format!(
                            "no database at {}: {hint}",
                            path.display()
                        )));
                    }
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        crate::fsutil::create_private_dir(dir).map_err(|e| {
                            Error::unavailable(format!(
                                "cannot create directory {}: {e}",
                                dir.display()
                            ))
                        })?;
                    }
                }
                let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI;
                if create {
                    flags |= OpenFlags::SQLITE_OPEN_CREATE;
                }
                (
                    SqliteConnectionManager::file(path).with_flags(flags),
                    path.display().to_string(),
                    Some(path.clone()),
                    pool_size,
                )
            }
        };
        let manager = manager.with_init(|c| {
            c.busy_timeout(BUSY_TIMEOUT)?;
            c.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -8000;",
            )
        });
        let memory = path.is_none();
        // r2d2 starts three maintenance threads by default; one is plenty for a CLI.
        let pool = r2d2::Pool::builder()
            .thread_pool(std::sync::Arc::new(
                scheduled_thread_pool::ScheduledThreadPool::new(1),
            ))
            .max_size(size)
            .min_idle(Some(if memory { 1 } else { 0 }))
            .idle_timeout(None)
            .max_lifetime(None)
            .connection_timeout(BUSY_TIMEOUT)
            .build_unchecked(manager);
        let mut store = SqliteStore {
            pool,
            location,
            path,
        };
        if memory {
            // A private in-memory database starts empty every time: migrate it now.
            store.migrate(false)?;
        }
        Ok(store)
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>> {
        self.pool.get().map_err(|e| {
            Error::unavailable(format!(
                "cannot open SQLite database {}: {e}",
                self.location
            ))
        })
    }
}

/// Turns a driver error into the crate's error, by SQLite's result code.
pub(crate) fn map_err(e: rusqlite::Error) -> Error {
    let err = match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let text = msg.clone().unwrap_or_else(|| f.to_string());
            match f.code {
                ErrorCode::ConstraintViolation => match f.extended_code {
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                        Error::conflict(format!("already exists ({text})"))
                    }
                    rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                        Error::conflict(format!("still referenced ({text})"))
                    }
                    rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER => Error::integrity(text),
                    _ => Error::invalid(format!("rejected by the database: {text}")),
                },
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::unavailable(
                    "the database stayed busy for 30 s (another keyward is writing): try again",
                ),
                ErrorCode::CannotOpen
                | ErrorCode::NotADatabase
                | ErrorCode::ReadOnly
                | ErrorCode::PermissionDenied
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure => Error::unavailable(format!("SQLite: {text}")),
                ErrorCode::DatabaseCorrupt => {
                    Error::unavailable(format!("SQLite database is corrupt: {text}"))
                }
                _ => Error::internal(format!("SQLite: {text}")),
            }
        }
        _ => Error::internal(format!("SQLite: {e}")),
    };
    err.with_source(e)
}

/// `$1` placeholders become `?1` (SQLite's numbered parameters).
fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|n| n.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V};
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(V::Null),
            Value::Int(i) => ToSqlOutput::Owned(V::Integer(*i)),
            Value::Float(f) => ToSqlOutput::Owned(V::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes())),
            Value::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(*b))),
            Value::Time(t) => ToSqlOutput::Owned(V::Text(crate::time::format_stored(*t))),
        })
    }
}

struct SqliteConn<'a> {
    conn: &'a rusqlite::Connection,
    audited: bool,
}

impl SqliteConn<'_> {
    fn with_stmt<T>(
        &mut self,
        sql: &str,
        f: impl FnOnce(&mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let sql = translate(sql);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(map_err)?;
        f(&mut stmt).map_err(map_err)
    }
}

impl Conn for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn holds_audit_lock(&self) -> bool {
        self.audited
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.with_stmt(sql, |s| s.execute(rusqlite::params_from_iter(params)))
            .map(|n| n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.with_stmt(sql, |s| {
            let width = s.column_count();
            let columns: super::Columns =
                s.column_names().iter().map(|c| (*c).to_owned()).collect();
            let mut rows = s.query(rusqlite::params_from_iter(params))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    use rusqlite::types::ValueRef;
                    values.push(match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(v) => Value::Int(v),
                        ValueRef::Real(v) => Value::Float(v),
                        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(_) => {
                            return Err(rusqlite::Error::InvalidColumnType(
                                i,
                                "blob".into(),
                                rusqlite::types::Type::Blob,
                            ))
                        }
                    });
                }
                out.push(Row::new(columns.clone(), values));
            }
            Ok(out)
        })
    }
}

impl Store for SqliteStore {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn migration_states(&mut self) -> Result<Vec<MigrationState>> {
        let pooled = self.conn()?;
        let exists: bool = pooled
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [HISTORY_TABLE],
                |r| r.get(0),
            )
            .map_err(map_err)?;
        let applied = migrate::read_applied(
            &mut SqliteConn {
                conn: &pooled,
                audited: false,
            },
            exists,
        )?;
        Ok(migrate::states(Dialect::Sqlite, &applied))
    }

    fn migrate(&mut self, dry_run: bool) -> Result<Vec<MigrationState>> {
        let pending: Vec<_> = self
            .migration_states()?
            .into_iter()
            .filter(|m| !m.applied)
            .collect();
        if dry_run || pending.is_empty() {
            return Ok(pending);
        }
        let mut pooled = self.conn()?;
        let report = migrate::runner(Dialect::Sqlite)
            .run(&mut *pooled)
            .map_err(|e| Error::unavailable(format!("migrating {} failed: {e}", self.location)))?;
        Ok(migrate::applied_by(&report, pending))
    }

    fn transaction(
        &mut self,
        access: Access,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>,
    ) -> Result<()> {
        let pooled = self.conn()?;
        let begin = match access {
            Access::Read => "BEGIN DEFERRED",
            // SQLite has one writer at a time: BEGIN IMMEDIATE is the chain lock too.
            Access::Write | Access::WriteUnaudited => "BEGIN IMMEDIATE",
        };
        pooled.execute_batch(begin).map_err(map_err)?;
        let result = f(&mut SqliteConn {
            conn: &pooled,
            audited: access == Access::Write,
        });
        match result {
            Ok(()) => pooled.execute_batch("COMMIT").map_err(|e| {
                let _ = pooled.execute_batch("ROLLBACK");
                map_err(e)
            }),
            Err(e) => {
                // The rollback's own failure would hide the real error; the
                // connection is discarded by SQLite's autocommit reset anyway.
                let _ = pooled.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn backup(&mut self, dest: &Path) -> Result<u64> {
        if self.path.is_none() {
            return Err(Error::invalid("an in-memory database cannot be backed up"));
        }
        if dest.exists() {
            return Err(Error::conflict(format!(
                "{} already exists: choose a new file name",
                dest.display()
            )));
        }
        let src = self.conn()?;
        let mut out = rusqlite::Connection::open(dest)
            .map_err(|e| Error::invalid(format!("cannot create {}: {e}", dest.display())))?;
        let backup = rusqlite::backup::Backup::new(&src, &mut out).map_err(map_err)?;
        backup
            .run_to_completion(256, Duration::from_millis(5), None)
            .map_err(map_err)?;
        drop(backup);
        out.execute_batch("PRAGMA journal_mode = DELETE;")
            .map_err(map_err)?;
        drop(out);
        let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn placeholders_are_translated() {
        assert_eq!(
            translate("SELECT a FROM t WHERE b = $1 AND c = $12"),
            "SELECT a FROM t WHERE b = ?1 AND c = ?12"
        );
    }
}
