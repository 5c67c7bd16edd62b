//! Configuration as users set it: flags, environment, config file.

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
