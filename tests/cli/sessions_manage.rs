//! `keyward sessions list|show|revoke|revoke-all`, and the users verbs that
//! end a user's sessions (`passwd`, `lock`, `update --active false`,
//! `delete`), on both backends. The lockout after failed passwords ends none.

use crate::cli_test;
use crate::util::{add_user, at, Env, Run};
use serde_json::Value;

const PW: &str = "correct horse battery staple 9\n";
const NEW_PW: &str = "another long passphrase of mine 7\n";

/// Logs `name` in with `password` and extra flags; returns the token response.
fn login_with(env: &Env, name: &str, password: &str, extra: &[&str]) -> Value {
    let mut args = vec!["sessions", "login", name, "--password-stdin", "-o", "json"];
    args.extend_from_slice(extra);
    env.run_with_stdin(&args, Some(password)).ok().json()
}

fn login(env: &Env, name: &str) -> Value {
    login_with(env, name, PW, &[])
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing from {v}"))
}

/// `sessions verify` of an access token: `None` when valid, else the reason (exit 5).
fn verify(env: &Env, tokens: &Value) -> Option<String> {
    let run = env.run_with_stdin(
        &["sessions", "verify", "--token-stdin", "-o", "json"],
        Some(&format!("{}\n", text(tokens, "access_token"))),
    );
    if run.code == 0 {
        assert_eq!(run.json()["valid"], true);
        return None;
    }
    let out = run.code(5).json();
    assert_eq!(out["valid"], false);
    Some(text(&out, "reason").to_owned())
}

/// `sessions refresh` with a token response's refresh token.
fn refresh(env: &Env, tokens: &Value) -> Run {
    env.run_with_stdin(
        &["sessions", "refresh", "--token-stdin", "-o", "json"],
        Some(&format!("{}\n", text(tokens, "refresh_token"))),
    )
}

fn list(env: &Env, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["sessions", "list", "-o", "json"];
    args.extend_from_slice(extra);
    env.run(&args).ok().json().as_array().unwrap().clone()
}

fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

fn sid(tokens: &Value) -> i64 {
    tokens["session_id"].as_i64().unwrap()
}

/// One session as `show` reports it.
fn show(env: &Env, id: i64) -> Value {
    env.run(&["sessions", "show", &id.to_string(), "-o", "json"])
        .ok()
        .json()
}

/// Why a session was revoked, as `show` says.
fn reason_of(env: &Env, tokens: &Value) -> String {
    text(&show(env, sid(tokens)), "revoked_reason").to_owned()
}

/// Every audit entry with this action.
fn events(env: &Env, action: &str) -> Vec<Value> {
    env.run(&["audit", "list", "--all", "--action", action, "-o", "json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// The newest audit entry with this action.
fn last_event(env: &Env, action: &str) -> Value {
    events(env, action)
        .pop()
        .unwrap_or_else(|| panic!("no {action} event"))
}

/// Asserts no token of `tokens` (nor the stored hash of a refresh token) is in `text`.
fn assert_no_secret(text: &str, tokens: &[&Value], hashes: &[String]) {
    for t in tokens {
        for field in ["access_token", "refresh_token"] {
            let secret = t[field].as_str().unwrap();
            assert!(!text.contains(secret), "{field} leaked into:\n{text}");
        }
    }
    for h in hashes {
        assert!(
            !text.contains(h.as_str()),
            "a refresh hash leaked into:\n{text}"
        );
    }
    assert!(
        !text.contains("kwr_"),
        "a refresh token leaked into:\n{text}"
    );
    assert!(!text.contains("refresh_hash"), "{text}");
}

cli_test! {
    /// `list` shows the active sessions newest first, `--all` adds the
    /// expired and revoked ones, `--user` filters (a user that does not
    /// exist is exit 3, a malformed name exit 2); `show` gives one session
    /// with its user's roles now (exit 3 unknown, exit 2 not a number).
    fn list_and_show(env) {
        env.init();
        at(env, "2030-01-01T00:00:00Z");
        add_user(env, "alice", "viewer");
        add_user(env, "bob", "operator");
        let a1 = login_with(env, "alice", PW, &["--device", "laptop", "--ip", "203.0.113.7"]);
        let a2 = login(env, "alice");
        let b1 = login_with(env, "bob", PW, &["--refresh-ttl", "1h", "--ttl", "15m"]);

        let active = list(env, &[]);
        assert_eq!(ids(&active), vec![sid(&b1), sid(&a2), sid(&a1)], "newest first");
        assert!(active.iter().all(|s| s["status"] == "active"));

        // Two hours on, bob's session has ended: gone from the default list, kept with --all.
        at(env, "2030-01-01T02:00:00Z");
        assert_eq!(ids(&list(env, &[])), vec![sid(&a2), sid(&a1)]);
        let all = list(env, &["--all"]);
        assert_eq!(ids(&all), vec![sid(&b1), sid(&a2), sid(&a1)]);
        assert_eq!(all[0]["status"], "expired");
        assert_eq!(all[0]["revoked_reason"], Value::Null);

        // A revoked one too.
        env.run(&["sessions", "revoke", &sid(&a2).to_string(), "--yes"]).ok();
        assert_eq!(ids(&list(env, &[])), vec![sid(&a1)]);
        let all = list(env, &["--all"]);
        assert_eq!(all[1]["status"], "revoked");
        assert_eq!(all[1]["revoked_reason"], "revoked");

        // --user.
        assert_eq!(ids(&list(env, &["--user", "alice"])), vec![sid(&a1)]);
        assert_eq!(ids(&list(env, &["--user", "alice", "--all"])), vec![sid(&a2), sid(&a1)]);
        assert!(list(env, &["--user", "bob"]).is_empty());
        assert_eq!(ids(&list(env, &["--user", "bob", "--all"])), vec![sid(&b1)]);
        env.run(&["sessions", "list", "--user", "nobody"]).code(3).stderr_has("user 'nobody' not found");
        env.run(&["sessions", "list", "--user", "Bad Name!"]).code(2).stderr_has("username");

        // show: the fields, and the user's roles now.
        let s = show(env, sid(&a1));
        assert_eq!(s["id"], sid(&a1));
        assert_eq!(s["username"], "alice");
        assert_eq!(s["status"], "active");
        assert_eq!(s["device"], "laptop");
        assert_eq!(s["ip_address"], "203.0.113.7");
        assert!(text(&s, "created_at").starts_with("2030-01-01T00:00:00"), "{s}");
        assert_eq!(s["expires_at"], a1["expires_at"]);
        assert_eq!(s["refresh_expires_at"], a1["refresh_expires_at"]);
        assert_eq!(s["refresh_count"], 0);
        assert_eq!(s["revoked_at"], Value::Null);
        assert_eq!(s["roles"], serde_json::json!(["viewer"]));
        env.run(&["roles", "assign", "operator", "alice"]).ok();
        assert_eq!(show(env, sid(&a1))["roles"], serde_json::json!(["operator", "viewer"]));
        let s = show(env, sid(&b1));
        assert_eq!(s["status"], "expired");
        assert_eq!(s["roles"], serde_json::json!(["operator"]));
        env.run(&["sessions", "show", "999999"]).code(3).stderr_has("session 999999 not found");
        env.run(&["sessions", "show", "abc"]).code(2).stderr_has("not a session id");
        env.run(&["sessions", "show", "-o", "json", "--", "-4"]).code(2);

        // The table forms work too and hold no token.
        let table = env.run(&["sessions", "list", "--all"]).ok().stdout;
        assert!(table.contains("laptop") && table.contains("expired"), "{table}");
        assert_no_secret(&table, &[&a1, &a2, &b1], &[]);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// `revoke ID` needs --yes off a terminal; once revoked, the session's
    /// access token is refused (`revoked`) and its refresh token too; one
    /// `session.revoke` event records it. Revoking it again is exit 0, says
    /// so, and records nothing; an unknown id is exit 3.
    fn revoke_one(env) {
        env.init();
        add_user(env, "alice", "viewer");
        let a1 = login(env, "alice");
        let a2 = login(env, "alice");
        let id = sid(&a1).to_string();

        env.run(&["sessions", "revoke", &id]).code(2).stderr_has("--yes");
        assert_eq!(verify(env, &a1), None, "not revoked without --yes");
        assert!(events(env, "session.revoke").is_empty());

        let run = env.run(&["sessions", "revoke", &id, "--yes", "-o", "json"]).ok();
        let out = run.json();
        assert_eq!(out["id"], sid(&a1));
        assert_eq!(out["status"], "revoked");
        assert_eq!(out["revoked_reason"], "revoked");
        assert_eq!(out["already_revoked"], false);
        assert!(out["revoked_at"].is_string());
        assert!(run.stderr.contains(&format!("revoked session {id} of 'alice'")), "{}", run.stderr);

        assert_eq!(verify(env, &a1).as_deref(), Some("revoked"));
        let denied = refresh(env, &a1).code(5).json();
        assert_eq!(denied["reason"], "revoked");
        assert_eq!(verify(env, &a2), None, "the other session is untouched");
        refresh(env, &a2).ok();

        let revokes = events(env, "session.revoke");
        assert_eq!(revokes.len(), 1);
        assert_eq!(revokes[0]["target_type"], "session");
        assert_eq!(revokes[0]["target"], id.as_str());
        assert_eq!(revokes[0]["details"], serde_json::json!({"username": "alice", "reason": "revoked"}));

        // Again: exit 0, already revoked, nothing new in the audit log.
        let again = env.run(&["sessions", "revoke", &id, "--yes", "-o", "json"]).ok();
        assert_eq!(again.json()["already_revoked"], true);
        assert_eq!(again.json()["revoked_at"], out["revoked_at"]);
        assert!(again.stderr.contains("already revoked"), "{}", again.stderr);
        assert_eq!(events(env, "session.revoke").len(), 1);

        env.run(&["sessions", "revoke", "999999", "--yes"]).code(3).stderr_has("session 999999 not found");
        env.run(&["sessions", "revoke", "999999"]).code(3);
        env.run(&["sessions", "revoke", "x1", "--yes"]).code(2);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// `revoke-all USER` needs --yes, revokes every active session of the
    /// user (reason `revoke_all`) with one `session.revoke_all` event, and
    /// leaves other users' sessions alone; with none left it revokes 0,
    /// exit 0, and records nothing.
    fn revoke_all(env) {
        env.init();
        add_user(env, "alice", "viewer");
        add_user(env, "bob", "viewer");
        let a1 = login(env, "alice");
        let a2 = login(env, "alice");
        let b1 = login(env, "bob");

        env.run(&["sessions", "revoke-all", "alice"]).code(2).stderr_has("--yes");
        assert_eq!(verify(env, &a1), None);

        let out = env.run(&["sessions", "revoke-all", "alice", "--yes", "-o", "json"]).ok().json();
        assert_eq!(out, serde_json::json!({"username": "alice", "revoked": 2, "session_ids": [sid(&a1), sid(&a2)]}));
        for t in [&a1, &a2] {
            assert_eq!(verify(env, t).as_deref(), Some("revoked"));
            assert_eq!(refresh(env, t).code(5).json()["reason"], "revoked");
        }
        assert_eq!(verify(env, &b1), None);
        for s in list(env, &["--user", "alice", "--all"]) {
            assert_eq!(s["status"], "revoked");
            assert_eq!(s["revoked_reason"], "revoke_all");
        }

        let ev = events(env, "session.revoke_all");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["target_type"], "user");
        assert_eq!(ev[0]["target"], "alice");
        assert_eq!(ev[0]["details"], serde_json::json!({"count": 2, "session_ids": [sid(&a1), sid(&a2)]}));

        let none = env.run(&["sessions", "revoke-all", "alice", "--yes", "-o", "json"]).ok();
        assert_eq!(none.json(), serde_json::json!({"username": "alice", "revoked": 0, "session_ids": []}));
        assert!(none.stderr.contains("nothing revoked"), "{}", none.stderr);
        assert_eq!(events(env, "session.revoke_all").len(), 1);

        env.run(&["sessions", "revoke-all", "nobody", "--yes"]).code(3).stderr_has("user 'nobody' not found");
        env.run(&["sessions", "revoke-all", "No!", "--yes"]).code(2);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// `users passwd`, `lock` and `update --active false` revoke the user's
    /// sessions (reasons password_changed, user_locked, user_disabled) and
    /// count them in their audit event; `delete` takes them away with the
    /// user. `unlock`, `update --active true` and `update --email` end none.
    fn user_changes_end_sessions(env) {
        env.init();
        add_user(env, "alice", "viewer");
        add_user(env, "bob", "viewer");
        let bob = login(env, "bob");

        // passwd.
        let s1 = login(env, "alice");
        let s2 = login(env, "alice");
        let out = env.run_with_stdin(&["users", "passwd", "alice", "--password-stdin", "-o", "json"], Some(NEW_PW)).ok().json();
        assert_eq!(out["sessions_revoked"], 2);
        for t in [&s1, &s2] {
            assert_eq!(verify(env, t).as_deref(), Some("revoked"));
            assert_eq!(reason_of(env, t), "password_changed");
            refresh(env, t).code(5);
        }
        assert_eq!(last_event(env, "user.password_change")["details"]["sessions_revoked"], 2);

        // update --email and unlock end nothing.
        let s3 = login_with(env, "alice", NEW_PW, &[]);
        env.run(&["users", "update", "alice", "--email", "alice2@example.com"]).ok();
        env.run(&["users", "unlock", "alice"]).ok();
        env.run(&["users", "update", "alice", "--active", "true"]).ok();
        assert_eq!(verify(env, &s3), None);

        // lock (for a while): revoked; unlock brings nothing back.
        let out = env.run(&["users", "lock", "alice", "--for", "1h", "-o", "json"]).ok();
        assert!(out.stderr.contains("revoked 1 session"), "{}", out.stderr);
        assert_eq!(verify(env, &s3).as_deref(), Some("revoked"));
        assert_eq!(reason_of(env, &s3), "user_locked");
        let lock = last_event(env, "user.lock");
        assert_eq!(lock["details"]["sessions_revoked"], 1);
        env.run(&["users", "unlock", "alice"]).ok();
        assert_eq!(verify(env, &s3).as_deref(), Some("revoked"));

        // update --active false: revoked; --active true afterwards revives nothing.
        let s4 = login_with(env, "alice", NEW_PW, &[]);
        let out = env.run(&["users", "update", "alice", "--active", "false", "-o", "json"]).ok();
        assert_eq!(out.json()["is_active"], false);
        assert_eq!(verify(env, &s4).as_deref(), Some("revoked"));
        assert_eq!(reason_of(env, &s4), "user_disabled");
        let upd = last_event(env, "user.update");
        assert_eq!(upd["details"]["sessions_revoked"], 1);
        assert_eq!(upd["details"]["is_active"], serde_json::json!({"from": true, "to": false}));
        env.run(&["users", "update", "alice", "--active", "true"]).ok();
        assert_eq!(verify(env, &s4).as_deref(), Some("revoked"));
        assert!(last_event(env, "user.update")["details"].get("sessions_revoked").is_none());

        // delete: the sessions go with the user.
        let s5 = login_with(env, "alice", NEW_PW, &[]);
        let out = env.run(&["users", "delete", "alice", "--yes", "-o", "json"]).ok().json();
        assert_eq!(out["sessions_revoked"], 1);
        assert_eq!(last_event(env, "user.delete")["details"]["sessions_revoked"], 1);
        assert_eq!(verify(env, &s5).as_deref(), Some("unknown_session"));
        assert_eq!(refresh(env, &s5).code(5).json()["reason"], "unknown");
        env.run(&["sessions", "show", &sid(&s5).to_string()]).code(3);
        let all = list(env, &["--all"]);
        assert!(all.iter().all(|s| s["username"] == "bob"), "{all:?}");
        env.run(&["sessions", "list", "--user", "alice"]).code(3).stderr_has("user 'alice' not found");

        // Bob was never touched.
        assert_eq!(verify(env, &bob), None);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Five wrong passwords lock the account, but its sessions live on: a
    /// lockout anyone can cause by knowing a username must not log its owner
    /// out. (An operator's `users lock` does end them.)
    fn lockout_keeps_sessions(env) {
        env.init();
        add_user(env, "alice", "viewer");
        let s = login(env, "alice");
        for _ in 0..5 {
            env.run_with_stdin(&["sessions", "login", "alice", "--password-stdin"], Some("wrong password here\n")).code(5);
        }
        let user = env.run(&["users", "show", "alice", "-o", "json"]).ok().json();
        assert_eq!(user["locked"], true);
        assert_eq!(user["lock_reason"], "failed_attempts");
        env.run_with_stdin(&["sessions", "login", "alice", "--password-stdin"], Some(PW)).code(5).stderr_has("locked");

        assert_eq!(verify(env, &s), None);
        let listed = list(env, &["--user", "alice"]);
        assert_eq!(ids(&listed), vec![sid(&s)]);
        assert_eq!(listed[0]["status"], "active");
        assert_eq!(listed[0]["revoked_reason"], Value::Null);
        let next = refresh(env, &s).ok().json();
        assert_eq!(verify(env, &next), None);
        assert!(events(env, "session.revoke_all").is_empty());
        assert!(events(env, "session.revoke").is_empty());
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// No access token, refresh token or refresh hash appears in what list,
    /// show, revoke and revoke-all print (tables, JSON, YAML, stderr), nor in
    /// the audit log; the chain verifies.
    fn no_token_or_hash_anywhere(env) {
        env.init();
        add_user(env, "alice", "viewer");
        let a1 = login(env, "alice");
        let a2 = login(env, "alice");
        let a3 = refresh(env, &a2).ok().json();
        let hashes: Vec<String> = [sid(&a1), sid(&a2)]
            .iter()
            .map(|id| env.sql_text(&format!("SELECT refresh_hash FROM sessions WHERE id = {id}")))
            .collect();
        assert!(hashes.iter().all(|h| h.len() == 64), "{hashes:?}");
        let id1 = sid(&a1).to_string();
        let mut outputs = Vec::new();
        for format in ["table", "json", "yaml"] {
            for args in [
                vec!["sessions", "list"],
                vec!["sessions", "list", "--all", "--user", "alice"],
                vec!["sessions", "show", id1.as_str()],
            ] {
                let mut args = args.clone();
                args.extend(["-o", format]);
                let run = env.run(&args).ok();
                outputs.push(run.stdout);
                outputs.push(run.stderr);
            }
        }
        for args in [
            vec!["sessions", "revoke", id1.as_str(), "--yes", "-o", "json"],
            vec!["sessions", "revoke", id1.as_str(), "--yes"],
            vec!["sessions", "revoke-all", "alice", "--yes", "-o", "yaml"],
            vec!["sessions", "list", "--all", "-o", "json"],
            vec!["audit", "export"],
            vec!["audit", "export", "--format", "json"],
            vec!["audit", "list", "--all", "-o", "json"],
        ] {
            let run = env.run(&args).ok();
            outputs.push(run.stdout);
            outputs.push(run.stderr);
        }
        for out in &outputs {
            assert_no_secret(out, &[&a1, &a2, &a3], &hashes);
        }
        let export = env.run(&["audit", "export", "--format", "json"]).ok().json();
        let actions: Vec<&str> = export.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for a in ["session.create", "session.refresh", "session.revoke", "session.revoke_all"] {
            assert!(actions.contains(&a), "{a} missing from {actions:?}");
        }
        env.run(&["audit", "verify"]).ok();
    }
}
