//! `keyward flags` used by a careless or hostile hand: rows changed behind
//! keyward's back (a constraint dropped, a flag deleted with the SQLite shell,
//! which enforces no foreign keys), on both backends.

use crate::cli_test;
use crate::util::Env;
use serde_json::Value;

/// Runs `sql` as the SQLite shell would (`sqlite3 keyward.db`): foreign keys
/// not enforced and, when `unchecked`, CHECK constraints ignored. PostgreSQL:
/// through keyward's store (foreign keys always hold there).
fn behind_the_back(env: &Env, sql: &str, unchecked: bool) {
    if env.db.schema().is_some() {
        env.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        return;
    }
    let path = env.url().trim_start_matches("sqlite://");
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    if unchecked {
        c.execute_batch("PRAGMA ignore_check_constraints = ON")
            .unwrap();
    }
    c.execute_batch(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn show(env: &Env, name: &str) -> Value {
    env.run(&["flags", "show", name, "-o", "json"]).ok().json()
}

cli_test! {
    /// A flag deleted with the SQLite shell leaves its states behind (no
    /// foreign keys there); a flag added afterwards must not take its id, and
    /// with it the old flag's state (on for everyone in production).
    fn a_new_flag_never_inherits_a_deleted_flags_state(env) {
        env.init();
        env.run(&["flags", "add", "old", "--enabled", "--percentage", "100", "--env", "production"]).ok();
        behind_the_back(env, "DELETE FROM feature_flags WHERE name = 'old'", false);
        env.run(&["flags", "add", "brand-new"]).ok();
        let flag = show(env, "brand-new");
        assert!(
            flag["environments"].as_object().unwrap().is_empty(),
            "a new flag is configured nowhere: {flag}"
        );
        let d = env
            .run(&["flags", "eval", "brand-new", "--user", "ann", "--env", "production", "-o", "json"])
            .ok()
            .json();
        assert_eq!((d["enabled"].clone(), d["reason"].clone()), (false.into(), "disabled".into()));
    }
}

cli_test! {
    /// Targets that are not a JSON array are refused by the database on both
    /// backends (SQLite had the CHECK, PostgreSQL did not).
    fn targets_that_are_not_a_json_array_are_refused_by_the_database(env) {
        env.init();
        env.run(&["flags", "add", "f", "--enabled", "--env", "staging"]).ok();
        for bad in ["not json", "{}", "\"ann\""] {
            for column in ["target_users", "target_roles"] {
                let sql = format!("UPDATE feature_flag_states SET {column} = '{bad}'");
                assert!(env.sql(&sql).is_err(), "{sql} was accepted");
            }
        }
        assert_eq!(show(env, "f")["environments"]["staging"]["enabled"], true);
    }
}

cli_test! {
    /// A state damaged behind keyward's back (a percentage of 101 once its
    /// constraint is gone, targets that are not names) is exit 8 naming the
    /// flag and the environment, with a fix that works; other flags are unharmed.
    fn a_damaged_state_names_its_flag_and_environment(env) {
        env.init();
        env.run(&["flags", "add", "hurt", "--enabled", "--percentage", "10", "--env", "staging"]).ok();
        env.run(&["flags", "add", "fine", "--enabled", "--percentage", "100", "--env", "staging"]).ok();
        if env.db.schema().is_some() {
            env.sql("ALTER TABLE feature_flag_states DROP CONSTRAINT feature_flag_states_percentage_check")
                .unwrap();
        }
        let hurt = "(SELECT id FROM feature_flags WHERE name = 'hurt')";
        behind_the_back(env, &format!("UPDATE feature_flag_states SET percentage = 101 WHERE flag_id = {hurt}"), true);
        let damaged = |args: &[&str]| {
            let run = env.run(args).code(8);
            for needle in ["\"hurt\"", "\"staging\"", "percentage", "feature_flag_states"] {
                assert!(run.stderr.contains(needle), "{needle} missing: {}", run.stderr);
            }
        };
        damaged(&["flags", "eval", "hurt", "--user", "ann", "--env", "staging"]);
        damaged(&["flags", "list", "--env", "staging"]);
        damaged(&["flags", "show", "hurt"]);
        damaged(&["flags", "set", "hurt", "--percentage", "20", "--env", "staging"]);
        let d = env.run(&["flags", "eval", "fine", "--user", "ann", "--env", "staging", "-o", "json"]).ok().json();
        assert_eq!(d["enabled"], true);
        // Targets of the wrong shape (an array, but not of names).
        behind_the_back(env, &format!("UPDATE feature_flag_states SET percentage = 10, target_users = '[1]' WHERE flag_id = {hurt}"), false);
        let run = env.run(&["flags", "eval", "hurt", "--user", "ann", "--env", "staging"]).code(8);
        for needle in ["\"hurt\"", "\"staging\"", "target_users"] {
            assert!(run.stderr.contains(needle), "{needle} missing: {}", run.stderr);
        }
        assert!(!run.stderr.contains("set the targets again"), "a fix that cannot work: {}", run.stderr);
    }
}
