//! `sessions prune --yes` with small batches killed at random: the batches
//! that committed stay deleted (whole batches only), no live session is
//! ever deleted, a killed run records no event, and a re-run deletes the
//! rest and records its own count.

use crate::cli_test;
use crate::harness::{
    assert_sound, events, kill_after, settle, sql_int, timed, Phase, Probe, Tally,
};
use crate::util::{at, Env, TEST_PASSWORD};

/// Ended or revoked sessions put in before each trial.
const ENDED: i64 = 3000;
/// Live sessions (copies of a real login), there throughout.
const LIVE: i64 = 300;
/// Sessions per batch: many batches per run.
const BATCH: i64 = 100;

/// Copies the template session `count` times with fresh token ids (the
/// template's last 7 characters replaced by a number from `base`).
fn copy_sessions(env: &Env, template: i64, count: i64, base: i64, device: &str, times: [&str; 3]) {
    let [expires, refresh, revoked] = times;
    let reason = if revoked == "NULL" {
        "NULL"
    } else {
        "'revoked'"
    };
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         INSERT INTO sessions (user_id, access_jti, refresh_jti, device, ip_address, created_at, \
           expires_at, refresh_expires_at, revoked_at, revoked_reason, refresh_hash, refresh_count) \
         SELECT t.user_id, \
           substr(t.access_jti, 1, length(t.access_jti) - 7) || substr(CAST(10000000 + {base} + n.i AS TEXT), 2), \
           substr(t.refresh_jti, 1, length(t.refresh_jti) - 7) || substr(CAST(10000000 + {base} + n.i AS TEXT), 2), \
           '{device}', t.ip_address, t.created_at, {expires}, {refresh}, {revoked}, {reason}, \
           t.refresh_hash, t.refresh_count \
         FROM n, sessions t WHERE t.id = {template}"
    );
    let n = env.sql(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(n, u64::try_from(count).expect("count"), "{sql}");
}

/// Puts [`ENDED`] sessions in: two thirds ended at 00:15, a third revoked at 00:30.
fn add_ended(env: &Env, template: i64, base: i64) {
    let ended = "'2030-01-01T00:15:00.000000Z'";
    copy_sessions(
        env,
        template,
        ENDED / 3 * 2,
        base,
        "ended",
        [ended, ended, "NULL"],
    );
    let later = "'2030-01-08T00:00:00.000000Z'";
    let revoked = "'2030-01-01T00:30:00.000000Z'";
    copy_sessions(
        env,
        template,
        ENDED / 3,
        base + ENDED,
        "ended",
        [later, later, revoked],
    );
}

fn count(env: &Env, device: &str) -> i64 {
    sql_int(
        &env.db,
        &format!("SELECT COUNT(*) FROM sessions WHERE device = '{device}'"),
    )
}

fn last_prune_deleted(env: &Env) -> i64 {
    let list = env
        .run(&[
            "audit",
            "list",
            "--action",
            "session.prune",
            "--limit",
            "1",
            "-o",
            "json",
        ])
        .ok()
        .json();
    list[0]["details"]["deleted"]
        .as_i64()
        .expect("deleted in the event")
}

cli_test! {
    fn sessions_prune(env) {
        let (mut tally, mut rng) = Tally::start("sessions prune", env);
        env.init();
        crate::util::add_user(env, "alice", "viewer");
        at(env, "2030-01-01T00:00:00Z");
        let login = env
            .run_with_stdin(
                &["sessions", "login", "alice", "--password-stdin", "--device", "live", "-o", "json"],
                Some(TEST_PASSWORD),
            )
            .ok()
            .json();
        let template = login["session_id"].as_i64().expect("session id");
        let live_until = "'2030-01-05T00:00:00.000000Z'";
        copy_sessions(env, template, LIVE, 0, "live", [live_until, live_until, "NULL"]);
        at(env, "2030-01-01T01:00:00Z");
        let batch = BATCH.to_string();
        let args = ["sessions", "prune", "--batch-size", batch.as_str(), "--yes", "-o", "json"];

        // Calibration: one whole prune.
        add_ended(env, template, 100_000);
        let (run, mut whole) = timed(env, &args, None);
        assert_eq!(run.ok().json()["deleted"].as_i64(), Some(ENDED));

        tally.calibrated(whole);
        let mut probe = Probe::new(&env.db);
        for trial in 0..i64::from(crate::harness::trials()) {
            add_ended(env, template, 200_000 + trial * 2 * ENDED);
            let events_before = events(&env.db, "session.prune", None);
            let kill = kill_after(env.command(&args), None, rng.kill_delay(whole), &mut probe);
            crate::harness::recalibrate(&mut whole, &kill, 0);
            settle(&env.db);
            let at = tally.at(&kill);
            assert_eq!(count(env, "live") , LIVE + 1, "{at}: a live session was deleted");
            let left = count(env, "ended");
            assert_eq!((ENDED - left) % BATCH, 0, "{at}: {} deleted, not whole batches", ENDED - left);
            let recorded = events(&env.db, "session.prune", None) - events_before;
            // The event commits last: with it, the prune was complete (the
            // kill, if any, came between that commit and the exit).
            match recorded {
                0 => assert!(!kill.finished, "{at}: a finished prune recorded no event"),
                1 => assert_eq!(left, 0, "{at}: an event recorded with sessions left"),
                n => panic!("{at}: {n} prune events from one run"),
            }
            assert_sound(env, &at);
            let phase = match left {
                0 => Phase::After,
                ENDED if !kill.in_txn => Phase::Before,
                _ => Phase::Mid,
            };
            if !kill.finished {
                let rerun = env.run(&args).ok().json();
                assert_eq!(rerun["deleted"].as_i64(), Some(left), "{at}: the re-run");
                assert_eq!(events(&env.db, "session.prune", None) - events_before, recorded + 1, "{at}: the re-run's event");
                assert_eq!(last_prune_deleted(env), left, "{at}: the re-run's event");
            }
            assert_eq!((count(env, "ended"), count(env, "live")), (0, LIVE + 1), "{at}: after the re-run");
            assert_sound(env, &at);
            tally.record(&kill, phase);
        }
    }
}
