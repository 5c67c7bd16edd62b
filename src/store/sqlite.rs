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

/// How often `conn` looks whether opening a connection failed.
const OPEN_POLL: Duration = Duration::from_millis(50);

/// The first 16 bytes of every SQLite database file.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// An SQLite database.
pub struct SqliteStore {
    pool: r2d2::Pool<SqliteConnectionManager>,
    location: String,
    path: Option<PathBuf>,
    read_only: bool,
    failure: OpenFailure,
    /// [`Store::hot_path`]: no checkpoint on close, a short WAL.
    hot: bool,
}

impl SqliteStore {
    /// Opens (or, with `create`, creates) the database. A file that is not
    /// an SQLite database fails here, at once, naming it (exit 6).
    pub fn open(loc: &SqliteLocation, pool_size: u32, create: bool) -> Result<Self> {
        let pool_size = pool_size.max(1);
        let (manager, location, path, size, read_only) = match loc {
            SqliteLocation::Memory => (
                SqliteConnectionManager::memory(),
                "sqlite::memory:".to_owned(),
                None,
                // Every connection to :memory: is a new database: keep exactly one.
                1,
                false,
            ),
            SqliteLocation::File {
                path,
                is_default,
                read_only,
            } => {
                // A read-only database is never created.
                let create = create && !read_only;
                prepare_file(path, *is_default, create)?;
                let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
                flags |= match (read_only, create) {
                    (true, _) => OpenFlags::SQLITE_OPEN_READ_ONLY,
                    (false, false) => OpenFlags::SQLITE_OPEN_READ_WRITE,
                    (false, true) => {
                        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
                    }
                };
                (
                    SqliteConnectionManager::file(path).with_flags(flags),
                    path.display().to_string(),
                    Some(path.clone()),
                    pool_size,
                    *read_only,
                )
            }
        };
        let manager = manager.with_init(move |c| {
            c.busy_timeout(BUSY_TIMEOUT)?;
            if read_only {
                c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA cache_size = -8000;")
            } else {
                enable_wal(c)?;
                c.execute_batch(
                    "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -8000;",
                )
            }
        });
        let memory = path.is_none();
        let failure = OpenFailure::default();
        // r2d2 starts three maintenance threads by default; one is plenty for a CLI.
        let pool = r2d2::Pool::builder()
            .error_handler(Box::new(failure.clone()))
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
            read_only,
            failure,
            hot: false,
        };
        if memory {
            // A private in-memory database starts empty every time: migrate it now.
            store.migrate(false)?;
        }
        Ok(store)
    }

    /// A connection from the pool. It waits (up to the busy timeout) for a
    /// connection being made or in use, but a connection that could not be
    /// opened fails at once, with SQLite's reason and the database named.
    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>> {
        let started = std::time::Instant::now();
        loop {
            match self.pool.get_timeout(OPEN_POLL) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    if let Some(why) = self.failure.take() {
                        return Err(Error::unavailable(format!(
                            "cannot open SQLite database {}: {}",
                            self.location,
                            why.message()
                        )));
                    }
                    if started.elapsed() >= BUSY_TIMEOUT {
                        return Err(Error::unavailable(format!(
                            "cannot open SQLite database {}: {e}",
                            self.location
                        )));
                    }
                }
            }
        }
    }

    /// The error for a write to a database opened with `mode=ro`.
    fn read_only_error(&self, what: &str) -> Error {
        Error::unavailable(format!(
            "database {} is opened read-only (mode=ro in its URL): {what}; use the URL without mode=ro to change it",
            self.location
        ))
    }
}

/// Checks the database file before any pool is built: a missing file is
/// created only with `create` (its directory made private); what exists must
/// be a regular file that is empty or starts with SQLite's header.
fn prepare_file(path: &Path, is_default: bool, create: bool) -> Result<()> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                let hint = if is_default {
                    "run `keyward db init` to create it"
                } else {
                    "check the path, or run `keyward db init` to create it"
                };
                return Err(Error::unavailable(format!(
                    "no database at {shown}: {hint}"
                )));
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::fsutil::create_private_dir(dir).map_err(|e| {
                    Error::unavailable(format!("cannot create directory {}: {e}", dir.display()))
                })?;
            }
            return Ok(());
        }
        Err(e) => {
            return Err(Error::unavailable(format!(
                "cannot open SQLite database {shown}: {e}"
            )))
        }
    };
    let not_a_database = |why: &str| {
        Error::unavailable(format!(
            "{shown} is not an SQLite database ({why}): check the path"
        ))
    };
    if meta.is_dir() {
        return Err(not_a_database("it is a directory"));
    }
    if !meta.is_file() {
        return Err(not_a_database("it is not a regular file"));
    }
    if meta.len() == 0 {
        return Ok(()); // SQLite's own way to start a new database
    }
    let mut head = [0u8; 16];
    let read = crate::fsutil::open_for_reading(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
    match read {
        Ok(()) if &head == HEADER => Ok(()),
        Ok(()) => Err(not_a_database("it does not start with the SQLite header")),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(not_a_database("it is too short"))
        }
        Err(e) => Err(Error::unavailable(format!(
            "cannot open SQLite database {shown}: {e}"
        ))),
    }
}

/// The first error the pool met opening a connection, kept for `conn`: a
/// file SQLite cannot open (damaged, not a database) fails the command at
/// once instead of after the pool's 30 s of retries.
#[derive(Debug, Default, Clone)]
struct OpenFailure(std::sync::Arc<std::sync::Mutex<Option<Error>>>);

impl OpenFailure {
    fn take(&self) -> Option<Error> {
        self.0.lock().ok().and_then(|mut f| f.take())
    }
}

impl r2d2::HandleError<rusqlite::Error> for OpenFailure {
    fn handle_error(&self, error: rusqlite::Error) {
        // Another process holding a lock while it creates or migrates the
        // database is not a failure: the pool keeps trying, up to BUSY_TIMEOUT.
        if is_busy(&error) {
            return;
        }
        if let Ok(mut first) = self.0.lock() {
            first.get_or_insert_with(|| map_err(error));
        }
    }
}

/// Whether SQLite said another connection holds a lock (worth waiting for).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Switches a new connection to WAL. Setting the journal mode needs a lock
/// that SQLite does not wait for through the busy handler while another
/// process creates the file, so a busy answer is retried here.
fn enable_wal(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match c.execute_batch("PRAGMA journal_mode = WAL;") {
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
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
        let pending = migrate::pending(&self.migration_states()?, &self.location)?;
        if dry_run || pending.is_empty() {
            return Ok(pending);
        }
        if self.read_only {
            return Err(self.read_only_error(&format!(
                "{} pending migration(s) cannot be applied",
                pending.len()
            )));
        }
        let mut pooled = self.conn()?;
        let run = migrate::runner(Dialect::Sqlite).run(&mut *pooled);
        drop(pooled);
        match run {
            Ok(report) => Ok(migrate::applied_by(&report, pending)),
            // A concurrent keyward may have applied them first: fine if so.
            Err(e) => match migrate::pending(&self.migration_states()?, &self.location)? {
                now if now.is_empty() => Ok(Vec::new()),
                _ => Err(migrate::failed(&self.location, &e)),
            },
        }
    }

    fn transaction(
        &mut self,
        access: Access,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>,
    ) -> Result<()> {
        if self.read_only && access != Access::Read {
            return Err(self.read_only_error("this command writes to it"));
        }
        let pooled = self.conn()?;
        let hot = self.hot && !self.read_only && self.path.is_some();
        if hot {
            super::sqlite_hot::no_checkpoint_on_close(&pooled).map_err(map_err)?;
        }
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
            Ok(()) => {
                pooled.execute_batch("COMMIT").map_err(|e| {
                    let _ = pooled.execute_batch("ROLLBACK");
                    map_err(e)
                })?;
                if let (true, Some(path)) = (hot, &self.path) {
                    super::sqlite_hot::trim_wal(path, &pooled, BUSY_TIMEOUT);
                }
                Ok(())
            }
            Err(e) => {
                // The rollback's own failure would hide the real error; the
                // connection is discarded by SQLite's autocommit reset anyway.
                let _ = pooled.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn hot_path(&mut self) {
        self.hot = true;
    }

    fn backup(&mut self, dest: &Path) -> Result<u64> {
        if self.path.is_none() {
            return Err(Error::invalid("an in-memory database cannot be backed up"));
        }
        let src = self.conn()?;
        super::backup::to_new_file(&src, dest)
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
