//! Concurrency soak (issue 13, SPEC §5): P worker threads, each running
//! keyward processes one after another, mix `sessions login`/`refresh`
//! (including two processes racing on one refresh token), `settings set`
//! (own keys, shared keys, `--if-version` races) and `import`, `sessions
//! prune`, `apikeys verify` of one rate-limited key and `flags eval`, for T
//! seconds on each backend. Every command must exit 0 or
//! with that operation's documented refusal; at the end no write is lost,
//! the audit chain is linear and counts exactly the audited successes, rate
//! windows are exact and `db health` passes.
//!
//! Size: `KEYWARD_SOAK_SECS` (seconds of load per backend, default 25: the
//! CI short form; the long form is 600) and `KEYWARD_SOAK_PROCS` (workers,
//! default 6). `KEYWARD_RELIABILITY_SEED` repeats a run's choices;
//! `KEYWARD_RELIABILITY_REPORT` names a file to append the figures to.

#[path = "../support/mod.rs"]
mod support;
#[path = "../cli/util.rs"]
mod util;

mod checks;
mod ops;
mod settings;
mod world;

use support::{reliability, Backend};

/// Default seconds of mixed load per backend (the CI short form).
const DEFAULT_SECS: u64 = 25;
/// Default number of concurrent workers.
const DEFAULT_PROCS: u64 = 6;

fn soak(backend: Backend) {
    let Some(env) = util::Env::new(backend) else {
        return;
    };
    let plan = world::Plan {
        secs: reliability::knob("KEYWARD_SOAK_SECS", DEFAULT_SECS),
        procs: reliability::knob("KEYWARD_SOAK_PROCS", DEFAULT_PROCS).max(2),
        seed: reliability::seed(),
        backend,
    };
    {
        // Written to the real stderr, so a run that panics anywhere still names its seed.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "soak on {backend:?}: KEYWARD_RELIABILITY_SEED={} KEYWARD_SOAK_SECS={} KEYWARD_SOAK_PROCS={}",
            plan.seed,
            plan.secs,
            plan.procs
        );
    }
    let world = world::World::set_up(env, plan);
    let started = std::time::Instant::now();
    ops::run_workers(&world);
    let load_secs = started.elapsed().as_secs_f64();
    let figures = checks::check_all(&world, load_secs);
    reliability::report(&figures.0);
    checks::assert_clean(&world, &figures);
}

#[test]
fn soak_sqlite() {
    soak(Backend::Sqlite);
}

#[test]
fn soak_postgres() {
    soak(Backend::Postgres);
}
