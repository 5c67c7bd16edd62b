//! The flags' SQL, written once in portable form; rows read by column name.
//! Reads here are shared by the verbs that change flags and by `eval` and
//! `export`.

use super::State;
use crate::error::{Error, Result};
use crate::ids::FlagId;
use crate::store::{self, Conn, Row, Value};
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// A flag's global definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// Row id.
    #[serde(skip)]
    pub id: FlagId,
    /// The name (case-sensitive).
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The bucketing group (Unleash's `groupId`): the name unless set.
    pub group: String,
    /// When it was added.
    #[serde(with = "crate::output::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its definition last changed.
    #[serde(with = "crate::output::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const FLAG_COLUMNS: &str = "f.id, f.name, f.description, f.group_id, f.created_at, f.updated_at";

fn flag_from_row(r: &Row) -> Result<Flag> {
    let name = r.text("name")?;
    Ok(Flag {
        id: FlagId(r.int("id")?),
        group: r.opt_text("group_id")?.unwrap_or_else(|| name.clone()),
        name,
        description: r.opt_text("description")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

/// Reads the state on row `r`: that of `flag` in `env` (named when the row
/// is damaged, which only a change behind keyward's back can do).
fn state_from_row(r: &Row, flag: &str, env: &str) -> Result<State> {
    let damaged = |what: &str| {
        Error::integrity(format!(
            "the state of flag {} in environment {} is damaged ({what}): \
             repair or delete that row of feature_flag_states in the database",
            crate::ident::shown(flag),
            crate::ident::shown(env)
        ))
    };
    let percentage = r.int("percentage")?;
    let names = |column: &str| {
        store::string_list(&r.text(column)?, column)
            .map_err(|_| damaged(&format!("{column} is not a JSON array of names")))
    };
    Ok(State {
        enabled: r.bool("enabled")?,
        percentage: u8::try_from(percentage)
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| damaged(&format!("percentage {percentage} is not 0 to 100")))?,
        target_users: names("target_users")?,
        target_roles: names("target_roles")?,
    })
}

/// One flag by name.
pub fn find(conn: &mut dyn Conn, name: &str) -> Result<Option<Flag>> {
    conn.query_opt(
        &format!("SELECT {FLAG_COLUMNS} FROM feature_flags f WHERE f.name = $1"),
        &[name.into()],
    )?
    .map(|r| flag_from_row(&r))
    .transpose()
}

/// One flag by name (exit 3 when absent).
pub fn get(conn: &mut dyn Conn, name: &str) -> Result<Flag> {
    find(conn, name)?.ok_or_else(|| {
        Error::not_found(format!(
            "flag {} not found: `keyward flags list` shows the flags",
            crate::ident::shown(name)
        ))
    })
}

/// Role names bound in one query at most (far below both dialects' parameter limits).
const ROLES_PER_QUERY: usize = 500;

/// Who holds any of `roles` (a flag's targeted roles), each user with the
/// ones of `roles` they hold, by username; only `user` when given. Users
/// holding none of them are absent (a cohort of any size costs the memory of
/// the targeted roles' members only).
pub fn holders_of(
    conn: &mut dyn Conn,
    roles: &[String],
    user: Option<&str>,
) -> Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in roles.chunks(ROLES_PER_QUERY) {
        let mut params: Vec<Value> = chunk.iter().map(Value::from).collect();
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let mut sql = format!(
            "SELECT u.username, r.name AS role FROM user_roles ur \
             JOIN users u ON u.id = ur.user_id JOIN roles r ON r.id = ur.role_id \
             WHERE r.name IN ({})",
            list.join(", ")
        );
        if let Some(user) = user {
            params.push(user.into());
            sql.push_str(&format!(" AND u.username = ${}", params.len()));
        }
        for r in conn.query(&sql, &params)? {
            out.entry(r.text("username")?)
                .or_default()
                .push(r.text("role")?);
        }
    }
    Ok(out)
}

/// A flag's state in an environment; `None` when never configured there (off).
pub fn state(conn: &mut dyn Conn, flag: &Flag, environment: &str) -> Result<Option<State>> {
    conn.query_opt(
        "SELECT enabled, percentage, target_users, target_roles FROM feature_flag_states \
         WHERE flag_id = $1 AND environment = $2",
        &[flag.id.into(), environment.into()],
    )?
    .map(|r| state_from_row(&r, &flag.name, environment))
    .transpose()
}

/// Every flag with its state in `environment` (the default, off, where
/// never configured), by name.
pub fn all_in(conn: &mut dyn Conn, environment: &str) -> Result<Vec<(Flag, Option<State>)>> {
    conn.query(
        &format!(
            "SELECT {FLAG_COLUMNS}, s.id AS state_id, s.enabled, s.percentage, s.target_users, s.target_roles \
             FROM feature_flags f LEFT JOIN feature_flag_states s \
             ON s.flag_id = f.id AND s.environment = $1 ORDER BY f.name"
        ),
        &[environment.into()],
    )?
    .iter()
    .map(|r| {
        let state = match r.opt_int("state_id")? {
            Some(_) => Some(state_from_row(r, &r.text("name")?, environment)?),
            None => None,
        };
        Ok((flag_from_row(r)?, state))
    })
    .collect()
}

/// A flag's state in every environment where it was configured, by environment.
pub fn states_of(conn: &mut dyn Conn, flag: &Flag) -> Result<Vec<(String, State)>> {
    conn.query(
        "SELECT environment, enabled, percentage, target_users, target_roles FROM feature_flag_states \
         WHERE flag_id = $1 ORDER BY environment",
        &[flag.id.into()],
    )?
    .iter()
    .map(|r| {
        let env = r.text("environment")?;
        let state = state_from_row(r, &flag.name, &env)?;
        Ok((env, state))
    })
    .collect()
}

/// A flag's state in one environment, with when it last changed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvState {
    /// The environment.
    pub environment: String,
    /// The state there.
    pub state: State,
    /// When the state there last changed.
    pub updated_at: OffsetDateTime,
}

/// A flag's state in every environment where it was configured, with the
/// time of each state's last change, by environment.
pub fn env_states_of(conn: &mut dyn Conn, flag: &Flag) -> Result<Vec<EnvState>> {
    conn.query(
        "SELECT environment, enabled, percentage, target_users, target_roles, updated_at \
         FROM feature_flag_states WHERE flag_id = $1 ORDER BY environment",
        &[flag.id.into()],
    )?
    .iter()
    .map(|r| {
        let environment = r.text("environment")?;
        Ok(EnvState {
            state: state_from_row(r, &flag.name, &environment)?,
            environment,
            updated_at: r.time("updated_at")?,
        })
    })
    .collect()
}

/// Inserts a flag's definition; `group` `None` means the flag's own name.
pub fn insert(
    conn: &mut dyn Conn,
    name: &str,
    description: Option<&str>,
    group: Option<&str>,
    now: OffsetDateTime,
) -> Result<FlagId> {
    let row = conn.query_one(
        "INSERT INTO feature_flags (name, description, group_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
        &[name.into(), description.into(), group.into(), now.into()],
    )?;
    Ok(FlagId(row.int("id")?))
}

/// Writes a flag's state in an environment: the row is created on the first
/// change there, updated afterwards.
pub fn put_state(
    conn: &mut dyn Conn,
    flag: FlagId,
    environment: &str,
    state: &State,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "INSERT INTO feature_flag_states \
         (flag_id, environment, enabled, percentage, target_users, target_roles, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (flag_id, environment) DO UPDATE SET enabled = excluded.enabled, \
         percentage = excluded.percentage, target_users = excluded.target_users, \
         target_roles = excluded.target_roles, updated_at = excluded.updated_at",
        &[
            flag.into(),
            environment.into(),
            state.enabled.into(),
            i64::from(state.percentage).into(),
            store::string_list_text(&state.target_users).into(),
            store::string_list_text(&state.target_roles).into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// Deletes a flag's definition and its state in every environment.
pub fn delete(conn: &mut dyn Conn, flag: FlagId) -> Result<()> {
    conn.execute(
        "DELETE FROM feature_flag_states WHERE flag_id = $1",
        &[flag.into()],
    )?;
    conn.execute("DELETE FROM feature_flags WHERE id = $1", &[flag.into()])?;
    Ok(())
}

/// The names of other flags that differ from `name` only in case (names
/// are case-sensitive: `New` and `new` are two flags).
pub fn case_twins(conn: &mut dyn Conn, name: &str) -> Result<Vec<String>> {
    conn.query(
        "SELECT name FROM feature_flags WHERE lower(name) = lower($1) AND name <> $1 ORDER BY name",
        &[name.into()],
    )?
    .iter()
    .map(|r| r.text("name"))
    .collect()
}
