//! `sessions refresh` killed at random: the session is as before (the old
//! token still refreshes) or refreshed (the old token spent, exactly one
//! `session.refresh` event, `refresh_count` + 1), never between.

use crate::cli_test;
use crate::harness::{
    assert_sound, events, kill_after, settle, sql_int, sql_texts, timed, Phase, Probe, Tally,
};
use crate::util::Env;

/// Logs alice in: (session id, refresh token).
fn login(env: &Env) -> (i64, String) {
    let t = crate::util::login(env, "alice", &[]);
    let sid = t["session_id"].as_i64().expect("session id");
    (
        sid,
        t["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    )
}

const REFRESH: [&str; 5] = ["sessions", "refresh", "--token-stdin", "-o", "json"];

cli_test! {
    fn sessions_refresh(env) {
        let (mut tally, mut rng) = Tally::start("sessions refresh", env);
        env.init();
        crate::util::add_user(env, "alice", "viewer");
        let (_, token) = login(env);
        let (run, mut whole) = timed(env, &REFRESH, Some(&format!("{token}\n")));
        run.ok();

        tally.calibrated(whole);
        let mut probe = Probe::new(&env.db);
        for _ in 0..crate::harness::trials() {
            let (sid, token) = login(env);
            let input = format!("{token}\n");
            let kill = kill_after(env.command(&REFRESH), Some(&input), rng.kill_delay(whole), &mut probe);
            crate::harness::recalibrate(&mut whole, &kill, 0);
            settle(&env.db);
            let at = tally.at(&kill);
            let count = sql_int(&env.db, &format!("SELECT refresh_count FROM sessions WHERE id = {sid}"));
            let hash = sql_texts(&env.db, &format!("SELECT refresh_hash FROM sessions WHERE id = {sid}"));
            let spent = hash != [keyward::crypto::token::hash(&token)];
            let audited = events(&env.db, "session.refresh", Some(&sid.to_string()));
            assert_sound(env, &at);
            let (rerun, took) = timed(env, &REFRESH, Some(&input));
            let phase = match (count, spent, audited) {
                (0, false, 0) => {
                    assert_eq!(rerun.code, 0, "{at}: the old token no longer refreshes\n{}", rerun.stderr);
                    whole = took; // a whole run: the next calibration
                    if kill.in_txn { Phase::Mid } else { Phase::Before }
                }
                (1, true, 1) => {
                    assert_eq!(rerun.code(5).json()["reason"], "refresh_reuse", "{at}");
                    Phase::After
                }
                other => panic!("{at}: (refresh_count, spent, events) = {other:?}: half a refresh"),
            };
            assert_sound(env, &at);
            tally.record(&kill, phase);
        }
    }
}
