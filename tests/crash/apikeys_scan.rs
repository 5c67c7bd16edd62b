//! `apikeys scan --revoke --yes` over a file of many active keys, killed at
//! random: each key is revoked with its audit event or untouched (all in one
//! transaction: all or none), and a re-run revokes the rest.

use crate::cli_test;
use crate::harness::{assert_sound, kill_after, settle, sql_int, timed, Phase, Probe, Tally};
use crate::util::Env;

/// Active keys leaked in each trial's file.
const LEAKED: usize = 300;

/// Puts `LEAKED` keys named `{tag} {i}` in the database (copies of a key
/// made by `apikeys create`, each with its own key) and returns the file
/// text that leaks them.
fn leak(env: &Env, template: i64, tag: &str) -> String {
    let mut text = String::from("# a log file that leaked keys\n");
    let mut rows = Vec::new();
    for i in 0..LEAKED {
        let key = keyward::crypto::token::new_api_key().expect("a new key");
        let hash = keyward::crypto::token::hash(&key.key);
        rows.push(format!("('{tag} {i}', '{}', '{hash}')", key.prefix));
        text.push_str(&format!(
            "2030-01-01 request {i} Authorization: Bearer {}\n",
            key.key.as_str()
        ));
    }
    let sql = format!(
        "INSERT INTO api_keys (name, key_prefix, key_hash, user_id, permissions, allowed_ips, \
           rate_limit_per_minute, expires_at, created_at, created_by) \
         SELECT v.column1, v.column2, v.column3, t.user_id, t.permissions, t.allowed_ips, \
           t.rate_limit_per_minute, t.expires_at, t.created_at, t.created_by \
         FROM (VALUES {}) AS v, api_keys t WHERE t.id = {template}",
        rows.join(", ")
    );
    let n = env.sql(&sql).unwrap_or_else(|e| panic!("insert keys: {e}"));
    assert_eq!(n, LEAKED as u64);
    text
}

/// (keys of `tag` revoked as leaked, `apikey.revoke` events on them).
fn state(env: &Env, tag: &str) -> (i64, i64) {
    let revoked = sql_int(
        &env.db,
        &format!("SELECT COUNT(*) FROM api_keys WHERE name LIKE '{tag} %' AND revoked_reason = 'leaked' AND revoked_at IS NOT NULL"),
    );
    let audited = sql_int(
        &env.db,
        &format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'apikey.revoke' AND target IN \
             (SELECT key_prefix FROM api_keys WHERE name LIKE '{tag} %')"
        ),
    );
    (revoked, audited)
}

cli_test! {
    fn apikeys_scan(env) {
        let (mut tally, mut rng) = Tally::start("apikeys scan --revoke", env);
        env.init();
        let template = env
            .run(&["apikeys", "create", "template", "--permission", "flags:read", "-o", "json"])
            .ok()
            .json()["id"]
            .as_i64()
            .expect("id");
        let path = env.home.path().join("leaks.log");
        let path_s = path.to_str().expect("UTF-8 temp path").to_owned();
        let args = ["apikeys", "scan", path_s.as_str(), "--revoke", "--yes", "-o", "json"];
        std::fs::write(&path, leak(env, template, "cal")).expect("write file");
        let (run, mut whole) = timed(env, &args, None);
        run.code(5);
        assert_eq!(state(env, "cal"), (LEAKED as i64, LEAKED as i64));

        tally.calibrated(whole);
        let mut probe = Probe::new(&env.db);
        let all = LEAKED as i64;
        for trial in 0..crate::harness::trials() {
            let tag = format!("t{trial}");
            std::fs::write(&path, leak(env, template, &tag)).expect("write file");
            let kill = kill_after(env.command(&args), None, rng.kill_delay(whole), &mut probe);
            crate::harness::recalibrate(&mut whole, &kill, 5);
            settle(&env.db);
            let at = tally.at(&kill);
            let seen = state(env, &tag);
            assert_sound(env, &at);
            let (rerun, took) = timed(env, &args, None);
            let phase = match seen {
                (0, 0) => {
                    assert_eq!(rerun.code, 5, "{at}: the re-run finds them active\n{}", rerun.stderr);
                    whole = took; // a whole run: the next calibration
                    if kill.in_txn { Phase::Mid } else { Phase::Before }
                }
                (n, m) if n == all && m == all => {
                    assert_eq!(rerun.code, 0, "{at}: the re-run finds nothing active\n{}", rerun.stderr);
                    Phase::After
                }
                other => panic!("{at}: (revoked, events) = {other:?} of {all}: a partial revocation"),
            };
            assert_eq!(state(env, &tag), (all, all), "{at}: after the re-run");
            assert_sound(env, &at);
            tally.record(&kill, phase);
        }
    }
}
