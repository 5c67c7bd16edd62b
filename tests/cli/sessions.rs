//! `keyward sessions` core (issue 9, items 1, 4, 5 and 7): login, refresh-token
//! rotation and reuse detection, the signing keys and the JWKS, upgrades,
//! kill safety and secrecy, on both backends; `sessions_verify.rs` checks
//! access tokens. The helpers here build tokens and forgeries by hand.

use crate::cli_test;
use crate::support::Backend;
pub(crate) use crate::util::at;
use crate::util::{audit_count, totp_code, Env, Run};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub(crate) const PW: &str = "correct horse battery staple 9\n";
/// The test clock's usual "now", and the same instant in Unix seconds.
pub(crate) const T0: &str = "2030-01-01T00:00:00Z";
pub(crate) const T0_UNIX: i64 = 1_893_456_000;

pub(crate) fn add_user(env: &Env, name: &str, roles: &[&str]) {
    let email = format!("{name}@example.com");
    let mut args = vec!["users", "add", name, "--email", &email, "--password-stdin"];
    for r in roles {
        args.extend(["--role", r]);
    }
    env.run_with_stdin(&args, Some(PW)).ok();
}

/// `sessions login USER --password-stdin -o json` with `extra` flags.
pub(crate) fn login_with(env: &Env, user: &str, pw: &str, extra: &[&str]) -> Run {
    let mut args = vec!["sessions", "login", user, "--password-stdin", "-o", "json"];
    args.extend_from_slice(extra);
    env.run_with_stdin(&args, Some(pw))
}

/// A successful login's token response.
pub(crate) fn login(env: &Env, user: &str) -> Value {
    login_with(env, user, PW, &[]).ok().json()
}

pub(crate) fn verify(env: &Env, token: &str) -> Run {
    env.run_with_stdin(
        &["sessions", "verify", "--token-stdin", "-o", "json"],
        Some(&format!("{token}\n")),
    )
}

/// Asserts that verify refuses `token` with exit 5 and `reason`.
#[track_caller]
pub(crate) fn refused(env: &Env, token: &str, reason: &str) -> Run {
    let run = verify(env, token).code(5);
    assert_eq!(
        run.json(),
        json!({"valid": false, "reason": reason}),
        "{token}"
    );
    assert!(
        run.stderr
            .contains(&format!("access token refused: {reason}")),
        "{}",
        run.stderr
    );
    run
}

pub(crate) fn refresh(env: &Env, token: &str) -> Run {
    env.run_with_stdin(
        &["sessions", "refresh", "--token-stdin", "-o", "json"],
        Some(&format!("{token}\n")),
    )
}

pub(crate) fn jwks(env: &Env) -> Value {
    env.run(&["sessions", "jwks", "-o", "json"]).ok().json()
}

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

pub(crate) fn set_var(env: &mut Env, key: &str, value: &str) {
    env.vars.retain(|(k, _)| k != key);
    env.vars.push((key.into(), value.into()));
}

pub(crate) fn unset_var(env: &mut Env, key: &str) {
    env.vars.retain(|(k, _)| k != key);
}

/// RFC 3339 text of a Unix time.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The Unix time of an RFC 3339 text.
pub(crate) fn unix(text: &str) -> i64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .unix_timestamp()
}

/// One integer from raw SQL, behind keyward's back.
pub(crate) fn sql_int(env: &Env, sql: &str) -> i64 {
    let mut store = env.db.open_raw();
    keyward::store::read(store.as_mut(), |c| c.query_one(sql, &[])?.int(0)).expect(sql)
}

/// One optional text from raw SQL.
pub(crate) fn sql_opt_text(env: &Env, sql: &str) -> Option<String> {
    let mut store = env.db.open_raw();
    keyward::store::read(store.as_mut(), |c| c.query_one(sql, &[])?.opt_text(0)).expect(sql)
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token's header and payload as JSON, and its encoded signature.
pub(crate) fn parts(token: &str) -> (Value, Value, String) {
    let p: Vec<&str> = token.split('.').collect();
    assert_eq!(p.len(), 3, "{token}");
    let json_of = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    (json_of(p[0]), json_of(p[1]), p[2].to_owned())
}

/// A compact JWS from a header, a payload and an encoded signature.
pub(crate) fn forge(header: &Value, payload: &Value, sig: &str) -> String {
    format!(
        "{}.{}.{sig}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    )
}

/// HS256 over `header`.`payload` keyed with `key`: what an attacker who
/// confuses a public key for an HMAC secret would send.
pub(crate) fn hs256(header: &Value, payload: &Value, key: &[u8]) -> String {
    use hmac::Mac as _;
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// Lowercase hex SHA-256 (how refresh tokens are stored).
pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The CRC-32 (IEEE) of `body` in base62, left-padded to six (SPEC §3).
pub(crate) fn crc_base62(body: &str) -> String {
    let mut n = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; 6];
    for d in out.iter_mut().rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// Asserts a refresh token is `^kwr_[0-9A-Za-z]{38}$` with a good checksum.
#[track_caller]
pub(crate) fn assert_refresh_token(t: &str) {
    let rest = t.strip_prefix("kwr_").unwrap_or_else(|| panic!("{t}"));
    assert_eq!(rest.len(), 38, "{t}");
    assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{t}");
    assert_eq!(crc_base62(&t[..36]), t[36..], "checksum of {t}");
}

/// A well-formed refresh token (good checksum) of family `family`.
pub(crate) fn refresh_token_of(family: &str) -> String {
    let body = format!("kwr_{family}{}", "x".repeat(32 - family.len()));
    format!("{body}{}", crc_base62(&body))
}

/// RFC 7638 thumbprint of an Ed25519 JWK.
pub(crate) fn thumbprint(x: &str) -> String {
    b64(&Sha256::digest(format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#
    )))
}

/// The audit events with `action`, oldest first.
pub(crate) fn events(env: &Env, action: &str) -> Vec<Value> {
    env.run(&["audit", "list", "--all", "--action", action, "-o", "json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) fn session_count(env: &Env) -> i64 {
    sql_int(env, "SELECT COUNT(*) FROM sessions")
}

pub(crate) fn failed_attempts(env: &Env, user: &str) -> i64 {
    env.run(&["users", "show", user, "-o", "json"]).ok().json()["failed_login_attempts"]
        .as_i64()
        .unwrap()
}

cli_test! {
    /// Item 1: the token response is exactly the OAuth-style seven fields,
    /// with the default lifetimes (15m, 7d), a checksummed `kwr_` refresh
    /// token and an EdDSA JWT naming its key; the session row and the audit
    /// event are written with it.
    fn login_prints_an_oauth_token_response(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        at(env, T0);
        let run = login_with(env, "alice", PW, &["--device", "laptop", "--ip", "2001:DB8::1"]).ok();
        let t = run.json();
        let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["session_id", "access_token", "token_type", "expires_in", "expires_at", "refresh_token", "refresh_expires_at"]);
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["expires_in"], 900);
        assert_eq!(unix(s(&t["expires_at"])), T0_UNIX + 900);
        assert_eq!(unix(s(&t["refresh_expires_at"])), T0_UNIX + 7 * 86_400);
        assert_refresh_token(s(&t["refresh_token"]));
        let sid = t["session_id"].as_i64().unwrap();
        assert!(sid > 0);
        assert!(run.stderr.contains(&format!("session {sid}")), "{}", run.stderr);

        let (header, claims, _) = parts(s(&t["access_token"]));
        let kid = s(&jwks(env)["keys"][0]["kid"]).to_owned();
        assert_eq!(header, json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}));
        assert_eq!(claims["exp"], T0_UNIX + 900);
        assert_eq!(claims["sid"], sid);

        // One row, holding the refresh token's hash only; one audit event.
        assert_eq!(session_count(env), 1);
        let stored = sql_opt_text(env, "SELECT refresh_hash FROM sessions").unwrap();
        assert_eq!(stored, sha256_hex(s(&t["refresh_token"])));
        let created = events(env, "session.create");
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["target"], sid.to_string());
        assert_eq!(created[0]["details"]["username"], "alice");
        assert_eq!(created[0]["details"]["ip_address"], "2001:db8::1", "canonical form");
        assert_eq!(created[0]["details"]["device"], "laptop");

        // Two logins: two sessions, different tokens.
        let again = login(env, "alice");
        assert_ne!(again["session_id"], t["session_id"]);
        assert_ne!(again["refresh_token"], t["refresh_token"]);
        assert_ne!(again["access_token"], t["access_token"]);
        // The table form shows a message, and the JSON is the same shape.
        let table = env.run_with_stdin(&["sessions", "login", "alice", "--password-stdin"], Some(PW)).ok();
        assert!(table.stderr.contains("logged in 'alice'"), "{}", table.stderr);
    }
}

cli_test! {
    /// Item 1: lifetimes come from `--ttl`/`--refresh-ttl` > KEYWARD_ACCESS_TTL /
    /// KEYWARD_REFRESH_TTL > the config file's auth.access_ttl / auth.refresh_ttl > 15m / 7d.
    fn login_lifetimes_follow_flag_env_file_default(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        at(env, T0);
        let lifetimes = |env: &Env, extra: &[&str]| {
            let t = login_with(env, "alice", PW, extra).ok().json();
            (t["expires_in"].as_i64().unwrap(), unix(s(&t["refresh_expires_at"])) - T0_UNIX)
        };
        assert_eq!(lifetimes(env, &[]), (900, 7 * 86_400));
        let cfg = env.home.path().join("kw.yaml");
        std::fs::write(&cfg, "auth:\n  access_ttl: 5m\n  refresh_ttl: 2d\n").unwrap();
        set_var(env, "KEYWARD_CONFIG", cfg.to_str().unwrap());
        assert_eq!(lifetimes(env, &[]), (300, 2 * 86_400));
        set_var(env, "KEYWARD_ACCESS_TTL", "10m");
        assert_eq!(lifetimes(env, &[]), (600, 2 * 86_400));
        set_var(env, "KEYWARD_REFRESH_TTL", "3d");
        assert_eq!(lifetimes(env, &[]), (600, 3 * 86_400));
        assert_eq!(lifetimes(env, &["--ttl", "1m", "--refresh-ttl", "1h"]), (60, 3_600));
        // An access token never outlives its session.
        assert_eq!(lifetimes(env, &["--ttl", "2h", "--refresh-ttl", "1h"]), (3_600, 3_600));
        // The access token's `exp` says the same as the response.
        let t = login_with(env, "alice", PW, &["--ttl", "90s"]).ok().json();
        assert_eq!(parts(s(&t["access_token"])).1["exp"], T0_UNIX + 90);
        // Bad values are exit 2, naming where they came from.
        set_var(env, "KEYWARD_ACCESS_TTL", "0s");
        login_with(env, "alice", PW, &[]).code(2).stderr_has("KEYWARD_ACCESS_TTL");
        unset_var(env, "KEYWARD_ACCESS_TTL");
        std::fs::write(&cfg, "auth:\n  refresh_ttl: soon\n").unwrap();
        unset_var(env, "KEYWARD_REFRESH_TTL");
        login_with(env, "alice", PW, &[]).code(2).stderr_has("auth.refresh_ttl");
    }
}

cli_test! {
    /// Item 1: the login check of check-password: a wrong password is exit 5
    /// and counted; an unknown user gets the same words; disabled and locked
    /// accounts get exit 5 and no session.
    fn login_refusals_follow_the_login_check(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let wrong = login_with(env, "alice", "wrong password\n", &[]).code(5);
        assert_eq!(wrong.json()["reason"], "wrong_password");
        assert_eq!(wrong.json()["valid"], false);
        assert_eq!(failed_attempts(env, "alice"), 1);
        let unknown = login_with(env, "nobody", "wrong password\n", &[]).code(5);
        assert_eq!(unknown.json()["reason"], "wrong_password");
        assert_eq!(
            wrong.stderr.replace("alice", "USER"),
            unknown.stderr.replace("nobody", "USER"),
            "an unknown user is told the same as a wrong password"
        );
        assert_eq!(events(env, "user.login_failed").len(), 2);

        env.run(&["users", "update", "alice", "--active", "false"]).ok();
        let disabled = login_with(env, "alice", PW, &[]).code(5).stderr_has("disabled");
        assert_eq!(disabled.json()["reason"], "disabled");
        env.run(&["users", "update", "alice", "--active", "true"]).ok();
        env.run(&["users", "lock", "alice", "--for", "1h"]).ok();
        let locked = login_with(env, "alice", PW, &[]).code(5).stderr_has("locked");
        assert_eq!(locked.json()["reason"], "locked");
        assert_eq!(locked.json()["lock_reason"], "operator");
        assert_eq!(session_count(env), 0, "no session for a refused login");
        assert!(jwks(env)["keys"].as_array().unwrap().is_empty(), "and no signing key made");

        env.run(&["users", "unlock", "alice"]).ok();
        // Five wrong passwords lock it: even the right one then gets no session.
        for _ in 0..5 {
            login_with(env, "alice", "wrong password\n", &[]).code(5);
        }
        let locked = login_with(env, "alice", PW, &[]).code(5);
        assert_eq!(locked.json()["lock_reason"], "failed_attempts");
        assert_eq!(session_count(env), 0);
        env.run(&["users", "unlock", "alice"]).ok();
        login(env, "alice");
        assert_eq!(failed_attempts(env, "alice"), 0, "a good login resets the count");
        assert_eq!(session_count(env), 1);
    }
}

cli_test! {
    /// Item 1: with TOTP active, a login needs --totp: missing is refused and
    /// not counted, a wrong code is counted, the right one gives a session,
    /// and the same step again is refused.
    fn login_asks_for_totp_when_enrolled(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        at(env, T0);
        let uri = env.run(&["users", "totp", "enroll", "alice", "-o", "json"]).ok().json()["uri"]
            .as_str().unwrap().to_owned();
        let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_owned();
        // Pending (not yet activated): no code asked for.
        login(env, "alice");
        env.run(&["users", "totp", "verify", "alice", &totp_code(&secret, T0_UNIX)]).ok();

        at(env, "2030-01-01T00:01:00Z");
        let t = T0_UNIX + 60;
        let missing = login_with(env, "alice", PW, &[]).code(5).stderr_has("--totp");
        assert_eq!(missing.json()["reason"], "totp_required");
        assert_eq!(failed_attempts(env, "alice"), 0, "a missing code is not counted");
        // A wrong password with TOTP on is a wrong password, whatever the code.
        let wrong_pw = login_with(env, "alice", "wrong password\n", &["--totp", &totp_code(&secret, t)]).code(5);
        assert_eq!(wrong_pw.json()["reason"], "wrong_password");
        assert_eq!(failed_attempts(env, "alice"), 1);
        let good = totp_code(&secret, t);
        let bad = if good == "000000" { "111111" } else { "000000" };
        let invalid = login_with(env, "alice", PW, &["--totp", bad]).code(5);
        assert_eq!(invalid.json()["reason"], "invalid_code");
        assert_eq!(failed_attempts(env, "alice"), 2, "a wrong code counts towards lockout");
        assert_eq!(session_count(env), 1, "only the pending-enrolment login");

        let ok = login_with(env, "alice", PW, &["--totp", &good]).ok().json();
        assert!(ok["access_token"].is_string());
        assert_eq!(session_count(env), 2);
        assert_eq!(failed_attempts(env, "alice"), 0);
        let replay = login_with(env, "alice", PW, &["--totp", &good]).code(5);
        assert_eq!(replay.json()["reason"], "code_already_used");
        assert_eq!(failed_attempts(env, "alice"), 1, "a replayed code counts too");
        assert_eq!(session_count(env), 2);
        // The next step is accepted.
        at(env, "2030-01-01T00:01:30Z");
        login_with(env, "alice", PW, &["--totp", &totp_code(&secret, t + 30)]).ok();
        // Wrong codes lock the account like wrong passwords.
        for _ in 0..5 {
            login_with(env, "alice", PW, &["--totp", bad]).code(5);
        }
        let locked = login_with(env, "alice", PW, &["--totp", &totp_code(&secret, t + 60)]).code(5);
        assert_eq!(locked.json()["reason"], "locked");
        assert_eq!(session_count(env), 3);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Item 1: malformed --ip, --device, --ttl, --refresh-ttl and --totp are
    /// exit 2 before the password is read (so before anything is counted);
    /// the password never comes from argv.
    fn login_arguments_are_checked_before_the_password(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let long_device = "d".repeat(201);
        for (flag, value) in [
            ("--ip", "300.1.2.3"),
            ("--ip", "example.com"),
            ("--device", ""),
            ("--device", long_device.as_str()),
            ("--device", "a\u{1b}[2Jb"),
            ("--ttl", "forever"),
            ("--ttl", "0s"),
            ("--ttl", "99999d"),
            ("--refresh-ttl", "1y"),
            ("--refresh-ttl", "3651d"),
            ("--totp", "12ab"),
        ] {
            // A wrong password on stdin: were it read and checked, it would be counted.
            let run = login_with(env, "alice", "wrong password\n", &[flag, value]).code(2);
            assert!(run.stderr.contains(flag), "{flag} {value:?}: {}", run.stderr);
            assert!(!run.stderr.contains('\u{1b}'), "input is escaped: {}", run.stderr);
            // Without --password-stdin off a terminal, the argument is still what is reported.
            let run = env.run(&["sessions", "login", "alice", flag, value]).code(2);
            assert!(run.stderr.contains(flag), "{flag} {value:?}: {}", run.stderr);
        }
        assert_eq!(failed_attempts(env, "alice"), 0);
        assert!(
            events(env, "user.*").iter().all(|e| !s(&e["action"]).starts_with("user.login")),
            "no login was recorded"
        );
        assert_eq!(session_count(env), 0);
        // No flag takes a password on the command line.
        env.run(&["sessions", "login", "alice", "--password", "x"]).code(2);
        env.run(&["sessions", "login", "alice"]).code(2).stderr_has("--password-stdin");
        let help = env.run(&["sessions", "login", "--help"]).ok().stdout;
        assert!(help.contains("--password-stdin"));
        assert!(!help.contains("--password ") && !help.contains("--password <"), "{help}");
    }
}

cli_test! {
    /// Item 4: refresh gives new tokens and spends the old refresh token;
    /// presenting it again revokes the session (refresh_reuse), audited, and
    /// every token of the session then fails.
    fn refresh_rotates_and_reuse_revokes_the_session(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let first = login(env, "alice");
        let sid = first["session_id"].as_i64().unwrap();
        let r1 = s(&first["refresh_token"]).to_owned();
        let run = refresh(env, &r1).ok();
        assert!(run.stderr.contains("spent"), "{}", run.stderr);
        let second = run.json();
        let keys: Vec<&str> = second.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["session_id", "access_token", "token_type", "expires_in", "expires_at", "refresh_token", "refresh_expires_at"]);
        assert_eq!(second["session_id"], sid);
        assert_eq!(second["token_type"], "Bearer");
        assert_eq!(second["refresh_expires_at"], first["refresh_expires_at"], "a refresh does not extend the session");
        let r2 = s(&second["refresh_token"]).to_owned();
        assert_refresh_token(&r2);
        assert_ne!(r2, r1);
        assert_eq!(r2[..16], r1[..16], "one family");
        assert_ne!(second["access_token"], first["access_token"]);
        let a1 = s(&first["access_token"]).to_owned();
        let a2 = s(&second["access_token"]).to_owned();
        assert_eq!(verify(env, &a2).ok().json()["session"]["refresh_count"], 1);
        verify(env, &a1).ok();
        assert_eq!(sql_opt_text(env, &format!("SELECT refresh_hash FROM sessions WHERE id = {sid}")).unwrap(), sha256_hex(&r2));
        let refreshed = events(env, "session.refresh");
        assert_eq!(refreshed.len(), 1);
        assert_eq!(refreshed[0]["target"], sid.to_string());

        // The spent token again: theft. The session is revoked, audited.
        let reuse = refresh(env, &r1).code(5).stderr_has("refresh_reuse");
        assert_eq!(reuse.json(), json!({"valid": false, "reason": "refresh_reuse", "session_id": sid}));
        assert_eq!(sql_opt_text(env, &format!("SELECT revoked_reason FROM sessions WHERE id = {sid}")).as_deref(), Some("refresh_reuse"));
        let reused = events(env, "session.refresh_reuse");
        assert_eq!(reused.len(), 1);
        assert_eq!(reused[0]["target"], sid.to_string());
        let newer = refresh(env, &r2).code(5);
        assert_eq!(newer.json()["reason"], "revoked");
        refused(env, &a1, "revoked");
        refused(env, &a2, "revoked");
        // Presenting a spent token of a revoked session changes nothing more.
        assert_eq!(refresh(env, &r1).code(5).json()["reason"], "revoked");
        assert_eq!(events(env, "session.refresh_reuse").len(), 1);
        // Other sessions are untouched.
        let other = login(env, "alice");
        refresh(env, s(&other["refresh_token"])).ok();
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Item 4: an ended session cannot be refreshed; its last access token
    /// is capped at the session's end.
    fn refresh_stops_at_the_sessions_end(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        at(env, T0);
        let t = login_with(env, "alice", PW, &["--refresh-ttl", "1h"]).ok().json();
        assert_eq!(unix(s(&t["refresh_expires_at"])), T0_UNIX + 3_600);
        at(env, &rfc3339(T0_UNIX + 55 * 60));
        let near_end = refresh(env, s(&t["refresh_token"])).ok().json();
        assert_eq!(near_end["expires_in"], 300, "capped at the session's end");
        assert_eq!(unix(s(&near_end["expires_at"])), T0_UNIX + 3_600);
        let r2 = s(&near_end["refresh_token"]).to_owned();
        at(env, &rfc3339(T0_UNIX + 3_600));
        let expired = refresh(env, &r2).code(5).stderr_has("expired");
        assert_eq!(expired.json()["reason"], "expired");
        assert_eq!(expired.json()["session_id"], t["session_id"]);
        at(env, &rfc3339(T0_UNIX + 30 * 86_400));
        assert_eq!(refresh(env, &r2).code(5).json()["reason"], "expired");
        assert_eq!(sql_int(env, "SELECT refresh_count FROM sessions"), 1);
        assert!(events(env, "session.refresh_reuse").is_empty(), "an expired session is not a theft");
        // `--ttl` on refresh is checked like login's.
        at(env, T0);
        let fresh = login(env, "alice");
        refresh_with_ttl(env, s(&fresh["refresh_token"]), "0s").code(2).stderr_has("--ttl");
        let short = refresh_with_ttl(env, s(&fresh["refresh_token"]), "2m").ok().json();
        assert_eq!(short["expires_in"], 120);
    }
}

pub(crate) fn refresh_with_ttl(env: &Env, token: &str, ttl: &str) -> Run {
    env.run_with_stdin(
        &[
            "sessions",
            "refresh",
            "--token-stdin",
            "--ttl",
            ttl,
            "-o",
            "json",
        ],
        Some(&format!("{token}\n")),
    )
}

/// A database URL nothing answers at, for the backend.
pub(crate) fn unreachable_url(env: &Env) -> String {
    match env.db.backend {
        Backend::Sqlite => format!("sqlite://{}/no/such/dir/k.db", env.home.path().display()),
        Backend::Postgres => {
            "postgres://postgres@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2".to_owned()
        }
    }
}

cli_test! {
    /// Item 4: malformed and mistyped refresh tokens are refused before the
    /// database is opened; an unknown family is `unknown`; a disabled user
    /// cannot refresh.
    fn refresh_refusals(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let t = login(env, "alice");
        let good = s(&t["refresh_token"]).to_owned();
        let mut typo = good.clone().into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let url = unreachable_url(env);
        for (token, reason) in [
            ("garbage".to_owned(), "malformed"),
            (format!("kw_{}", &good[4..]), "malformed"),
            (good[..good.len() - 1].to_owned(), "malformed"),
            (format!("{good}0"), "malformed"),
            (good.replace("kwr_", "kwr-"), "malformed"),
            (s(&t["access_token"]).to_owned(), "malformed"),
            (typo.clone(), "bad_checksum"),
        ] {
            let args = ["--database-url", url.as_str(), "sessions", "refresh", "--token-stdin", "-o", "json"];
            let run = env.run_with_stdin(&args, Some(&format!("{token}\n"))).code(5);
            assert_eq!(run.json(), json!({"valid": false, "reason": reason, "session_id": null}), "{token}");
            assert!(!run.stderr.contains(&token), "not echoed: {}", run.stderr);
        }
        // (Control: a well-formed token does need the database.)
        let args = ["--database-url", url.as_str(), "sessions", "refresh", "--token-stdin", "-o", "json"];
        env.run_with_stdin(&args, Some(&format!("{good}\n"))).code(6);

        let unknown = refresh(env, &refresh_token_of("ZZZZZZZZZZZZ")).code(5).stderr_has("unknown");
        assert_eq!(unknown.json(), json!({"valid": false, "reason": "unknown", "session_id": null}));
        // `users update --active false` revoking sessions is built elsewhere:
        // disable behind keyward's back.
        env.sql("UPDATE users SET is_active = FALSE WHERE username = 'alice'").unwrap();
        let inactive = refresh(env, &good).code(5).stderr_has("disabled");
        assert_eq!(inactive.json()["reason"], "user_inactive");
        env.sql("UPDATE users SET is_active = TRUE WHERE username = 'alice'").unwrap();
        // The token was not spent by the refusal.
        refresh(env, &good).ok();
        assert!(events(env, "session.refresh_reuse").is_empty());
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Item 4: of eight refreshes racing with one token exactly one wins; the
    /// others are refused as reuse (or find the session already revoked).
    fn concurrent_refreshes_exactly_one_wins(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        for round in 0..2 {
            let t = login(env, "alice");
            let token = s(&t["refresh_token"]).to_owned();
            let sid = t["session_id"].as_i64().unwrap();
            let mut children: Vec<_> = (0..8)
                .map(|_| {
                    let mut cmd = env.command(&["sessions", "refresh", "--token-stdin", "-o", "json"]);
                    cmd.stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped());
                    cmd.spawn().unwrap()
                })
                .collect();
            // Every process is started before any is given the token.
            for child in &mut children {
                use std::io::Write;
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(format!("{token}\n").as_bytes()).unwrap();
            }
            let outs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
            let mut won = 0;
            for out in &outs {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                match out.status.code() {
                    Some(0) => won += 1,
                    Some(5) => {
                        let v: Value = serde_json::from_str(&stdout).unwrap();
                        assert!(v["reason"] == "refresh_reuse" || v["reason"] == "revoked", "round {round}: {stdout}");
                    }
                    other => panic!("round {round}: exit {other:?}\n{stdout}\n{stderr}"),
                }
            }
            assert_eq!(won, 1, "round {round}: exactly one refresh wins");
            assert_eq!(sql_int(env, &format!("SELECT refresh_count FROM sessions WHERE id = {sid}")), 1);
            assert_eq!(
                sql_opt_text(env, &format!("SELECT revoked_reason FROM sessions WHERE id = {sid}")).as_deref(),
                Some("refresh_reuse")
            );
        }
        assert_eq!(events(env, "session.refresh").len(), 2);
        env.run(&["audit", "verify"]).ok();
    }
}

/// The seed of signing key `kid`, unsealed here with the key file: the
/// secret that must never be printed.
pub(crate) fn signing_seed(env: &Env, kid: &str) -> [u8; 32] {
    use keyward::crypto::{envelope, keyring, KeySource, Keyring};
    let mut keys = keyring::read_key_file(&env.key_file()).unwrap();
    let active = keys.remove(0);
    let ring = Keyring::new(active, keys, KeySource::File(env.key_file()));
    let sealed = sql_opt_text(
        env,
        &format!("SELECT private_key FROM signing_keys WHERE kid = '{kid}'"),
    )
    .expect("an active key has its private half");
    let plain = envelope::open(&ring, &format!("signing:{kid}"), &sealed).unwrap();
    plain.as_slice().try_into().expect("a 32-byte seed")
}

/// The forms a 32-byte secret could be printed in.
pub(crate) fn printed_forms(secret: &[u8]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        b64(secret),
        STANDARD.encode(secret),
        hex.to_uppercase(),
        hex,
    ]
}

/// Everything a run printed.
pub(crate) fn printed(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

cli_test! {
    /// Item 2/5: the first login makes one Ed25519 key, published as an
    /// RFC 7517/8037 JWK whose kid is its RFC 7638 thumbprint; the private
    /// half is sealed (kw1) and never printed; rotate-signing-key makes a new
    /// signer and keeps the old public key published.
    fn signing_keys_are_made_published_rotated_and_sealed(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let mut out = String::new();
        let empty = env.run(&["sessions", "jwks", "-o", "json"]).ok();
        assert_eq!(empty.json(), json!({"keys": []}));
        assert!(empty.stderr.contains("no signing key yet"), "{}", empty.stderr);
        let first = login_with(env, "alice", PW, &[]).ok();
        out += &printed(&first);
        let t1 = first.json();
        let run = env.run(&["sessions", "jwks", "-o", "json"]).ok();
        out += &printed(&run);
        let doc = run.json();
        let keys = doc["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let x = s(&keys[0]["x"]).to_owned();
        let kid = thumbprint(&x);
        assert_eq!(keys[0], json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}));
        assert_eq!(URL_SAFE_NO_PAD.decode(&x).unwrap().len(), 32);
        assert_eq!(parts(s(&t1["access_token"])).0["kid"], kid);
        // The table form prints the same document (what a gateway is given).
        let table = env.run(&["sessions", "jwks"]).ok();
        out += &printed(&table);
        assert_eq!(serde_json::from_str::<Value>(&table.stdout).unwrap(), doc);
        let sealed = sql_opt_text(env, "SELECT private_key FROM signing_keys").unwrap();
        assert!(sealed.starts_with("kw1:"), "{sealed}");
        let seed = signing_seed(env, &kid);
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        assert_eq!(b64(public.as_bytes()), x, "the sealed seed is the published key's");
        // Later logins reuse the signer.
        let t2 = login(env, "alice");
        assert_eq!(parts(s(&t2["access_token"])).0["kid"], kid);
        assert_eq!(sql_int(env, "SELECT COUNT(*) FROM signing_keys"), 1);

        let rotated = env.run(&["sessions", "rotate-signing-key", "-o", "json"]).ok();
        out += &printed(&rotated);
        let r = rotated.json();
        let new_kid = s(&r["kid"]).to_owned();
        assert_ne!(new_kid, kid);
        assert_eq!(r["retired_kid"], kid);
        assert_eq!(r["retired_published_until"], t2["expires_at"], "the last token it signed");
        let run = env.run(&["sessions", "jwks", "-o", "json"]).ok();
        out += &printed(&run);
        let doc = run.json();
        let kids: Vec<&str> = doc["keys"].as_array().unwrap().iter().map(|k| s(&k["kid"])).collect();
        assert_eq!(kids, [new_kid.as_str(), kid.as_str()], "the signer first");
        assert_eq!(thumbprint(s(&doc["keys"][0]["x"])), new_kid);
        verify(env, s(&t1["access_token"])).ok();
        verify(env, s(&t2["access_token"])).ok();
        let t3 = login(env, "alice");
        assert_eq!(parts(s(&t3["access_token"])).0["kid"], new_kid);
        verify(env, s(&t3["access_token"])).ok();
        // The retired key keeps only its public half.
        assert_eq!(sql_opt_text(env, &format!("SELECT private_key FROM signing_keys WHERE kid = '{kid}'")), None);
        let new_seed = signing_seed(env, &new_kid);
        assert_eq!(events(env, "signing_key.create").len(), 2);
        let rot = events(env, "signing_key.rotate");
        assert_eq!(rot.len(), 1);
        assert_eq!(rot[0]["details"]["retired_kid"], kid);

        // No form of either seed anywhere: outputs, the audit trail, its export.
        for args in [
            vec!["audit", "export"],
            vec!["audit", "export", "--format", "json"],
            vec!["audit", "list", "--all", "-o", "json"],
            vec!["sessions", "jwks", "-o", "yaml"],
        ] {
            out += &printed(&env.run(&args).ok());
        }
        for secret in [seed, new_seed] {
            for form in printed_forms(&secret) {
                assert!(!out.contains(&form), "a seed was printed");
            }
        }
        assert!(!out.contains("\"d\""), "no private JWK member");
        assert!(!out.contains(&sealed), "not even sealed");
    }
}

cli_test! {
    /// Item 5: `db rotate-key` re-seals the signing key under the new
    /// encryption key; logins work afterwards with a key file that holds
    /// only the new key.
    fn db_rotate_key_reseals_the_signing_key(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let before = login(env, "alice");
        let sealed_before = sql_opt_text(env, "SELECT private_key FROM signing_keys").unwrap();
        let doc_before = jwks(env);
        let new_key = env.home.path().join("new.key");
        let r = env.run(&["db", "rotate-key", "--new-key-file", new_key.to_str().unwrap(), "--yes", "-o", "json"]).ok().json();
        assert_eq!(r["resealed"]["signing"], 1);
        let sealed_after = sql_opt_text(env, "SELECT private_key FROM signing_keys").unwrap();
        assert_ne!(sealed_after, sealed_before);
        assert_eq!(keyward::crypto::envelope::kid_of(&sealed_after), r["to_kid"].as_str());
        // Only the new key: the signing key must have been re-sealed to be usable.
        set_var(env, "KEYWARD_KEY_FILE", new_key.to_str().unwrap());
        let after = login(env, "alice");
        assert_eq!(jwks(env), doc_before, "the same signing key, re-sealed, not replaced");
        verify(env, s(&before["access_token"])).ok();
        verify(env, s(&after["access_token"])).ok();
        refresh(env, s(&before["refresh_token"])).ok();
        // Retired signing keys hold no private half, so only the signer is re-sealed.
        env.run(&["sessions", "rotate-signing-key"]).ok();
        let newer_key = env.home.path().join("newer.key");
        let r = env.run(&["db", "rotate-key", "--new-key-file", newer_key.to_str().unwrap(), "--yes", "-o", "json"]).ok().json();
        assert_eq!(r["resealed"]["signing"], 1);
        set_var(env, "KEYWARD_KEY_FILE", newer_key.to_str().unwrap());
        login(env, "alice");
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Item 5: a tampered private key is an integrity failure (exit 8) that
    /// names the signing key, not a panic; nothing is written, and verify
    /// (public half only) is unaffected.
    fn a_tampered_signing_key_is_an_integrity_failure(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let t = login(env, "alice");
        let kid = s(&jwks(env)["keys"][0]["kid"]).to_owned();
        let sealed = sql_opt_text(env, "SELECT private_key FROM signing_keys").unwrap();
        let seed = signing_seed(env, &kid);
        let cut = sealed.rfind(':').unwrap() + 1;
        let mut bytes = sealed.clone().into_bytes();
        let i = cut + (bytes.len() - cut) / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let set_key = |env: &Env, value: &str| {
            env.sql(&format!("UPDATE signing_keys SET private_key = '{value}' WHERE kid = '{kid}'")).unwrap();
        };
        set_key(env, &tampered);
        let audit_before = audit_count(env);
        let run = login_with(env, "alice", PW, &[]).code(8);
        assert!(run.stderr.contains(&format!("signing key {kid}")), "names the key: {}", run.stderr);
        assert!(run.stderr.contains("rotate-signing-key"), "and the way out: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert_eq!(run.stdout, "");
        let run = refresh(env, s(&t["refresh_token"])).code(8);
        assert!(run.stderr.contains("signing key"), "{}", run.stderr);
        assert_eq!(session_count(env), 1, "no session written");
        assert_eq!(audit_count(env), audit_before, "nothing audited: all rolled back");
        verify(env, s(&t["access_token"])).ok();

        // Well sealed under the right key, but not a 32-byte seed; or the
        // right seed bound to another row (another kid's associated data).
        let mut keys = keyward::crypto::keyring::read_key_file(&env.key_file()).unwrap();
        let key = keys.remove(0);
        let short = keyward::crypto::envelope::seal(&key, &format!("signing:{kid}"), &[1u8; 16]).unwrap();
        set_key(env, &short);
        login_with(env, "alice", PW, &[]).code(8).stderr_has("signing key");
        let moved = keyward::crypto::envelope::seal(&key, "signing:another-key", &seed).unwrap();
        set_key(env, &moved);
        login_with(env, "alice", PW, &[]).code(8).stderr_has("signing key");
        set_key(env, &sealed);
        // The original state restored: the refresh token was never spent.
        let refreshed = refresh(env, s(&t["refresh_token"])).ok().json();
        // The way out the message gives: rotating replaces the damaged key
        // without opening it; what it signed still verifies.
        set_key(env, &tampered);
        env.run(&["sessions", "rotate-signing-key"]).ok();
        let after = login(env, "alice");
        verify(env, s(&after["access_token"])).ok();
        verify(env, s(&refreshed["access_token"])).ok();
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Item 7: a database at V3 with a session row written as V1 allowed
    /// upgrades with `db migrate`, keeps the row, and logs in afterwards.
    fn a_v3_database_upgrades_and_keeps_its_sessions(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        env.undo_v4();
        env.sql(
            "INSERT INTO sessions (user_id, access_jti, refresh_jti, device, ip_address, created_at, expires_at, refresh_expires_at) \
             SELECT id, 'legacy-access-jti', 'legacy-refresh-jti', 'laptop', '203.0.113.7', \
             '2029-01-01T00:00:00.000000Z', '2029-01-01T00:15:00.000000Z', '2099-01-08T00:00:00.000000Z' \
             FROM users WHERE username = 'alice'",
        ).unwrap();
        login_with(env, "alice", PW, &[]).code(6).stderr_has("db migrate");
        let migrated = env.run(&["db", "migrate", "-o", "json"]).ok().json();
        let applied: Vec<&str> = migrated.as_array().unwrap().iter().map(|m| s(&m["name"])).collect();
        assert_eq!(applied.first(), Some(&"sessions_signing_keys_and_refresh_families"), "{migrated}");
        assert_eq!(session_count(env), 1);
        assert_eq!(sql_opt_text(env, "SELECT device FROM sessions").as_deref(), Some("laptop"));
        assert_eq!(sql_opt_text(env, "SELECT refresh_jti FROM sessions").as_deref(), Some("legacy-refresh-jti"));
        assert_eq!(sql_opt_text(env, "SELECT refresh_hash FROM sessions"), None);
        assert_eq!(sql_int(env, "SELECT refresh_count FROM sessions"), 0);
        let t = login(env, "alice");
        verify(env, s(&t["access_token"])).ok();
        refresh(env, s(&t["refresh_token"])).ok();
        assert_eq!(session_count(env), 2);
        let status = env.run(&["db", "status", "-o", "json"]).ok().json();
        assert!(status.as_array().unwrap().iter().all(|m| m["applied"] == true), "{status}");
        env.run(&["audit", "verify"]).ok();
    }
}

/// A random number of milliseconds from 0 to `max`.
pub(crate) fn random_ms(max: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).unwrap();
    u64::from_le_bytes(b) % (max + 1)
}

cli_test! {
    /// Done-when: a `sessions refresh` killed (SIGKILL) at a random moment
    /// of its run leaves the session before (the token still works) or after
    /// (spent, with its audit event), never between.
    fn a_killed_refresh_leaves_before_or_after(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        // How long a whole refresh takes here: the kills land across it.
        let warm = login(env, "alice");
        let started = std::time::Instant::now();
        refresh(env, s(&warm["refresh_token"])).ok();
        let whole = u64::try_from(started.elapsed().as_millis()).unwrap().max(10);
        let (mut before, mut after) = (0, 0);
        for trial in 0..16 {
            // The first trial is killed at once, the second left to finish:
            // both ends are checked at least once; the rest land at random.
            let delay = match trial {
                0 => Some(0),
                1 => None,
                _ => Some(random_ms(whole * 6 / 5)),
            };
            let t = login(env, "alice");
            let token = s(&t["refresh_token"]).to_owned();
            let sid = t["session_id"].as_i64().unwrap();
            let mut cmd = env.command(&["sessions", "refresh", "--token-stdin", "-o", "json"]);
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let mut child = cmd.spawn().unwrap();
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().unwrap();
                let _ = stdin.write_all(format!("{token}\n").as_bytes());
            }
            if let Some(ms) = delay {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                let _ = child.kill(); // SIGKILL; it may have finished already
            }
            child.wait().unwrap();
            // Wait for the killed writer's transaction to end (the server may
            // still be committing or rolling it back): take the write lock once.
            env.sql("UPDATE sessions SET device = device WHERE 1 = 0").unwrap();
            let count = sql_int(env, &format!("SELECT refresh_count FROM sessions WHERE id = {sid}"));
            let hash = sql_opt_text(env, &format!("SELECT refresh_hash FROM sessions WHERE id = {sid}")).unwrap();
            let target = json!(sid.to_string());
            let audited = events(env, "session.refresh").iter().filter(|e| e["target"] == target).count();
            match count {
                0 => {
                    assert_eq!(hash, sha256_hex(&token), "trial {trial}: hash rotated without the count");
                    assert_eq!(audited, 0, "trial {trial}: audited without the change");
                    refresh(env, &token).ok();
                    before += 1;
                }
                1 => {
                    assert_ne!(hash, sha256_hex(&token), "trial {trial}: counted without rotating");
                    assert_eq!(audited, 1, "trial {trial}: refreshed without its audit event");
                    assert_eq!(refresh(env, &token).code(5).json()["reason"], "refresh_reuse");
                    after += 1;
                }
                n => panic!("trial {trial}: refresh_count {n}"),
            }
        }
        assert!(before >= 1 && after >= 1, "both ends seen: {before} before, {after} after");
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Item 5 and SPEC: tokens never appear in the audit trail, in error
    /// messages, in the JWKS, or (SQLite file) in the database.
    fn tokens_never_leak(env) {
        env.init();
        add_user(env, "alice", &["viewer"]);
        let mut out = String::new();
        let mut tokens = Vec::new();
        let l1 = login_with(env, "alice", PW, &["--device", "phone"]).ok();
        out += &l1.stderr;
        let t1 = l1.json();
        let r1 = s(&t1["refresh_token"]).to_owned();
        let f1 = refresh(env, &r1).ok();
        out += &f1.stderr;
        let t2 = f1.json();
        for t in [&t1, &t2] {
            tokens.push(s(&t["access_token"]).to_owned());
            tokens.push(s(&t["refresh_token"]).to_owned());
        }
        let mut typo = r1.clone().into_bytes();
        typo[30] = if typo[30] == b'q' { b'r' } else { b'q' };
        let typo = String::from_utf8(typo).unwrap();
        let a1 = tokens[0].clone();
        let (h, mut c, sig) = parts(&a1);
        c["roles"] = json!(["admin"]);
        let forged = forge(&h, &c, &sig);
        for run in [
            refresh(env, &typo).code(5),
            refresh(env, &format!("{r1}x")).code(5),
            refresh(env, &r1).code(5),
            refresh(env, &tokens[3]).code(5),
            verify(env, &forged).code(5),
            verify(env, &a1).code(5),
            verify(env, "not.a.token").code(5),
            env.run(&["sessions", "jwks"]).ok(),
            env.run(&["sessions", "jwks", "-o", "json"]).ok(),
            env.run(&["audit", "export"]).ok(),
            env.run(&["audit", "export", "--format", "json"]).ok(),
            env.run(&["audit", "list", "--all", "-o", "json"]).ok(),
        ] {
            out += &printed(&run);
        }
        tokens.push(typo);
        tokens.push(forged);
        for t in &tokens {
            assert!(!out.contains(t.as_str()), "a token was printed");
            // Nor its secret tail (a refresh token's random part, an access token's signature).
            let tail = if t.starts_with("kwr_") { &t[16..] } else { t.rsplit('.').next().unwrap() };
            assert!(!out.contains(tail), "a token's secret part was printed");
        }
        // The database holds hashes, never the tokens.
        if env.db.backend == Backend::Sqlite {
            let path = env.url().trim_start_matches("sqlite://").to_owned();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
            let haystack = String::from_utf8_lossy(&bytes);
            for t in &tokens {
                let tail = if t.starts_with("kwr_") { &t[16..] } else { t.rsplit('.').next().unwrap() };
                assert!(!haystack.contains(tail), "a token is stored in the database file");
            }
        }
    }
}
