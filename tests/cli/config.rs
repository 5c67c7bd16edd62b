//! Configuration as users set it: flags, environment, config file.

use crate::cli_test;
use crate::support::Backend;
use crate::util::Env;

/// `DATABASE_CLIENT=postgres` with the `DATABASE_*` parts reaches PostgreSQL.
#[test]
fn database_parts_reach_postgres() {
    let Some(mut env) = Env::new(Backend::Postgres) else {
        return;
    };
    let base = crate::support::pg_base_url().unwrap();
    let target = keyward::store::target::parse_url(&base).unwrap();
    let keyward::store::DatabaseTarget::Postgres(pg) = target else {
        panic!("not postgres")
    };
    let host = match &pg.config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    env.use_url = false;
    env.vars.extend([
        ("DATABASE_CLIENT".to_owned(), "postgres".to_owned()),
        ("DATABASE_HOST".to_owned(), host),
        (
            "DATABASE_PORT".to_owned(),
            pg.config
                .get_ports()
                .first()
                .copied()
                .unwrap_or(5432)
                .to_string(),
        ),
        (
            "DATABASE_NAME".to_owned(),
            pg.config.get_dbname().unwrap_or("postgres").to_owned(),
        ),
        (
            "DATABASE_USER".to_owned(),
            pg.config.get_user().unwrap_or("postgres").to_owned(),
        ),
        ("DATABASE_SSL_MODE".to_owned(), "prefer".to_owned()),
    ]);
    // The parts name no schema, so this reaches the server's default one: health only reads,
    // and whatever it finds there, it reports a connection to PostgreSQL.
    let health = env.run(&["db", "health", "-o", "json"]).json();
    assert_eq!(health["backend"], "postgres");
    assert_eq!(health["connected"], true, "{health}");
}

/// A config file sets the database and output; flags beat it; a bad one is exit 2 with the line.
#[test]
fn config_file_is_read_and_checked() {
    let env = Env::new(Backend::Sqlite).unwrap();
    let cfg = env.home.path().join("kw.yaml");
    std::fs::write(
        &cfg,
        format!("database:\n  url: {}\noutput: json\n", env.url()),
    )
    .unwrap();
    let cfg_arg = cfg.to_str().unwrap();
    let mut e = Env::new(Backend::Sqlite).unwrap();
    e.use_url = false;
    e.home = tempfile::tempdir().unwrap();
    e.run(&["--config", cfg_arg, "db", "init"]).ok();
    let status = e.run(&["--config", cfg_arg, "db", "status"]).ok().json();
    assert!(status
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["applied"] == true));
    assert!(std::path::Path::new(env.url().trim_start_matches("sqlite://")).exists());
    assert!(
        !e.default_db().exists(),
        "the config file's database was used"
    );
    let table = e
        .run(&["--config", cfg_arg, "-o", "table", "db", "status"])
        .ok();
    assert!(serde_json::from_str::<serde_json::Value>(&table.stdout).is_err());

    std::fs::write(&cfg, "database:\n  url: x\n  bogus: [1\n").unwrap();
    e.run(&["--config", cfg_arg, "db", "status"])
        .code(2)
        .stderr_has("line");
    std::fs::write(&cfg, "databse:\n  url: x\n").unwrap();
    e.run(&["--config", cfg_arg, "db", "status"])
        .code(2)
        .stderr_has("databse");
    e.run(&["--config", "/nonexistent/kw.yaml", "db", "status"])
        .code(2);
}

/// Bad global values are usage errors (exit 2), not crashes.
#[test]
fn bad_global_values_are_exit_2() {
    let env = Env::new(Backend::Sqlite).unwrap();
    env.run(&["--env", "Prod!", "db", "status"])
        .code(2)
        .stderr_has("environment");
    env.run(&["-o", "xml", "db", "status"]).code(2);
    env.run(&["--database-url", "mysql://x", "db", "status"])
        .code(2)
        .stderr_has("sqlite");
    env.run(&["db", "frobnicate"]).code(2);
    env.run(&["--help"]).ok();
    let mut e = Env::new(Backend::Sqlite).unwrap();
    e.vars.push(("KEYWARD_OUTPUT".into(), "xml".into()));
    e.run(&["db", "status"])
        .code(2)
        .stderr_has("KEYWARD_OUTPUT");
}

/// A database password in the URL never shows in output or errors.
#[test]
fn database_password_is_never_shown() {
    let env = Env::new(Backend::Sqlite).unwrap();
    let run = env.run(&[
        "--database-url",
        "postgres://u:hunter2secret@127.0.0.1:1/x",
        "db",
        "health",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 6);
    assert!(!run.stdout.contains("hunter2secret") && !run.stderr.contains("hunter2secret"));
}

/// Completions are generated for the usual shells.
#[test]
fn completions_print_a_script() {
    let env = Env::new(Backend::Sqlite).unwrap();
    let bash = env.run(&["completions", "bash"]).ok().stdout;
    assert!(bash.contains("keyward") && bash.contains("rotate-key"));
}

/// Runs a command built from `Env::command` (with extra variables set on it).
fn run_cmd(mut cmd: std::process::Command, args: &[&str]) -> crate::util::Run {
    let out = cmd.output().expect("keyward runs");
    crate::util::Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A value that is not UTF-8.
fn not_utf8() -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(vec![b'a', 0xff, 0xfe, b'b'])
}

cli_test! {
    /// Item 4: a variable keyward reads that holds bytes that are not UTF-8
    /// is exit 2 naming it; it is not taken as unset (which would run against
    /// the `development` environment, the login name as actor, and so on).
    fn non_utf8_variables_are_exit_2_naming_them(env) {
        env.init();
        env.run(&["settings", "set", "greeting", "hello", "--env", "production"]).ok();
        for var in [
            "KEYWARD_ENV",
            "KEYWARD_ACTOR",
            "DATABASE_ENCRYPTION_KEY",
            "KEYWARD_PREVIOUS_KEYS",
            "KEYWARD_OUTPUT",
            "KEYWARD_PBKDF2_ITERATIONS",
            "KEYWARD_MAX_FAILED_LOGINS",
            "KEYWARD_LOCKOUT_DURATION",
            "KEYWARD_ACCESS_TTL",
            "KEYWARD_REFRESH_TTL",
            "KEYWARD_ISSUER",
            "KEYWARD_AUDIENCE",
            "KEYWARD_TEST_NOW",
            "DATABASE_SSL_MODE",
            "DATABASE_POOL_SIZE",
            "USER",
        ] {
            let args = ["settings", "list"];
            let mut cmd = env.command(&args);
            cmd.env(var, not_utf8());
            let run = run_cmd(cmd, &args).code(2).stderr_has(var).stderr_has("UTF-8");
            assert!(run.stdout.is_empty(), "{var}: nothing listed\n{}", run.stdout);
        }
        // The same with KEYWARD_ENV valid lists the environment's settings.
        let mut cmd = env.command(&["settings", "list", "-o", "json"]);
        cmd.env("KEYWARD_ENV", "production");
        let listed = run_cmd(cmd, &[]).ok().json();
        assert_eq!(listed.as_array().unwrap().len(), 1);
    }
}

/// Item 4: the database's variables, read when no `--database-url` is given:
/// exit 2 naming the variable, and no default SQLite file is made.
#[test]
fn non_utf8_database_variables_are_exit_2_and_create_nothing() {
    let mut env = Env::new(Backend::Sqlite).unwrap();
    env.use_url = false;
    for var in [
        "DATABASE_URL",
        "DATABASE_CLIENT",
        "DATABASE_HOST",
        "DATABASE_PORT",
        "DATABASE_NAME",
        "DATABASE_USER",
        "DATABASE_PASSWORD",
        "DATABASE_FILENAME",
    ] {
        let args = ["db", "init"];
        let mut cmd = env.command(&args);
        cmd.env(var, not_utf8());
        run_cmd(cmd, &args).code(2).stderr_has(var);
        assert!(!env.default_db().exists(), "{var}: no default database");
        assert!(!env.key_file().exists(), "{var}: no key file");
    }
}

cli_test! {
    /// Item 4: a path variable (`KEYWARD_KEY_FILE`) may name a path that is
    /// not UTF-8, as `--key-file` may: it is used, not ignored.
    fn non_utf8_key_file_path_is_used(env) {
        use std::os::unix::ffi::OsStrExt;
        let kid = env.init()["kid"].as_str().unwrap().to_owned();
        let odd = env.home.path().join(std::ffi::OsStr::from_bytes(b"key-\xff.txt"));
        std::fs::copy(env.key_file(), &odd).unwrap();
        std::fs::remove_file(env.key_file()).unwrap();
        let mut cmd = env.command(&["db", "health", "-o", "json"]);
        cmd.env("KEYWARD_KEY_FILE", odd.as_os_str());
        let health = run_cmd(cmd, &[]).ok().json();
        assert_eq!(health["kid"], kid.as_str());
    }
}

/// Item 5: database parts without `DATABASE_CLIENT` (and no URL) are refused,
/// not silently replaced by the local SQLite file; so are parts the client
/// does not use. Nothing is created.
#[test]
fn database_parts_without_client_are_refused() {
    let mut env = Env::new(Backend::Sqlite).unwrap();
    env.use_url = false;
    for part in ["HOST", "NAME", "USER", "PASSWORD", "PORT", "FILENAME"] {
        let var = format!("DATABASE_{part}");
        env.vars = vec![(var.clone(), "5432".into())];
        env.run(&["db", "init"])
            .code(2)
            .stderr_has(&var)
            .stderr_has("DATABASE_CLIENT");
        assert!(!env.default_db().exists(), "{var}: no SQLite file was made");
        assert!(!env.key_file().exists());
    }
    env.vars = vec![
        ("DATABASE_CLIENT".into(), "sqlite".into()),
        ("DATABASE_HOST".into(), "db.internal".into()),
    ];
    env.run(&["db", "init"]).code(2).stderr_has("DATABASE_HOST");
    env.vars = vec![
        ("DATABASE_CLIENT".into(), "postgres".into()),
        ("DATABASE_FILENAME".into(), "x.db".into()),
    ];
    env.run(&["db", "init"])
        .code(2)
        .stderr_has("DATABASE_FILENAME");
    assert!(!env.default_db().exists());
}

/// Item 5: a config file whose `database:` contradicts itself is exit 2.
#[test]
fn config_file_database_contradictions_are_refused() {
    let mut env = Env::new(Backend::Sqlite).unwrap();
    env.use_url = false;
    let cfg = env.home.path().join("kw.yaml");
    let cfg_arg = cfg.to_str().unwrap();
    std::fs::write(
        &cfg,
        format!("database:\n  url: {}\n  client: postgres\n", env.url()),
    )
    .unwrap();
    env.run(&["--config", cfg_arg, "db", "init"])
        .code(2)
        .stderr_has("database.url")
        .stderr_has("database.client");
    std::fs::write(&cfg, "database:\n  host: db.internal\n  name: app\n").unwrap();
    env.run(&["--config", cfg_arg, "db", "init"])
        .code(2)
        .stderr_has("database.client");
    assert!(!env.default_db().exists());
    assert!(!std::path::Path::new(env.url().trim_start_matches("sqlite://")).exists());
}

/// Item 5: a config file that holds a database password (as a part or in
/// the URL) follows the key file's rule: group or others may not read it
/// (exit 7, `chmod 600 <path>`); at 0600 it is read.
#[test]
fn config_file_with_a_password_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = Env::new(Backend::Sqlite).unwrap();
    env.use_url = false;
    let cfg = env.home.path().join("kw.yaml");
    let cfg_arg = cfg.to_str().unwrap();
    for text in [
        "database:\n  client: postgres\n  host: 127.0.0.1\n  port: 1\n  user: u\n  password: hunter2secret\n",
        "database:\n  url: postgres://u:hunter2secret@127.0.0.1:1/app\n",
    ] {
        std::fs::write(&cfg, text).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = env
            .run(&["--config", cfg_arg, "db", "health"])
            .code(7)
            .stderr_has(&format!("chmod 600 {cfg_arg}"));
        assert!(!run.stderr.contains("hunter2secret"));
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Read now: the (unreachable) server is the next problem.
        env.run(&["--config", cfg_arg, "db", "health"]).code(6);
    }
    // Without a secret, a readable config file is fine.
    std::fs::write(&cfg, format!("database:\n  url: {}\n", env.url())).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.run(&["--config", cfg_arg, "db", "init"]).ok();
}

/// Item 5: `sqlite:///x.db?mode=ro` opens read-only: reads work, a write is
/// exit 6 saying so (and nothing changes); `mode=rw` is the default; any
/// other option (SQLite or PostgreSQL) is refused with exit 2 naming it.
#[test]
fn url_mode_ro_is_read_only_and_unknown_options_are_refused() {
    let env = Env::new(Backend::Sqlite).unwrap();
    env.init();
    env.run(&["settings", "set", "greeting", "hello"]).ok();
    let ro = format!("{}?mode=ro", env.url());
    let listed = env
        .run(&["--database-url", &ro, "settings", "list", "-o", "json"])
        .ok()
        .json();
    assert_eq!(listed[0]["value"], "hello");
    env.run(&["--database-url", &ro, "db", "health"]).ok();
    env.run(&["--database-url", &ro, "settings", "set", "greeting", "bye"])
        .code(6)
        .stderr_has("read-only");
    env.run(&["--database-url", &ro, "db", "init"])
        .code(6)
        .stderr_has("read-only");
    let after = env.run(&["settings", "list", "-o", "json"]).ok().json();
    assert_eq!(after[0]["value"], "hello", "nothing was written");
    let rw = format!("{}?mode=rw", env.url());
    env.run(&["--database-url", &rw, "settings", "set", "greeting", "bye"])
        .ok();
    // An option's name is shown only when it is a known option or a typo of
    // one: a mistyped URL can make the password an option's name.
    for (bad, shown) in [
        ("mode=rwc", "`mode`"),
        ("mdoe=ro", "`mdoe` (did you mean `mode`?)"),
        ("cache=shared", "(its name is not shown"),
        ("immutable=1", "(its name is not shown"),
    ] {
        let url = format!("{}?{bad}", env.url());
        env.run(&["--database-url", &url, "settings", "list"])
            .code(2)
            .stderr_has(shown);
    }
    // PostgreSQL URLs take libpq's options; an unknown one is refused too.
    env.run(&[
        "--database-url",
        "postgres://u@127.0.0.1:1/x?bogus=1",
        "db",
        "status",
    ])
    .code(2)
    .stderr_has("unknown option (its name is not shown");
    // A read-only URL never creates a database.
    let missing = format!("sqlite://{}/new.db?mode=ro", env.home.path().display());
    env.run(&["--database-url", &missing, "db", "init"]).code(6);
    assert!(!env.home.path().join("new.db").exists());
}

cli_test! {
    /// Item 7: PBKDF2 iterations have one limit, the hash parser's: a
    /// setting above it is exit 2 naming the setting and the limit, before
    /// any user is made (a hash no keyward could verify).
    fn pbkdf2_iterations_above_the_limit_are_exit_2(env) {
        env.init();
        env.vars.push(("KEYWARD_PBKDF2_ITERATIONS".into(), "200000000".into()));
        env.run_with_stdin(
            &["users", "add", "ann", "--email", "ann@example.com", "--password-stdin"],
            Some("correct horse battery staple 9\n"),
        )
        .code(2)
        .stderr_has("KEYWARD_PBKDF2_ITERATIONS")
        .stderr_has("100000000");
        env.vars.clear();
        let users = env.run(&["users", "list", "-o", "json"]).ok().json();
        assert!(users.as_array().unwrap().is_empty(), "no user was made");
        // The harness sets the variable; empty, it is unset and the file speaks.
        env.vars.push(("KEYWARD_PBKDF2_ITERATIONS".into(), String::new()));
        let cfg = env.home.path().join("kw.yaml");
        std::fs::write(&cfg, "auth:\n  pbkdf2_iterations: 200000000\n").unwrap();
        env.run(&["--config", cfg.to_str().unwrap(), "db", "status"])
            .code(2)
            .stderr_has("auth.pbkdf2_iterations")
            .stderr_has("100000000");
        std::fs::write(&cfg, "auth:\n  pbkdf2_iterations: 100000000\n").unwrap();
        env.run(&["--config", cfg.to_str().unwrap(), "db", "status"]).ok();
    }
}

cli_test! {
    /// Issue 8, B5: a URL option given twice is exit 2 naming it, on SQLite
    /// (`mode=ro&mode=rw` would write) and PostgreSQL (`sslmode` twice would
    /// let the second turn certificate checks off), an encoded key included;
    /// nothing is written.
    fn url_options_given_twice_are_refused(env) {
        env.init();
        env.run(&["settings", "set", "greeting", "hello"]).ok();
        let postgres = env.db.schema().is_some();
        let sep = if env.url().contains('?') { '&' } else { '?' };
        let cases: &[(&str, &str)] = if postgres {
            &[
                ("sslmode=verify-full&sslmode=disable", "sslmode"),
                ("sslmode=verify-full&ssl%6Dode=disable", "sslmode"),
                ("connect_timeout=5&connect_timeout=6", "connect_timeout"),
            ]
        } else {
            &[("mode=ro&mode=rw", "mode"), ("mode=ro&m%6Fde=rw", "mode")]
        };
        for (query, option) in cases {
            let url = format!("{}{sep}{query}", env.url());
            env.run(&["--database-url", &url, "settings", "set", "greeting", "bye"])
                .code(2)
                .stderr_has(&format!("`{option}`"))
                .stderr_has("more than once");
        }
        let after = env.run(&["settings", "list", "-o", "json"]).ok().json();
        assert_eq!(after[0]["value"], "hello", "nothing was written");
    }
}

cli_test! {
    /// Issue 8, B5: `DATABASE_SSL_MODE` applies to PostgreSQL only: beside an
    /// SQLite database it is exit 2 naming it; beside a PostgreSQL URL it is accepted.
    fn database_ssl_mode_applies_to_postgres_only(env) {
        env.init();
        env.vars = vec![("DATABASE_SSL_MODE".into(), "require".into())];
        if env.db.schema().is_some() {
            env.run(&["db", "health"]).ok();
        } else {
            env.run(&["db", "health"]).code(2).stderr_has("DATABASE_SSL_MODE").stderr_has("SQLite");
        }
    }
}

/// Issue 8, B5: `DATABASE_SSL_MODE` (or the file's `ssl_mode`) with an
/// SQLite client, or with no client at all (the default SQLite file), is
/// refused like the other contradictory parts: exit 2 naming it, no file made.
#[test]
fn ssl_mode_without_postgres_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = Env::new(Backend::Sqlite).unwrap();
    env.use_url = false;
    for vars in [
        vec![
            ("DATABASE_CLIENT", "sqlite"),
            ("DATABASE_SSL_MODE", "require"),
        ],
        vec![("DATABASE_SSL_MODE", "verify-full")],
    ] {
        env.vars = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        env.run(&["db", "init"])
            .code(2)
            .stderr_has("DATABASE_SSL_MODE");
        assert!(
            !env.default_db().exists(),
            "{vars:?}: no SQLite file was made"
        );
    }
    env.vars.clear();
    let cfg = env.home.path().join("kw.yaml");
    let cfg_arg = cfg.to_str().unwrap();
    for text in [
        "database:\n  client: sqlite\n  ssl_mode: require\n",
        "database:\n  ssl_mode: require\n",
    ] {
        std::fs::write(&cfg, text).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        env.run(&["--config", cfg_arg, "db", "init"])
            .code(2)
            .stderr_has("database.ssl_mode");
        assert!(
            !env.default_db().exists(),
            "{text}: no SQLite file was made"
        );
    }
}

/// Issue 8, B6: whether a config file holds a database password is decided
/// on the connection settings the driver uses, so a percent-encoded key
/// (`pass%77ord=`) counts: at 0644 it is exit 7 with the `chmod 600` fix.
#[test]
fn config_file_with_an_encoded_password_key_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = Env::new(Backend::Sqlite).unwrap();
    env.use_url = false;
    let cfg = env.home.path().join("kw.yaml");
    let cfg_arg = cfg.to_str().unwrap();
    for url in [
        "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&pass%77ord=hunter2secret",
        "postgres://postgres:hunter2%73ecret@127.0.0.1:1/postgres?sslmode=disable",
    ] {
        std::fs::write(&cfg, format!("database:\n  url: \"{url}\"\n")).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = env
            .run(&["--config", cfg_arg, "db", "health"])
            .code(7)
            .stderr_has(&format!("chmod 600 {cfg_arg}"));
        assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        env.run(&["--config", cfg_arg, "db", "health"]).code(6);
    }
}
