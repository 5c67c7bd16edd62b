//! `keyward audit …`: append-only rows, the hash chain, filters, export.

use crate::cli_test;
use crate::util::Env;

fn entries(env: &Env, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["audit", "list", "-o", "json"];
    all.extend_from_slice(args);
    env.run(&all)
        .ok()
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

cli_test! {
    /// The database itself refuses UPDATE and DELETE on both audit tables.
    fn audit_rows_cannot_be_changed_in_sql(env) {
        env.init();
        let t = "'2026-01-01T00:00:00.000000Z'";
        env.sql(&format!(
            "INSERT INTO settings (key, environment, value, created_at, updated_at) VALUES ('a', 'development', '1', {t}, {t})"
        ))
        .unwrap();
        env.sql(&format!(
            "INSERT INTO settings_audit_log (setting_id, key, environment, action, new_value, version, actor, changed_at) \
             SELECT id, 'a', 'development', 'create', '1', 1, 'tester', {t} FROM settings"
        ))
        .unwrap();
        for sql in [
            "UPDATE audit_events SET actor = 'mallory'",
            "DELETE FROM audit_events",
            "UPDATE settings_audit_log SET actor = 'mallory'",
            "DELETE FROM settings_audit_log",
        ] {
            let err = env.sql(sql).expect_err(sql);
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        if env.db.schema().is_some() {
            let err = env.sql("TRUNCATE audit_events").expect_err("truncate");
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// With the triggers dropped by hand, an altered row breaks the chain: exit 8 naming it.
    fn verify_names_the_altered_entry(env) {
        env.init();
        let ok = env.run(&["audit", "verify", "-o", "json"]).ok().json();
        assert_eq!(ok["ok"], true);
        assert_eq!(ok["entries"], 3);
        if env.db.schema().is_some() {
            env.sql("DROP TRIGGER audit_events_no_update_delete ON audit_events").ok();
            env.sql("ALTER TABLE audit_events DISABLE TRIGGER USER").unwrap();
        } else {
            env.sql("DROP TRIGGER audit_events_no_update").unwrap();
        }
        env.sql("UPDATE audit_events SET actor = 'mallory' WHERE id = 2").unwrap();
        let run = env.run(&["audit", "verify", "-o", "json"]).code(8).stderr_has("entry 2");
        let report = run.json();
        assert_eq!(report["ok"], false);
        assert_eq!(report["first_bad_entry"], 2);
    }
}

cli_test! {
    /// A deleted row (triggers dropped) is caught as a gap in the chain.
    fn verify_catches_a_deleted_entry(env) {
        env.init();
        if env.db.schema().is_some() {
            env.sql("ALTER TABLE audit_events DISABLE TRIGGER USER").unwrap();
        } else {
            env.sql("DROP TRIGGER audit_events_no_delete").unwrap();
        }
        env.sql("DELETE FROM audit_events WHERE id = 2").unwrap();
        env.run(&["audit", "verify"]).code(8).stderr_has("entry 2 is missing");
    }
}

cli_test! {
    /// Filters narrow the list; show and export return the same entries.
    fn list_filters_show_and_export(env) {
        env.init();
        let all = entries(env, &[]);
        assert_eq!(all.len(), 3);
        for e in &all {
            for field in ["id", "occurred_at", "actor", "action", "target_type", "target", "details", "prev_hash", "hash"] {
                assert!(e.get(field).is_some(), "entry lacks {field}: {e}");
            }
            assert_eq!(e["actor"], "tester");
        }
        assert_eq!(all[1]["prev_hash"], all[0]["hash"]);
        assert_eq!(entries(env, &["--action", "db.seed"]).len(), 1);
        assert_eq!(entries(env, &["--action", "db.*"]).len(), 2);
        assert_eq!(entries(env, &["--action", "key."]).len(), 1);
        assert_eq!(entries(env, &["--actor", "tester"]).len(), 3);
        assert_eq!(entries(env, &["--actor", "nobody"]).len(), 0);
        assert_eq!(entries(env, &["--since", "1h"]).len(), 3);
        assert_eq!(entries(env, &["--since", "2999-01-01T00:00:00Z"]).len(), 0);
        let last = entries(env, &["--limit", "1"]);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0]["id"], 3);
        let kid = all[2]["target"].as_str().unwrap();
        assert_eq!(entries(env, &["--target", kid]).len(), 1);
        env.run(&["audit", "list", "--since", "yesterday"]).code(2);

        let shown = env.run(&["audit", "show", "2", "-o", "json"]).ok().json();
        assert_eq!(shown, all[1]);
        env.run(&["audit", "show", "99"]).code(3).stderr_has("99");

        let jsonl = env.run(&["audit", "export"]).ok().stdout;
        let lines: Vec<serde_json::Value> =
            jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, all);
        let array = env.run(&["audit", "export", "--format", "json"]).ok().json();
        assert_eq!(array.as_array().unwrap(), &all);
        let yaml = env.run(&["audit", "list", "-o", "yaml"]).ok().stdout;
        assert!(yaml.contains("action: db.seed"), "{yaml}");
    }
}

cli_test! {
    /// The actor comes from --actor, else KEYWARD_ACTOR, else the login name.
    fn actor_precedence(env) {
        env.vars.push(("KEYWARD_ACTOR".into(), "ci-bot".into()));
        env.run(&["--actor", "alice", "db", "init"]).ok();
        env.run(&["db", "rotate-key", "--new-key-file", env.home.path().join("n.key").to_str().unwrap(), "-y"]).ok();
        let all = entries(env, &[]);
        assert_eq!(all[0]["actor"], "alice");
        assert_eq!(all.last().unwrap()["actor"], "ci-bot");
    }
}

/// Drops the append-only triggers of `audit_events` (and, with `head`, of
/// `audit_head`), as someone with the database's owner role could.
fn drop_triggers(env: &Env, head: bool) {
    if env.db.schema().is_some() {
        env.sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
            .unwrap();
        if head {
            env.sql("ALTER TABLE audit_head DISABLE TRIGGER USER")
                .unwrap();
        }
    } else {
        env.sql("DROP TRIGGER audit_events_no_delete").unwrap();
        if head {
            env.sql("DROP TRIGGER audit_head_forward_only").unwrap();
            env.sql("DROP TRIGGER audit_head_no_delete").unwrap();
        }
    }
}

cli_test! {
    /// Issue 8, item 15: with the triggers dropped, deleting the newest entries,
    /// or every entry, or the first ones, is exit 8 naming the truncation; and
    /// no later write appends over a truncated tail.
    fn verify_detects_a_truncated_chain(env) {
        env.init();
        env.run(&["roles", "add", "one"]).ok();
        env.run(&["roles", "add", "two"]).ok();
        assert_eq!(env.run(&["audit", "verify", "-o", "json"]).ok().json()["entries"], 5);
        drop_triggers(env, false);
        env.sql("DELETE FROM audit_events WHERE id > 3").unwrap();
        let run = env.run(&["audit", "verify", "-o", "json"]).code(8).stderr_has("truncated").stderr_has("entries 4 to 5 are missing");
        assert_eq!(run.json()["ok"], false);
        assert_eq!(run.json()["first_bad_entry"], 4);
        // A write does not paper over the gap: refused, nothing appended.
        env.run(&["roles", "add", "three"]).code(8).stderr_has("audit verify");
        env.run(&["roles", "show", "three"]).code(3);
        assert_eq!(entries(env, &[]).len(), 3);
        env.run(&["audit", "head"]).code(8);

        env.sql("DELETE FROM audit_events").unwrap();
        let run = env.run(&["audit", "verify", "-o", "json"]).code(8).stderr_has("every entry was deleted");
        assert_eq!(run.json()["first_bad_entry"], 1);
    }
}

cli_test! {
    /// Issue 8, item 15: the start of the chain must be entry 1 after the genesis hash.
    fn verify_detects_a_deleted_start(env) {
        env.init();
        drop_triggers(env, false);
        env.sql("DELETE FROM audit_events WHERE id < 3").unwrap();
        let run = env.run(&["audit", "verify", "-o", "json"]).code(8).stderr_has("start of the chain");
        assert_eq!(run.json()["first_bad_entry"], 1);
    }
}

cli_test! {
    /// Issue 8, item 15: `audit head` gives the newest id and hash as an anchor;
    /// `audit verify --anchor` passes while the chain holds that entry and goes
    /// on from it, and fails (exit 8) once the chain was cut or rewritten, even
    /// when the head record was moved back with it.
    fn audit_head_and_verify_anchor(env) {
        env.init();
        let head = env.run(&["audit", "head", "-o", "json"]).ok().json();
        let all = entries(env, &[]);
        assert_eq!(head["id"], 3);
        assert_eq!(head["hash"], all[2]["hash"]);
        let anchor = head["anchor"].as_str().unwrap().to_owned();
        assert_eq!(anchor, format!("3:{}", all[2]["hash"].as_str().unwrap()));
        env.run(&["audit", "verify", "--anchor", &anchor]).ok().stderr_has("continues from anchor");
        env.run(&["roles", "add", "one"]).ok();
        env.run(&["roles", "add", "two"]).ok();
        let later = env.run(&["audit", "head", "-o", "json"]).ok().json();
        assert_eq!(later["id"], 5);
        let later = later["anchor"].as_str().unwrap().to_owned();
        let v = env.run(&["audit", "verify", "--anchor", &anchor, "-o", "json"]).ok().json();
        assert_eq!(v["ok"], true);
        assert_eq!(v["anchor"], later.as_str());
        env.run(&["audit", "verify", "--anchor", &later]).ok();

        // Anchors that do not hold.
        let wrong = format!("3:{}", "ab".repeat(32));
        env.run(&["audit", "verify", "--anchor", &wrong]).code(8).stderr_has("entry 3");
        let beyond = format!("9:{}", "ab".repeat(32));
        env.run(&["audit", "verify", "--anchor", &beyond]).code(8).stderr_has("not in the chain");
        for bad in ["3", "x:y", "3:abc", ""] {
            env.run(&["audit", "verify", "--anchor", bad]).code(2).stderr_has("anchor");
        }

        // The newest entry deleted and the head record moved back with it:
        // the chain alone looks intact, the anchor recorded outside does not.
        drop_triggers(env, true);
        env.sql("DELETE FROM audit_events WHERE id = 5").unwrap();
        env.sql("UPDATE audit_head SET last_id = 4, last_hash = (SELECT hash FROM audit_events WHERE id = 4)").unwrap();
        env.run(&["audit", "verify"]).ok();
        let run = env.run(&["audit", "verify", "--anchor", &later, "-o", "json"]).code(8).stderr_has("truncated");
        assert_eq!(run.json()["first_bad_entry"], 5);
        env.run(&["audit", "verify", "--anchor", &anchor]).ok();

        // The head record deleted: exit 8 naming it.
        env.sql("DELETE FROM audit_head").unwrap();
        env.run(&["audit", "verify"]).code(8).stderr_has("head record");
    }
}

cli_test! {
    /// Issue 8, item 15: the head record's table refuses DELETE and moving back
    /// while its triggers stand; V3 starts it from an existing chain's newest entry.
    fn head_record_is_forward_only_and_starts_from_an_existing_chain(env) {
        env.init();
        for sql in [
            "DELETE FROM audit_head",
            "UPDATE audit_head SET last_id = 1",
        ] {
            let err = env.sql(sql).expect_err(sql);
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
            assert_eq!(err.exit_code(), 8, "{sql}: {err}");
        }
        // A database from before V3: no head record, no lock_reason column.
        env.undo_v4();
        env.sql("DROP TABLE audit_head").unwrap();
        env.sql("ALTER TABLE users DROP COLUMN lock_reason").unwrap();
        env.sql("DELETE FROM refinery_schema_history WHERE version = 3").unwrap();
        env.run(&["audit", "list"]).code(6);
        env.run(&["db", "migrate"]).ok();
        let head = env.run(&["audit", "head", "-o", "json"]).ok().json();
        assert_eq!(head["id"], 4, "the chain's 3 entries, then db.migrate's");
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Issue 8, B8: with `audit_head` dropped (its triggers go with it),
    /// `audit verify`, `audit head` and every write are exit 8 saying the head
    /// record is missing because its table was dropped, not a driver error
    /// (exit 1 on SQLite, "not migrated" exit 6 on PostgreSQL); no write lands.
    fn dropped_audit_head_table_is_exit_8(env) {
        env.init();
        env.run(&["roles", "add", "one"]).ok();
        env.sql("DROP TABLE audit_head").unwrap();
        let want = "the audit head record is missing (table audit_head was dropped)";
        let run = env.run(&["audit", "verify", "-o", "json"]).code(8).stderr_has(want);
        let report = run.json();
        assert_eq!(report["ok"], false);
        assert_eq!(report["entries"], 4);
        assert!(report["problem"].as_str().unwrap().contains(want), "{report}");
        env.run(&["audit", "head"]).code(8).stderr_has(want);
        env.run(&["roles", "add", "two"]).code(8).stderr_has(want);
        env.run(&["settings", "set", "greeting", "hello"]).code(8).stderr_has(want);
        env.run(&["roles", "show", "two"]).code(3);
        assert_eq!(entries(env, &[]).len(), 4, "nothing appended");
    }
}
