//! The storage layer: one object-safe trait, two backends.
//!
//! Queries are written once, in portable SQL with `$1`-style placeholders,
//! by each group's repository (`crate::domain::<group>::repo`); a backend only knows how to connect,
//! run that SQL, take the write lock, and migrate. Values cross the boundary
//! as [`Value`], rows come back as [`Row`].

mod backup;
pub mod copy;
pub mod migrate;
pub mod postgres;
pub mod sqlite;
mod sqlite_hot;
pub mod target;

use crate::error::{Error, Result};
use time::OffsetDateTime;

pub use target::{DatabaseTarget, PgTarget, SqliteLocation, SslMode};

/// Which SQL dialect a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Dialect {
    /// The name used in output and URLs.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// A value bound to or read from a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (also used for 32-bit columns).
    Int(i64),
    /// A float.
    Float(f64),
    /// Text (JSON columns travel as text too).
    Text(String),
    /// A boolean.
    Bool(bool),
    /// A UTC instant, microsecond precision.
    Time(OffsetDateTime),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<OffsetDateTime> for Value {
    fn from(v: OffsetDateTime) -> Self {
        Value::Time(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The column names of a result, shared by its rows.
pub type Columns = std::sync::Arc<[String]>;

/// Names a column of a [`Row`]: by name (what repositories use), or by
/// position (only for single-column queries such as `SELECT COUNT(*)`).
pub trait Column: Copy + std::fmt::Display {
    /// The column's position in `row`.
    fn position(self, row: &Row) -> Result<usize>;
}

impl Column for usize {
    fn position(self, row: &Row) -> Result<usize> {
        if self < row.values.len() {
            Ok(self)
        } else {
            Err(Error::internal(format!("query returned no column {self}")))
        }
    }
}

impl Column for &str {
    fn position(self, row: &Row) -> Result<usize> {
        row.columns
            .iter()
            .position(|c| c == self)
            .ok_or_else(|| Error::internal(format!("query returned no column {self:?}")))
    }
}

/// One result row, with typed getters (by column name) that accept either backend's encoding.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Columns,
    values: Vec<Value>,
}

impl Row {
    /// Wraps the values of one row, named by `columns`.
    pub fn new(columns: Columns, values: Vec<Value>) -> Self {
        Row { columns, values }
    }

    fn at(&self, c: impl Column) -> Result<&Value> {
        let i = c.position(self)?;
        self.values
            .get(i)
            .ok_or_else(|| Error::internal(format!("query returned no column {c}")))
    }

    fn mismatch(&self, c: impl Column, want: &str) -> Error {
        let held = c
            .position(self)
            .ok()
            .and_then(|i| self.values.get(i))
            .map(kind_of);
        Error::internal(format!("column {c} holds {held:?}, expected {want}"))
    }

    /// An integer column.
    pub fn int(&self, c: impl Column) -> Result<i64> {
        match self.at(c)? {
            Value::Int(v) => Ok(*v),
            _ => Err(self.mismatch(c, "an integer")),
        }
    }

    /// A nullable integer column.
    pub fn opt_int(&self, c: impl Column) -> Result<Option<i64>> {
        match self.at(c)? {
            Value::Null => Ok(None),
            _ => self.int(c).map(Some),
        }
    }

    /// A text column.
    pub fn text(&self, c: impl Column) -> Result<String> {
        match self.at(c)? {
            Value::Text(v) => Ok(v.clone()),
            _ => Err(self.mismatch(c, "text")),
        }
    }

    /// A nullable text column.
    pub fn opt_text(&self, c: impl Column) -> Result<Option<String>> {
        match self.at(c)? {
            Value::Null => Ok(None),
            _ => self.text(c).map(Some),
        }
    }

    /// A boolean column (SQLite stores 0/1).
    pub fn bool(&self, c: impl Column) -> Result<bool> {
        match self.at(c)? {
            Value::Bool(v) => Ok(*v),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            _ => Err(self.mismatch(c, "a boolean")),
        }
    }

    /// A float column.
    pub fn float(&self, c: impl Column) -> Result<f64> {
        match self.at(c)? {
            Value::Float(v) => Ok(*v),
            Value::Int(v) => Ok(*v as f64),
            _ => Err(self.mismatch(c, "a float")),
        }
    }

    /// A timestamp column (SQLite stores RFC 3339 text).
    pub fn time(&self, c: impl Column) -> Result<OffsetDateTime> {
        match self.at(c)? {
            Value::Time(t) => Ok(*t),
            Value::Text(s) => crate::time::parse_stored(s).map_err(|_| {
                Error::integrity(format!(
                    "stored timestamp {} is malformed",
                    crate::ident::shown(s)
                ))
            }),
            _ => Err(self.mismatch(c, "a timestamp")),
        }
    }

    /// A nullable timestamp column.
    pub fn opt_time(&self, c: impl Column) -> Result<Option<OffsetDateTime>> {
        match self.at(c)? {
            Value::Null => Ok(None),
            _ => self.time(c).map(Some),
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Int(_) => "integer",
        Value::Float(_) => "float",
        Value::Text(_) => "text",
        Value::Bool(_) => "boolean",
        Value::Time(_) => "timestamp",
    }
}

/// A connection inside a transaction: runs portable SQL.
pub trait Conn {
    /// The dialect, for the rare query that must differ.
    fn dialect(&self) -> Dialect;
    /// Runs a statement, returning the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query, returning all rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;

    /// Whether this transaction may append to the audit chain: true only in an
    /// audited write ([`Access::Write`]), which holds the chain lock.
    fn holds_audit_lock(&self) -> bool;

    /// Runs `COPY … FROM STDIN` with `data` in COPY's text format, returning
    /// the rows written (PostgreSQL only; `db copy`'s bulk path).
    fn copy_in(&mut self, sql: &str, data: Vec<u8>) -> Result<u64> {
        let _ = (sql, data);
        Err(Error::internal(format!(
            "COPY FROM STDIN is not available on {}",
            self.dialect().name()
        )))
    }

    /// Runs a query expected to return at most one row.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a query expected to return exactly one row.
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| Error::internal("query returned no row"))
    }
}

/// A migration as the database and the binary see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationState {
    /// The version number (`V<n>`).
    pub version: i64,
    /// The name after `__`.
    pub name: String,
    /// Whether the database has applied it.
    pub applied: bool,
    /// When it was applied, as refinery recorded it.
    pub applied_on: Option<String>,
    /// Whether the applied checksum differs from the embedded file.
    pub modified: bool,
    /// Applied in the database but unknown to this binary.
    pub unknown: bool,
}

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A consistent read-only snapshot.
    Read,
    /// An audited writer: appends to the audit chain, so it takes the chain
    /// lock before its first statement (every decision it makes is read under
    /// the lock, and concurrent writers keep one linear chain).
    Write,
    /// A writer that appends no audit entry (an API key's last use, a rate
    /// counter): it takes no chain lock, so hot paths on many hosts do not
    /// serialise on the audit chain. Rows it changes are locked by the
    /// database as usual.
    WriteUnaudited,
}

/// The storage trait. Object-safe and synchronous.
pub trait Store: Send {
    /// The dialect the backend speaks.
    fn dialect(&self) -> Dialect;
    /// Where the database is, with any password redacted.
    fn location(&self) -> String;
    /// Every embedded and applied migration, in version order.
    fn migration_states(&mut self) -> Result<Vec<MigrationState>>;
    /// Applies pending migrations in one transaction; returns what was (or, dry, would be) applied.
    fn migrate(&mut self, dry_run: bool) -> Result<Vec<MigrationState>>;
    /// Runs `f` inside one transaction, committing if it returns `Ok`.
    fn transaction(
        &mut self,
        access: Access,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>,
    ) -> Result<()>;
    /// Copies the database to `dest` while it stays online (SQLite only).
    fn backup(&mut self, dest: &std::path::Path) -> Result<u64>;
    /// Marks this process as one short unaudited write on a hot path
    /// (`apikeys verify`): the backend may leave work that only makes earlier
    /// commits durable to a later process. SQLite: no checkpoint when the
    /// connection closes (its fsyncs and the WAL's removal and re-creation
    /// were most of a cold verify's time); the WAL is checkpointed and
    /// truncated once it passes 256 KiB (`store/sqlite_hot.rs`). Commits stay atomic;
    /// as with `synchronous = NORMAL`, a power cut may lose the last ones.
    fn hot_path(&mut self) {}
}

/// Runs `f` in a read transaction and returns its value.
pub fn read<T>(store: &mut dyn Store, mut f: impl FnMut(&mut dyn Conn) -> Result<T>) -> Result<T> {
    run(store, Access::Read, &mut f)
}

/// Runs `f` in an audited write transaction (all or nothing) and returns its value.
pub fn write<T>(store: &mut dyn Store, mut f: impl FnMut(&mut dyn Conn) -> Result<T>) -> Result<T> {
    run(store, Access::Write, &mut f)
}

/// Runs `f` in a write transaction that appends no audit entry (see [`Access::WriteUnaudited`]).
pub fn write_unaudited<T>(
    store: &mut dyn Store,
    mut f: impl FnMut(&mut dyn Conn) -> Result<T>,
) -> Result<T> {
    run(store, Access::WriteUnaudited, &mut f)
}

fn run<T>(
    store: &mut dyn Store,
    access: Access,
    f: &mut dyn FnMut(&mut dyn Conn) -> Result<T>,
) -> Result<T> {
    let mut out = None;
    store.transaction(access, &mut |conn| {
        out = Some(f(conn)?);
        Ok(())
    })?;
    out.ok_or_else(|| Error::internal("transaction finished without a result"))
}

/// Reads a TEXT column holding a JSON array of strings (`column` names it,
/// `table.column`, in the error a row edited behind keyward's back gets).
pub fn string_list(text: &str, column: &str) -> Result<Vec<String>> {
    serde_json::from_str::<Vec<String>>(text).map_err(|_| {
        Error::integrity(format!(
            "{column} is not a JSON array of strings: repair that row in the database"
        ))
    })
}

/// The stored form of a list of strings: a JSON array, sorted, without duplicates.
pub fn string_list_text(items: &[String]) -> String {
    let mut v = items.to_vec();
    v.sort();
    v.dedup();
    serde_json::Value::from(v).to_string()
}

/// Inserts rows many per statement (portable multi-row VALUES), in chunks.
pub fn insert_rows(
    conn: &mut dyn Conn,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<u64> {
    // Stay far below both dialects' parameter limits (SQLite 32766, PostgreSQL 65535).
    let per_chunk = (4000 / columns.len().max(1)).max(1);
    let mut total = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_chunk).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut params = Vec::with_capacity(chunk.len() * columns.len());
        for (i, row) in chunk.into_iter().enumerate() {
            if row.len() != columns.len() {
                return Err(Error::internal(format!(
                    "row for {table} has {} values, not {}",
                    row.len(),
                    columns.len()
                )));
            }
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for j in 0..columns.len() {
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", params.len() + j + 1));
            }
            sql.push(')');
            params.extend(row);
        }
        total += conn.execute(&sql, &params)?;
    }
    Ok(total)
}

/// Opens the database a target names. `create` allows making a new SQLite file.
pub fn open(target: &DatabaseTarget, pool_size: u32, create: bool) -> Result<Box<dyn Store>> {
    match target {
        DatabaseTarget::Sqlite(loc) => {
            Ok(Box::new(sqlite::SqliteStore::open(loc, pool_size, create)?))
        }
        DatabaseTarget::Postgres(pg) => Ok(Box::new(postgres::PgStore::connect(pg)?)),
    }
}

/// Checks that the schema is exactly the binary's: exit 6 otherwise (a
/// migration unknown or modified, one pending, or none applied).
pub fn ensure_current(store: &mut dyn Store) -> Result<()> {
    let states = store.migration_states()?;
    let location = store.location();
    migrate::check_known(&states, &location)?;
    let pending = states.iter().filter(|m| !m.applied).count();
    if pending == states.len() && pending > 0 {
        return Err(Error::unavailable(format!(
            "database at {location} is not initialised ({pending} pending migration{}): run `keyward db migrate`, or `keyward db init` to also seed it and set up a key",
            plural(pending)
        )));
    }
    if pending > 0 {
        return Err(Error::unavailable(format!(
            "database at {location} has {pending} pending migration{}: run `keyward db migrate`",
            plural(pending)
        )));
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
