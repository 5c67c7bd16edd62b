//! `apikeys rotate --grace 1h` killed at random: the old key untouched and
//! no new key, or the new key with its `rotated_from` link, the old key's
//! grace expiry and one `apikey.rotate` event — never a half. A re-run
//! rotates (before) or is refused as rotated already (exit 4, after).

use crate::cli_test;
use crate::harness::{
    assert_sound, events, kill_after, settle, sql_int, sql_texts, timed, Phase, Probe, Tally,
};
use crate::util::Env;

/// Creates a service key: (id, prefix).
fn create(env: &Env, name: &str) -> (i64, String) {
    let k = env
        .run(&[
            "apikeys",
            "create",
            name,
            "--permission",
            "flags:read",
            "--rate-limit",
            "60/min",
            "-o",
            "json",
        ])
        .ok()
        .json();
    (
        k["id"].as_i64().expect("id"),
        k["key_prefix"].as_str().expect("prefix").to_owned(),
    )
}

/// (keys rotated from `id`, the old key's revoked_reason or "", `apikey.rotate` events on it).
fn state(env: &Env, id: i64, prefix: &str) -> (i64, String, i64) {
    let successors = sql_int(
        &env.db,
        &format!("SELECT COUNT(*) FROM api_keys WHERE rotated_from = {id}"),
    );
    let reason = sql_texts(
        &env.db,
        &format!("SELECT COALESCE(revoked_reason, '') FROM api_keys WHERE id = {id}"),
    );
    (
        successors,
        reason.concat(),
        events(&env.db, "apikey.rotate", Some(prefix)),
    )
}

/// The rotated key's successor and grace, checked against its event.
fn check_rotated(env: &Env, id: i64, prefix: &str, at: &str) {
    let new_prefix = sql_texts(
        &env.db,
        &format!("SELECT key_prefix FROM api_keys WHERE rotated_from = {id}"),
    );
    let details = sql_texts(
        &env.db,
        &format!("SELECT details FROM audit_events WHERE action = 'apikey.rotate' AND target = '{prefix}'"),
    );
    let details: serde_json::Value =
        serde_json::from_str(&details.concat()).expect("details are JSON");
    assert_eq!(
        details["new_prefix"].as_str(),
        Some(new_prefix.concat().as_str()),
        "{at}: the event's new_prefix"
    );
    let old = env
        .run(&["apikeys", "show", prefix, "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        old["status"], "active",
        "{at}: the old key is in its grace period"
    );
    assert_eq!(
        old["rotated_to_prefix"].as_str(),
        Some(new_prefix.concat().as_str()),
        "{at}"
    );
    assert_eq!(
        old["revoked_at"], details["old_key_works_until"],
        "{at}: the grace expiry"
    );
    let new = env
        .run(&["apikeys", "show", &new_prefix.concat(), "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        (new["status"].as_str(), new["rotated_from"].as_i64()),
        (Some("active"), Some(id)),
        "{at}"
    );
    assert_eq!(
        new["permissions"], old["permissions"],
        "{at}: the grants carry over"
    );
}

cli_test! {
    fn apikeys_rotate(env) {
        let (mut tally, mut rng) = Tally::start("apikeys rotate", env);
        env.init();
        let (_, prefix) = create(env, "calibration");
        let (run, mut whole) = timed(env, &["apikeys", "rotate", &prefix, "--grace", "1h", "-o", "json"], None);
        run.ok();

        tally.calibrated(whole);
        let mut probe = Probe::new(&env.db);
        for trial in 0..crate::harness::trials() {
            let (id, prefix) = create(env, &format!("key {trial}"));
            let args = ["apikeys", "rotate", prefix.as_str(), "--grace", "1h", "-o", "json"];
            let kill = kill_after(env.command(&args), None, rng.kill_delay(whole), &mut probe);
            crate::harness::recalibrate(&mut whole, &kill, 0);
            settle(&env.db);
            let at = tally.at(&kill);
            let seen = state(env, id, &prefix);
            assert_sound(env, &at);
            let (rerun, took) = timed(env, &args, None);
            let phase = match (seen.0, seen.1.as_str(), seen.2) {
                (0, "", 0) => {
                    assert_eq!(rerun.code, 0, "{at}: the re-run\n{}", rerun.stderr);
                    whole = took; // a whole run: the next calibration
                    if kill.in_txn { Phase::Mid } else { Phase::Before }
                }
                (1, "rotated", 1) => {
                    assert_eq!(rerun.code, 4, "{at}: a re-run of a finished rotation\n{}", rerun.stderr);
                    Phase::After
                }
                other => panic!("{at}: (successors, revoked_reason, events) = {other:?}: half a rotation"),
            };
            assert_eq!(state(env, id, &prefix), (1, "rotated".to_owned(), 1), "{at}: after the re-run");
            check_rotated(env, id, &prefix, &at);
            assert_sound(env, &at);
            tally.record(&kill, phase);
        }
    }
}
