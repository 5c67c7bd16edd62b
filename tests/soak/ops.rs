//! The workers: each picks operations at random (seeded) until the deadline
//! and records what succeeded in the tally; a ticker moves the rate window.

use crate::settings;
use crate::support::reliability::Rng;
use crate::util::Run;
use crate::world::{login, reason, run_at, World, FLAG, FLAG_PCT, OLD, T0};
use serde_json::Value;
use std::time::{Duration, Instant};

/// How often the ticker starts a new rate window.
const WINDOW_EVERY: Duration = Duration::from_millis(1500);
/// The minute the first rate window starts (epoch 0); epoch n is n minutes later.
const WINDOW_BASE: i64 = 1_780_358_400; // 2026-06-02T00:00:00Z

/// One worker's own state: its refresh token and its settings counter.
pub struct Worker<'w> {
    pub world: &'w World,
    pub id: u64,
    pub rng: Rng,
    token: Option<String>,
    pub seq: u64,
}

/// Runs the workers and the window ticker until the deadline.
pub fn run_workers(world: &World) {
    let deadline = Instant::now() + Duration::from_secs(world.plan.secs);
    std::thread::scope(|s| {
        s.spawn(|| {
            while Instant::now() < deadline {
                std::thread::sleep(WINDOW_EVERY);
                *world.epoch.write().unwrap_or_else(|e| e.into_inner()) += 1;
            }
        });
        for id in 0..world.plan.procs {
            s.spawn(move || {
                let seed = world.plan.seed ^ (id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut w = Worker {
                    world,
                    id,
                    rng: Rng::new(seed),
                    token: None,
                    seq: 0,
                };
                // Every worker logs in first (half of them to sessions that
                // have already ended), so the first logins race to create
                // the first signing key and prune has work from the start.
                w.login(id % 2 == 1);
                while Instant::now() < deadline {
                    w.step();
                }
            });
        }
    });
}

impl Worker<'_> {
    fn step(&mut self) {
        match self.rng.below(100) {
            0..=9 => self.login(false),
            10..=13 => self.login(true),
            14..=31 => self.refresh(),
            32..=35 => self.race(),
            36..=50 => settings::set(self),
            51..=53 => settings::check_and_set(self),
            54..=59 => settings::import(self),
            60..=63 => self.prune(),
            64..=81 => self.verify(),
            _ => self.eval(),
        }
    }

    pub fn fail(&self, what: &str, run: &Run) {
        self.world.tally().fail(what, run);
    }

    fn user(&mut self) -> String {
        let users = &self.world.users;
        users[self.rng.below(users.len() as u64) as usize].clone()
    }

    /// `sessions login`: now (the worker keeps the refresh token), or a
    /// one-hour session at `OLD` that has ended by `T0` (for prune).
    fn login(&mut self, ended: bool) {
        let user = self.user();
        let run = if ended {
            login(&self.world.env, &user, OLD, &["--refresh-ttl", "1h"])
        } else {
            login(&self.world.env, &user, T0, &[])
        };
        let Some(token) = token_of(&run) else {
            return self.fail("login", &run);
        };
        let mut t = self.world.tally();
        t.logins += 1;
        if ended {
            t.ended_logins += 1;
            t.op("login (ended session)");
        } else {
            t.op("login");
            drop(t);
            self.token = Some(token);
        }
    }

    fn refresh_run(&self, token: &str) -> Run {
        run_at(
            &self.world.env,
            &["sessions", "refresh", "--token-stdin", "-o", "json"],
            Some(&format!("{token}\n")),
            T0,
        )
    }

    /// `sessions refresh` of the worker's own token: always succeeds.
    fn refresh(&mut self) {
        let Some(token) = self.token.take() else {
            return self.login(false);
        };
        let run = self.refresh_run(&token);
        let Some(next) = token_of(&run) else {
            return self.fail("refresh of the worker's own chain", &run);
        };
        let mut t = self.world.tally();
        t.refreshes += 1;
        t.op("refresh");
        self.token = Some(next);
    }

    /// Two processes refresh the same token at once: exactly one wins, the
    /// other is `refresh_reuse` (the session is revoked), and the winner's
    /// new token is then refused as `revoked` (`unknown` once pruned).
    fn race(&mut self) {
        let Some(token) = self.token.take() else {
            return self.login(false);
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| self.refresh_run(&token));
            let b = s.spawn(|| self.refresh_run(&token));
            (a.join().expect("racer a"), b.join().expect("racer b"))
        });
        let (won, lost) = match (token_of(&a), token_of(&b)) {
            (Some(t), None) => (t, b),
            (None, Some(t)) => (t, a),
            _ => {
                self.fail("race: not exactly one winner (first)", &a);
                return self.fail("race: not exactly one winner (second)", &b);
            }
        };
        if lost.code != 5 || reason(&lost) != "refresh_reuse" {
            self.world.tally().refreshes += 1;
            return self.fail("race: the loser is not refresh_reuse", &lost);
        }
        {
            let mut t = self.world.tally();
            t.refreshes += 1;
            t.reuses += 1;
            t.op("refresh race (2 processes)");
        }
        let after = self.refresh_run(&won);
        if after.code != 5 || !matches!(reason(&after).as_str(), "revoked" | "unknown") {
            self.fail("race: the winner's token still works", &after);
        }
    }

    /// `sessions prune --yes`: deletes ended and revoked sessions.
    fn prune(&mut self) {
        let run = run_at(
            &self.world.env,
            &["sessions", "prune", "--yes", "-o", "json"],
            None,
            T0,
        );
        let deleted = serde_json::from_str::<Value>(&run.stdout)
            .ok()
            .and_then(|v| v["deleted"].as_u64());
        match (run.code, deleted) {
            (0, Some(n)) => {
                let mut t = self.world.tally();
                t.prunes += 1;
                t.pruned += n;
                t.op("sessions prune");
            }
            _ => self.fail("sessions prune", &run),
        }
    }

    /// `apikeys verify` of the shared key in the current window: 1 to 4
    /// processes at once, each valid or `rate_limited`.
    fn verify(&mut self) {
        let world = self.world;
        let n = 1 + self.rng.below(4);
        let secs: Vec<i64> = (0..n).map(|_| self.rng.below(60) as i64).collect();
        let guard = world.epoch.read().unwrap_or_else(|e| e.into_inner());
        let epoch = *guard;
        let runs: Vec<Run> = std::thread::scope(|s| {
            let handles: Vec<_> = secs
                .iter()
                .map(|sec| {
                    let now = at_unix(WINDOW_BASE + epoch as i64 * 60 + sec);
                    s.spawn(move || {
                        run_at(
                            &world.env,
                            &["apikeys", "verify", "--key-stdin", "-o", "json"],
                            Some(&format!("{}\n", world.api_key)),
                            &now,
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("verifier"))
                .collect()
        });
        drop(guard);
        let mut t = world.tally();
        for run in runs {
            let ok = run.code == 0;
            if !ok && (run.code != 5 || reason(&run) != "rate_limited") {
                t.fail("apikeys verify", &run);
                continue;
            }
            let w = t.windows.entry(epoch).or_default();
            w.attempts += 1;
            w.successes += u64::from(ok);
            t.op(if ok {
                "apikeys verify (valid)"
            } else {
                "apikeys verify (rate_limited)"
            });
        }
    }

    /// `flags eval` for a random user id: bucket and decision as SPEC §3 says.
    fn eval(&mut self) {
        let user = format!("user-{}", self.rng.below(1_000_000));
        let run = run_at(
            &self.world.env,
            &["flags", "eval", FLAG, "--user", &user, "-o", "json"],
            None,
            T0,
        );
        let got = serde_json::from_str::<Value>(&run.stdout).unwrap_or(Value::Null);
        let bucket = expected_bucket(FLAG, &user);
        let enabled = bucket <= FLAG_PCT;
        let want_reason = if enabled { "rollout" } else { "not_in_rollout" };
        if run.code != 0
            || got["bucket"].as_u64() != Some(bucket)
            || got["enabled"].as_bool() != Some(enabled)
            || got["reason"].as_str() != Some(want_reason)
        {
            return self.fail(&format!("flags eval: want bucket {bucket}"), &run);
        }
        self.world.tally().op("flags eval");
    }
}

/// The refresh token of a successful login or refresh.
fn token_of(run: &Run) -> Option<String> {
    if run.code != 0 {
        return None;
    }
    let v: Value = serde_json::from_str(&run.stdout).ok()?;
    v["refresh_token"].as_str().map(str::to_owned)
}

/// murmur3 x86_32 of "<group>:<user>", seed 0, % 100 + 1 (SPEC §3), computed here.
fn expected_bucket(group: &str, user: &str) -> u64 {
    let text = format!("{group}:{user}");
    let hash = murmur3::murmur3_32(&mut std::io::Cursor::new(text.as_bytes()), 0)
        .expect("hashing a slice");
    u64::from(hash % 100) + 1
}

/// An RFC 3339 instant `unix` seconds after the epoch.
fn at_unix(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .expect("a valid instant")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}
