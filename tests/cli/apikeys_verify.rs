//! `keyward apikeys verify`, on both backends: every refusal reason and its
//! exit code, the offline checks with no database, the owner's state and
//! permissions read at verification, allowlists (IPv4, IPv6, IPv4-mapped),
//! the per-minute rate limit under 50 concurrent processes, and that a key
//! is never echoed.

use crate::cli_test;
use crate::util::{add_user, at, Env, Run};
use keyward::crypto::token;
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

const T0: &str = "2026-01-01T00:00:00Z";

/// `apikeys create NAME extra… -o json`: the key and its record.
fn create(env: &Env, name: &str, extra: &[&str]) -> (String, Value) {
    let mut args = vec!["apikeys", "create", name, "-o", "json"];
    args.extend_from_slice(extra);
    let out = env.run(&args).ok().json();
    let key = out["key"].as_str().expect("key").to_owned();
    (key, out)
}

/// `apikeys verify --key-stdin extra… -o json` fed `key`.
fn verify(env: &Env, key: &str, extra: &[&str]) -> Run {
    let mut args = vec!["apikeys", "verify", "--key-stdin", "-o", "json"];
    args.extend_from_slice(extra);
    env.run_with_stdin(&args, Some(&format!("{key}\n")))
}

/// Asserts `key` appears nowhere in a run's output (nor its secret part).
#[track_caller]
fn not_echoed(run: &Run, key: &str) {
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains(key), "key echoed: {out}");
        if key.len() > 30 {
            assert!(!out.contains(&key[12..]), "secret part echoed: {out}");
        }
    }
}

/// Asserts a refusal (exit 5, exactly `{valid, reason, retry_after}`) and returns it.
#[track_caller]
fn refused(run: Run, key: &str) -> Value {
    not_echoed(&run, key);
    let out = run.code(5).json();
    let fields: Vec<&str> = out
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields.len(), 3, "{out}");
    assert_eq!(out["valid"], false);
    assert!(out.get("retry_after").is_some(), "{out}");
    out
}

/// The reason of a refused verification (`retry_after` null unless rate limited).
#[track_caller]
fn reason(env: &Env, key: &str, extra: &[&str]) -> String {
    let run = verify(env, key, extra);
    let stderr = run.stderr.clone();
    let out = refused(run, key);
    let r = out["reason"].as_str().expect("reason").to_owned();
    assert!(
        stderr.contains(&format!("API key refused: {r}")),
        "stderr: {stderr}"
    );
    if r != "rate_limited" {
        assert_eq!(out["retry_after"], Value::Null);
    }
    r
}

/// A valid verification's JSON (exit 0).
#[track_caller]
fn valid(env: &Env, key: &str, extra: &[&str]) -> Value {
    let run = verify(env, key, extra).ok();
    assert!(!run.stdout.contains(&key[12..]), "key echoed");
    let out = run.json();
    assert_eq!(out["valid"], true);
    out
}

fn show(env: &Env, prefix: &str) -> Value {
    env.run(&["apikeys", "show", prefix, "-o", "json"])
        .ok()
        .json()
}

fn prefix(key: &str) -> &str {
    &key[..11]
}

/// A well-formed key with a right checksum: `kw_<id>_<secret>`.
fn forged(id: &str, secret: &str) -> String {
    let body = format!("kw_{id}_{secret}");
    let sum = token::checksum(&body);
    format!("{body}{sum}")
}

cli_test! {
    /// Item 3: a malformed or mistyped key is refused before any database is
    /// opened: with an unreachable PostgreSQL URL and a SQLite path that
    /// cannot exist, the refusal is exit 5 (not 6), and the key is not echoed.
    /// A well-formed key does need the database (exit 6 there).
    fn offline_refusals_need_no_database(env) {
        let good = forged("AbCd1234", &"x".repeat(32));
        let mut bad_sum = good.clone();
        let last = bad_sum.pop().unwrap();
        bad_sum.push(if last == 'A' { 'B' } else { 'A' });
        let malformed = [
            "helloQuux7",
            "kw_short_ZqSecret9",
            "kw_AbCd1234-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "kw_AbCd1234_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx!",
            "kwr_AbCd1234xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ];
        let unreachable = [
            "postgres://nobody@127.0.0.1:1/x?sslmode=disable".to_owned(),
            format!("sqlite://{}/no/such/dir/k.db", env.home.path().display()),
        ];
        for url in &unreachable {
            let db = ["--database-url", url.as_str()];
            for m in malformed {
                assert_eq!(reason(env, m, &db), "malformed", "{m}");
            }
            let mut longer = good.clone();
            longer.push('Z');
            assert_eq!(reason(env, &longer, &db), "malformed");
            assert_eq!(reason(env, &bad_sum, &db), "bad_checksum");
            // With the flags too: they are checked, the store still not opened.
            assert_eq!(
                reason(env, &bad_sum, &["--database-url", url, "--ip", "::1", "--permission", "settings:read"]),
                "bad_checksum"
            );
            // Table output: no table, the reason on stderr.
            let run = env.run_with_stdin(
                &["apikeys", "verify", "--key-stdin", "--database-url", url],
                Some(&format!("{bad_sum}\n")),
            );
            not_echoed(&run, &bad_sum);
            let run = run.code(5).stderr_has("bad_checksum");
            assert_eq!(run.stdout, "");
            // The right shape and checksum: now the database is needed.
            let run = verify(env, &good, &db);
            not_echoed(&run, &good);
            run.code(6);
        }
    }
}

cli_test! {
    /// A valid key: exit 0, its record re-read after the use (last use and IP
    /// recorded, as `show` reports), and its owner with roles and the key's
    /// permissions the owner still has; a service key has no owner.
    fn valid_key_records_its_use(env) {
        env.init();
        at(env, T0);
        add_user(env, "alice", "developer");
        let (key, made) = create(env, "deploy bot", &["--user", "alice", "--permission", "settings:read", "--permission", "flags:write"]);
        assert_eq!(made["last_used_at"], Value::Null);
        at(env, "2026-01-01T00:10:00Z");
        let run = verify(env, &key, &["--ip", "203.0.113.9", "--permission", "settings:read"]).ok();
        assert!(
            run.stderr.contains(&format!("valid: API key {} (deploy bot) of 'alice'", prefix(&key))),
            "{}",
            run.stderr
        );
        let out = run.json();
        assert_eq!(out["valid"], true);
        assert_eq!(out["key"]["id"], made["id"]);
        assert_eq!(out["key"]["key_prefix"], prefix(&key));
        assert_eq!(out["key"]["status"], "active");
        assert_eq!(out["key"]["last_used_at"], "2026-01-01T00:10:00.000000Z");
        assert_eq!(out["key"]["last_used_ip"], "203.0.113.9");
        assert!(out["key"].get("key").is_none() && out["key"].get("key_hash").is_none());
        assert_eq!(out["owner"]["username"], "alice");
        assert_eq!(out["owner"]["roles"], serde_json::json!(["developer"]));
        assert_eq!(out["owner"]["permissions"], serde_json::json!(["flags:write", "settings:read"]));
        let shown = show(env, prefix(&key));
        assert_eq!(shown["last_used_at"], "2026-01-01T00:10:00.000000Z");
        assert_eq!(shown["last_used_ip"], "203.0.113.9");
        assert_eq!(shown["failure_count"], 0);

        // Without --ip: the use is recorded with no address.
        at(env, "2026-01-01T00:11:00Z");
        let out = valid(env, &key, &[]);
        assert_eq!(out["key"]["last_used_at"], "2026-01-01T00:11:00.000000Z");
        assert_eq!(out["key"]["last_used_ip"], Value::Null);

        // Table output works too (exit 0), and never shows the key.
        let run = env.run_with_stdin(&["apikeys", "verify", "--key-stdin"], Some(&format!("{key}\n"))).ok();
        assert!(!run.stdout.contains(&key[12..]));

        let (svc, _) = create(env, "service", &["--permission", "settings:read"]);
        let run = verify(env, &svc, &["--permission", "settings:read"]).ok();
        assert!(run.stderr.contains("(service)"), "{}", run.stderr);
        assert_eq!(run.json()["owner"], Value::Null);
        // Verification appends nothing to the audit log.
        let before = crate::util::audit_count(env);
        valid(env, &svc, &[]);
        assert_eq!(crate::util::audit_count(env), before);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// `unknown`: no key has the prefix (nothing to count), or the key with
    /// that prefix has another secret (counted on that key).
    fn unknown_keys(env) {
        env.init();
        at(env, T0);
        let (key, _) = create(env, "ci", &[]);
        let stranger = forged("Zz9Zz9Zz", &"q".repeat(32));
        assert_eq!(reason(env, &stranger, &[]), "unknown");
        let same_prefix = forged(&key[3..11], &"q".repeat(32));
        assert_eq!(reason(env, &same_prefix, &[]), "unknown");
        let shown = show(env, prefix(&key));
        assert_eq!(shown["failure_count"], 1);
        assert_eq!(shown["last_failure_reason"], "unknown");
        assert_eq!(shown["last_failure_at"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(shown["last_used_at"], Value::Null);
        // The real key still works.
        valid(env, &key, &[]);
    }
}

cli_test! {
    /// `revoked`: a key revoked now, and a rotated key that works through its
    /// grace period and fails with `revoked` when it ends; `expired` at its
    /// expiry (set with --expires-in). Each refusal is counted.
    fn revoked_rotated_and_expired(env) {
        env.init();
        at(env, T0);
        let (old, made) = create(env, "rotated", &[]);
        env.sql(&format!(
            "UPDATE api_keys SET revoked_at = '2026-01-01T01:00:00.000000Z', revoked_reason = 'rotated' WHERE id = {}",
            made["id"]
        ))
        .unwrap();
        at(env, "2026-01-01T00:59:59Z");
        assert_eq!(valid(env, &old, &[])["key"]["status"], "active");
        at(env, "2026-01-01T01:00:00Z");
        assert_eq!(reason(env, &old, &[]), "revoked");
        let shown = show(env, prefix(&old));
        assert_eq!(shown["failure_count"], 1);
        assert_eq!(shown["last_failure_reason"], "revoked");
        assert_eq!(shown["last_failure_at"], "2026-01-01T01:00:00.000000Z");
        assert_eq!(shown["last_used_at"], "2026-01-01T00:59:59.000000Z");

        at(env, T0);
        let (gone, made) = create(env, "revoked", &[]);
        env.sql(&format!(
            "UPDATE api_keys SET revoked_at = '2026-01-01T00:00:00.000000Z', revoked_reason = 'revoked' WHERE id = {}",
            made["id"]
        ))
        .unwrap();
        assert_eq!(reason(env, &gone, &[]), "revoked");

        let (short, _) = create(env, "short lived", &["--expires-in", "1h"]);
        at(env, "2026-01-01T00:59:59Z");
        valid(env, &short, &[]);
        at(env, "2026-01-01T01:00:00Z");
        assert_eq!(reason(env, &short, &[]), "expired");
        assert_eq!(show(env, prefix(&short))["last_failure_reason"], "expired");
    }
}

cli_test! {
    /// Allowlists: IPv4 and IPv6 networks, IPv4-mapped addresses matched as
    /// IPv4 (and recorded so), no --ip refused for a key that has a list, a
    /// bad --ip or --permission refused with exit 2 before the key is read.
    fn ip_allowlists(env) {
        env.init();
        at(env, T0);
        let (key, _) = create(env, "office", &["--allow-ip", "10.0.0.0/8", "--allow-ip", "2001:db8::/32"]);
        assert_eq!(valid(env, &key, &["--ip", "10.1.2.3"])["key"]["last_used_ip"], "10.1.2.3");
        assert_eq!(valid(env, &key, &["--ip", "::ffff:10.9.9.9"])["key"]["last_used_ip"], "10.9.9.9");
        assert_eq!(valid(env, &key, &["--ip", "2001:db8:ffff::7"])["key"]["last_used_ip"], "2001:db8:ffff::7");
        for ip in ["11.0.0.1", "::ffff:11.0.0.1", "2001:db9::1", "::1"] {
            assert_eq!(reason(env, &key, &["--ip", ip]), "ip_not_allowed", "{ip}");
        }
        assert_eq!(reason(env, &key, &[]), "ip_not_allowed");
        let shown = show(env, prefix(&key));
        assert_eq!(shown["failure_count"], 5);
        assert_eq!(shown["last_failure_reason"], "ip_not_allowed");

        // A key without a list accepts any address, IPv6 included.
        let (open, _) = create(env, "anywhere", &[]);
        assert_eq!(valid(env, &open, &["--ip", "2001:DB8::1"])["key"]["last_used_ip"], "2001:db8::1");

        for bad in ["10.0.0.300", "10.0.0.0/8", "host.example", ""] {
            let run = verify(env, &key, &["--ip", bad]);
            not_echoed(&run, &key);
            run.code(2).stderr_has("--ip");
        }
        for bad in ["settings", "settings:fly", "Settings:read"] {
            let run = verify(env, &key, &["--ip", "10.0.0.1", "--permission", bad]);
            not_echoed(&run, &key);
            run.code(2).stderr_has("permission");
        }
        // None of those counted as a verification of the key.
        assert_eq!(show(env, prefix(&key))["failure_count"], 5);
    }
}

cli_test! {
    /// Permissions: what the key holds (`resource:admin` implies read, write,
    /// delete) and what its owner still has now: a permission the owner loses
    /// after the key was made (a role's grant revoked, a role unassigned)
    /// stops the key being used for it.
    fn permissions_follow_the_owner(env) {
        env.init();
        at(env, T0);
        env.run(&["roles", "add", "deployer"]).ok();
        env.run(&["roles", "grant", "deployer", "settings:admin", "flags:read", "audit:read"]).ok();
        env.run(&["roles", "add", "reader"]).ok();
        env.run(&["roles", "grant", "reader", "settings:read"]).ok();
        add_user(env, "bob", "reader");
        env.run(&["roles", "assign", "deployer", "bob"]).ok();
        let (key, _) = create(env, "bob's deploys", &["--user", "bob", "--permission", "settings:admin", "--permission", "flags:read"]);
        for p in ["settings:read", "settings:write", "settings:delete", "settings:admin", "flags:read"] {
            valid(env, &key, &["--permission", p]);
        }
        for p in ["flags:write", "audit:read", "users:read", "nosuch:read"] {
            assert_eq!(reason(env, &key, &["--permission", p]), "permission_absent", "{p}");
        }
        let out = valid(env, &key, &[]);
        assert_eq!(out["owner"]["permissions"], serde_json::json!(["flags:read", "settings:admin"]));
        assert_eq!(out["owner"]["roles"], serde_json::json!(["deployer", "reader"]));

        // Service key: only what it holds.
        let (svc, _) = create(env, "svc", &["--permission", "settings:admin"]);
        valid(env, &svc, &["--permission", "settings:delete"]);
        assert_eq!(reason(env, &svc, &["--permission", "flags:read"]), "permission_absent");

        // The owner loses flags:read.
        env.run(&["roles", "revoke", "deployer", "flags:read", "--yes"]).ok();
        assert_eq!(reason(env, &key, &["--permission", "flags:read"]), "permission_absent");
        let out = valid(env, &key, &[]);
        assert_eq!(out["owner"]["permissions"], serde_json::json!(["settings:admin"]));
        valid(env, &key, &["--permission", "settings:write"]);

        // The owner loses the role: settings:admin goes with it; the reader
        // role still reads settings, which the key's admin covers.
        env.run(&["roles", "unassign", "deployer", "bob", "--yes"]).ok();
        assert_eq!(reason(env, &key, &["--permission", "settings:write"]), "permission_absent");
        assert_eq!(reason(env, &key, &["--permission", "settings:admin"]), "permission_absent");
        valid(env, &key, &["--permission", "settings:read"]);
        // With no permission asked for, the key still verifies (its owner is active).
        let out = valid(env, &key, &[]);
        assert_eq!(out["owner"]["roles"], serde_json::json!(["reader"]));
        assert_eq!(out["owner"]["permissions"], serde_json::json!(["settings:read"]));
        let shown = show(env, prefix(&key));
        assert_eq!(shown["last_failure_reason"], "permission_absent");
    }
}

cli_test! {
    /// The owner's state, read at each verification: disabled or locked by
    /// an operator stops the key (`owner_inactive`); the lockout after failed
    /// passwords does not; a deleted owner takes the key with it (`unknown`).
    fn owner_state(env) {
        env.init();
        add_user(env, "alice", "developer");
        let (key, _) = create(env, "alice's", &["--user", "alice", "--permission", "settings:read"]);
        valid(env, &key, &["--permission", "settings:read"]);

        env.run(&["users", "update", "alice", "--active", "false"]).ok();
        assert_eq!(reason(env, &key, &[]), "owner_inactive");
        // The IP and permission checks come before the owner's state (the
        // issue's order): a permission the key lacks is that, whoever owns it.
        assert_eq!(reason(env, &key, &["--permission", "users:delete"]), "permission_absent");
        assert_eq!(reason(env, &key, &["--permission", "settings:read"]), "owner_inactive");
        env.run(&["users", "update", "alice", "--active", "true"]).ok();
        valid(env, &key, &[]);

        env.run(&["users", "lock", "alice"]).ok();
        assert_eq!(reason(env, &key, &["--permission", "settings:read"]), "owner_inactive");
        env.run(&["users", "unlock", "alice"]).ok();
        valid(env, &key, &[]);

        for _ in 0..5 {
            env.run_with_stdin(&["users", "check-password", "alice", "--password-stdin"], Some("wrong password here\n")).code(5);
        }
        let user = env.run(&["users", "show", "alice", "-o", "json"]).ok().json();
        assert_eq!(user["locked"], true);
        assert_eq!(user["lock_reason"], "failed_attempts");
        valid(env, &key, &["--permission", "settings:read"]);
        let shown = show(env, prefix(&key));
        assert_eq!(shown["failure_count"], 4);
        assert_eq!(shown["last_failure_reason"], "owner_inactive");

        env.run(&["users", "delete", "alice", "--yes"]).ok();
        assert_eq!(reason(env, &key, &[]), "unknown");
        env.run(&["apikeys", "show", prefix(&key)]).code(3);
    }
}

/// Starts `n` verifications of `key` at once (each a process of the real
/// binary, all started before any is given the key) and returns their
/// exit codes and stdout.
fn concurrent(env: &Env, key: &str, n: usize) -> Vec<(i32, String, String)> {
    let mut children: Vec<_> = (0..n)
        .map(|_| {
            let mut cmd = env.command(&["apikeys", "verify", "--key-stdin", "-o", "json"]);
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in &mut children {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{key}\n").as_bytes()).unwrap();
    }
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect()
}

cli_test! {
    /// Item 3: of 50 concurrent verifications (separate processes) of a key
    /// limited to 10/min, exactly 10 succeed and 40 are `rate_limited` with
    /// the seconds to the next minute; that minute the key works again.
    fn rate_limit_under_concurrency(env) {
        env.init();
        at(env, T0);
        let (key, _) = create(env, "limited", &["--rate-limit", "10/min"]);
        at(env, "2026-01-01T00:05:10Z");
        let outs = concurrent(env, &key, 50);
        let mut ok = 0;
        let mut limited = 0;
        for (code, stdout, stderr) in &outs {
            assert!(!stdout.contains(&key[12..]) && !stderr.contains(&key[12..]));
            match code {
                0 => ok += 1,
                5 => {
                    let v: Value = serde_json::from_str(stdout).unwrap();
                    assert_eq!(v["reason"], "rate_limited", "{stdout}");
                    assert_eq!(v["retry_after"], 50, "{stdout}");
                    limited += 1;
                }
                other => panic!("exit {other}\n{stdout}\n{stderr}"),
            }
        }
        assert_eq!((ok, limited), (10, 40));
        let shown = show(env, prefix(&key));
        assert_eq!(shown["failure_count"], 40);
        assert_eq!(shown["last_failure_reason"], "rate_limited");
        assert_eq!(shown["last_used_at"], "2026-01-01T00:05:10.000000Z");

        // Still this minute: refused.
        at(env, "2026-01-01T00:05:59Z");
        let out = refused(verify(env, &key, &[]), &key);
        assert_eq!(out["reason"], "rate_limited");
        assert_eq!(out["retry_after"], 1);
        // The next minute: ten more.
        at(env, "2026-01-01T00:06:00Z");
        for _ in 0..10 {
            valid(env, &key, &[]);
        }
        let out = refused(verify(env, &key, &[]), &key);
        assert_eq!(out["retry_after"], 60);
        // Refusals for other reasons use no slot.
        at(env, "2026-01-01T00:07:00Z");
        let (ip_key, _) = create(env, "limited office", &["--rate-limit", "2/min", "--allow-ip", "10.0.0.0/8"]);
        for _ in 0..3 {
            assert_eq!(reason(env, &ip_key, &["--ip", "11.0.0.1"]), "ip_not_allowed");
        }
        valid(env, &ip_key, &["--ip", "10.0.0.1"]);
        valid(env, &ip_key, &["--ip", "10.0.0.1"]);
        assert_eq!(reason(env, &ip_key, &["--ip", "10.0.0.1"]), "rate_limited");
    }
}

cli_test! {
    /// `retry_after` with a fixed clock: the whole seconds to the next minute.
    fn retry_after_counts_to_the_next_minute(env) {
        env.init();
        at(env, "2026-03-01T10:20:42.250Z");
        let (key, _) = create(env, "one a minute", &["--rate-limit", "1/min"]);
        valid(env, &key, &[]);
        let run = verify(env, &key, &[]);
        let stderr = run.stderr.clone();
        let out = refused(run, &key);
        assert_eq!(out["reason"], "rate_limited");
        assert_eq!(out["retry_after"], 18);
        assert!(stderr.contains("retry in 18 s"), "{stderr}");
        at(env, "2026-03-01T10:21:00Z");
        valid(env, &key, &[]);
    }
}

cli_test! {
    /// The key comes from stdin only: without --key-stdin and no terminal,
    /// exit 2. What a client sent is judged, not a usage error: nothing, a
    /// blank line, a line too long for a key or not UTF-8 is `malformed`.
    fn key_comes_from_stdin(env) {
        env.init();
        let (key, _) = create(env, "ci", &[]);
        env.run(&["apikeys", "verify", "-o", "json"]).code(2).stderr_has("--key-stdin");
        env.run_with_stdin(&["apikeys", "verify", "-o", "json"], Some(&format!("{key}\n"))).code(2);
        let long = "k".repeat(20_000);
        for sent in ["", "\n", "   \n", long.as_str()] {
            let out = refused(env.run_with_stdin(&["apikeys", "verify", "--key-stdin", "-o", "json"], Some(sent)), &key);
            assert_eq!(out["reason"], "malformed", "{sent:?}");
        }
        // Surrounding whitespace is trimmed.
        env.run_with_stdin(&["apikeys", "verify", "--key-stdin"], Some(&format!("  {key}  \r\n"))).ok();
        assert_eq!(show(env, prefix(&key))["failure_count"], 0);
    }
}

cli_test! {
    /// Two hosts whose clocks are two seconds apart across the turn of a
    /// minute share one window: the one behind counts against the window the
    /// other started instead of resetting it, so the limit holds.
    fn rate_window_never_moves_back(env) {
        env.init();
        at(env, T0);
        let (key, _) = create(env, "skewed", &["--rate-limit", "2/min"]);
        let mut passed = 0;
        for i in 0..20 {
            at(env, if i % 2 == 0 { "2030-03-01T00:00:59Z" } else { "2030-03-01T00:01:01Z" });
            if verify(env, &key, &[]).code == 0 {
                passed += 1;
            }
        }
        // At most 2 in the 00:00 window and 2 in the 00:01 window.
        assert!(passed <= 4, "{passed} of 20 passed");
        // A window stored far ahead (a clock far off, a row edited by hand)
        // is replaced rather than blocking the key until then.
        env.sql(&format!(
            "UPDATE api_keys SET rate_window_start = {}, rate_window_count = 2 WHERE key_prefix = '{}'",
            if env.db.schema().is_some() { "'2999-01-01T00:00:00Z'" } else { "'2999-01-01T00:00:00.000000Z'" },
            prefix(&key)
        ))
        .unwrap();
        at(env, "2030-03-01T00:05:00Z");
        valid(env, &key, &[]);
    }
}

cli_test! {
    /// An IPv4-mapped IPv6 network given to --allow-ip is the IPv4 network.
    fn mapped_networks_are_ipv4(env) {
        env.init();
        let (key, out) = create(env, "mapped", &["--allow-ip", "::ffff:10.0.0.0/104"]);
        assert_eq!(out["allowed_ips"], serde_json::json!(["10.0.0.0/8"]));
        valid(env, &key, &["--ip", "10.1.2.3"]);
        valid(env, &key, &["--ip", "::ffff:10.1.2.3"]);
        assert_eq!(reason(env, &key, &["--ip", "11.1.2.3"]), "ip_not_allowed");
        env.run(&["apikeys", "create", "octal", "--allow-ip", "010.0.0.0/8"]).code(2);
    }
}

cli_test! {
    /// A row edited behind keyward's back is reported naming the key.
    fn a_broken_row_is_named(env) {
        env.init();
        let (key, out) = create(env, "broken", &[]);
        let id = out["id"].as_i64().unwrap();
        env.sql(&format!("UPDATE api_keys SET permissions = '[1]' WHERE id = {id}")).unwrap();
        let run = env.run(&["apikeys", "list"]);
        assert_eq!(run.code, 8, "{}", run.stderr);
        assert!(run.stderr.contains(&format!("API key {id} ({})", prefix(&key))), "{}", run.stderr);
        assert_eq!(verify(env, &key, &[]).code, 8);
    }
}

cli_test! {
    /// A time PostgreSQL stores but keyward cannot read (infinity) is an
    /// integrity error naming the key (exit 8), not an internal one.
    fn an_unreadable_time_is_an_integrity_error(env) {
        env.init();
        let (key, out) = create(env, "forever", &[]);
        let id = out["id"].as_i64().unwrap();
        if env.db.schema().is_some() {
            env.sql(&format!("UPDATE api_keys SET revoked_at = 'infinity' WHERE id = {id}")).unwrap();
            let run = env.run(&["apikeys", "show", prefix(&key)]);
            assert_eq!(run.code, 8, "{}", run.stderr);
            assert!(run.stderr.contains("revoked_at"), "{}", run.stderr);
        }
    }
}
