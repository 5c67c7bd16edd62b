//! `keyward apikeys create|list|show|revoke|rotate`, and `users delete`
//! taking a user's keys with them, on both backends. The key is shown once
//! (by `create` and `rotate`) and appears nowhere else: not in the database
//! (only its prefix and SHA-256), not in the audit log, not in messages.

use crate::cli_test;
use crate::util::{add_user, at, python, Env, Run};
use serde_json::Value;

const T0: &str = "2026-01-01T00:00:00Z";

/// A fresh database at [`T0`] with `alice` (developer: flags read and write).
fn setup(env: &mut Env) {
    at(env, T0);
    env.init();
    add_user(env, "alice", "developer");
}

fn run_json(env: &Env, args: &[&str]) -> Run {
    let mut all = vec!["apikeys"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    env.run(&all)
}

/// `apikeys create NAME ARGS…`, asserting success; the JSON answer.
fn create(env: &Env, name: &str, args: &[&str]) -> Value {
    let mut all = vec!["create", name];
    all.extend_from_slice(args);
    let run = run_json(env, &all).ok();
    let out = run.json();
    let key = text(&out, "key");
    assert!(!run.stderr.contains(key), "the key is in the message");
    out
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing from {v}"))
}

fn list(env: &Env, all: bool) -> Vec<Value> {
    let args: &[&str] = if all { &["list", "--all"] } else { &["list"] };
    run_json(env, args)
        .ok()
        .json()
        .as_array()
        .expect("list is an array")
        .clone()
}

fn prefixes(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| text(r, "key_prefix").to_owned())
        .collect()
}

fn show(env: &Env, key: &str) -> Value {
    run_json(env, &["show", key]).ok().json()
}

/// The audit entries with `action`, oldest first.
fn events(env: &Env, action: &str) -> Vec<Value> {
    let mut v = env
        .run(&["audit", "list", "--all", "--action", action, "-o", "json"])
        .ok()
        .json()
        .as_array()
        .expect("audit list is an array")
        .clone();
    v.sort_by_key(|e| e["id"].as_i64());
    v
}

/// Whether `key` is `kw_<8>_<38>` in base62 (`^kw_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}$`).
fn well_formed(key: &str) -> bool {
    let b62 = |s: &str| s.bytes().all(|c| c.is_ascii_alphanumeric());
    key.len() == 50
        && key.starts_with("kw_")
        && b62(&key[3..11])
        && key.as_bytes()[11] == b'_'
        && b62(&key[12..])
}

/// The key's checksum as Python's zlib computes it, base62, 6 characters.
fn python_checksum(key: &str) -> String {
    python(
        "import sys,zlib\n\
         A='0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'\n\
         n=zlib.crc32(sys.argv[1][:-6].encode()); s=''\n\
         for _ in range(6): s=A[n%62]+s; n//=62\n\
         print(s)",
        &[key],
    )
}

fn python_sha256(key: &str) -> String {
    python(
        "import sys,hashlib\nprint(hashlib.sha256(sys.argv[1].encode()).hexdigest())",
        &[key],
    )
}

/// How many api_keys rows have a text column containing `needle`.
fn rows_containing(env: &Env, needle: &str) -> i64 {
    let cols = [
        "name",
        "key_prefix",
        "key_hash",
        "permissions",
        "allowed_ips",
        "created_by",
    ];
    let cond: Vec<String> = cols
        .iter()
        .map(|c| format!("{c} LIKE '%{needle}%'"))
        .collect();
    env.sql_text(&format!(
        "SELECT CAST(COUNT(*) AS TEXT) FROM api_keys WHERE {}",
        cond.join(" OR ")
    ))
    .parse()
    .expect("a count")
}

cli_test! {
    /// create prints a well-formed key with a right checksum once; the row
    /// holds its prefix and SHA-256 only; audit, show and list never carry it.
    fn create_shows_the_key_once(env) {
        setup(env);
        let out = create(env, "partner acme", &[
            "--user", "alice",
            "--permission", "flags:read",
            "--permission", "flags:read",
            "--allow-ip", "10.1.2.3/8",
            "--allow-ip", "2001:db8::1",
            "--rate-limit", "10/min",
            "--expires-in", "90d",
        ]);
        let key = text(&out, "key").to_owned();
        assert!(well_formed(&key), "{key}");
        assert_eq!(python_checksum(&key), key[44..]);
        assert!(keyward::crypto::token::check_api_key(&key).is_ok());
        let prefix = text(&out, "key_prefix").to_owned();
        assert_eq!(prefix, key[..11]);
        assert_eq!(text(&out, "name"), "partner acme");
        assert_eq!(text(&out, "user"), "alice");
        assert_eq!(text(&out, "status"), "active");
        assert_eq!(out["permissions"], serde_json::json!(["flags:read"]));
        assert_eq!(out["allowed_ips"], serde_json::json!(["10.0.0.0/8", "2001:db8::1/128"]));
        assert_eq!(out["rate_limit_per_minute"], 10);
        assert!(text(&out, "expires_at").starts_with("2026-04-01T00:00:00"), "{out}");
        assert!(out.get("key_hash").is_none());

        // Stored: the prefix and the hex SHA-256, nothing holding the secret part.
        let stored = env.sql_text(&format!("SELECT key_hash FROM api_keys WHERE key_prefix = '{prefix}'"));
        assert_eq!(stored, python_sha256(&key));
        assert_eq!(rows_containing(env, &key[12..]), 0);
        assert_eq!(rows_containing(env, &prefix), 1);

        // Nowhere else either.
        let secret = &key[12..];
        let export = env.run(&["audit", "export"]).ok();
        assert!(!export.stdout.contains(secret));
        for args in [&["list", "--all"][..], &["show", &prefix][..]] {
            let mut a = vec!["apikeys"];
            a.extend_from_slice(args);
            let table = env.run(&a).ok();
            assert!(!table.stdout.contains(secret) && !table.stderr.contains(secret));
            let json = run_json(env, args).ok();
            assert!(!json.stdout.contains(secret) && !json.stdout.contains(&stored));
        }
        let created = events(env, "apikey.create");
        assert_eq!(created.len(), 1);
        assert_eq!(text(&created[0], "target_type"), "api_key");
        assert_eq!(text(&created[0], "target"), prefix);
        assert_eq!(created[0]["details"]["user"], "alice");
        assert_eq!(created[0]["details"]["permissions"], serde_json::json!(["flags:read"]));

        // A service key, no grants: fine; the two keys differ.
        let other = create(env, "ci", &[]);
        assert!(other["user"].is_null());
        assert_ne!(text(&other, "key"), key);
    }
}

cli_test! {
    /// create refuses bad values (2), unknown users and permissions (3), and
    /// a permission the owner lacks (5), making nothing and auditing nothing.
    fn create_refusals(env) {
        setup(env);
        add_user(env, "victor", "viewer");
        let refused = |args: &[&str], code: i32| {
            let mut all = vec!["create", "k"];
            all.extend_from_slice(args);
            let run = run_json(env, &all).code(code);
            assert!(run.stdout.is_empty(), "{}", run.stdout);
        };
        refused(&["--user", "nobody"], 3);
        refused(&["--permission", "widgets:read"], 3);
        refused(&["--user", "victor", "--permission", "flags:write"], 5);
        refused(&["--user", "alice", "--permission", "users:delete"], 5);
        refused(&["--user", "Not A User"], 2);
        refused(&["--permission", "flags"], 2);
        for bad in ["10.0.0.0/33", "300.1.1.1", "host.example", ""] {
            refused(&["--allow-ip", bad], 2);
        }
        for bad in ["10", "0/min", "10/s", "1000001/min"] {
            refused(&["--rate-limit", bad], 2);
        }
        for bad in ["90x", "0s", "-1d", "4000d"] {
            refused(&["--expires-in", bad], 2);
        }
        assert!(list(env, true).is_empty());
        assert!(events(env, "apikey.create").is_empty());

        // What the owner has is fine, admin-implied or not.
        create(env, "ok", &["--user", "victor", "--permission", "flags:read"]);
        assert_eq!(list(env, false).len(), 1);
    }
}

cli_test! {
    /// list shows active keys in id order (never a key or hash); --all adds
    /// revoked and expired ones, each with its status.
    fn list_filters_revoked_and_expired(env) {
        setup(env);
        let a = create(env, "a", &[]);
        let b = create(env, "b", &["--expires-in", "1h"]);
        let c = create(env, "c", &["--user", "alice", "--permission", "flags:read"]);
        let (pa, pb, pc) = (text(&a, "key_prefix"), text(&b, "key_prefix"), text(&c, "key_prefix"));
        assert_eq!(prefixes(&list(env, false)), [pa, pb, pc]);

        run_json(env, &["revoke", pc, "--yes"]).ok();
        assert_eq!(prefixes(&list(env, false)), [pa, pb]);

        at(env, "2026-01-01T00:59:59Z");
        assert_eq!(prefixes(&list(env, false)), [pa, pb]);
        at(env, "2026-01-01T01:00:00Z");
        assert_eq!(prefixes(&list(env, false)), [pa]);

        let all = list(env, true);
        assert_eq!(prefixes(&all), [pa, pb, pc]);
        let statuses: Vec<&str> = all.iter().map(|r| text(r, "status")).collect();
        assert_eq!(statuses, ["active", "expired", "revoked"]);
        let ids: Vec<i64> = all.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        for r in &all {
            assert!(r.get("key").is_none() && r.get("key_hash").is_none(), "{r}");
            assert!(r.get("last_used_at").is_some() && r.get("failure_count").is_some());
        }
        assert_eq!(all[2]["user"], "alice");
        assert_eq!(all[2]["revoked_reason"], "revoked");
    }
}

cli_test! {
    /// show finds a key by id and by prefix; bad references are usage errors
    /// (a whole key refused without being echoed); absent ones exit 3.
    fn show_by_id_and_prefix(env) {
        setup(env);
        let made = create(env, "svc", &["--permission", "flags:write"]);
        let id = made["id"].as_i64().unwrap().to_string();
        let prefix = text(&made, "key_prefix");
        let by_id = show(env, &id);
        let by_prefix = show(env, prefix);
        assert_eq!(by_id, by_prefix);
        assert_eq!(text(&by_id, "key_prefix"), prefix);
        assert!(by_id.get("key").is_none());
        for field in ["last_used_at", "last_used_ip", "last_failure_at", "rotated_from", "rotated_to"] {
            assert!(by_id[field].is_null(), "{field}: {by_id}");
        }
        assert_eq!(by_id["failure_count"], 0);

        run_json(env, &["show", "999"]).code(3);
        run_json(env, &["show", "kw_00000000"]).code(3);
        for bad in ["0", "abc", "kw_short", "-1"] {
            run_json(env, &["show", bad]).code(2);
        }
        let key = text(&made, "key");
        let whole = run_json(env, &["show", key]).code(2);
        assert!(!whole.stderr.contains(&key[12..]) && !whole.stdout.contains(&key[12..]));

        // The owner disabled: the key's own status is still active.
        let owned = create(env, "mine", &["--user", "alice", "--permission", "flags:read"]);
        env.run(&["users", "update", "alice", "--active", "false"]).ok();
        assert_eq!(show(env, text(&owned, "key_prefix"))["status"], "active");
    }
}

cli_test! {
    /// revoke needs --yes off a terminal; revoking twice changes nothing the
    /// second time and records one event, with the prefix and never the key.
    fn revoke_confirms_and_is_idempotent(env) {
        setup(env);
        let made = create(env, "partner", &["--user", "alice", "--permission", "flags:read"]);
        let prefix = text(&made, "key_prefix");
        let refused = run_json(env, &["revoke", prefix]).code(2);
        assert!(refused.stdout.is_empty());
        assert_eq!(show(env, prefix)["status"], "active");

        run_json(env, &["revoke", "kw_zzzzzzzz", "--yes"]).code(3);
        run_json(env, &["revoke", "nope", "--yes"]).code(2);

        let first = run_json(env, &["revoke", prefix, "--yes"]).ok().json();
        assert_eq!(first["already_revoked"], false);
        assert_eq!(first["status"], "revoked");
        assert_eq!(first["revoked_reason"], "revoked");
        assert!(text(&first, "revoked_at").starts_with("2026-01-01T00:00:00"));
        assert_eq!(text(&first, "key_prefix"), prefix);

        at(env, "2026-01-02T00:00:00Z");
        let id = made["id"].as_i64().unwrap().to_string();
        let second = run_json(env, &["revoke", &id, "--yes"])
            .ok()
            .stderr_has("already revoked");
        let second = second.json();
        assert_eq!(second["already_revoked"], true);
        assert_eq!(second["revoked_at"], first["revoked_at"]);

        let revoked = events(env, "apikey.revoke");
        assert_eq!(revoked.len(), 1);
        let e = &revoked[0];
        assert_eq!(text(e, "target_type"), "api_key");
        assert_eq!(text(e, "target"), prefix);
        assert_eq!(
            e["details"],
            serde_json::json!({"name": "partner", "user": "alice", "reason": "revoked", "was_rotating": false})
        );
        let key = text(&made, "key");
        assert!(!env.run(&["audit", "export"]).ok().stdout.contains(&key[12..]));
    }
}

cli_test! {
    /// rotate makes a key with the same grants and lifetime, links the two
    /// both ways, and the old key stays active until the grace period ends.
    fn rotate_links_and_keeps_the_old_key_for_the_grace(env) {
        setup(env);
        let old = create(env, "partner", &[
            "--user", "alice",
            "--permission", "flags:read",
            "--permission", "flags:write",
            "--allow-ip", "192.0.2.0/24",
            "--rate-limit", "60/min",
            "--expires-in", "30d",
        ]);
        let old_prefix = text(&old, "key_prefix").to_owned();
        let old_id = old["id"].as_i64().unwrap();

        at(env, "2026-01-02T00:00:00Z");
        let run = run_json(env, &["rotate", &old_prefix]).ok();
        let new = run.json();
        let key = text(&new, "key").to_owned();
        assert!(well_formed(&key) && keyward::crypto::token::check_api_key(&key).is_ok());
        assert!(!run.stderr.contains(&key[12..]));
        assert!(run.stderr.contains("works until 2026-01-03T00:00:00"), "{}", run.stderr);
        let new_prefix = text(&new, "key_prefix").to_owned();
        assert_ne!(new_prefix, old_prefix);
        assert_eq!(text(&new, "old_key_works_until"), "2026-01-03T00:00:00.000000Z");
        for same in ["name", "user", "permissions", "allowed_ips", "rate_limit_per_minute"] {
            assert_eq!(new[same], old[same], "{same}");
        }
        assert_eq!(text(&new, "status"), "active");
        assert!(text(&new, "expires_at").starts_with("2026-02-01T00:00:00"), "{new}");
        assert_eq!(new["rotated_from"], old_id);
        assert_eq!(text(&new, "rotated_from_prefix"), old_prefix);
        assert_eq!(
            env.sql_text(&format!("SELECT key_hash FROM api_keys WHERE key_prefix = '{new_prefix}'")),
            python_sha256(&key)
        );

        let old_now = show(env, &old_prefix);
        assert_eq!(old_now["status"], "active");
        assert_eq!(old_now["revoked_reason"], "rotated");
        assert_eq!(text(&old_now, "revoked_at"), "2026-01-03T00:00:00.000000Z");
        assert_eq!(old_now["rotated_to"], new["id"]);
        assert_eq!(text(&old_now, "rotated_to_prefix"), new_prefix);
        let new_now = show(env, &new_prefix);
        assert_eq!(new_now["rotated_from"], old_id);
        assert!(new_now["rotated_to"].is_null());
        assert_eq!(prefixes(&list(env, false)), [old_prefix.clone(), new_prefix.clone()]);

        at(env, "2026-01-02T23:59:59Z");
        assert_eq!(show(env, &old_prefix)["status"], "active");
        at(env, "2026-01-03T00:00:00Z");
        assert_eq!(show(env, &old_prefix)["status"], "revoked");
        assert_eq!(prefixes(&list(env, false)), [new_prefix.as_str()]);

        // One rotate event (no create event for the new key), never the key.
        assert_eq!(events(env, "apikey.create").len(), 1);
        let rotated = events(env, "apikey.rotate");
        assert_eq!(rotated.len(), 1);
        assert_eq!(text(&rotated[0], "target"), old_prefix);
        assert_eq!(
            rotated[0]["details"],
            serde_json::json!({
                "name": "partner",
                "new_prefix": new_prefix,
                "grace": "1d",
                "old_key_works_until": "2026-01-03T00:00:00.000000Z"
            })
        );
        let export = env.run(&["audit", "export"]).ok().stdout;
        assert!(!export.contains(&key[12..]) && !export.contains(&text(&old, "key")[12..]));

        // Rotating the old key again is refused, naming the newer key.
        let again = run_json(env, &["rotate", &old_prefix]).code(4);
        assert!(again.stderr.contains(&new_prefix) && again.stderr.contains("rotate that one"));
        assert!(again.stdout.is_empty());
        // The new one rotates, keeping the name and the chain.
        let third = run_json(env, &["rotate", &new_prefix, "--grace", "1h"]).ok().json();
        assert_eq!(text(&third, "rotated_from_prefix"), new_prefix);
        assert_eq!(text(&third, "old_key_works_until"), "2026-01-03T01:00:00.000000Z");
    }
}

cli_test! {
    /// --grace 0s ends the old key at once; a grace out of range is refused.
    fn rotate_grace_bounds(env) {
        setup(env);
        let old = create(env, "ci", &[]);
        let prefix = text(&old, "key_prefix");
        for bad in ["366d", "1y", "abc", ""] {
            run_json(env, &["rotate", prefix, "--grace", bad]).code(2);
        }
        assert!(show(env, prefix)["rotated_to"].is_null());
        let new = run_json(env, &["rotate", prefix, "--grace", "0s"])
            .ok()
            .stderr_has("revoked now")
            .json();
        assert_eq!(text(&new, "old_key_works_until"), "2026-01-01T00:00:00.000000Z");
        assert!(new["expires_at"].is_null());
        let gone = show(env, prefix);
        assert_eq!(gone["status"], "revoked");
        assert_eq!(gone["revoked_reason"], "rotated");
        assert_eq!(prefixes(&list(env, false)), [text(&new, "key_prefix")]);
        assert_eq!(events(env, "apikey.rotate")[0]["details"]["grace"], "0s");
        // The longest grace is accepted.
        run_json(env, &["rotate", text(&new, "key_prefix"), "--grace", "365d"]).ok();
    }
}

cli_test! {
    /// A revoked key is not rotated (4); an expired one is, with a fresh lifetime.
    fn rotate_revoked_refused_expired_allowed(env) {
        setup(env);
        let revoked = create(env, "r", &[]);
        let rp = text(&revoked, "key_prefix");
        run_json(env, &["revoke", rp, "--yes"]).ok();
        run_json(env, &["rotate", rp]).code(4).stderr_has("revoked");
        run_json(env, &["rotate", "kw_00000000"]).code(3);

        let expiring = create(env, "e", &["--expires-in", "7d"]);
        at(env, "2026-01-10T00:00:00Z");
        let ep = text(&expiring, "key_prefix");
        assert_eq!(show(env, ep)["status"], "expired");
        let new = run_json(env, &["rotate", ep]).ok().json();
        assert_eq!(new["status"], "active");
        assert!(text(&new, "expires_at").starts_with("2026-01-17T00:00:00"), "{new}");
        assert_eq!(events(env, "apikey.rotate").len(), 1);
    }
}

cli_test! {
    /// A rotation checks the grants against the owner again: one who lost a
    /// permission gets no new key (5) and the old key is left as it was.
    fn rotate_rechecks_the_owners_permissions(env) {
        setup(env);
        let old = create(env, "deploy", &["--user", "alice", "--permission", "flags:write"]);
        let prefix = text(&old, "key_prefix");
        env.run(&["roles", "unassign", "developer", "alice", "--yes"]).ok();
        env.run(&["roles", "assign", "viewer", "alice", "--yes"]).ok();
        let before = list(env, true);
        let run = run_json(env, &["rotate", prefix]).code(5);
        assert!(run.stdout.is_empty());
        assert_eq!(list(env, true), before);
        let kept = show(env, prefix);
        assert!(kept["revoked_at"].is_null() && kept["rotated_to"].is_null());
        assert!(events(env, "apikey.rotate").is_empty());
    }
}

cli_test! {
    /// Revoking a rotated key in its grace period ends the grace now.
    fn revoke_ends_a_grace_period(env) {
        setup(env);
        let old = create(env, "ci", &[]);
        let prefix = text(&old, "key_prefix");
        let new = run_json(env, &["rotate", prefix, "--grace", "2h"]).ok().json();
        at(env, "2026-01-01T00:30:00Z");
        let done = run_json(env, &["revoke", prefix, "--yes"]).ok().json();
        assert_eq!(done["already_revoked"], false);
        assert_eq!(done["status"], "revoked");
        assert_eq!(done["revoked_reason"], "revoked");
        assert_eq!(text(&done, "revoked_at"), "2026-01-01T00:30:00.000000Z");
        assert_eq!(done["rotated_to"], new["id"]);
        let e = &events(env, "apikey.revoke")[0];
        assert_eq!(e["details"]["was_rotating"], true);
        assert!(e["details"]["user"].is_null());
        assert_eq!(prefixes(&list(env, false)), [text(&new, "key_prefix")]);
        // Still refused as a rotation source: it was rotated already.
        run_json(env, &["rotate", prefix]).code(4).stderr_has("rotate that one");
    }
}

cli_test! {
    /// users delete takes the user's keys (any state) and says how many in its audit event.
    fn users_delete_takes_their_keys(env) {
        setup(env);
        let a = create(env, "a", &["--user", "alice", "--permission", "flags:read"]);
        create(env, "b", &["--user", "alice"]);
        let service = create(env, "svc", &[]);
        run_json(env, &["revoke", text(&a, "key_prefix"), "--yes"]).ok();
        env.run(&["users", "delete", "alice", "--yes"]).ok();
        let deleted = events(env, "user.delete");
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0]["details"]["api_keys_deleted"], 2);
        assert_eq!(prefixes(&list(env, true)), [text(&service, "key_prefix")]);
        run_json(env, &["show", text(&a, "key_prefix")]).code(3);

        add_user(env, "bob", "viewer");
        env.run(&["users", "delete", "bob", "--yes"]).ok();
        assert_eq!(events(env, "user.delete")[1]["details"]["api_keys_deleted"], 0);
    }
}
