//! The soak's world: the database set up for the load, the shared tally of
//! what succeeded, the rate-window epoch, and the runner of one process.

use crate::support::Backend;
use crate::util::{add_user, Env, Run, TEST_PASSWORD};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::Stdio;
use std::sync::{Mutex, RwLock};

/// Lock or busy words in the stderr of runs that exited 0, by database URL
/// (both backends' soaks run at once in this process): a retry that
/// succeeded but still told the user about contention.
static QUIET_LOCKS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Whether `text` (lowercase) speaks of lock contention.
pub fn mentions_lock(text: &str) -> bool {
    ["locked", "busy", "serializ", "deadlock"]
        .iter()
        .any(|w| text.contains(w))
}

/// The exit-0 runs on `url` whose stderr spoke of lock contention.
pub fn quiet_locks(url: &str) -> Vec<String> {
    QUIET_LOCKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|(u, _)| u == url)
        .map(|(_, m)| m.clone())
        .collect()
}

/// The clock of every command except logins of ended sessions and verifies.
pub const T0: &str = "2026-06-01T12:00:00Z";
/// Logins at this time with a one-hour session have ended by `T0`.
pub const OLD: &str = "2026-05-01T12:00:00Z";
/// The flag every `flags eval` asks about, and its rollout percentage.
pub const FLAG: &str = "soak-flag";
pub const FLAG_PCT: u64 = 40;
/// The shared API key's limit per minute.
pub const RATE_LIMIT: u64 = 10;

/// The size and seed of one run.
#[derive(Clone, Copy)]
pub struct Plan {
    pub secs: u64,
    pub procs: u64,
    pub seed: u64,
    pub backend: Backend,
}

/// One rate window: verify attempts made in it and how many succeeded.
#[derive(Default, Clone, Copy, Debug)]
pub struct Window {
    pub attempts: u64,
    pub successes: u64,
}

/// What the workers saw succeed, for the final checks.
#[derive(Default)]
pub struct Tally {
    /// Operations finished (as documented) per kind.
    pub ops: BTreeMap<&'static str, u64>,
    /// Successful logins (each one `user.login` and `session.create`).
    pub logins: u64,
    /// Of those, logins of sessions that had already ended (`OLD`).
    pub ended_logins: u64,
    /// Successful refreshes (`session.refresh`).
    pub refreshes: u64,
    /// Refreshes refused as `refresh_reuse` (each revokes one session).
    pub reuses: u64,
    /// Successful prunes and what they deleted.
    pub prunes: u64,
    pub pruned: u64,
    /// Settings written: the versions each key was given (one per write),
    /// the last value of each key one worker owns, and every value written
    /// to a shared key.
    pub versions: HashMap<String, u64>,
    pub values: HashMap<String, String>,
    pub shared: HashMap<String, Vec<String>>,
    /// The versions `--if-version` writes of the shared key won on.
    pub cas_wins: Vec<u64>,
    /// Rate windows by epoch.
    pub windows: BTreeMap<u64, Window>,
    /// Commands that did not end as documented (with their output).
    pub failures: Vec<String>,
    /// Of those, lock or busy errors that reached the user.
    pub lock_errors: u64,
}

impl Tally {
    /// Counts one finished operation of `kind`.
    pub fn op(&mut self, kind: &'static str) {
        *self.ops.entry(kind).or_default() += 1;
    }

    /// Records that a write of `key` to `value` succeeded.
    pub fn wrote(&mut self, key: &str, value: &str, shared: bool) {
        *self.versions.entry(key.to_owned()).or_default() += 1;
        if shared {
            let values = self.shared.entry(key.to_owned()).or_default();
            values.push(value.to_owned());
        } else {
            self.values.insert(key.to_owned(), value.to_owned());
        }
    }

    /// Records a command that did not end as documented.
    pub fn fail(&mut self, what: &str, run: &Run) {
        let text = format!("{}\n{}", run.stdout, run.stderr).to_lowercase();
        if run.code == 6 || run.code == 1 || mentions_lock(&text) {
            self.lock_errors += 1;
        }
        if self.failures.len() < 20 {
            self.failures.push(format!(
                "{what}: keyward {} exited {}\n--- stdout\n{}\n--- stderr\n{}",
                run.args.join(" "),
                run.code,
                run.stdout,
                run.stderr
            ));
        } else if self.failures.len() == 20 {
            self.failures.push("… more failures left out".into());
        }
    }
}

/// Everything the workers share.
pub struct World {
    pub env: Env,
    pub plan: Plan,
    /// The shared rate-limited API key.
    pub api_key: String,
    /// Users the workers log in as.
    pub users: Vec<String>,
    pub tally: Mutex<Tally>,
    /// The current rate-window epoch: verifies hold it for reading, the
    /// ticker moves it on holding it for writing, so every attempt's window
    /// is known.
    pub epoch: RwLock<u64>,
    /// Audit entries per action when the load started.
    pub audit_before: BTreeMap<String, u64>,
}

impl World {
    /// Initialises the database: users, the rate-limited key and the flag.
    /// No one has logged in yet: the workers' first logins race to create
    /// the first signing key.
    pub fn set_up(env: Env, plan: Plan) -> World {
        run_at(&env, &["db", "init"], None, T0).ok();
        let users: Vec<String> = (0..plan.procs.div_ceil(2) + 1)
            .map(|i| format!("soak{i}"))
            .collect();
        for u in &users {
            add_user(&env, u, "viewer");
        }
        let limit = format!("{RATE_LIMIT}/min");
        let created = run_at(
            &env,
            &[
                "apikeys",
                "create",
                "soak-gateway",
                "--rate-limit",
                &limit,
                "-o",
                "json",
            ],
            None,
            T0,
        )
        .ok()
        .json();
        let api_key = created["key"].as_str().expect("created key").to_owned();
        let pct = FLAG_PCT.to_string();
        run_at(
            &env,
            &["flags", "add", FLAG, "--enabled", "--percentage", &pct],
            None,
            T0,
        )
        .ok();
        let audit_before = audit_actions(&env);
        World {
            env,
            plan,
            api_key,
            users,
            tally: Mutex::new(Tally::default()),
            epoch: RwLock::new(0),
            audit_before,
        }
    }

    /// Locks the tally (a poisoned lock still holds the counts).
    pub fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `sessions login USER --password-stdin -o json` at `now`.
pub fn login(env: &Env, user: &str, now: &str, extra: &[&str]) -> Run {
    let mut args = vec!["sessions", "login", user, "--password-stdin", "-o", "json"];
    args.extend_from_slice(extra);
    run_at(env, &args, Some(TEST_PASSWORD), now)
}

/// Runs keyward with `args` at clock `now`, feeding `stdin`.
pub fn run_at(env: &Env, args: &[&str], stdin: Option<&str>, now: &str) -> Run {
    let mut cmd = env.command(args);
    cmd.env("KEYWARD_TEST_NOW", now)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("keyward starts");
    if let Some(input) = stdin {
        // Small inputs: they fit the pipe's buffer, so no reader is needed.
        let mut pipe = child.stdin.take().expect("stdin pipe");
        match pipe.write_all(input.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
            _ => {}
        }
    }
    let out = child.wait_with_output().expect("keyward finishes");
    let run = Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if run.code == 0 && mentions_lock(&run.stderr.to_lowercase()) {
        QUIET_LOCKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((
                env.url().to_owned(),
                format!(
                    "keyward {} exited 0 saying\n{}",
                    run.args.join(" "),
                    run.stderr
                ),
            ));
    }
    run
}

/// The number of audit entries per action.
pub fn audit_actions(env: &Env) -> BTreeMap<String, u64> {
    let all = run_at(env, &["audit", "list", "--all", "-o", "json"], None, T0)
        .ok()
        .json();
    let mut counts = BTreeMap::new();
    for e in all.as_array().expect("audit list is an array") {
        let action = e["action"].as_str().expect("action").to_owned();
        *counts.entry(action).or_default() += 1;
    }
    counts
}

/// The `reason` of a JSON refusal, or "" when there is none.
pub fn reason(run: &Run) -> String {
    serde_json::from_str::<Value>(&run.stdout)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
