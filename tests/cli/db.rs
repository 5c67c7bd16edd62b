//! `keyward db …` as a user meets it.

use crate::util::{mode, Env};
use crate::{cli_test, support::Backend};

/// First run in an empty HOME: the default SQLite database and a 0600 key
/// file land in the platform dirs, and the second run changes nothing.
#[test]
fn init_in_empty_home_creates_database_and_private_key() {
    let mut env = Env::new(Backend::Sqlite).unwrap();
    env.use_url = false;
    let first = env.run(&["db", "init", "-o", "json"]).ok();
    let report = first.json();
    assert_eq!(report["database_created"], true);
    assert_eq!(report["key_created"], true);
    assert_eq!(report["changed"], true);
    assert_eq!(report["permissions_added"], 13);
    assert_eq!(report["roles_added"], 4);
    assert!(env.default_db().exists());
    assert_eq!(mode(&env.key_file()), 0o600);
    assert!(
        first.stderr.contains(&env.key_file().display().to_string()),
        "says where the key is"
    );
    assert!(first.stderr.contains("back it up"));

    let entries_before = env.run(&["audit", "list", "-o", "json"]).ok().json();
    let second = env
        .run(&["db", "init", "-o", "json"])
        .ok()
        .stderr_has("nothing changed");
    assert_eq!(second.json()["changed"], false);
    let entries_after = env.run(&["audit", "list", "-o", "json"]).ok().json();
    assert_eq!(
        entries_before, entries_after,
        "a second init writes nothing"
    );
}

cli_test! {
    /// After init, status lists every migration as applied and health is green.
    fn status_and_health_after_init(env) {
        env.init();
        let status = env.run(&["db", "status", "-o", "json"]).ok().json();
        let migrations = status.as_array().unwrap();
        assert!(!migrations.is_empty());
        assert!(migrations.iter().all(|m| m["applied"] == true), "{status}");
        let health = env.run(&["db", "health", "-o", "json"]).ok().json();
        assert_eq!(health["healthy"], true);
        assert_eq!(health["key_matches"], true);
        assert_eq!(health["schema_current"], true);
    }
}

cli_test! {
    /// A database nobody migrated: exit 6 telling the user to run `db migrate`.
    fn unmigrated_database_is_exit_6(env) {
        // Create the (empty) database without migrating it.
        env.sql("CREATE TABLE IF NOT EXISTS placeholder (x INTEGER)").unwrap();
        env.run(&["audit", "list"]).code(6).stderr_has("keyward db migrate");
        env.run(&["db", "health", "-o", "json"]).code(6);
        let status = env.run(&["db", "status", "-o", "json"]).ok().json();
        assert!(status.as_array().unwrap().iter().any(|m| m["applied"] == false));
        env.run(&["db", "migrate", "--dry-run", "-o", "json"]).ok();
        env.run(&["audit", "list"]).code(6);
        let applied = env.run(&["db", "migrate", "-o", "json"]).ok().json();
        assert!(!applied.as_array().unwrap().is_empty());
        env.run(&["db", "migrate"]).ok().stderr_has("up to date");
        env.run(&["audit", "list", "--action", "db.migrate", "-o", "json"]).ok();
    }
}

cli_test! {
    /// A key that is not the database's: exit 7 naming the expected key id.
    fn wrong_key_is_exit_7_naming_the_expected_kid(env) {
        let kid = env.init()["kid"].as_str().unwrap().to_owned();
        let other = env.home.path().join("other.key");
        std::fs::write(&other, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
        set_mode(&other, 0o600);
        env.run(&["--key-file", other.to_str().unwrap(), "db", "health"])
            .code(7)
            .stderr_has(&format!("expects key {kid}"));
    }
}

cli_test! {
    /// A key file others can read is refused with the chmod fix.
    fn too_open_key_file_is_exit_7_with_chmod_hint(env) {
        env.init();
        set_mode(&env.key_file(), 0o644);
        env.run(&["db", "health"]).code(7).stderr_has("chmod 600");
        set_mode(&env.key_file(), 0o600);
        env.run(&["db", "health"]).ok();
    }
}

cli_test! {
    /// No key anywhere: exit 7 saying how to make one.
    fn missing_key_is_exit_7_saying_how_to_make_one(env) {
        env.init();
        std::fs::remove_file(env.key_file()).unwrap();
        env.run(&["db", "health"]).code(7).stderr_has("keyward db init");
        // And init refuses to make a new key for a database that already has one.
        env.run(&["db", "init"]).code(7).stderr_has("restore it");
    }
}

/// PostgreSQL that refuses or never answers: exit 6 within a few seconds.
#[test]
fn unreachable_postgres_is_exit_6_quickly() {
    let env = Env::new(Backend::Sqlite).unwrap();
    let started = std::time::Instant::now();
    env.run(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/x",
        "db",
        "health",
    ])
    .code(6)
    .stderr_has("cannot connect to PostgreSQL");
    // A server that accepts the connection but never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://nobody@{}/x", silent.local_addr().unwrap());
    env.run(&["--database-url", &url, "db", "status"])
        .code(6)
        .stderr_has("no answer");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

/// A missing SQLite file named explicitly is not created behind the user's back.
#[test]
fn missing_sqlite_file_is_exit_6_and_not_created() {
    let env = Env::new(Backend::Sqlite).unwrap();
    let path = env.home.path().join("nope.db");
    let url = format!("sqlite://{}", path.display());
    env.run(&["--database-url", &url, "audit", "list"])
        .code(6)
        .stderr_has("db init");
    env.run(&["--database-url", &url, "db", "migrate", "--dry-run"])
        .code(6);
    assert!(!path.exists(), "not even a dry run creates it");
}

cli_test! {
    /// `db init` makes a key only at the default place: a --key-file that does not exist is a mistake.
    fn init_does_not_create_a_mistyped_key_file(env) {
        let typo = env.home.path().join("typo.key");
        env.run(&["--key-file", typo.to_str().unwrap(), "db", "init"]).code(7).stderr_has("does not exist");
        assert!(!typo.exists());
        if env.db.schema().is_none() {
            let path = env.url().trim_start_matches("sqlite://").to_owned();
            assert!(!std::path::Path::new(&path).exists(), "no database is made before the key is checked");
        }
    }
}

cli_test! {
    /// Seed is idempotent and says so.
    fn seed_is_idempotent(env) {
        env.init();
        let again = env.run(&["db", "seed", "-o", "json"]).ok().stderr_has("nothing changed").json();
        assert_eq!(again["permissions_added"], 0);
        assert_eq!(again["roles_added"], 0);
    }
}

cli_test! {
    /// rotate-key: needs --yes off a terminal, rewrites the managed key file
    /// new key first, and the old key alone is then refused as retired.
    fn rotate_key_rewrites_key_file_and_retires_old_key(env) {
        let old_kid = env.init()["kid"].as_str().unwrap().to_owned();
        let old_file = env.home.path().join("old.key");
        std::fs::copy(env.key_file(), &old_file).unwrap();
        set_mode(&old_file, 0o600);
        let new_file = env.home.path().join("new.key");
        let new_path = new_file.to_str().unwrap();

        env.run(&["db", "rotate-key", "--new-key-file", new_path]).code(2).stderr_has("--yes");
        assert!(!new_file.exists(), "nothing is written before confirmation");
        let report = env
            .run(&["db", "rotate-key", "--new-key-file", new_path, "--yes", "-o", "json"])
            .ok()
            .json();
        assert_eq!(report["from_kid"], old_kid.as_str());
        let new_kid = report["to_kid"].as_str().unwrap().to_owned();
        assert_ne!(new_kid, old_kid);
        assert_eq!(mode(&new_file), 0o600);
        assert_eq!(mode(&env.key_file()), 0o600);
        let lines: Vec<String> = std::fs::read_to_string(env.key_file())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(lines.len(), 2, "new key first, old key kept");
        assert_eq!(lines[0], std::fs::read_to_string(&new_file).unwrap().trim());

        let health = env.run(&["db", "health", "-o", "json"]).ok().json();
        assert_eq!(health["kid"], new_kid.as_str());
        env.run(&["--key-file", old_file.to_str().unwrap(), "db", "health"])
            .code(7)
            .stderr_has("retired");
        let rotations = env.run(&["audit", "list", "--action", "key.rotate", "-o", "json"]).ok().json();
        assert_eq!(rotations.as_array().unwrap().len(), 1);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// A rotation killed after its commit but before it rewrote the key file
    /// leaves the old key file in place: `db health` names the new key and
    /// says to re-run, and re-running the same command finishes the job
    /// without re-encrypting anything again.
    fn rotate_key_rerun_finishes_an_interrupted_rotation(env) {
        let old_kid = env.init()["kid"].as_str().unwrap().to_owned();
        crate::util::set_secret(env, "API_TOKEN", "s3cret value", "production");
        let before = std::fs::read(env.key_file()).unwrap();
        let new_file = env.home.path().join("new.key");
        let new_path = new_file.to_str().unwrap();
        let first = env.run(&["db", "rotate-key", "--new-key-file", new_path, "-y", "-o", "json"]).ok().json();
        let new_kid = first["to_kid"].as_str().unwrap().to_owned();
        assert_eq!(first["finished_earlier"], false);
        // As if killed between the commit and the key file's rewrite.
        std::fs::write(env.key_file(), &before).unwrap();
        env.run(&["db", "health"]).code(7).stderr_has(&new_kid).stderr_has("run it again with the same --new-key-file");

        let again = env.run(&["db", "rotate-key", "--new-key-file", new_path, "-y", "-o", "json"]).ok().json();
        assert_eq!(again["finished_earlier"], true);
        assert_eq!(again["from_kid"], old_kid.as_str());
        assert_eq!(again["to_kid"], new_kid.as_str());
        assert_eq!(again["reencrypted"], 0);
        assert_eq!(env.run(&["db", "health", "-o", "json"]).ok().json()["kid"], new_kid.as_str());
        let lines = std::fs::read_to_string(env.key_file()).unwrap();
        assert_eq!(lines.lines().count(), 2, "new key first, old key kept");
        let got = env.run(&["--env", "production", "settings", "get", "API_TOKEN", "--raw", "--reveal"]).ok();
        assert_eq!(got.stdout.trim_end(), "s3cret value");
        let rotations = env.run(&["audit", "list", "--action", "key.rotate", "-o", "json"]).ok().json();
        assert_eq!(rotations.as_array().unwrap().len(), 1, "one rotation, recorded once");
        // Once finished, the same command is a rotation to a key in use: refused.
        env.run(&["db", "rotate-key", "--new-key-file", new_path, "-y"]).code(2).stderr_has("already in use");
    }
}

cli_test! {
    /// A key from the environment is left to the user, who is told what to set.
    fn rotate_key_with_environment_key_prints_instructions(env) {
        env.vars.push(("DATABASE_ENCRYPTION_KEY".into(), "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into()));
        let init = env.init();
        assert_eq!(init["key_created"], false);
        let new_file = env.home.path().join("new.key");
        let run = env
            .run(&["db", "rotate-key", "--new-key-file", new_file.to_str().unwrap(), "-y"])
            .ok()
            .stderr_has("export DATABASE_ENCRYPTION_KEY=");
        assert!(!run.stderr.contains("AQEBAQEB"), "no key is printed");
        assert!(!env.key_file().exists(), "no key file is written for an environment key");
    }
}

/// `db backup` makes an SQLite copy that keyward can open; PostgreSQL points to pg_dump.
#[test]
fn backup_copies_sqlite_online() {
    let env = Env::new(Backend::Sqlite).unwrap();
    env.init();
    let dest = env.home.path().join("backup.db");
    env.run(&["db", "backup", dest.to_str().unwrap()]).ok();
    assert_eq!(mode(&dest), 0o600);
    let url = format!("sqlite://{}", dest.display());
    let status = env
        .run(&["--database-url", &url, "db", "status", "-o", "json"])
        .ok()
        .json();
    assert!(status
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["applied"] == true));
    env.run(&["--database-url", &url, "audit", "verify"]).ok();
    env.run(&["db", "backup", dest.to_str().unwrap()]).code(4);
    if let Some(pg) = Env::new(Backend::Postgres) {
        pg.init();
        pg.run(&["db", "backup", "/tmp/never.db"])
            .code(2)
            .stderr_has("pg_dump");
    }
}

/// The permissions a role holds, as `roles show` lists them.
fn permissions_of(env: &Env, role: &str) -> Vec<String> {
    let shown = env.run(&["roles", "show", role, "-o", "json"]).ok().json();
    shown["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

cli_test! {
    /// A built-in grant the database has not received yet (as after an upgrade
    /// of keyward) is brought by `db migrate`; one an operator revoked stays
    /// revoked through `db migrate` and `db seed`.
    fn migrate_brings_new_built_in_grants_and_keeps_revokes(env) {
        env.init();
        env.sql(
            "DELETE FROM role_permissions WHERE role_id = (SELECT id FROM roles WHERE name = 'admin') \
             AND permission_id = (SELECT id FROM permissions WHERE resource = 'audit' AND action = 'read')",
        )
        .unwrap();
        env.sql("DELETE FROM seed_grants WHERE role_name = 'admin' AND resource = 'audit' AND action = 'read'")
            .unwrap();
        assert!(!permissions_of(env, "admin").contains(&"audit:read".to_owned()));
        env.run(&["db", "migrate"]).ok().stderr_has("1 grant(s)");
        assert!(permissions_of(env, "admin").contains(&"audit:read".to_owned()));
        let seeds = env.run(&["audit", "list", "--action", "db.seed", "-o", "json"]).ok().json();
        assert_eq!(seeds.as_array().unwrap().len(), 2, "init's seeding and the migrate's");

        env.run(&["roles", "revoke", "admin", "users:delete", "--yes"]).ok();
        env.run(&["db", "migrate"]).ok().stderr_has("up to date");
        let seeded = env.run(&["db", "seed", "-o", "json"]).ok().stderr_has("nothing changed").json();
        assert_eq!(seeded["grants_added"], 0);
        let admin = permissions_of(env, "admin");
        assert!(!admin.contains(&"users:delete".to_owned()), "{admin:?}");
        assert_eq!(admin.len(), 12);
        let seeds = env.run(&["audit", "list", "--action", "db.seed", "-o", "json"]).ok().json();
        assert_eq!(seeds.as_array().unwrap().len(), 2, "nothing changed, nothing audited");
    }
}

cli_test! {
    /// `db rotate-key` reports what it re-sealed per purpose.
    fn rotate_key_reports_resealed_per_purpose(env) {
        env.init();
        env.run_with_stdin(&["settings", "set", "smtp.password", "--secret", "--value-stdin"], Some("hunter2\n")).ok();
        let new_file = env.home.path().join("new.key");
        let report = env
            .run(&["db", "rotate-key", "--new-key-file", new_file.to_str().unwrap(), "--yes", "-o", "json"])
            .ok()
            .json();
        assert_eq!(report["reencrypted"], 1);
        assert_eq!(report["resealed"], serde_json::json!({"setting": 1, "totp": 0, "signing": 0}));
    }
}

/// PostgreSQL: a role that may only read gets exit 6 naming the role (not
/// exit 8: that is for tampering, which the owner's UPDATE of the audit log still is).
#[test]
fn read_only_postgres_role_is_exit_6_naming_it() {
    let Some(env) = Env::new(Backend::Postgres) else {
        return;
    };
    env.init();
    let schema = env.db.schema().unwrap().to_owned();
    let role = format!("{schema}_ro");
    env.sql(&format!("CREATE ROLE {role} LOGIN")).unwrap();
    env.sql(&format!("GRANT USAGE ON SCHEMA {schema} TO {role}"))
        .unwrap();
    env.sql(&format!(
        "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"
    ))
    .unwrap();
    let url = env
        .url()
        .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    assert_ne!(url, env.url(), "the test URL names the postgres user");

    env.run(&["--database-url", &url, "roles", "list"]).ok();
    env.run(&["--database-url", &url, "roles", "add", "auditor"])
        .code(6)
        .stderr_has(&format!("'{role}'"));
    let err = env
        .sql("UPDATE audit_events SET actor = 'mallory'")
        .unwrap_err();
    assert_eq!(err.exit_code(), 8, "{err}");
    env.run(&["audit", "verify"]).ok();

    env.sql(&format!("DROP OWNED BY {role}")).unwrap();
    env.sql(&format!("DROP ROLE {role}")).unwrap();
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every `db` verb that reads the schema, on a database this keyward did not
/// migrate: each exits 6 saying `what`, and none prints a migration's SQL.
fn every_db_verb_refuses(env: &Env, what: &str) {
    for verb in [
        &["db", "migrate"][..],
        &["db", "migrate", "--dry-run"],
        &["db", "init"],
        &["db", "status"],
        &["db", "status", "-o", "json"],
        &["db", "health", "-o", "json"],
        &["settings", "list"],
    ] {
        let run = env.run(verb).code(6).stderr_has(what);
        for sql in [
            "CREATE TABLE",
            "CREATE INDEX",
            "INSERT INTO",
            "create table",
        ] {
            assert!(
                !run.stderr.contains(sql) && !run.stdout.contains(sql),
                "{verb:?} printed SQL:\n{}",
                run.stderr
            );
        }
    }
}

cli_test! {
    /// Item 14: a migration this keyward does not know (the database is
    /// newer) fails every `db` verb with exit 6; `db status` still lists the
    /// migrations, with the unknown one marked.
    fn unknown_migration_is_exit_6_for_every_db_verb(env) {
        env.init();
        env.sql(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES (99, 'from_the_future', '2030-01-01T00:00:00Z', '42')",
        )
        .unwrap();
        every_db_verb_refuses(env, "newer than this keyward");
        let status = env.run(&["db", "status", "-o", "json"]).code(6).json();
        let v99 = status.as_array().unwrap().iter().find(|m| m["version"] == 99).cloned().unwrap();
        assert_eq!(v99["unknown"], true);
        let health = env.run(&["db", "health", "-o", "json"]).code(6).json();
        assert_eq!(health["schema_current"], false);
        assert_eq!(health["healthy"], false);
    }
}

cli_test! {
    /// Item 14: an applied migration whose checksum differs from the embedded
    /// file's: every `db` verb exits 6 saying it was modified.
    fn modified_migration_is_exit_6_for_every_db_verb(env) {
        env.init();
        env.sql("UPDATE refinery_schema_history SET checksum = '1' WHERE version = 1").unwrap();
        every_db_verb_refuses(env, "modified");
        let status = env.run(&["db", "status", "-o", "json"]).code(6).json();
        assert_eq!(status[0]["modified"], true);
        let health = env.run(&["db", "health", "-o", "json"]).code(6).json();
        assert_eq!(health["schema_current"], false);
    }
}

/// Runs a command, killing it after `limit` (then the exit code is -1).
fn run_with_limit(mut cmd: std::process::Command, limit: std::time::Duration) -> crate::util::Run {
    use std::io::Read;
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("keyward starts");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    crate::util::Run {
        args: Vec::new(),
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout,
        stderr,
    }
}

cli_test! {
    /// Item 16: a FIFO given as the key file is refused at once (exit 7),
    /// not waited on forever.
    fn fifo_key_file_is_refused_at_once(env) {
        env.init();
        env.run_with_stdin(&["settings", "set", "api.token", "--secret", "--value-stdin"], Some("t0ken\n")).ok();
        let fifo = env.home.path().join("key.fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        for verb in [&["db", "health"][..], &["settings", "list", "--reveal"]] {
            let mut args = vec!["--key-file", fifo.to_str().unwrap()];
            args.extend_from_slice(verb);
            let run = run_with_limit(env.command(&args), std::time::Duration::from_secs(20));
            let run = run.code(7).stderr_has("not a regular file");
            assert!(run.stderr.contains("key.fifo"), "{}", run.stderr);
        }
    }
}

/// Item 16: `db backup` onto a dangling symbolic link is refused (the name
/// is taken) and nothing is written through the link.
#[test]
fn backup_refuses_a_dangling_symlink() {
    let env = Env::new(Backend::Sqlite).unwrap();
    env.init();
    let target = env.home.path().join("victim.db");
    let link = env.home.path().join("backup.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    env.run(&["db", "backup", link.to_str().unwrap()])
        .code(4)
        .stderr_has("symbolic link");
    assert!(!target.exists(), "nothing was written through the link");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // No working directory is left behind either.
    let left: Vec<_> = std::fs::read_dir(env.home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("keyward-backup"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Runs `db init` in `homes.len()` processes at once, each with its HOME.
fn concurrent_inits(env: &Env, homes: &[std::path::PathBuf]) -> Vec<crate::util::Run> {
    let children: Vec<_> = homes
        .iter()
        .map(|home| {
            let mut cmd = env.command(&["db", "init", "-o", "json"]);
            cmd.env("HOME", home)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().expect("keyward starts")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            crate::util::Run {
                args: vec!["db".into(), "init".into()],
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .collect()
}

cli_test! {
    /// Item 16: four `db init` at once on one fresh HOME and database: all
    /// succeed, one key is made, and it is the key file left, which opens the
    /// database.
    fn concurrent_inits_in_one_home_make_one_usable_key(env) {
        let homes = vec![env.home.path().to_path_buf(); 4];
        let runs = concurrent_inits(env, &homes);
        for run in &runs {
            assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        }
        let created = runs.iter().filter(|r| r.json()["key_created"] == true).count();
        assert_eq!(created, 1, "one process made the key");
        let kids: std::collections::BTreeSet<String> =
            runs.iter().map(|r| r.json()["kid"].as_str().unwrap().to_owned()).collect();
        assert_eq!(kids.len(), 1, "all use the same key: {kids:?}");
        let dir: Vec<_> = std::fs::read_dir(env.key_file().parent().unwrap()).unwrap().collect();
        assert_eq!(dir.len(), 1, "only the key file, no temporary left");
        let health = env.run(&["db", "health", "-o", "json"]).ok().json();
        assert_eq!(health["kid"], kids.iter().next().unwrap().as_str());
    }
}

cli_test! {
    /// Item 16: four `db init` at once on one fresh database from four HOMEs:
    /// exactly one key file is left anywhere, the one that opens the
    /// database; the others fail with exit 7 and leave no key file behind.
    fn concurrent_inits_leave_exactly_one_key_file(env) {
        let homes: Vec<_> = (0..4).map(|i| env.home.path().join(format!("home{i}"))).collect();
        let runs = concurrent_inits(env, &homes);
        let winners: Vec<usize> = (0..4).filter(|i| runs[*i].code == 0).collect();
        assert_eq!(winners.len(), 1, "{:?}", runs.iter().map(|r| (&r.code, &r.stderr)).collect::<Vec<_>>());
        for (i, run) in runs.iter().enumerate() {
            if i != winners[0] {
                assert_eq!(run.code, 7, "{}", run.stderr);
            }
        }
        let key_files: Vec<_> = homes
            .iter()
            .map(|h| h.join(".config/keyward/key"))
            .filter(|p| p.exists())
            .collect();
        assert_eq!(key_files, vec![homes[winners[0]].join(".config/keyward/key")]);
        env.run(&["--key-file", key_files[0].to_str().unwrap(), "db", "health"]).ok();
    }
}

/// Item 17: a file that is not an SQLite database (random bytes, a
/// truncated copy, a directory) fails at once with exit 6 naming it, for
/// every command, instead of waiting for the connection pool.
#[test]
fn not_a_sqlite_database_is_exit_6_at_once_naming_it() {
    let env = Env::new(Backend::Sqlite).unwrap();
    env.init();
    let real = std::fs::read(env.url().trim_start_matches("sqlite://")).unwrap();
    let random = env.home.path().join("random.db");
    let mut bytes = vec![0u8; 8192];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    std::fs::write(&random, &bytes).unwrap();
    let truncated = env.home.path().join("truncated.db");
    std::fs::write(&truncated, &real[..real.len().min(8192)]).unwrap();
    let dir = env.home.path().join("dir.db");
    std::fs::create_dir(&dir).unwrap();
    for path in [&random, &truncated, &dir] {
        let url = format!("sqlite://{}", path.display());
        for verb in [
            &["db", "health"][..],
            &["settings", "list"],
            &["db", "migrate"],
        ] {
            let mut args = vec!["--database-url", url.as_str()];
            args.extend_from_slice(verb);
            let run = run_with_limit(env.command(&args), std::time::Duration::from_secs(60));
            let run = run.code(6).stderr_has(&path.display().to_string());
            // Not the pool giving up after its wait: the file itself is named as the fault.
            assert!(!run.stderr.contains("timed out"), "{}", run.stderr);
        }
    }
    assert_eq!(std::fs::read(&random).unwrap(), bytes, "not written to");
}

cli_test! {
    /// Issue 8, item 19: rotate-key's confirmation names only a key it will use
    /// (a key still to be made is not named), rotating to a key this database
    /// retired is refused (exit 2, before and after confirmation), and the old
    /// key is said to stay for the settings history.
    fn rotate_key_names_the_key_it_uses_and_refuses_retired_keys(env) {
        let old_kid = env.init()["kid"].as_str().unwrap().to_owned();
        let old_file = env.home.path().join("old.key");
        std::fs::copy(env.key_file(), &old_file).unwrap();
        set_mode(&old_file, 0o600);
        let new_file = env.home.path().join("new.key");
        let new_path = new_file.to_str().unwrap();

        let refused = env.run(&["db", "rotate-key", "--new-key-file", new_path]).code(2).stderr_has("a new key (to be created in");
        assert!(!refused.stderr.contains("to key"), "names no key yet to be made: {}", refused.stderr);
        let rotated = env.run(&["db", "rotate-key", "--new-key-file", new_path, "--yes", "-o", "json"])
            .ok()
            .stderr_has("to read settings history");
        let new_kid = rotated.json()["to_kid"].as_str().unwrap().to_owned();

        // An existing key file: its key is named, and is the one used.
        let third = env.home.path().join("third.key");
        std::fs::write(&third, "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n").unwrap();
        set_mode(&third, 0o600);
        let named = env.run(&["db", "rotate-key", "--new-key-file", third.to_str().unwrap()]).code(2).stderr;
        let kid = named.split("to key ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
        assert_ne!(kid, new_kid);
        let used = env.run(&["db", "rotate-key", "--new-key-file", third.to_str().unwrap(), "-y", "-o", "json"]).ok().json();
        assert_eq!(used["to_kid"], kid.as_str());

        // Back to a retired key: refused before asking, and with --yes.
        for yes in [false, true] {
            let mut args = vec!["db", "rotate-key", "--new-key-file", old_file.to_str().unwrap()];
            if yes {
                args.push("--yes");
            }
            env.run(&args).code(2).stderr_has(&format!("the new key {old_kid} is a key this database retired"));
        }
        env.run(&["db", "rotate-key", "--new-key-file", new_path, "--yes"]).code(2).stderr_has("retired");
        let health = env.run(&["db", "health", "-o", "json"]).ok().json();
        assert_eq!(health["kid"], kid.as_str());
        let rotations = env.run(&["audit", "list", "--action", "key.rotate", "-o", "json"]).ok().json();
        assert_eq!(rotations.as_array().unwrap().len(), 2);
    }
}

cli_test! {
    /// Issue 8, item 19: after a rotation whose key file was not updated (an
    /// interrupted one), `db health -o json` names the key the database expects.
    fn health_names_the_expected_kid_after_an_interrupted_rotation(env) {
        let old_kid = env.init()["kid"].as_str().unwrap().to_owned();
        let old_file = env.home.path().join("old.key");
        std::fs::copy(env.key_file(), &old_file).unwrap();
        set_mode(&old_file, 0o600);
        let new_file = env.home.path().join("new.key");
        let report = env
            .run(&["db", "rotate-key", "--new-key-file", new_file.to_str().unwrap(), "--yes", "-o", "json"])
            .ok()
            .json();
        let new_kid = report["to_kid"].as_str().unwrap();
        // The key file as it was before the rotation: the database has moved on.
        let run = env.run(&["--key-file", old_file.to_str().unwrap(), "db", "health", "-o", "json"]).code(7);
        let health = run.json();
        assert_eq!(health["kid"], old_kid.as_str());
        assert_eq!(health["expected_kid"], new_kid);
        assert_eq!(health["key_matches"], false);
    }
}

cli_test! {
    /// Issue 8, B4: a migration history that no longer matches the schema (a
    /// migration's record removed, or the history table dropped) fails
    /// `db migrate` with exit 6 in one line: the database's own message (not
    /// the migration's SQL, not PostgreSQL's bare "db error") and what to do.
    fn migrate_failure_names_the_cause_not_the_sql(env) {
        env.init();
        env.sql("DELETE FROM refinery_schema_history WHERE version >= 4").unwrap();
        let run = env.run(&["db", "migrate"]).code(6);
        let err = run.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("signing_keys") && err.contains("already exists"), "{err}");
        assert!(err.contains("restore it from a backup"), "{err}");
        assert!(err.contains("refinery_schema_history"), "{err}");
        for sql in ["CREATE TABLE", "Ed25519 keys that sign", " in --", "db error"] {
            assert!(!err.contains(sql), "no SQL or bare driver text ({sql}): {err}");
        }

        env.sql("DROP TABLE refinery_schema_history").unwrap();
        let run = env.run(&["db", "migrate"]).code(6);
        let err = run.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("already exists") && err.contains("restore it from a backup"), "{err}");
        for sql in ["CREATE TABLE", "--", "db error"] {
            assert!(!err.contains(sql), "no SQL or bare driver text ({sql}): {err}");
        }
    }
}

cli_test! {
    /// Issue 8: rotate-key's refusal without --yes reads as one sentence:
    /// "refusing to re-encrypt … to a new key (to be created in FILE) without
    /// confirmation: pass --yes (-y) to proceed".
    fn rotate_key_refusal_reads_naturally(env) {
        env.init();
        let new_file = env.home.path().join("new.key");
        let new_path = new_file.to_str().unwrap();
        let run = env.run(&["db", "rotate-key", "--new-key-file", new_path]).code(2);
        let want = format!("to a new key (to be created in {new_path}) without confirmation: pass --yes");
        assert!(run.stderr.contains("refusing to re-encrypt"), "{}", run.stderr);
        assert!(run.stderr.contains(&want), "{}", run.stderr);
        assert!(!run.stderr.contains("once confirmed"), "{}", run.stderr);
        assert!(!new_file.exists(), "no key file before confirmation");
    }
}
