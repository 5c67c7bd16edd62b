//! The checks after the load: no lost write, an exact and linear audit
//! trail, exact rate windows, sessions that add up, a healthy database;
//! and the figures of the run.

use crate::support::Backend;
use crate::world::{audit_actions, run_at, Tally, World, RATE_LIMIT, T0};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;

/// What the run measured, as one JSON object (the report line).
pub struct Figures(pub Value);

/// Runs every end-of-run check, recording failures in the tally.
pub fn check_all(world: &World, load_secs: f64) -> Figures {
    let mut problems = Vec::new();
    check_settings(world, &mut problems);
    check_audit(world, &mut problems);
    check_windows(&world.tally(), &mut problems);
    check_sessions(world, &mut problems);
    let health = run_at(&world.env, &["db", "health"], None, T0);
    if health.code != 0 {
        problems.push(format!(
            "db health exited {}: {}",
            health.code, health.stderr
        ));
    }
    check_contention(world, &mut problems);
    let mut t = world.tally();
    t.failures.extend(problems);
    figures(world, &t, load_secs)
}

/// Seconds of load from which the rarer contention must have happened: an
/// `--if-version` conflict (about 0.1 a second on 2 cores) and a prune that
/// deleted something. Below it only what the 25 s short form reliably
/// produces is required.
const LONG_SECS: u64 = 120;

/// The load did contend (otherwise the exactness checks prove little), and
/// no run that succeeded spoke of locks or busy databases.
fn check_contention(world: &World, problems: &mut Vec<String>) {
    let t = world.tally();
    let over = t
        .windows
        .values()
        .filter(|w| w.attempts > RATE_LIMIT)
        .count();
    let op = |kind: &str| t.ops.get(kind).copied().unwrap_or(0);
    let races = op("refresh race (2 processes)");
    let conflicts = op("settings set --if-version (conflict)");
    let mut want = vec![
        ("a rate window over its limit", over as u64),
        ("a two-process refresh race", races),
        (
            "an --if-version conflict or a refresh race",
            conflicts + races,
        ),
    ];
    if world.plan.secs >= LONG_SECS {
        want.push(("an --if-version conflict", conflicts));
        want.push(("a prune during the load that deleted sessions", t.pruned));
    }
    for (what, n) in want {
        if n == 0 {
            problems.push(format!("no contention: not once {what}"));
        }
    }
    for quiet in crate::world::quiet_locks(world.env.url())
        .into_iter()
        .take(5)
    {
        problems.push(format!("a successful run spoke of locks: {quiet}"));
    }
}

/// Every key's value and version count are what the workers saw succeed.
fn check_settings(world: &World, problems: &mut Vec<String>) {
    let listed = run_at(
        &world.env,
        &["settings", "list", "--reveal", "-o", "json"],
        None,
        T0,
    )
    .ok()
    .json();
    let mut stored: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for s in listed.as_array().expect("settings list is an array") {
        let key = s["key"].as_str().expect("key").to_owned();
        let value = s["value"].as_str().unwrap_or("<not a string>").to_owned();
        let version = s["version"].as_u64().expect("version");
        stored.insert(key, (value, version));
    }
    let t = world.tally();
    if stored.len() != t.versions.len() {
        problems.push(format!(
            "{} settings stored, the workers wrote {}",
            stored.len(),
            t.versions.len()
        ));
    }
    for (key, versions) in &t.versions {
        match stored.get(key) {
            None => problems.push(format!("lost write: {key} is missing")),
            Some((_, n)) if n != versions => problems.push(format!(
                "lost write: {key} is at version {n}, {versions} writes of it succeeded"
            )),
            Some((v, _)) => match t.values.get(key) {
                Some(want) if v != want => problems.push(format!(
                    "lost write: {key} holds {v:?}, its owner last wrote {want:?}"
                )),
                _ => {}
            },
        }
    }
    let mut wins = t.cas_wins.clone();
    wins.sort_unstable();
    wins.dedup();
    if wins.len() != t.cas_wins.len() {
        problems.push(format!(
            "two --if-version writes won on the same version: {:?}",
            t.cas_wins
        ));
    }
    // Each owned key's history has one row per write; each shared key's
    // history holds exactly the values written, its newest the current one.
    let owned: Vec<(String, u64)> = t
        .versions
        .iter()
        .filter(|(k, _)| !k.contains(".i") && !t.shared.contains_key(*k))
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    let shared = t.shared.clone();
    drop(t);
    for (key, versions) in owned {
        let rows = history(world, &key).len() as u64;
        if rows != versions {
            problems.push(format!(
                "{key}: {rows} history rows, {versions} writes succeeded"
            ));
        }
    }
    for (key, mut written) in shared {
        let rows = history(world, &key);
        let mut values: Vec<String> = rows
            .iter()
            .map(|r| r["value"].as_str().unwrap_or("<not a string>").to_owned())
            .collect();
        let newest = rows
            .iter()
            .max_by_key(|r| r["version"].as_u64())
            .and_then(|r| r["value"].as_str());
        let current = stored.get(&key).map(|(v, _)| v.as_str());
        if newest != current {
            problems.push(format!(
                "{key}: holds {current:?}, its newest version {newest:?}"
            ));
        }
        values.sort();
        written.sort();
        if values != written {
            problems.push(format!(
                "lost write: {key} has the history values {values:?}, the workers wrote {written:?}"
            ));
        }
    }
}

/// The rows of `settings history KEY --reveal`.
fn history(world: &World, key: &str) -> Vec<Value> {
    let run = run_at(
        &world.env,
        &["settings", "history", key, "--reveal", "-o", "json"],
        None,
        T0,
    )
    .ok();
    run.json().as_array().cloned().unwrap_or_default()
}

/// `audit verify` passes and the entries added during the load are exactly
/// the audited successes, action by action.
fn check_audit(world: &World, problems: &mut Vec<String>) {
    let verify = run_at(&world.env, &["audit", "verify"], None, T0);
    if verify.code != 0 {
        problems.push(format!(
            "audit verify exited {}: {}",
            verify.code, verify.stderr
        ));
    }
    let after = audit_actions(&world.env);
    let mut added: BTreeMap<String, u64> = BTreeMap::new();
    for (action, n) in &after {
        let before = world.audit_before.get(action).copied().unwrap_or(0);
        if *n != before {
            added.insert(action.clone(), n - before);
        }
    }
    let t = world.tally();
    let writes: u64 = t.versions.values().sum();
    let created = t.versions.len() as u64;
    let mut want = BTreeMap::new();
    for (action, n) in [
        ("signing_key.create", u64::from(t.logins > 0)),
        ("user.login", t.logins),
        ("session.create", t.logins),
        ("session.refresh", t.refreshes),
        ("session.refresh_reuse", t.reuses),
        ("session.prune", t.prunes),
        ("setting.create", created),
        ("setting.update", writes - created),
    ] {
        if n > 0 {
            want.insert(action.to_owned(), n);
        }
    }
    if added != want {
        problems.push(format!(
            "audit entries added during the load {added:?}, audited successes {want:?}"
        ));
    }
}

/// In each rate window exactly min(limit, attempts) verifications succeeded.
fn check_windows(t: &Tally, problems: &mut Vec<String>) {
    for (epoch, w) in &t.windows {
        if w.successes != w.attempts.min(RATE_LIMIT) {
            problems.push(format!(
                "rate window {epoch}: {} of {} verifications succeeded, limit {RATE_LIMIT}",
                w.successes, w.attempts
            ));
        }
    }
}

/// A last prune deletes the rest: the prunes together deleted every ended
/// or revoked session exactly once, and every live session is still there.
fn check_sessions(world: &World, problems: &mut Vec<String>) {
    let run = run_at(
        &world.env,
        &["sessions", "prune", "--yes", "-o", "json"],
        None,
        T0,
    )
    .ok();
    let last = run.json()["deleted"].as_u64().expect("deleted");
    let left: u64 = world
        .env
        .sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM sessions")
        .parse()
        .expect("a count");
    let t = world.tally();
    let gone = t.ended_logins + t.reuses;
    if t.pruned + last != gone {
        problems.push(format!(
            "prunes deleted {} + {last} sessions; {gone} had ended or were revoked",
            t.pruned
        ));
    }
    let live = t.logins - gone;
    if left != live {
        problems.push(format!("{left} sessions left, {live} should be live"));
    }
}

fn figures(world: &World, t: &Tally, load_secs: f64) -> Figures {
    let total: u64 = t.ops.values().sum();
    let per_sec: BTreeMap<&str, f64> = t
        .ops
        .iter()
        .map(|(k, n)| (*k, (*n as f64 / load_secs * 10.0).round() / 10.0))
        .collect();
    let windows_full = t
        .windows
        .values()
        .filter(|w| w.attempts > RATE_LIMIT)
        .count();
    Figures(json!({
        "suite": "soak",
        "case": "mixed load",
        "backend": match world.plan.backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" },
        "seed": world.plan.seed,
        "procs": world.plan.procs,
        "secs": (load_secs * 10.0).round() / 10.0,
        "ops": total,
        "ops_per_sec": (total as f64 / load_secs * 10.0).round() / 10.0,
        "per_kind": t.ops,
        "per_kind_per_sec": per_sec,
        "rate_windows": t.windows.len(),
        "rate_windows_over_limit": windows_full,
        "lock_errors": t.lock_errors,
        "failures": t.failures.len(),
    }))
}

/// Fails the test, with the seed, when anything did not hold.
pub fn assert_clean(world: &World, figures: &Figures) {
    let t = world.tally();
    {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "soak figures: {}", figures.0);
    }
    assert!(
        t.failures.is_empty(),
        "soak failed (repeat with KEYWARD_RELIABILITY_SEED={}): {} problem(s), {} lock error(s)\n\n{}",
        world.plan.seed,
        t.failures.len(),
        t.lock_errors,
        t.failures.join("\n\n")
    );
}
