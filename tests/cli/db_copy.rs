//! `keyward db copy --to URL`: a whole deployment into an empty database of
//! the other backend (or the same), byte for byte, audit chain intact.

use crate::cli_test;
use crate::support::Backend;
use crate::util::{add_user, at, set_secret, totp_code, Env};
use serde_json::Value;

const PW: &str = "correct horse battery staple 9\n";
const NOW: &str = "2026-01-01T00:00:00Z";
const NOW_UNIX: i64 = 1_767_225_600;

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// A target world on `backend` sharing `source`'s key file and clock.
fn target_of(source: &Env, backend: Backend) -> Option<Env> {
    let mut target = Env::new(backend)?;
    let key = target.key_file();
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::copy(source.key_file(), &key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    at(&mut target, NOW);
    Some(target)
}

/// What the source was filled with, to check on the target.
struct Filled {
    access_token: String,
    api_key: String,
    max_session: i64,
}

fn login(env: &Env, name: &str) -> Value {
    env.run_with_stdin(
        &["sessions", "login", name, "--password-stdin", "-o", "json"],
        Some(PW),
    )
    .ok()
    .json()
}

/// Fills every table through keyward's own commands.
fn fill(env: &mut Env) -> Filled {
    at(env, NOW);
    env.init();
    add_user(env, "alice", "viewer");
    add_user(env, "bob", "operator");
    add_user(env, "carol", "viewer");
    let uri = s(&env
        .run(&["users", "totp", "enroll", "alice", "-o", "json"])
        .ok()
        .json()["uri"]);
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    env.run(&[
        "users",
        "totp",
        "verify",
        "alice",
        &totp_code(&secret, NOW_UNIX),
    ])
    .ok();
    env.run(&["roles", "add", "beta", "--description", "Early adopters"])
        .ok();
    env.run(&["roles", "grant", "beta", "flags:read", "reports:read"])
        .ok();
    env.run(&["roles", "assign", "beta", "carol"]).ok();
    // alice has TOTP now; bob and carol log in with passwords.
    let first = login(env, "bob");
    login(env, "carol");
    // A deleted newest session: its id must never come back on the target.
    let gone = login(env, "carol");
    env.sql(&format!(
        "DELETE FROM sessions WHERE id = {}",
        gone["session_id"]
    ))
    .unwrap();
    env.run(&["settings", "set", "greeting", "hello"]).ok();
    env.run(&["settings", "set", "greeting", "hello, world\ttabbed\\slash"])
        .ok();
    set_secret(env, "smtp.password", "hunter2 \\N\nline", "production");
    env.run(&[
        "flags",
        "add",
        "checkout",
        "--description",
        "One-page checkout",
    ])
    .ok();
    env.run(&["--env", "staging", "flags", "enable", "checkout"])
        .ok();
    env.run(&[
        "--env",
        "staging",
        "flags",
        "set",
        "checkout",
        "--percentage",
        "50",
    ])
    .ok();
    env.run(&["--env", "production", "flags", "enable", "checkout"])
        .ok();
    env.run(&[
        "--env",
        "production",
        "flags",
        "target",
        "checkout",
        "--role",
        "beta",
    ])
    .ok();
    let old = env
        .run(&[
            "apikeys",
            "create",
            "partner",
            "--user",
            "bob",
            "--permission",
            "flags:read",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let rotated = env
        .run(&["apikeys", "rotate", &s(&old["key_prefix"]), "-o", "json"])
        .ok()
        .json();
    Filled {
        access_token: s(&first["access_token"]),
        api_key: s(&rotated["key"]),
        max_session: gone["session_id"].as_i64().unwrap(),
    }
}

fn evals(env: &Env) -> Vec<Value> {
    let mut out = Vec::new();
    for environment in ["staging", "production", "development"] {
        for user in ["alice", "bob", "carol", "u1", "u2", "u3", "u4", "u5"] {
            let run = env.run(&[
                "--env",
                environment,
                "flags",
                "eval",
                "checkout",
                "--user",
                user,
                "-o",
                "json",
            ]);
            out.push(run.json());
        }
    }
    out
}

fn copy_json(source: &Env, target: &Env) -> Value {
    source
        .run(&["db", "copy", "--to", target.url(), "-o", "json"])
        .ok()
        .json()
}

/// Copies a filled `from` deployment into an empty `to` database and checks it there.
fn copies_everything(from: Backend, to: Backend) {
    let Some(mut source) = Env::new(from) else {
        return;
    };
    let filled = fill(&mut source);
    let Some(target) = target_of(&source, to) else {
        return;
    };
    let source_head = s(&source.run(&["audit", "verify", "-o", "json"]).ok().json()["head"]);
    let before = evals(&source);

    let out = copy_json(&source, &target);
    assert_eq!(s(&out["source_head"]), source_head);
    assert_eq!(s(&out["target_head"]), source_head);
    assert!(out["seconds"].as_f64().unwrap() >= 0.0);
    let rows = |name: &str| {
        out["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["rows"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(rows("users"), 3);
    assert_eq!(rows("api_keys"), 2);
    assert_eq!(rows("sessions"), 2);
    assert_eq!(rows("feature_flag_states"), 2);
    assert!(rows("audit_events") > 10 && rows("settings_audit_log") == 3);

    check_target(&source, &target, &filled, &out, &source_head, &before);
}

/// What the target must show after the copy of [`fill`]'s deployment.
fn check_target(
    source: &Env,
    target: &Env,
    filled: &Filled,
    out: &Value,
    source_head: &str,
    before: &[Value],
) {
    // The chain continues: the copied entries verify, then the copy's own event.
    let verified = target.run(&["audit", "verify", "-o", "json"]).ok().json();
    assert_eq!(verified["ok"], true);
    assert_eq!(s(&verified["head"]), s(&out["copy_event_hash"]));
    let events = target
        .run(&["audit", "list", "--all", "-o", "json"])
        .ok()
        .json();
    let copy_event = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "db.copy")
        .unwrap();
    assert_eq!(s(&copy_event["prev_hash"]), source_head);
    assert_eq!(copy_event["details"]["tables"], out["tables"]);

    // Secrets decrypt with the same key file; hashes still match.
    let secret = target
        .run(&[
            "settings",
            "get",
            "smtp.password",
            "--env",
            "production",
            "--reveal",
            "--raw",
        ])
        .ok();
    assert_eq!(secret.stdout.trim_end_matches('\n'), "hunter2 \\N\nline");
    let plain = target.run(&["settings", "get", "greeting", "--raw"]).ok();
    assert_eq!(
        plain.stdout.trim_end_matches('\n'),
        "hello, world\ttabbed\\slash"
    );
    let history = target
        .run(&["settings", "history", "greeting", "-o", "json"])
        .ok()
        .json();
    assert_eq!(history.as_array().unwrap().len(), 2);
    let check = target.run_with_stdin(
        &[
            "users",
            "check-password",
            "bob",
            "--password-stdin",
            "-o",
            "json",
        ],
        Some(PW),
    );
    check.ok();
    let shown = target
        .run(&["users", "show", "alice", "-o", "json"])
        .ok()
        .json();
    assert_eq!(shown["totp_enabled"], true);
    target
        .run_with_stdin(
            &["apikeys", "verify", "--key-stdin", "-o", "json"],
            Some(&format!("{}\n", filled.api_key)),
        )
        .ok();
    let verify = target.run_with_stdin(
        &["sessions", "verify", "--token-stdin", "-o", "json"],
        Some(&format!("{}\n", filled.access_token)),
    );
    assert_eq!(verify.ok().json()["valid"], true);
    assert_eq!(evals(target), before);

    // New writes: no id collisions, and no id of a deleted session reused.
    add_user(target, "dave", "viewer");
    let fresh = login(target, "dave");
    assert!(
        fresh["session_id"].as_i64().unwrap() > filled.max_session,
        "{fresh}"
    );
    target.run(&["flags", "add", "search"]).ok();
    target
        .run(&[
            "apikeys", "create", "second", "--user", "dave", "-o", "json",
        ])
        .ok();
    target.run(&["settings", "set", "greeting", "again"]).ok();
    assert_eq!(
        target.run(&["audit", "verify", "-o", "json"]).ok().json()["ok"],
        true
    );

    // The target now holds data: a second copy is refused, naming a table.
    source
        .run(&["db", "copy", "--to", target.url()])
        .code(4)
        .stderr_has("holds");
}

#[test]
fn sqlite_to_postgres() {
    copies_everything(Backend::Sqlite, Backend::Postgres);
}

#[test]
fn postgres_to_sqlite() {
    copies_everything(Backend::Postgres, Backend::Sqlite);
}

cli_test! {
    /// Same backend both sides also works (a snapshot onto a laptop).
    fn copies_to_the_same_backend(env) {
        let backend = env.db.backend;
        let filled = fill(env);
        let Some(target) = target_of(env, backend) else { return };
        let out = copy_json(env, &target);
        assert_eq!(out["source_head"], out["target_head"]);
        target
            .run_with_stdin(&["apikeys", "verify", "--key-stdin"], Some(&format!("{}\n", filled.api_key)))
            .ok();
    }
}

cli_test! {
    /// A target with data, of another schema version, or the source itself is refused.
    fn refuses_what_it_must_not_write_into(env) {
        let backend = env.db.backend;
        at(env, NOW);
        env.init();
        env.run(&["db", "copy", "--to", env.url()]).code(2);
        env.run(&["db", "copy", "--to", "sqlite::memory:"]).code(2).stderr_has("in-memory");
        // The same database under another spelling: a hard link to the file,
        // or `localhost` for `127.0.0.1`.
        match backend {
            Backend::Sqlite => {
                let path = env.url().trim_start_matches("sqlite://").to_owned();
                let link = format!("{path}.link");
                std::fs::hard_link(&path, &link).unwrap();
                env.run(&["db", "copy", "--to", &format!("sqlite://{link}")]).code(2).stderr_has("being copied");
                std::fs::remove_file(&link).unwrap();
            }
            Backend::Postgres => {
                let other = env.url().replacen("127.0.0.1", "localhost", 1);
                if other != env.url() {
                    env.run(&["db", "copy", "--to", &other]).code(2).stderr_has("being copied");
                }
            }
        }
        // Prepared with `db migrate`: its audit entry makes it non-empty, and
        // the message says what to do instead.
        if let Some(prepared) = target_of(env, backend) {
            prepared.run(&["db", "migrate"]).ok();
            env.run(&["db", "copy", "--to", prepared.url()]).code(4).stderr_has("let `db copy` create the schema");
        }
        // Initialised: it holds rows (roles, permissions, audit entries).
        let Some(busy) = target_of(env, backend) else { return };
        busy.init();
        env.run(&["db", "copy", "--to", busy.url()]).code(4).stderr_has("holds");
        // Migrated to V5 only, and empty.
        let Some(older) = target_of(env, backend) else { return };
        drop(older.db.open());
        older.undo_v6();
        env.run(&["db", "copy", "--to", older.url()]).code(4).stderr_has("schema version V5");
        assert_eq!(older.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM users"), "0");
    }
}

cli_test! {
    /// A copy killed half way leaves the target empty; a second one succeeds.
    fn a_killed_copy_leaves_the_target_empty(env) {
        let backend = env.db.backend;
        at(env, NOW);
        env.init();
        let many = match backend {
            Backend::Sqlite => "INSERT INTO settings (key, environment, value, created_at, updated_at) \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) \
                 SELECT 'k' || i, 'development', 'v', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM n",
            Backend::Postgres => "INSERT INTO settings (key, environment, value, created_at, updated_at) \
                 SELECT 'k' || i, 'development', 'v', now(), now() FROM generate_series(1, 300000) i",
        };
        env.sql(many).unwrap();
        let Some(target) = target_of(env, if backend == Backend::Sqlite { Backend::Postgres } else { Backend::Sqlite }) else { return };
        let mut child = env
            .command(&["db", "copy", "--to", target.url()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill it once PostgreSQL shows it mid-copy: reading the settings
        // table's pages on a PostgreSQL source; on a target, any writing
        // transaction (the copy's is open, with an xid, until its COMMIT).
        let pg = if backend == Backend::Postgres { &*env } else { &target };
        let watch = "SELECT COUNT(*)::text FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
             AND (backend_xid IS NOT NULL OR query LIKE 'SELECT % FROM settings WHERE id > $1 %')";
        let started = std::time::Instant::now();
        // (Other tests' copies may match too: waiting for the target's schema first
        // keeps the kill after the migration; any moment before the commit will do.)
        // (A read: a write would wait for the copy's audit-chain lock.)
        let migrated = || {
            let mut store = target.db.open_raw();
            keyward::store::read(store.as_mut(), |c| c.query("SELECT id FROM settings LIMIT 1", &[])).is_ok()
        };
        let waiting = || !migrated() || pg.sql_text(watch) == "0";
        while waiting() && started.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the copy finished before it was killed: make the source bigger");
        assert_eq!(target.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM settings"), "0");
        assert_eq!(target.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM audit_events"), "0");
        let out = copy_json(env, &target);
        assert_eq!(out["source_head"], out["target_head"]);
        assert_eq!(target.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM settings"), "300000");
    }
}
