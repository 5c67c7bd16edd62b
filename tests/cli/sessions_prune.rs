//! `keyward sessions prune`: what goes at a cutoff, dry runs, confirmation,
//! the audit event, retired signing keys, batches, two prunes at once, and a
//! prune killed part way.

use crate::cli_test;
use crate::util::{at, Env, Run};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery staple 9\n";

fn add_alice(env: &Env) {
    env.run_with_stdin(
        &[
            "users",
            "add",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        Some(PW),
    )
    .ok();
}

/// Logs alice in with extra flags; returns the token response.
fn login(env: &Env, extra: &[&str]) -> Value {
    let mut args = vec![
        "sessions",
        "login",
        "alice",
        "--password-stdin",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    env.run_with_stdin(&args, Some(PW)).ok().json()
}

/// One integer read with raw SQL, bypassing keyward.
fn sql_int(env: &Env, sql: &str) -> i64 {
    let mut store = env.db.open_raw();
    keyward::store::read(store.as_mut(), |c| c.query_one(sql, &[])?.int(0)).expect(sql)
}

fn sessions_left(env: &Env) -> i64 {
    sql_int(env, "SELECT COUNT(*) FROM sessions")
}

/// Inserts `n` of alice's sessions straight into the table, access tokens
/// named `{prefix}-1`…, with the given stored timestamps (SQL literals).
fn bulk(env: &Env, n: u32, prefix: &str, (expires, refresh, revoked): (&str, &str, &str)) {
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO sessions (user_id, access_jti, created_at, expires_at, refresh_expires_at, revoked_at) \
         SELECT u.id, '{prefix}-' || n.i, '2030-01-01T00:00:00.000000Z', {expires}, {refresh}, {revoked} \
         FROM n, users u WHERE u.username = 'alice'"
    );
    assert_eq!(env.sql(&sql).unwrap(), u64::from(n), "{sql}");
}

/// `n` sessions that ended at 00:15 (no refresh token), never revoked.
fn bulk_ended(env: &Env, n: u32, prefix: &str) {
    bulk(
        env,
        n,
        prefix,
        ("'2030-01-01T00:15:00.000000Z'", "NULL", "NULL"),
    );
}

fn prune(env: &Env, extra: &[&str]) -> Run {
    let mut args = vec!["sessions", "prune", "-o", "json"];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn prune_events(env: &Env) -> Vec<Value> {
    env.run(&["audit", "list", "--action", "session.prune", "-o", "json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn audit_and_health_pass(env: &Env) {
    env.run(&["audit", "verify", "-o", "json"]).ok();
    env.run(&["db", "health", "-o", "json"]).ok();
}

cli_test! {
    /// Ended sessions (refresh expiry) and revoked ones go once the cutoff
    /// passes them; --older-than keeps recent ones; --dry-run only counts;
    /// without --yes nothing happens; each run records one event.
    fn prunes_ended_and_revoked_sessions_at_the_cutoff(env) {
        env.init();
        add_alice(env);
        at(env, "2030-01-01T00:00:00Z");
        let ends_1h = login(env, &["--refresh-ttl", "1h"]);
        let ends_2h = login(env, &["--refresh-ttl", "2h"]);
        let revoked = login(env, &[]);
        let active = login(env, &[]);
        let ended_and_revoked = login(env, &["--refresh-ttl", "1h"]);
        for (s, when) in [(&revoked, "00:30"), (&ended_and_revoked, "00:40")] {
            env.sql(&format!(
                "UPDATE sessions SET revoked_at = '2030-01-01T{when}:00.000000Z', revoked_reason = 'revoked' WHERE id = {}",
                s["session_id"]
            )).unwrap();
        }
        at(env, "2030-01-01T03:00:00Z");

        // Cutoff 01:30: the session that ended at 01:00 and the two revoked before it.
        let dry = prune(env, &["--older-than", "90m", "--dry-run"]).ok().json();
        assert_eq!(dry["deleted"], 3);
        assert_eq!(dry["batches"], 1);
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["cutoff"], "2030-01-01T01:30:00.000000Z");
        assert_eq!(sessions_left(env), 5, "a dry run deletes nothing");
        assert!(prune_events(env).is_empty(), "a dry run records nothing");

        // Off a terminal, --yes is required.
        prune(env, &["--older-than", "90m"]).code(2).stderr_has("--yes");
        assert_eq!(sessions_left(env), 5);

        let done = prune(env, &["--older-than", "90m", "--yes"]).ok().json();
        assert_eq!(done["deleted"], 3);
        assert_eq!(done["batches"], 1);
        assert_eq!(done["dry_run"], false);
        let left = |id: &Value| sql_int(env, &format!("SELECT COUNT(*) FROM sessions WHERE id = {id}"));
        assert_eq!(left(&ends_1h["session_id"]), 0);
        assert_eq!(left(&revoked["session_id"]), 0);
        assert_eq!(left(&ended_and_revoked["session_id"]), 0);
        assert_eq!(left(&ends_2h["session_id"]), 1, "ended 1 h ago, kept by --older-than 90m");
        assert_eq!(left(&active["session_id"]), 1);

        // The default cutoff is now: the one that ended at 02:00 goes, the active one stays.
        let done = prune(env, &["-y"]).ok().json();
        assert_eq!(done["deleted"], 1);
        assert_eq!(left(&ends_2h["session_id"]), 0);
        assert_eq!(left(&active["session_id"]), 1);

        // Nothing left to prune: exit 0, deleted 0.
        let none = prune(env, &["-y"]).ok().json();
        assert_eq!(none["deleted"], 0);
        assert_eq!(none["batches"], 0);
        env.run(&["sessions", "prune", "-y"]).ok().stderr_has("nothing to prune");

        // One event per run, each with its own count.
        let events = prune_events(env);
        let counts: Vec<&Value> = events.iter().map(|e| &e["details"]["deleted"]).collect();
        assert_eq!(counts, [&Value::from(3), &Value::from(1), &Value::from(0), &Value::from(0)]);
        assert_eq!(events[0]["target_type"], "session");
        assert_eq!(events[0]["details"]["cutoff"], "2030-01-01T01:30:00.000000Z");
        assert_eq!(events[0]["details"]["older_than"], "1h30m");
        audit_and_health_pass(env);
    }
}

cli_test! {
    /// A retired signing key stays in the JWKS while a token it signed may be
    /// valid (expiry plus the 30 s leeway), then prune removes it.
    fn retired_signing_key_leaves_the_jwks_once_its_tokens_expire(env) {
        env.init();
        add_alice(env);
        at(env, "2030-01-01T00:00:00Z");
        login(env, &["--ttl", "15m"]);
        at(env, "2030-01-01T00:01:00Z");
        let rotated = env.run(&["sessions", "rotate-signing-key", "-o", "json"]).ok().json();
        let old = rotated["retired_kid"].as_str().unwrap().to_owned();
        let kids = |env: &Env| -> Vec<String> {
            env.run(&["sessions", "jwks", "-o", "json"]).ok().json()["keys"]
                .as_array().unwrap().iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
        };
        assert!(kids(env).contains(&old));

        // The token it signed expires at 00:15; with the leeway it may verify until 00:15:30.
        for when in ["2030-01-01T00:10:00Z", "2030-01-01T00:15:20Z"] {
            at(env, when);
            let dry = prune(env, &["--dry-run"]).ok().json();
            assert_eq!(dry["signing_keys_removed"], 0, "{when}");
            let done = prune(env, &["-y"]).ok().json();
            assert_eq!(done["signing_keys_removed"], 0, "{when}");
            assert!(kids(env).contains(&old), "{when}");
        }
        at(env, "2030-01-01T00:16:00Z");
        assert_eq!(prune(env, &["--dry-run"]).ok().json()["signing_keys_removed"], 1);
        assert!(kids(env).contains(&old), "a dry run keeps the key");
        let done = prune(env, &["-y"]).ok().json();
        assert_eq!(done["signing_keys_removed"], 1);
        assert_eq!(done["deleted"], 0, "alice's session lasts 7 days");
        assert_eq!(kids(env), vec![rotated["kid"].as_str().unwrap().to_owned()]);
        let event = prune_events(env).pop().unwrap();
        assert_eq!(event["details"]["signing_keys"], serde_json::json!([old]));
        audit_and_health_pass(env);
    }
}

cli_test! {
    /// Batches hold at most --batch-size rows, ended sessions first and then
    /// revoked ones to fill; the flag is checked.
    fn batches_follow_the_batch_size(env) {
        env.init();
        add_alice(env);
        bulk_ended(env, 25, "ended");
        // Revoked at 00:30, ending in 2031: pruned for the revocation alone.
        bulk(env, 5, "revoked", (
            "'2031-01-01T00:00:00.000000Z'",
            "'2031-01-01T00:00:00.000000Z'",
            "'2030-01-01T00:30:00.000000Z'",
        ));
        bulk(env, 4, "active", ("'2031-01-01T00:00:00.000000Z'", "'2031-01-01T00:00:00.000000Z'", "NULL"));
        at(env, "2030-01-01T01:00:00Z");
        for bad in ["0", "100001", "-1", "ten"] {
            prune(env, &["--batch-size", bad, "-y"]).code(2);
        }
        assert_eq!(sessions_left(env), 34);

        let dry = prune(env, &["--batch-size", "10", "--dry-run"]).ok().json();
        assert_eq!((dry["deleted"].as_u64(), dry["batches"].as_u64()), (Some(30), Some(3)));
        let done = prune(env, &["--batch-size", "10", "-y"]).ok().json();
        assert_eq!((done["deleted"].as_u64(), done["batches"].as_u64()), (Some(30), Some(3)));
        assert!(done["longest_batch_ms"].as_u64().is_some());
        assert_eq!(sessions_left(env), 4);
        env.run(&["sessions", "prune", "-y"]).ok().stderr_has("nothing to prune");

        bulk_ended(env, 7, "more");
        let done = prune(env, &["--batch-size", "1", "-y"]).ok().json();
        assert_eq!((done["deleted"].as_u64(), done["batches"].as_u64()), (Some(7), Some(7)));
        let event = prune_events(env).pop().unwrap();
        assert_eq!(event["details"]["batches"], 7);
        assert_eq!(event["details"]["batch_size"], 1);
    }
}

cli_test! {
    /// Two prunes started together (cron on two hosts) delete each row once:
    /// their counts add up to what was prunable, and each records its own.
    fn two_prunes_at_once_delete_each_row_once(env) {
        env.init();
        add_alice(env);
        bulk_ended(env, 3000, "ended");
        bulk(env, 10, "active", ("'2031-01-01T00:00:00.000000Z'", "NULL", "NULL"));
        at(env, "2030-01-01T01:00:00Z");
        let start = || {
            env.command(&["sessions", "prune", "--batch-size", "25", "-y", "-o", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("keyward starts")
        };
        let (a, b) = (start(), start());
        let mut deleted = 0;
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let json: Value = serde_json::from_slice(&out.stdout).unwrap();
            deleted += json["deleted"].as_u64().unwrap();
        }
        assert_eq!(deleted, 3000);
        assert_eq!(sessions_left(env), 10);
        let events = prune_events(env);
        assert_eq!(events.len(), 2);
        let recorded: u64 = events.iter().map(|e| e["details"]["deleted"].as_u64().unwrap()).sum();
        assert_eq!(recorded, 3000);
        audit_and_health_pass(env);
    }
}

/// Waits until no other connection holds a lock on this schema's sessions
/// table (a killed client's PostgreSQL backend rolls back when it notices).
fn wait_for_rollback(env: &Env) {
    if env.db.schema().is_none() {
        return;
    }
    let started = Instant::now();
    while sql_int(
        env,
        "SELECT COUNT(*) FROM pg_locks WHERE relation = 'sessions'::regclass AND pid <> pg_backend_pid()",
    ) > 0
    {
        assert!(started.elapsed() < Duration::from_secs(30), "the killed prune's transaction lingers");
        std::thread::sleep(Duration::from_millis(10));
    }
}

cli_test! {
    /// A prune killed with SIGKILL part way leaves only whole batches
    /// deleted; the audit chain and the database stay sound, and a re-run
    /// deletes the rest and records its own count.
    fn killed_prune_leaves_whole_batches_and_a_rerun_finishes(env) {
        const TOTAL: i64 = 30_000;
        // Batches long enough that the kill most likely lands inside one.
        const BATCH: i64 = 500;
        env.init();
        add_alice(env);
        bulk_ended(env, TOTAL as u32, "ended");
        at(env, "2030-01-01T01:00:00Z");
        let batch = BATCH.to_string();
        let mut child = env
            .command(&["sessions", "prune", "--batch-size", &batch, "-y", "-o", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("keyward starts");
        // Kill it once some batches have committed.
        let mut store = env.db.open_raw();
        let started = Instant::now();
        loop {
            let left = keyward::store::read(store.as_mut(), |c| {
                c.query_one("SELECT COUNT(*) FROM sessions", &[])?.int(0)
            })
            .unwrap();
            if left < TOTAL - 2 * BATCH {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "prune made no progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(store);
        // Most likely inside the next batch by now.
        std::thread::sleep(Duration::from_millis(3));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the prune finished before it was killed: give it more rows");
        wait_for_rollback(env);

        let left = sessions_left(env);
        assert!(left > 0, "the prune finished before it was killed: give it more rows");
        assert_eq!((TOTAL - left) % BATCH, 0, "{} rows deleted: a partial batch", TOTAL - left);
        assert!(prune_events(env).is_empty(), "a killed prune records no event");
        audit_and_health_pass(env);

        let rerun = prune(env, &["-y"]).ok().json();
        assert_eq!(rerun["deleted"].as_i64(), Some(left));
        assert_eq!(sessions_left(env), 0);
        let events = prune_events(env);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["details"]["deleted"].as_i64(), Some(left));
        audit_and_health_pass(env);
    }
}

cli_test! {
    /// A table spanning many storage pages, expired and live sessions
    /// interleaved (a PostgreSQL prune running alone walks the heap page by
    /// page): every expired one goes, every live one stays, and batches keep
    /// to --batch-size across page boundaries.
    fn many_pages_interleaved(env) {
        env.init();
        add_alice(env);
        for round in 0..4 {
            bulk_ended(env, 700, &format!("ended{round}"));
            bulk(env, 50, &format!("live{round}"), ("'2031-01-01T00:00:00.000000Z'", "'2031-01-01T00:00:00.000000Z'", "NULL"));
        }
        at(env, "2030-01-01T01:00:00Z");
        let done = prune(env, &["--batch-size", "300", "-y"]).ok().json();
        assert_eq!((done["deleted"].as_u64(), done["batches"].as_u64()), (Some(2800), Some(10)));
        assert_eq!(sessions_left(env), 200);
        assert_eq!(
            sql_int(env, "SELECT COUNT(*) FROM sessions WHERE access_jti LIKE 'live%'"),
            200
        );
        prune(env, &["-y"]).ok().stderr_has("nothing to prune");
    }
}
