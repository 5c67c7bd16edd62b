//! `db copy --to <fresh target>` killed at random (SQLite to PostgreSQL and
//! PostgreSQL to SQLite; SQLite to SQLite without a server): the target is
//! untouched (no table), empty (migrated) or complete, never partly filled;
//! a partly migrated schema (some tables missing: not seen, as each backend
//! migrates in one transaction) must be completed by the re-run; the same
//! copy re-run afterwards completes (or, onto a complete target, is refused
//! as not empty), and the target passes `audit verify`, `db health` and the
//! orphan checks with the source's row counts.

use crate::cli_test;
use crate::harness::{assert_sound, kill_after, settle, timed, Phase, Probe, Tally};
use crate::support::{Backend, TestDb};
use crate::util::{at, Env};

/// Settings (a fifth secret) and sessions in the source.
const SETTINGS: usize = 2000;
const SESSIONS: i64 = 6000;

/// What a target holds.
#[derive(Debug, PartialEq)]
enum Target {
    /// No table of keyward's (SQLite: not even the file).
    NoSchema,
    /// Some of keyward's tables, not all: these are missing.
    Partial(Vec<String>),
    /// Every table, with its row count.
    Rows(Vec<(String, i64)>),
}

/// Which of keyward's tables `db` has, and their row counts when it has all.
fn row_counts(db: &TestDb) -> Target {
    if db.backend == Backend::Sqlite {
        let path = db.url.strip_prefix("sqlite://").expect("an sqlite:// URL");
        if !std::path::Path::new(path).exists() {
            return Target::NoSchema;
        }
    }
    let exists = match db.backend {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    let mut store = db.open_raw();
    keyward::store::read(store.as_mut(), |c| {
        let mut missing = Vec::new();
        for (table, _) in keyward::store::copy::TABLES {
            let name = keyward::store::Value::Text((*table).to_owned());
            if c.query_one(exists, std::slice::from_ref(&name))?.int(0)? == 0 {
                missing.push((*table).to_owned());
            }
        }
        if missing.len() == keyward::store::copy::TABLES.len() {
            return Ok(Target::NoSchema);
        }
        if !missing.is_empty() {
            return Ok(Target::Partial(missing));
        }
        let mut counts = Vec::new();
        for (table, _) in keyward::store::copy::TABLES {
            let n = c
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])?
                .int(0)?;
            counts.push(((*table).to_owned(), n));
        }
        Ok(Target::Rows(counts))
    })
    .expect("the target's catalog reads")
}

/// A fresh target of the other backend (SQLite when no server is configured).
fn target(env: &Env) -> Env {
    let backend = match env.db.backend {
        Backend::Sqlite if crate::support::pg_base_url().is_some() => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let key = env.key_file().to_str().expect("UTF-8").to_owned();
    let mut target = Env::new(backend).expect("a target database");
    target.vars.push(("KEYWARD_KEY_FILE".into(), key));
    target
}

/// The source's counts as the target holds them after a copy: one more audit event.
fn copied(source: &[(String, i64)]) -> Vec<(String, i64)> {
    source
        .iter()
        .map(|(t, n)| (t.clone(), if t == "audit_events" { n + 1 } else { *n }))
        .collect()
}

fn fill(env: &mut Env) {
    env.init();
    let mut yaml = String::from("settings:\n");
    for i in 0..SETTINGS {
        if i % 5 == 0 {
            yaml.push_str(&format!(
                "  app.k{i:05}: {{value: \"secret {i}\", secret: true}}\n"
            ));
        } else {
            yaml.push_str(&format!(
                "  app.k{i:05}: {{value: {i}, type: int, category: c{}}}\n",
                i % 7
            ));
        }
    }
    let file = env.home.path().join("settings.yaml");
    std::fs::write(&file, yaml).expect("write file");
    env.run(&["settings", "import", "-f", file.to_str().expect("UTF-8")])
        .ok();
    crate::util::add_user(env, "alice", "viewer");
    at(env, "2030-01-01T00:00:00Z");
    let login = crate::util::login(env, "alice", &[]);
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SESSIONS}) \
         INSERT INTO sessions (user_id, access_jti, refresh_jti, device, created_at, expires_at, \
           refresh_expires_at, refresh_hash, refresh_count) \
         SELECT t.user_id, substr(t.access_jti, 1, length(t.access_jti) - 7) || substr(CAST(10000000 + n.i AS TEXT), 2), \
           substr(t.refresh_jti, 1, length(t.refresh_jti) - 7) || substr(CAST(10000000 + n.i AS TEXT), 2), \
           'copy', t.created_at, t.expires_at, t.refresh_expires_at, t.refresh_hash, t.refresh_count \
         FROM n, sessions t WHERE t.id = {}",
        login["session_id"]
    );
    env.sql(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    env.run(&["apikeys", "create", "svc", "--permission", "flags:read"])
        .ok();
}

cli_test! {
    fn db_copy(env) {
        let (mut tally, mut rng) = Tally::start("db copy", env);
        fill(env);
        let Target::Rows(source) = row_counts(&env.db) else {
            panic!("the source has every table");
        };
        let first = target(env);
        let (run, mut whole) = timed(env, &["db", "copy", "--to", first.url(), "-o", "json"], None);
        run.ok();
        assert_eq!(row_counts(&first.db), Target::Rows(copied(&source)));
        tally.extra.insert("target".into(), format!("{:?}", first.db.backend).to_lowercase().into());
        drop(first);
        tally.calibrated(whole);

        let mut partial = 0;
        for _ in 0..crate::harness::trials() {
            let to = target(env);
            let args = ["db", "copy", "--to", to.url(), "-o", "json"];
            let mut probe = Probe::new(&to.db);
            let kill = kill_after(env.command(&args), None, rng.kill_delay(whole), &mut probe);
            crate::harness::recalibrate(&mut whole, &kill, 0);
            drop(probe);
            settle(&to.db);
            let at = tally.at(&kill);
            let seen = row_counts(&to.db);
            let (rerun, took) = timed(env, &args, None);
            let phase = match &seen {
                Target::Rows(counts) if *counts == copied(&source) => {
                    assert_eq!(rerun.code, 4, "{at}: a copy onto a complete target\n{}", rerun.stderr);
                    Phase::After
                }
                Target::Rows(counts) => {
                    let filled: Vec<_> = counts.iter().filter(|(t, n)| *n > 0 && t != "audit_head").collect();
                    assert!(filled.is_empty(), "{at}: a partly filled target: {filled:?}");
                    assert_eq!(rerun.code, 0, "{at}: the re-run onto an empty target\n{}", rerun.stderr);
                    whole = took; // a whole run: the next calibration
                    if kill.in_txn { Phase::Mid } else { Phase::Before }
                }
                Target::Partial(missing) => {
                    // Not seen so far (each backend migrates in one
                    // transaction), but should it happen, the re-run must
                    // finish the schema and the copy.
                    assert_eq!(rerun.code, 0, "{at}: the re-run onto a partly migrated target (missing {missing:?})\n{}", rerun.stderr);
                    partial += 1;
                    whole = took; // a whole run: the next calibration
                    Phase::Mid
                }
                Target::NoSchema => {
                    assert_eq!(rerun.code, 0, "{at}: the re-run onto an untouched target\n{}", rerun.stderr);
                    whole = took; // a whole run: the next calibration
                    Phase::Before
                }
            };
            if rerun.code == 0 {
                let out = rerun.json();
                assert_eq!(out["source_head"], out["target_head"], "{at}: the heads");
            }
            assert_eq!(row_counts(&to.db), Target::Rows(copied(&source)), "{at}: the target's rows");
            assert_sound(&to, &at);
            tally.record(&kill, phase);
        }
        tally.extra.insert("partial_schema".into(), partial.into());
    }
}
