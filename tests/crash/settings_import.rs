//! `settings import` (with and without `--prune`) killed at random: the
//! environment is exactly the old state or exactly the new one (export with
//! secrets revealed, list with versions, history rows and audit entries),
//! and a re-run applies the file (or, after a commit, finds nothing to do).
//! Either way the history rows and audit events added equal the changes of
//! the dry run's plan taken before the kill (one of each per added, changed
//! or removed setting: a removal is a new version marked deleted).

use crate::cli_test;
use crate::harness::{assert_sound, kill_after, settle, sql_int, timed, Phase, Probe, Rng, Tally};
use crate::util::Env;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Settings in the environment before the first trial (a quarter secret).
const KEYS: usize = 600;
/// Settings each file adds.
const ADDED: usize = 60;

/// What the environment should hold: key → (value, secret).
type Model = BTreeMap<String, (String, bool)>;

/// Everything a kill could leave half done.
#[derive(Debug, PartialEq)]
struct Snapshot {
    export: String,
    list: String,
    history: i64,
    audit: i64,
}

fn snapshot(env: &Env) -> Snapshot {
    let export = env
        .run(&["settings", "export", "--format", "json", "--reveal"])
        .ok();
    let list = env.run(&["settings", "list", "-o", "json"]).ok();
    Snapshot {
        export: export.stdout,
        list: list.stdout,
        history: sql_int(&env.db, "SELECT COUNT(*) FROM settings_audit_log"),
        audit: sql_int(&env.db, "SELECT COUNT(*) FROM audit_events"),
    }
}

/// The next file: every key of `model` (a random 30 % with a new value;
/// with `prune`, a random 5 % left out), and [`ADDED`] new keys.
fn next_file(rng: &mut Rng, model: &Model, tag: &str, prune: bool) -> (String, Model) {
    let mut next = Model::new();
    for (key, (value, secret)) in model {
        if prune && rng.chance(5) {
            continue;
        }
        let value = if rng.chance(30) {
            format!("{tag}-{:x}", rng.next_u64())
        } else {
            value.clone()
        };
        next.insert(key.clone(), (value, *secret));
    }
    for j in 0..ADDED {
        next.insert(
            format!("{tag}.k{j:03}"),
            (format!("{tag}-new-{j}"), j % 4 == 0),
        );
    }
    (yaml(&next), next)
}

fn yaml(model: &Model) -> String {
    let mut text = String::from("settings:\n");
    for (key, (value, secret)) in model {
        if *secret {
            text.push_str(&format!("  {key}: {{value: \"{value}\", secret: true}}\n"));
        } else {
            text.push_str(&format!("  {key}: \"{value}\"\n"));
        }
    }
    text
}

/// `settings export --format json --reveal`'s `settings` for `model`.
fn expected_export(model: &Model) -> Value {
    let mut map = Map::new();
    for (key, (value, secret)) in model {
        let v = if *secret {
            json!({"value": value, "secret": true})
        } else {
            json!(value)
        };
        map.insert(key.clone(), v);
    }
    Value::Object(map)
}

fn import_args(path: &str, prune: bool) -> Vec<&str> {
    let mut args = vec!["settings", "import", "-f", path, "-o", "json"];
    if prune {
        args.extend(["--prune", "--yes"]);
    }
    args
}

fn changes(plan: &Value) -> usize {
    ["added", "changed", "removed"]
        .iter()
        .map(|k| plan[*k].as_array().map_or(0, Vec::len))
        .sum()
}

cli_test! {
    fn settings_import(env) {
        let (mut tally, mut rng) = Tally::start("settings import", env);
        env.init();
        let path = env.home.path().join("settings.yaml");
        let path_s = path.to_str().expect("UTF-8 temp path").to_owned();
        let mut model = Model::new();
        for i in 0..KEYS {
            model.insert(format!("app.k{i:04}"), (format!("base-{i}"), i % 4 == 0));
        }
        std::fs::write(&path, yaml(&model)).expect("write file");
        env.run(&import_args(&path_s, false)).ok();

        // Calibration: one whole run of a trial-sized file.
        let (text, next) = next_file(&mut rng, &model, "cal", true);
        std::fs::write(&path, text).expect("write file");
        let (_, mut whole) = timed(env, &import_args(&path_s, true), None);
        model = next;

        tally.calibrated(whole);
        let mut probe = Probe::new(&env.db);
        for trial in 0..crate::harness::trials() {
            let prune = trial % 2 == 1;
            let (text, next) = next_file(&mut rng, &model, &format!("t{trial}"), prune);
            std::fs::write(&path, text).expect("write file");
            let args = import_args(&path_s, prune);
            let old = snapshot(env);
            // The plan, made in a read transaction before the kill: every
            // change (added, changed, removed) writes one history row and
            // one audit event; a removal is a new version marked deleted,
            // with its own history row.
            let mut dry = args.clone();
            dry.push("--dry-run");
            let planned = changes(&env.run(&dry).ok().json());
            let kill = kill_after(env.command(&args), None, rng.kill_delay(whole), &mut probe);
            crate::harness::recalibrate(&mut whole, &kill, 0);
            settle(&env.db);
            let at = tally.at(&kill);
            let seen = snapshot(env);
            assert_sound(env, &at);
            let (plan, took) = timed(env, &args, None);
            let plan = plan.ok().json();
            let new = snapshot(env);
            assert_ne!(old, new, "{at}: the file changes nothing");
            let phase = if seen == old {
                assert_eq!(changes(&plan), planned, "{at}: the re-run's plan is not the dry run's: {plan}");
                whole = took; // a whole run: the next calibration
                if kill.in_txn { Phase::Mid } else { Phase::Before }
            } else if seen == new {
                assert_eq!(changes(&plan), 0, "{at}: the kill left the new state but a re-run changed more: {plan}");
                Phase::After
            } else {
                panic!("{at}: the kill left neither the old nor the new state:\nold {old:?}\nseen {seen:?}\nnew {new:?}");
            };
            let planned = i64::try_from(planned).expect("a count");
            assert_eq!(
                (new.history - old.history, new.audit - old.audit),
                (planned, planned),
                "{at}: (history rows, audit events) added, against {planned} planned changes"
            );
            let export: Value = serde_json::from_str(&new.export).expect("export is JSON");
            assert!(export["settings"] == expected_export(&next), "{at}: the environment is not the file's");
            let secret = next.iter().find(|(_, (_, s))| *s).expect("a secret");
            let raw = env.run(&["settings", "get", secret.0, "--raw", "--reveal"]).ok();
            assert_eq!(&raw.stdout, &secret.1 .0, "{at}: get --raw --reveal of {}", secret.0);
            assert_sound(env, &at);
            model = next;
            tally.record(&kill, phase);
        }
    }
}
