//! The harness every scenario shares: the size knob and the seed, a run
//! killed after a delay (with a probe of whether a write transaction was
//! open at that moment), waiting for a killed PostgreSQL client's
//! transaction to end, the checks made after every trial, and the figures.

use crate::support::{Backend, TestDb};
use crate::util::{Env, Run};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Trials per test when `KEYWARD_CRASH_TRIALS` is not set: the CI short form.
pub const SHORT_FORM_TRIALS: u32 = 6;

use crate::support::reliability;
pub use crate::support::reliability::Rng;

/// Trials per command per backend (`KEYWARD_CRASH_TRIALS`).
pub fn trials() -> u32 {
    u32::try_from(reliability::knob(
        "KEYWARD_CRASH_TRIALS",
        SHORT_FORM_TRIALS.into(),
    ))
    .expect("KEYWARD_CRASH_TRIALS fits in a u32")
}

impl Rng {
    /// A delay drawn uniformly in [0, 1.2 × `whole`]: the kill moment.
    pub fn kill_delay(&mut self, whole: Duration) -> Duration {
        let span = u64::try_from(whole.as_micros() * 6 / 5).unwrap_or(u64::MAX);
        Duration::from_micros(self.below(span + 1))
    }
}

/// Where a trial's kill landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing of the change was there after the kill.
    Before,
    /// Inside the write (a write transaction was open, or some batches had committed).
    Mid,
    /// The change was all there (committed, or the run had finished).
    After,
}

/// One test's figures, written (and the seed printed on failure) when dropped.
pub struct Tally {
    case: &'static str,
    backend: &'static str,
    seed: u64,
    started: Instant,
    pub trials: u32,
    pub before: u32,
    pub mid: u32,
    pub after: u32,
    /// Kills that found a write transaction open (sampled just before the kill).
    pub in_txn: u32,
    /// Runs that finished before their kill.
    pub finished: u32,
    /// Figures particular to a scenario.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Tally {
    /// Starts the figures of `case` on `env`'s backend, and its random generator.
    pub fn start(case: &'static str, env: &Env) -> (Tally, Rng) {
        let backend = match env.db.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let seed = reliability::seed();
        // Each test draws its own sequence from the one seed.
        let mix = reliability::stream(seed, &format!("{case}{backend}"));
        let tally = Tally {
            case,
            backend,
            seed,
            started: Instant::now(),
            trials: 0,
            before: 0,
            mid: 0,
            after: 0,
            in_txn: 0,
            finished: 0,
            extra: serde_json::Map::new(),
        };
        (tally, Rng::new(mix))
    }

    /// Counts one trial.
    pub fn record(&mut self, kill: &Kill, phase: Phase) {
        self.trials += 1;
        self.in_txn += u32::from(kill.in_txn);
        self.finished += u32::from(kill.finished);
        match phase {
            Phase::Before => self.before += 1,
            Phase::Mid => self.mid += 1,
            Phase::After => self.after += 1,
        }
    }

    /// Notes how long the un-killed calibration run took.
    pub fn calibrated(&mut self, whole: Duration) {
        let ms = (whole.as_secs_f64() * 10_000.0).round() / 10.0;
        self.extra.insert("calibration_ms".into(), ms.into());
    }

    /// Context for assertion messages.
    pub fn at(&self, kill: &Kill) -> String {
        format!(
            "{} ({}), trial {}, killed at {} µs (seed {})",
            self.case, self.backend, self.trials, kill.delay_us, self.seed
        )
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            // The real stderr: the test harness shows it with the failure.
            let _ = writeln!(
                std::io::stderr(),
                "crash: {} ({}) failed at trial {}: repeat with KEYWARD_RELIABILITY_SEED={}",
                self.case,
                self.backend,
                self.trials,
                self.seed
            );
        }
        let mut line = serde_json::json!({
            "suite": "crash",
            "case": self.case,
            "backend": self.backend,
            "trials": self.trials,
            "before": self.before,
            "killed_mid": self.mid,
            "after": self.after,
            "killed_in_txn": self.in_txn,
            "in_txn_share": if self.trials == 0 { 0.0 } else { f64::from(self.in_txn) / f64::from(self.trials) },
            "finished_before_kill": self.finished,
            "failures": u32::from(failed),
            "seed": self.seed,
            "secs": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        });
        if let Some(obj) = line.as_object_mut() {
            obj.extend(self.extra.clone());
        }
        reliability::report(&line);
    }
}

/// Tells whether a write transaction is open on a database, without taking
/// a lock: SQLite's WAL write lock (byte 120 of the `-shm` file, asked with
/// `F_GETLK`), or on PostgreSQL a write lock on the schema's tables or
/// keyward's audit-chain advisory lock, held by another connection.
pub enum Probe {
    Sqlite(PathBuf),
    Postgres {
        store: Box<dyn keyward::store::Store>,
        schema: String,
    },
}

/// Locks other connections hold on the schema `$1` (all, or write locks only).
fn pg_locks_sql(writes_only: bool) -> String {
    let mode = if writes_only {
        "AND l.mode <> 'AccessShareLock'"
    } else {
        ""
    };
    format!(
        "SELECT COUNT(*) FROM pg_locks l WHERE l.pid <> pg_backend_pid() AND ( \
         (l.locktype = 'relation' {mode} AND l.relation IN (SELECT c.oid FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1)) \
         OR (l.locktype = 'advisory' AND l.objsubid = 2 \
           AND l.objid::text::bigint = (hashtext($1)::bigint + 4294967296) % 4294967296))"
    )
}

impl Probe {
    /// A probe of `db`.
    pub fn new(db: &TestDb) -> Probe {
        match db.schema() {
            Some(schema) => Probe::Postgres {
                store: db.open_raw(),
                schema: schema.to_owned(),
            },
            None => {
                let path = db.url.strip_prefix("sqlite://").expect("an sqlite:// URL");
                Probe::Sqlite(PathBuf::from(format!("{path}-shm")))
            }
        }
    }

    /// Whether another process has a write transaction open now.
    pub fn write_open(&mut self) -> bool {
        match self {
            Probe::Sqlite(shm) => sqlite_write_locked(shm),
            Probe::Postgres { store, schema } => {
                let sql = pg_locks_sql(true);
                let schema = keyward::store::Value::Text(schema.clone());
                keyward::store::read(store.as_mut(), |c| {
                    c.query_one(&sql, std::slice::from_ref(&schema))?.int(0)
                })
                .expect("pg_locks answers")
                    > 0
            }
        }
    }
}

/// Whether another process holds SQLite's WAL write lock on the database of `shm`.
#[allow(unsafe_code)]
fn sqlite_write_locked(shm: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    // Opened and closed here: this process holds no SQLite connection to the
    // file while it probes, so closing it drops no lock of ours.
    let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open(shm) else {
        return false;
    };
    // SAFETY: a zeroed `flock` is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = 120; // WAL_WRITE_LOCK: UNIX_SHM_BASE (120) + 0
    fl.l_len = 1;
    // SAFETY: F_GETLK reads and writes only the `flock` passed, which lives
    // across the call; the descriptor is open.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut fl) };
    rc == 0 && i32::from(fl.l_type) != libc::F_UNLCK
}

/// How a killed run went.
#[derive(Debug, Clone, Copy)]
pub struct Kill {
    pub delay_us: u64,
    /// It exited on its own before the kill.
    pub finished: bool,
    /// From its start until it was reaped.
    pub ran: Duration,
    /// A write transaction was open just before the kill.
    pub in_txn: bool,
}

/// Runs `cmd` (stdin `input`, output discarded) and SIGKILLs it `delay`
/// after its start, sampling `probe` until then.
pub fn kill_after(
    mut cmd: Command,
    input: Option<&str>,
    delay: Duration,
    probe: &mut Probe,
) -> Kill {
    use std::os::unix::process::ExitStatusExt;
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("keyward starts");
    if let Some(text) = input {
        // Small inputs: they fit in the pipe, so this does not block.
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let _ = pipe.write_all(text.as_bytes());
    }
    let mut in_txn = false;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        let left = delay.saturating_sub(started.elapsed());
        if left.is_zero() {
            in_txn = probe.write_open();
            let _ = child.kill(); // SIGKILL
            break;
        }
        std::thread::sleep(left.min(Duration::from_micros(500)));
    }
    let status = child.wait().expect("keyward is reaped");
    let ran = started.elapsed();
    let killed = status.signal() == Some(libc::SIGKILL);
    Kill {
        delay_us: u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
        finished: !killed,
        ran,
        in_txn: killed && in_txn,
    }
}

/// Takes a run that finished before its kill as a better calibration
/// when it was quicker (the calibration run may have met more contention).
/// (Each scenario also takes a re-run that did the whole job as the next
/// calibration, so the kill window follows the machine's load and the
/// data's growth.)
pub fn recalibrate(whole: &mut Duration, kill: &Kill) {
    if kill.finished {
        *whole = (*whole).min(kill.ran);
    }
}

/// Runs `args` to the end and times it (the calibration of the kill delays).
pub fn timed(env: &Env, args: &[&str], input: Option<&str>) -> (Run, Duration) {
    let started = Instant::now();
    let run = env.run_with_stdin(args, input);
    (run, started.elapsed())
}

/// Waits until no other connection holds a lock on `db`'s schema (a killed
/// client's PostgreSQL backend finishes the statement it was running, then
/// rolls back or, if the COMMIT had arrived, commits). SQLite: nothing to wait for.
pub fn settle(db: &TestDb) {
    let Some(schema) = db.schema() else {
        return;
    };
    let mut store = db.open_raw();
    let sql = pg_locks_sql(false);
    let schema = keyward::store::Value::Text(schema.to_owned());
    let started = Instant::now();
    let mut quiet = 0;
    while quiet < 2 {
        let held = keyward::store::read(store.as_mut(), |c| {
            c.query_one(&sql, std::slice::from_ref(&schema))?.int(0)
        })
        .expect("pg_locks answers");
        quiet = if held == 0 { quiet + 1 } else { 0 };
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a killed client's transaction still holds locks after 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One integer read with raw SQL.
pub fn sql_int(db: &TestDb, sql: &str) -> i64 {
    let mut store = db.open_raw();
    keyward::store::read(store.as_mut(), |c| c.query_one(sql, &[])?.int(0)).expect(sql)
}

/// The first column of every row, as text, read with raw SQL.
pub fn sql_texts(db: &TestDb, sql: &str) -> Vec<String> {
    let mut store = db.open_raw();
    keyward::store::read(store.as_mut(), |c| {
        c.query(sql, &[])?.iter().map(|r| r.text(0)).collect()
    })
    .expect(sql)
}

/// Rows that point nowhere, or settings whose history lacks their version.
const ORPHANS: &[(&str, &str)] = &[
    ("user_roles without a user", "SELECT COUNT(*) FROM user_roles x WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.user_id)"),
    ("user_roles without a role", "SELECT COUNT(*) FROM user_roles x WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = x.role_id)"),
    ("role_permissions without a role", "SELECT COUNT(*) FROM role_permissions x WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = x.role_id)"),
    ("role_permissions without a permission", "SELECT COUNT(*) FROM role_permissions x WHERE NOT EXISTS (SELECT 1 FROM permissions p WHERE p.id = x.permission_id)"),
    ("sessions without a user", "SELECT COUNT(*) FROM sessions x WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.user_id)"),
    ("api_keys without their user", "SELECT COUNT(*) FROM api_keys x WHERE x.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.user_id)"),
    ("api_keys rotated from nothing", "SELECT COUNT(*) FROM api_keys x WHERE x.rotated_from IS NOT NULL AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = x.rotated_from)"),
    ("settings without history", "SELECT COUNT(*) FROM settings s WHERE NOT EXISTS (SELECT 1 FROM settings_audit_log h WHERE h.setting_id = s.id)"),
    ("settings whose version has no history row", "SELECT COUNT(*) FROM settings s WHERE NOT EXISTS (SELECT 1 FROM settings_audit_log h WHERE h.setting_id = s.id AND h.version = s.version)"),
    ("settings history without its setting", "SELECT COUNT(*) FROM settings_audit_log h WHERE NOT EXISTS (SELECT 1 FROM settings s WHERE s.id = h.setting_id)"),
    ("flag states without a flag", "SELECT COUNT(*) FROM feature_flag_states x WHERE NOT EXISTS (SELECT 1 FROM feature_flags f WHERE f.id = x.flag_id)"),
    ("key checks: not exactly one active key", "SELECT CASE WHEN COUNT(*) = 1 THEN 0 ELSE 1 END FROM key_checks WHERE state = 'active'"),
];

/// The violations of [`ORPHANS`] in `db`, each with its count.
pub fn orphans(db: &TestDb) -> Vec<String> {
    let mut store = db.open_raw();
    keyward::store::read(store.as_mut(), |c| {
        let mut found = Vec::new();
        for (what, sql) in ORPHANS {
            let n = c.query_one(sql, &[])?.int(0)?;
            if n > 0 {
                found.push(format!("{what}: {n}"));
            }
        }
        Ok(found)
    })
    .expect("orphan checks run")
}

/// `audit verify` and `db health` pass (exit 0) and no row points nowhere.
#[track_caller]
pub fn assert_sound(env: &Env, at: &str) {
    for args in [&["audit", "verify"][..], &["db", "health"][..]] {
        let run = env.run(args);
        assert_eq!(
            run.code,
            0,
            "{at}: `{}` exit {}\n{}{}",
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr
        );
    }
    let found = orphans(&env.db);
    assert!(found.is_empty(), "{at}: orphan rows: {found:?}");
}

/// How many audit events with `action` (and, if given, `target`) the database holds.
pub fn events(db: &TestDb, action: &str, target: Option<&str>) -> i64 {
    let target = target.map_or(String::new(), |t| format!(" AND target = '{t}'"));
    sql_int(
        db,
        &format!("SELECT COUNT(*) FROM audit_events WHERE action = '{action}'{target}"),
    )
}
