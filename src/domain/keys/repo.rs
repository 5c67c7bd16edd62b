//! The SQL of `key_checks`: the keys a database has used, and their check values.

use crate::error::Result;
use crate::store::Conn;
use time::OffsetDateTime;

/// One row of `key_checks`.
#[derive(Debug, Clone)]
pub struct KeyCheckRow {
    /// The key's id.
    pub kid: String,
    /// The check value sealed under that key.
    pub check_value: String,
    /// Whether it is the database's current key (`active`) rather than a `previous` one.
    pub active: bool,
    /// When a rotation retired it.
    pub retired_at: Option<OffsetDateTime>,
}

/// Every key the database has used, oldest first.
pub fn all(conn: &mut dyn Conn) -> Result<Vec<KeyCheckRow>> {
    conn.query(
        "SELECT kid, check_value, state, retired_at FROM key_checks ORDER BY created_at",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(KeyCheckRow {
            kid: r.text("kid")?,
            check_value: r.text("check_value")?,
            active: r.text("state")? == "active",
            retired_at: r.opt_time("retired_at")?,
        })
    })
    .collect()
}

/// The id of the database's active key, if it has one.
pub fn active_kid(conn: &mut dyn Conn) -> Result<Option<String>> {
    conn.query_opt("SELECT kid FROM key_checks WHERE state = 'active'", &[])?
        .map(|r| r.text("kid"))
        .transpose()
}

/// Registers a key as the active one.
pub fn insert_active(
    conn: &mut dyn Conn,
    kid: &str,
    check_value: String,
    at: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "INSERT INTO key_checks (kid, check_value, state, created_at) VALUES ($1, $2, 'active', $3)",
        &[kid.into(), check_value.into(), at.into()],
    )?;
    Ok(())
}

/// Retires the active key (it stays, as `previous`: settings history written
/// under it is read with it, and a rotation never returns to it).
pub fn retire_active(conn: &mut dyn Conn, at: OffsetDateTime) -> Result<()> {
    conn.execute(
        "UPDATE key_checks SET state = 'previous', retired_at = $1 WHERE state = 'active'",
        &[at.into()],
    )?;
    Ok(())
}
