//! The settings operations of the workers: `settings set` of keys a worker
//! owns and of keys all workers share, `--if-version` races on one shared
//! key, and `settings import` of small files.

use crate::ops::Worker;
use crate::world::{run_at, T0};
use serde_json::Value;

/// Keys every worker writes (`shared.k0` …), besides its own (`w<id>.k0` …).
const SHARED_KEYS: u64 = 3;
/// The key workers change with `--if-version`.
pub const CAS_KEY: &str = "shared.cas";

/// A key for one write: one of the worker's own, or (a quarter of the time) a shared one.
fn pick_key(w: &mut Worker) -> (String, bool) {
    if w.rng.chance(25) {
        (format!("shared.k{}", w.rng.below(SHARED_KEYS)), true)
    } else {
        (format!("w{}.k{}", w.id, w.rng.below(4)), false)
    }
}

/// `settings set` to a value naming worker and sequence (some `--secret`).
pub fn set(w: &mut Worker) {
    w.seq += 1;
    let (key, shared) = pick_key(w);
    let value = format!("w{}-s{}", w.id, w.seq);
    let secret = w.rng.chance(30);
    let env = &w.world.env;
    let run = if secret {
        run_at(
            env,
            &["settings", "set", &key, "--secret", "--value-stdin"],
            Some(&value),
            T0,
        )
    } else {
        run_at(env, &["settings", "set", &key, &value], None, T0)
    };
    if run.code != 0 {
        return w.fail("settings set", &run);
    }
    let mut t = w.world.tally();
    t.wrote(&key, &value, shared);
    t.op(if secret {
        "settings set --secret"
    } else {
        "settings set"
    });
}

/// `settings set shared.cas --if-version N` with the version just read:
/// it is written (exit 0) or another worker got there first (exit 4).
pub fn check_and_set(w: &mut Worker) {
    w.seq += 1;
    let env = &w.world.env;
    let got = run_at(env, &["settings", "get", CAS_KEY, "-o", "json"], None, T0);
    let version = match got.code {
        0 => serde_json::from_str::<Value>(&got.stdout)
            .ok()
            .and_then(|v| v["version"].as_u64()),
        3 => Some(0),
        _ => None,
    };
    let Some(version) = version else {
        return w.fail("settings get (before --if-version)", &got);
    };
    let value = format!("w{}-s{}", w.id, w.seq);
    let v = version.to_string();
    let run = run_at(
        env,
        &["settings", "set", CAS_KEY, &value, "--if-version", &v],
        None,
        T0,
    );
    let mut t = w.world.tally();
    match run.code {
        0 => {
            t.wrote(CAS_KEY, &value, true);
            t.cas_wins.push(version);
            t.op("settings set --if-version (won)");
        }
        4 => t.op("settings set --if-version (conflict)"),
        _ => t.fail("settings set --if-version", &run),
    }
}

/// `settings import` of a small file: two new keys and one existing key.
pub fn import(w: &mut Worker) {
    w.seq += 1;
    let (id, seq) = (w.id, w.seq);
    let (existing, shared) = pick_key(w);
    let entries = [
        (format!("w{id}.i{seq}.a"), format!("w{id}-s{seq}-a"), false),
        (format!("w{id}.i{seq}.b"), format!("w{id}-s{seq}-b"), false),
        (existing, format!("w{id}-s{seq}"), shared),
    ];
    let mut yaml = String::from("settings:\n");
    for (k, v, _) in &entries {
        yaml.push_str(&format!("  {k}: {{value: \"{v}\"}}\n"));
    }
    let path = w.world.env.home.path().join(format!("import-{id}.yaml"));
    std::fs::write(&path, yaml).expect("write the import file");
    let file = path.to_string_lossy().into_owned();
    let run = run_at(
        &w.world.env,
        &["settings", "import", "-f", &file, "-o", "json"],
        None,
        T0,
    );
    if run.code != 0 {
        return w.fail("settings import", &run);
    }
    let mut t = w.world.tally();
    for (k, v, shared) in &entries {
        t.wrote(k, v, *shared);
    }
    t.op("settings import");
}
