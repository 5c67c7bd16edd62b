//! `db copy`'s SQL: every table of one database into another, in keyset
//! pages read under the caller's snapshot and written in the caller's one
//! target transaction. The only place that speaks dialect-specific bulk SQL
//! (column types from the catalogue, sequence counters, `COPY … FROM STDIN`).

use super::{Conn, Dialect, Row, Value};
use crate::error::{Error, Result};

mod counters;
pub use counters::{advance_counters, counters};

/// Rows read per page from the source.
pub const PAGE: usize = 5_000;

/// Every data table, in foreign-key order, with its primary key.
/// `audit_head` is the chain's head record, which a fresh migration fills.
pub const TABLES: &[(&str, &[&str])] = &[
    ("users", &["id"]),
    ("roles", &["id"]),
    ("permissions", &["id"]),
    ("role_permissions", &["role_id", "permission_id"]),
    ("user_roles", &["user_id", "role_id"]),
    ("sessions", &["id"]),
    ("settings", &["id"]),
    ("settings_audit_log", &["id"]),
    ("feature_flags", &["id"]),
    ("feature_flag_states", &["id"]),
    ("api_keys", &["id"]),
    ("audit_events", &["id"]),
    ("key_checks", &["kid"]),
    ("seed_grants", &["role_name", "resource", "action"]),
    ("signing_keys", &["id"]),
    ("audit_head", &["singleton"]),
];

/// The table a fresh migration already gives one row (the empty chain's head).
pub const HEAD: &str = "audit_head";

/// How a target column wants its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Time,
    Int,
    Float,
    Text,
}

/// One column of a target table.
#[derive(Debug, Clone)]
pub struct TargetColumn {
    name: String,
    kind: Kind,
}

/// The target table's columns and the types their values are coerced to.
pub fn target_columns(conn: &mut dyn Conn, table: &str) -> Result<Vec<TargetColumn>> {
    let sql = match conn.dialect() {
        Dialect::Postgres => {
            "SELECT column_name AS name, data_type AS type FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
        Dialect::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
    };
    let rows = conn.query(sql, &[Value::from(table)])?;
    if rows.is_empty() {
        return Err(Error::conflict(format!(
            "the target has no table {table}: it is not migrated like the source"
        )));
    }
    rows.iter()
        .map(|r| {
            let ty = r.text("type")?.to_ascii_lowercase();
            let kind = match ty.as_str() {
                "boolean" => Kind::Bool,
                t if t.starts_with("timestamp") => Kind::Time,
                "bigint" | "integer" | "smallint" => Kind::Int,
                "double precision" | "real" | "numeric" => Kind::Float,
                _ => Kind::Text,
            };
            Ok(TargetColumn {
                name: r.text("name")?,
                kind,
            })
        })
        .collect()
}

/// `value` as the target column wants it: SQLite's 0/1 and stored text
/// become PostgreSQL booleans and instants, and back.
fn coerce(value: Value, col: &TargetColumn, table: &str) -> Result<Value> {
    let bad = |v: &Value| {
        Error::integrity(format!(
            "{table}.{} holds {}, which the target column cannot take",
            col.name,
            super::kind_of(v)
        ))
    };
    Ok(match (col.kind, value) {
        (_, Value::Null) => Value::Null,
        (Kind::Bool, Value::Int(0)) => Value::Bool(false),
        (Kind::Bool, Value::Int(1)) => Value::Bool(true),
        (Kind::Bool, v @ Value::Bool(_)) => v,
        (Kind::Time, Value::Text(s)) => {
            Value::Time(crate::time::parse_stored(&s).map_err(|_| {
                Error::integrity(format!(
                    "{table}.{} holds a malformed timestamp {}",
                    col.name,
                    crate::ident::shown(&s)
                ))
            })?)
        }
        (Kind::Time, v @ Value::Time(_)) => v,
        (Kind::Int, Value::Bool(b)) => Value::Int(i64::from(b)),
        (Kind::Int, v @ Value::Int(_)) => v,
        (Kind::Float, Value::Int(i)) => Value::Float(i as f64),
        (Kind::Float, v @ Value::Float(_)) => v,
        (Kind::Text, Value::Time(t)) => Value::Text(crate::time::format_stored(t)),
        (Kind::Text, v @ Value::Text(_)) => v,
        (_, v) => return Err(bad(&v)),
    })
}

/// Rows of `table`.
pub fn count(conn: &mut dyn Conn, table: &str) -> Result<u64> {
    let n = conn
        .query_one(&format!("SELECT COUNT(*) AS n FROM {table}"), &[])?
        .int("n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The audit chain's head record: the newest entry's id and hash.
pub fn head(conn: &mut dyn Conn) -> Result<(i64, String)> {
    let row = conn
        .query_opt(
            "SELECT last_id, last_hash FROM audit_head WHERE singleton = 1",
            &[],
        )?
        .ok_or_else(|| Error::integrity("the audit head record (table audit_head) is missing"))?;
    Ok((row.int("last_id")?, row.text("last_hash")?))
}

/// Copies one table from `source` (inside its snapshot) to `target`, a page at
/// a time; `progress` hears of every page. Returns the rows copied.
pub fn copy_table(
    source: &mut dyn Conn,
    target: &mut dyn Conn,
    table: &str,
    key: &[&str],
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let columns = target_columns(target, table)?;
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let mut theirs: Vec<String> = target_columns(source, table)?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mut ours: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    theirs.sort();
    ours.sort();
    if theirs != ours {
        return Err(Error::conflict(format!(
            "table {table} has columns {} in the source but {} in the target: both must be migrated alike (a column was changed by hand?)",
            theirs.join(", "),
            ours.join(", ")
        )));
    }
    let key_at: Vec<usize> = key
        .iter()
        .map(|k| {
            names
                .iter()
                .position(|n| n == k)
                .ok_or_else(|| Error::internal(format!("{table} has no key column {k}")))
        })
        .collect::<Result<_>>()?;
    let select = format!("SELECT {} FROM {table}", names.join(", "));
    let order = key.join(", ");
    let after = if key.len() == 1 {
        format!("{} > $1", key[0])
    } else {
        let params: Vec<String> = (1..=key.len()).map(|i| format!("${i}")).collect();
        format!("({order}) > ({})", params.join(", "))
    };
    let first = format!("{select} ORDER BY {order} LIMIT $1");
    let next = format!(
        "{select} WHERE {after} ORDER BY {order} LIMIT ${}",
        key.len() + 1
    );
    if table == HEAD {
        return copy_head(source, target);
    }
    let indexes = set_aside_indexes(target, table)?;
    let total = copy_pages(
        source,
        target,
        table,
        (&first, &next),
        &columns,
        &key_at,
        progress,
    )?;
    for definition in indexes {
        target.execute(&definition, &[])?;
    }
    Ok(total)
}

/// On PostgreSQL, drops `table`'s secondary indexes (not those of its
/// primary key and unique constraints, which the rows are checked against)
/// and returns their definitions to build again once the rows are in: one
/// sorted build instead of a million insertions. Inside the target's one
/// transaction, so a failed or killed copy gets them back with the rollback.
fn set_aside_indexes(target: &mut dyn Conn, table: &str) -> Result<Vec<String>> {
    if target.dialect() != Dialect::Postgres {
        return Ok(Vec::new());
    }
    let rows = target.query(
        "SELECT i.indexname AS name, i.indexdef AS definition FROM pg_indexes i \
         WHERE i.schemaname = current_schema() AND i.tablename = $1 \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                         WHERE c.conname = i.indexname AND c.connamespace = \
                               (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))",
        &[Value::from(table)],
    )?;
    let mut definitions = Vec::with_capacity(rows.len());
    for r in rows {
        let name = r.text("name")?;
        target.execute(
            &format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")),
            &[],
        )?;
        definitions.push(r.text("definition")?);
    }
    Ok(definitions)
}

/// Reads the source in keyset pages and writes each to the target.
fn copy_pages(
    source: &mut dyn Conn,
    target: &mut dyn Conn,
    table: &str,
    (first, next): (&str, &str),
    columns: &[TargetColumn],
    key_at: &[usize],
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let mut last: Option<Vec<Value>> = None;
    let mut total = 0;
    let mut limit = FIRST_PAGE;
    loop {
        let page = match &last {
            None => source.query(first, &[Value::Int(limit as i64)])?,
            Some(k) => {
                let mut params = k.clone();
                params.push(Value::Int(limit as i64));
                source.query(next, &params)?
            }
        };
        let Some(end) = page.last() else { break };
        last = Some(
            key_at
                .iter()
                .map(|&i| value_at(end, i))
                .collect::<Result<_>>()?,
        );
        let full = page.len() == limit;
        limit = next_page(limit, page.iter().map(row_bytes).sum());
        let rows = page
            .into_iter()
            .map(|r| {
                let values = r.values;
                values
                    .into_iter()
                    .zip(columns)
                    .map(|(v, c)| coerce(v, c, table))
                    .collect::<Result<Vec<Value>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let n = rows.len() as u64;
        write_rows(target, table, &names, rows)?;
        total += n;
        progress(n);
        if !full {
            break;
        }
    }
    Ok(total)
}

/// Rows read in a table's first page: small, since a row may hold up to a
/// megabyte (a setting's value) and the next pages are sized on this one.
const FIRST_PAGE: usize = 64;
/// What a page may hold, about: memory stays bounded by the page, whatever
/// the rows' width.
const PAGE_BYTES: usize = 8 << 20;

/// About how many bytes a row holds.
fn row_bytes(row: &Row) -> usize {
    row.values
        .iter()
        .map(|v| match v {
            Value::Text(s) => s.len(),
            _ => 8,
        })
        .sum::<usize>()
        .max(1)
}

/// The next page's row count after a page of `limit` rows that held
/// `bytes`: aiming at [`PAGE_BYTES`], at most doubling, 1 to [`PAGE`] rows.
fn next_page(limit: usize, bytes: usize) -> usize {
    let per_row = (bytes / limit.max(1)).max(1);
    (PAGE_BYTES / per_row).clamp(1, (limit * 2).min(PAGE))
}

fn value_at(row: &Row, i: usize) -> Result<Value> {
    row.values
        .get(i)
        .cloned()
        .ok_or_else(|| Error::internal(format!("query returned no column {i}")))
}

/// Moves the target's head record (the empty chain's, from its migration) to
/// the source's; the trigger allows only forward moves, so an empty source
/// chain leaves it as it is.
fn copy_head(source: &mut dyn Conn, target: &mut dyn Conn) -> Result<u64> {
    let (last_id, last_hash) = head(source)?;
    if last_id > 0 {
        target.execute(
            "UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE singleton = 1",
            &[Value::Int(last_id), Value::Text(last_hash)],
        )?;
    }
    Ok(1)
}

/// Writes one page: `COPY … FROM STDIN` on PostgreSQL, multi-row INSERTs on SQLite.
fn write_rows(
    target: &mut dyn Conn,
    table: &str,
    names: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<u64> {
    match target.dialect() {
        Dialect::Postgres => {
            let sql = format!("COPY {table} ({}) FROM STDIN", names.join(", "));
            let mut data = Vec::with_capacity(rows.len() * 64 * names.len());
            for row in &rows {
                copy_line(&mut data, row);
            }
            target.copy_in(&sql, data)
        }
        Dialect::Sqlite => super::insert_rows(target, table, names, rows),
    }
}

/// One row in `COPY`'s text format: tab-separated, `\N` for NULL, with
/// backslash, tab, newline and carriage return escaped.
pub(crate) fn copy_line(out: &mut Vec<u8>, row: &[Value]) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            Value::Null => out.extend_from_slice(b"\\N"),
            Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Float(f) => out.extend_from_slice(format!("{f:?}").as_bytes()),
            Value::Bool(b) => out.push(if *b { b't' } else { b'f' }),
            // UTC, microseconds: exactly what was stored.
            Value::Time(t) => out.extend_from_slice(crate::time::format_stored(*t).as_bytes()),
            Value::Text(s) => {
                for b in s.bytes() {
                    match b {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\t' => out.extend_from_slice(b"\\t"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        _ => out.push(b),
                    }
                }
            }
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migrated_table_is_copied() {
        let target = crate::store::DatabaseTarget::Sqlite(crate::store::SqliteLocation::Memory);
        let mut store = crate::store::open(&target, 1, true).unwrap();
        store.migrate(false).unwrap();
        let mut tables: Vec<String> = crate::store::read(store.as_mut(), |c| {
            c.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> 'refinery_schema_history'",
                &[],
            )?
            .iter()
            .map(|r| r.text("name"))
            .collect()
        })
        .unwrap();
        tables.sort();
        let mut copied: Vec<String> = TABLES.iter().map(|(t, _)| (*t).to_owned()).collect();
        copied.sort();
        assert_eq!(
            tables, copied,
            "a migration added or dropped a table: update copy::TABLES"
        );
    }

    #[test]
    fn pages_grow_to_the_row_limit_and_shrink_for_wide_rows() {
        assert_eq!(next_page(64, 64 * 100), 128);
        assert_eq!(next_page(4096, 4096 * 100), PAGE);
        assert_eq!(next_page(PAGE, PAGE * 100), PAGE);
        // A megabyte a row: eight rows a page.
        assert_eq!(next_page(64, 64 << 20), 8);
        assert_eq!(next_page(8, 8 * (20 << 20)), 1);
    }

    #[test]
    fn copy_lines_escape_what_copy_text_format_reads_specially() {
        let mut out = Vec::new();
        copy_line(
            &mut out,
            &[
                Value::Int(7),
                Value::Null,
                Value::Text("a\\b\tc\nd\re \\N".into()),
                Value::Bool(true),
            ],
        );
        assert_eq!(out, b"7\t\\N\ta\\\\b\\tc\\nd\\re \\\\N\tt\n".to_vec());
    }

    #[test]
    fn values_take_the_target_column_type() {
        let col = |kind| TargetColumn {
            name: "c".into(),
            kind,
        };
        let t = "2026-01-02T03:04:05.123456Z";
        let time = coerce(Value::from(t), &col(Kind::Time), "x").unwrap();
        assert!(matches!(time, Value::Time(_)));
        assert_eq!(coerce(time, &col(Kind::Text), "x").unwrap(), Value::from(t));
        assert_eq!(
            coerce(Value::Int(1), &col(Kind::Bool), "x").unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            coerce(Value::Bool(false), &col(Kind::Int), "x").unwrap(),
            Value::Int(0)
        );
        assert!(coerce(Value::Int(2), &col(Kind::Bool), "x").is_err());
    }
}
