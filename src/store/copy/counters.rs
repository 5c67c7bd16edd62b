//! The id counters `db copy` carries over, so the target never hands out an
//! id the source already gave (a deleted session's id is a token's `sid`).

use super::TABLES;
use crate::error::Result;
use crate::store::{Conn, Dialect, Value};

/// The source's id counters (SQLite `sqlite_sequence`, PostgreSQL identity
/// sequences), so the target never hands out the id of a deleted row again.
pub fn counters(conn: &mut dyn Conn) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    match conn.dialect() {
        Dialect::Sqlite => {
            for r in conn.query("SELECT name, seq FROM sqlite_sequence", &[])? {
                out.push((r.text("name")?, r.int("seq")?));
            }
        }
        Dialect::Postgres => {
            for (table, key) in TABLES {
                if *key != ["id"] {
                    continue;
                }
                let row = conn.query_one(
                    "SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass) AS v",
                    &[Value::from(*table)],
                );
                // A table without one (audit_events) gives NULL, not an
                // error (which would abort the snapshot).
                if let Some(v) = row?.opt_int("v")? {
                    out.push(((*table).to_owned(), v));
                }
            }
        }
    }
    Ok(out)
}

/// Advances the target's counters past every copied id and the source's own counters.
pub fn advance_counters(conn: &mut dyn Conn, source: &[(String, i64)]) -> Result<()> {
    for (table, key) in TABLES {
        if *key != ["id"] {
            continue;
        }
        let copied = conn
            .query_one(&format!("SELECT MAX(id) AS m FROM {table}"), &[])?
            .opt_int("m")?
            .unwrap_or(0);
        let counted = source
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, v)| *v);
        let next = copied.max(counted);
        if next < 1 {
            continue;
        }
        match conn.dialect() {
            Dialect::Postgres => {
                conn.query(
                    "SELECT setval(pg_get_serial_sequence($1, 'id'), $2, true) \
                     WHERE pg_get_serial_sequence($1, 'id') IS NOT NULL",
                    &[Value::from(*table), Value::Int(next)],
                )?;
            }
            Dialect::Sqlite => {
                let autoincrement = conn
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
                         AND name = $1 AND sql LIKE '%AUTOINCREMENT%') AS a",
                        &[Value::from(*table)],
                    )?
                    .bool("a")?;
                if !autoincrement {
                    continue;
                }
                let changed = conn.execute(
                    "UPDATE sqlite_sequence SET seq = $2 WHERE name = $1 AND seq < $2",
                    &[Value::from(*table), Value::Int(next)],
                )?;
                let present = conn
                    .query_opt(
                        "SELECT seq FROM sqlite_sequence WHERE name = $1",
                        &[Value::from(*table)],
                    )?
                    .is_some();
                if changed == 0 && !present {
                    conn.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)",
                        &[Value::from(*table), Value::Int(next)],
                    )?;
                }
            }
        }
    }
    Ok(())
}
