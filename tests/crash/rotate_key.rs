//! `db rotate-key --new-key-file new.key --yes` over many secret settings
//! and a TOTP user, killed at random: the database is on the old key (every
//! secret opens with the unchanged key file) or on the new one. A kill after
//! the commit but before the key file is rewritten leaves `db health`
//! failing with exit 7 naming the new key; re-running the same command
//! finishes the job (key file: the new key first, the old one after it).

use crate::cli_test;
use crate::harness::{
    assert_sound, events, kill_after, settle, sql_texts, timed, Phase, Probe, Tally,
};
use crate::util::{at, totp_code, Env};

/// Secret settings re-encrypted by every rotation.
const SECRETS: usize = 1500;

/// The key lines of a key file (no blanks, no comments).
fn keys_in(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("key file readable")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn export(env: &Env) -> String {
    env.run(&["settings", "export", "--format", "json", "--reveal"])
        .ok()
        .stdout
}

/// The clock of trial `n`: a minute apart, so each TOTP code is fresh.
fn clock(env: &mut Env, n: i64) -> i64 {
    let unix = 1_893_456_000 + 60 * n; // 2030-01-01T00:00:00Z
    let when = time::OffsetDateTime::from_unix_timestamp(unix).expect("a time");
    let text = when
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    at(env, &text);
    unix
}

/// Bob's TOTP secret still opens: a code for now verifies.
fn totp_opens(env: &Env, secret: &str, unix: i64, at: &str) {
    let code = totp_code(secret, unix);
    let run = env.run(&["users", "totp", "verify", "bob", &code]);
    assert_eq!(run.code, 0, "{at}: bob's TOTP code\n{}", run.stderr);
}

/// Every sealed value (each select of `domain::keys::SEALED`: secret
/// settings, TOTP secrets, token-signing private keys) is under the active
/// key: its `kw1:<kid>:` prefix names it. Returns how many there are per column.
fn assert_all_under_active(env: &Env, at: &str) -> Vec<usize> {
    let active = sql_texts(&env.db, "SELECT kid FROM key_checks WHERE state = 'active'");
    assert_eq!(active.len(), 1, "{at}: one active key: {active:?}");
    let mut counts = Vec::new();
    for col in keyward::domain::keys::SEALED {
        let sql = format!("SELECT sealed FROM ({}) x", col.select);
        let sealed = sql_texts(&env.db, &sql);
        let stale: Vec<_> = sealed
            .iter()
            .filter(|v| keyward::crypto::envelope::kid_of(v) != Some(active[0].as_str()))
            .take(3)
            .collect();
        assert!(
            stale.is_empty(),
            "{at}: {} not under the active key {}: {stale:?}",
            col.name,
            active[0]
        );
        counts.push(sealed.len());
    }
    counts
}

/// Refreshes alice's session (the signing key must open to sign the new
/// access token) and returns the new refresh token.
fn refresh(env: &Env, token: &str, at: &str) -> String {
    let run = env.run_with_stdin(
        &["sessions", "refresh", "--token-stdin", "-o", "json"],
        Some(&format!("{token}\n")),
    );
    assert_eq!(run.code, 0, "{at}: sessions refresh\n{}", run.stderr);
    run.json()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned()
}

cli_test! {
    fn rotate_key(env) {
        let (mut tally, mut rng) = Tally::start("db rotate-key", env);
        clock(env, 0);
        env.init();
        let mut yaml = String::from("settings:\n");
        for i in 0..SECRETS {
            yaml.push_str(&format!("  secret.k{i:04}: {{value: \"value {i}\", secret: true}}\n"));
        }
        yaml.push_str("  plain.k: \"plain\"\n");
        let file = env.home.path().join("secrets.yaml");
        std::fs::write(&file, yaml).expect("write file");
        env.run(&["settings", "import", "-f", file.to_str().expect("UTF-8")]).ok();
        crate::util::add_user(env, "bob", "viewer");
        let uri = env.run(&["users", "totp", "enroll", "bob", "-o", "json"]).ok().json()["uri"]
            .as_str()
            .expect("uri")
            .to_owned();
        let secret = uri.split("secret=").nth(1).and_then(|s| s.split('&').next()).expect("secret").to_owned();
        totp_opens(env, &secret, 1_893_456_000, "enrolment");
        // A login: a token-signing key, its private key sealed.
        crate::util::add_user(env, "alice", "viewer");
        let mut token = crate::util::login(env, "alice", &[])["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned();
        let values = export(env);

        let cal = env.home.path().join("calibration.key");
        let cal_args = ["db", "rotate-key", "--new-key-file", cal.to_str().expect("UTF-8"), "--yes", "-o", "json"];
        let (run, mut whole) = timed(env, &cal_args, None);
        assert_eq!(run.ok().json()["resealed"]["totp"], 1);
        let sealed = assert_all_under_active(env, "calibration");
        assert!(sealed.iter().all(|n| *n > 0), "every sealed column has rows: {sealed:?}");

        tally.calibrated(whole);
        let mut probe = Probe::new(&env.db);
        let mut recovered = 0;
        for trial in 0..crate::harness::trials() {
            let unix = clock(env, i64::from(trial) + 1);
            let old_keys = keys_in(&env.key_file());
            let rotations = events(&env.db, "key.rotate", None);
            let new_file = env.home.path().join(format!("new{trial}.key"));
            let args = ["db", "rotate-key", "--new-key-file", new_file.to_str().expect("UTF-8"), "--yes", "-o", "json"];
            let kill = kill_after(env.command(&args), None, rng.kill_delay(whole), &mut probe);
            crate::harness::recalibrate(&mut whole, &kill, 0);
            settle(&env.db);
            let at = tally.at(&kill);
            let health = env.run(&["db", "health", "-o", "json"]);
            let report: serde_json::Value = serde_json::from_str(&health.stdout).unwrap_or_default();
            let rotated = events(&env.db, "key.rotate", None) - rotations;
            let phase = if health.code == 7 {
                // Committed, key file not rewritten: the documented recovery.
                assert_eq!(keys_in(&env.key_file()), old_keys, "{at}: the key file changed");
                assert_eq!(rotated, 1, "{at}: a committed rotation is audited");
                let expected = report["expected_kid"].as_str().expect("db health -o json names expected_kid").to_owned();
                assert!(health.stderr.contains(&expected), "{at}: exit 7 names the new key\n{}", health.stderr);
                let again = env.run(&args).ok().json();
                assert_eq!((again["finished_earlier"].as_bool(), again["to_kid"].as_str()), (Some(true), Some(expected.as_str())), "{at}");
                recovered += 1;
                Phase::After
            } else {
                assert_eq!(health.code, 0, "{at}: db health\n{}", health.stderr);
                if keys_in(&env.key_file()) == old_keys {
                    assert_eq!(rotated, 0, "{at}: on the old key, yet audited");
                    assert_eq!(export(env), values, "{at}: secrets under the old key");
                    let (run, took) = timed(env, &args, None);
                    run.ok();
                    whole = took; // a whole run: the next calibration
                    if kill.in_txn { Phase::Mid } else { Phase::Before }
                } else {
                    assert_eq!(rotated, 1, "{at}: rotated without its audit event");
                    env.run(&args).code(2);
                    Phase::After
                }
            };
            let new_keys = keys_in(&new_file);
            let now = keys_in(&env.key_file());
            assert_eq!((now.first(), now.get(1)), (new_keys.first(), old_keys.first()), "{at}: key file: the new key, then the old");
            assert_eq!(events(&env.db, "key.rotate", None) - rotations, 1, "{at}: one rotation, audited once");
            assert_eq!(export(env), values, "{at}: secrets under the new key");
            totp_opens(env, &secret, unix, &at);
            assert_eq!(assert_all_under_active(env, &at), sealed, "{at}: sealed rows per column");
            token = refresh(env, &token, &at);
            // History rows stay under the key that wrote them (the first
            // one): still readable while the key file holds it.
            let history = env.run(&["settings", "history", "secret.k0001", "--reveal", "-o", "json"]);
            assert_eq!(history.code, 0, "{at}: settings history --reveal\n{}", history.stderr);
            assert!(history.stdout.contains("value 1"), "{at}: history shows the value\n{}", history.stdout);
            assert_sound(env, &at);
            tally.record(&kill, phase);
        }
        tally.extra.insert("recovered_by_rerun".into(), recovered.into());
    }
}
