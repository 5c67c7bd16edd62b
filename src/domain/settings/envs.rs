//! Environments: the ones that exist (hold settings), and, for a name that
//! holds none (a typo such as `prodution`), the closest one that does.

use crate::error::Result;
use crate::store::Conn;

/// One environment and how many settings it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvCount {
    /// The environment.
    pub environment: String,
    /// Live settings.
    pub settings: i64,
    /// Live secret settings.
    pub secrets: i64,
    /// Deleted settings (history kept).
    pub deleted: i64,
}

/// An environment that holds no live setting, and the closest one that does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyEnv {
    /// The environment asked for.
    pub environment: String,
    /// The closest environment holding settings, when one is close enough.
    pub closest: Option<String>,
    /// How many environments hold settings.
    pub known: usize,
}

impl EmptyEnv {
    /// What to do about it, in parentheses: the closest environment, or where to look.
    pub fn advice(&self) -> String {
        match (&self.closest, self.known) {
            (Some(c), _) => format!("(did you mean '{c}'? `keyward settings envs` lists them)"),
            (None, 0) => "(no environment has any yet)".to_owned(),
            (None, n) => format!("(`keyward settings envs` lists the {n} that have)"),
        }
    }
}

impl std::fmt::Display for EmptyEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "environment '{}' has no settings {}",
            self.environment,
            self.advice()
        )
    }
}

/// Every environment that has or had settings, by name.
pub fn list(conn: &mut dyn Conn) -> Result<Vec<EnvCount>> {
    super::repo::environments(conn)
}

/// `None` when `env` holds a live setting; else what to tell the operator.
pub fn empty_environment(conn: &mut dyn Conn, env: &str) -> Result<Option<EmptyEnv>> {
    if super::repo::has_live(conn, env)? {
        return Ok(None);
    }
    let known: Vec<EnvCount> = list(conn)?.into_iter().filter(|e| e.settings > 0).collect();
    let closest = closest(env, known.iter().map(|e| e.environment.as_str())).map(str::to_owned);
    Ok(Some(EmptyEnv {
        environment: env.to_owned(),
        closest,
        known: known.len(),
    }))
}

/// The candidate closest to `name` (edit distance, a swap of two neighbours
/// counting one), when it is close enough to be a typo of it: at most 2
/// edits, or a third of the longer name, or one name a prefix of the other.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .filter_map(|c| {
            let d = crate::text::edit_distance(name, c);
            let longer = name.chars().count().max(c.chars().count());
            let prefix = name.len() >= 2 && (c.starts_with(name) || name.starts_with(c));
            (d <= 2.max(longer / 3) || prefix).then_some((d, c))
        })
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_environment() {
        let envs = ["development", "production", "staging"];
        assert_eq!(closest("prodution", envs), Some("production"));
        assert_eq!(closest("stagign", envs), Some("staging"));
        assert_eq!(closest("prod", envs), Some("production"));
        assert_eq!(closest("dev", envs), Some("development"));
        assert_eq!(closest("qa", envs), None);
        assert_eq!(closest("customer-x", envs), None);
        assert_eq!(closest("staging", ["staging"]), None);
    }

    #[test]
    fn messages_name_the_environment_and_the_way_out() {
        let e = EmptyEnv {
            environment: "prodution".into(),
            closest: Some("production".into()),
            known: 2,
        };
        assert!(e.to_string().contains("did you mean 'production'?"), "{e}");
        let none = EmptyEnv {
            closest: None,
            known: 0,
            ..e.clone()
        };
        assert!(none.to_string().contains("no environment has any yet"));
        let some = EmptyEnv {
            closest: None,
            known: 3,
            ..e
        };
        assert!(some.to_string().contains("settings envs"), "{some}");
    }
}
