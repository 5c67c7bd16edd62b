//! `keyward settings …`: secrets, versions, import/export, run, diff, promote, rotation.

use crate::cli_test;
use crate::support::Backend;
use crate::util::{set_secret, Env};

const SECRET: &str = "hunter2hunter2";

/// Every text a backend stores for settings and the audit, to look for leaked plaintext.
fn stored_text(env: &Env) -> String {
    let mut store = env.db.open_raw();
    keyward::store::read(store.as_mut(), |c| {
        let mut all = String::new();
        for sql in [
            "SELECT COALESCE(value, '') FROM settings",
            "SELECT COALESCE(old_value, '') || COALESCE(new_value, '') FROM settings_audit_log",
            "SELECT details FROM audit_events",
        ] {
            for r in c.query(sql, &[])? {
                all.push_str(&r.text(0)?);
                all.push('\n');
            }
        }
        Ok(all)
    })
    .unwrap()
}

cli_test! {
    /// A secret is stored only as ciphertext; --reveal --raw prints it; otherwise it is masked.
    fn secrets_are_ciphertext_and_masked(env) {
        env.init();
        set_secret(env, "smtp.password", SECRET, "production");
        let raw = env.run(&["settings", "get", "smtp.password", "--env", "production", "--reveal", "--raw"]).ok();
        assert_eq!(raw.stdout, SECRET, "the bare value, no newline added");
        let masked = env.run(&["settings", "get", "smtp.password", "--env", "production", "-o", "json"]).ok().json();
        assert_eq!(masked["value"], serde_json::Value::Null);
        assert_eq!(masked["secret"], true);
        let table = env.run(&["settings", "get", "smtp.password", "--env", "production"]).ok().stdout;
        assert!(table.contains("********") && !table.contains(SECRET));
        env.run(&["settings", "get", "smtp.password", "--env", "production", "--raw"]).code(2).stderr_has("--reveal");
        let listed = env.run(&["settings", "list", "--env", "production", "-o", "json"]).ok().json();
        assert_eq!(listed[0]["value"], serde_json::Value::Null);
        env.run(&["settings", "get", "smtp.password"]).code(3).stderr_has("development");
        // Nowhere in the database in the clear: tables, and for SQLite the file itself.
        assert!(!stored_text(env).contains(SECRET));
        if env.db.schema().is_none() {
            let path = env.url().trim_start_matches("sqlite://").to_owned();
            for suffix in ["", "-wal"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "plaintext in {path}{suffix}");
                }
            }
        }
        // A secret on argv works but warns.
        env.run(&["settings", "set", "api.token", "t0ken-value", "--secret"]).ok().stderr_has("shell history");
    }
}

cli_test! {
    /// Versions grow by one; history, rollback (also of a deleted setting) and --if-version; audit stays intact.
    fn versions_history_rollback_and_check_and_set(env) {
        env.init();
        let set = |args: &[&str]| { let mut a = vec!["settings", "set"]; a.extend_from_slice(args); a.push("-o"); a.push("json"); env.run(&a) };
        assert_eq!(set(&["smtp.port", "587", "--type", "int", "--category", "email"]).ok().json()["version"], 1);
        assert_eq!(set(&["smtp.port", "587"]).ok().json()["action"], "unchanged");
        set(&["smtp.port", "abc"]).code(2);
        set(&["smtp.port", "2525", "--if-version", "7"]).code(4).stderr_has("version 1");
        assert_eq!(set(&["smtp.port", "2525", "--if-version", "1"]).ok().json()["version"], 2);
        set(&["new.key", "x", "--if-version", "1"]).code(4);
        set(&["new.key", "x", "--if-version", "0"]).ok();
        let got = env.run(&["settings", "get", "smtp.port", "-o", "json"]).ok().json();
        assert_eq!(got["value"], 2525);
        assert_eq!(got["type"], "int");
        assert_eq!(got["category"], "email");

        env.run(&["settings", "delete", "smtp.port"]).code(2).stderr_has("--yes");
        env.run(&["settings", "delete", "smtp.port", "-y"]).ok();
        env.run(&["settings", "get", "smtp.port"]).code(3);
        assert!(!env.run(&["settings", "export"]).ok().stdout.contains("smtp.port"));
        let history = env.run(&["settings", "history", "smtp.port", "-o", "json"]).ok().json();
        let actions: Vec<&str> = history.as_array().unwrap().iter().map(|v| v["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["create", "update", "delete"]);
        env.run(&["settings", "rollback", "smtp.port", "--to-version", "3"]).code(2);
        env.run(&["settings", "rollback", "smtp.port", "--to-version", "9"]).code(3);
        let back = env.run(&["settings", "rollback", "smtp.port", "--to-version", "1", "-o", "json"]).ok().json();
        assert_eq!(back["version"], 4);
        assert_eq!(env.run(&["settings", "get", "smtp.port", "-o", "json"]).ok().json()["value"], 587);
        let events = env.run(&["audit", "list", "--action", "setting.*", "--target", "smtp.port", "-o", "json"]).ok().json();
        assert_eq!(events.as_array().unwrap().len(), 4);
        assert!(!events.to_string().contains("2525"), "values stay out of audit_events");
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Secret history is masked unless revealed; rollback of a secret re-encrypts it.
    fn secret_history(env) {
        env.init();
        set_secret(env, "db.password", "first-secret-1", "development");
        set_secret(env, "db.password", "second-secret-2", "development");
        let masked = env.run(&["settings", "history", "db.password"]).ok().stdout;
        assert!(!masked.contains("first-secret-1") && masked.contains("********"));
        let revealed = env.run(&["settings", "history", "db.password", "--reveal", "-o", "json"]).ok().json();
        assert_eq!(revealed[0]["value"], "first-secret-1");
        env.run(&["settings", "rollback", "db.password", "--to-version", "1"]).ok();
        assert_eq!(env.run(&["settings", "get", "db.password", "--reveal", "--raw"]).ok().stdout, "first-secret-1");
    }
}

fn big_file(n: usize, secrets: usize) -> String {
    let mut f = String::from("environment: production\nsettings:\n");
    for i in 0..n {
        if i < secrets {
            f.push_str(&format!(
                "  secret.key{i:05}: {{value: \"s3cr3t-{i}\", secret: true}}\n"
            ));
        } else if i % 3 == 0 {
            f.push_str(&format!(
                "  app.port{i:05}: {{value: {i}, type: int, category: ports}}\n"
            ));
        } else {
            f.push_str(&format!(
                "  app.name{i:05}: \"value {i} with 'quotes' and $dollar\"\n"
            ));
        }
    }
    f
}

cli_test! {
    /// A 10,000-setting file (1,000 secret) imports; a second import changes nothing;
    /// --prune removes what the file lacks; a syntax error at line 7 is named and changes nothing.
    fn declarative_import(env) {
        env.init();
        let file = env.home.path().join("big.yaml");
        std::fs::write(&file, big_file(10_000, 1_000)).unwrap();
        let f = file.to_str().unwrap();
        let first = env.run(&["settings", "import", "-f", f, "-o", "json"]).ok().json();
        assert_eq!(first["added"].as_array().unwrap().len(), 10_000);
        assert_eq!(first["applied"], true);
        let second = env.run(&["settings", "import", "-f", f, "-o", "json"]).ok().json();
        assert_eq!(second["added"].as_array().unwrap().len(), 0);
        assert_eq!(second["changed"].as_array().unwrap().len(), 0);
        assert_eq!(second["unchanged"], 10_000);
        let table = env.run(&["settings", "import", "-f", f]).ok();
        assert!(table.stderr.contains("0 to add, 0 to change, 0 to remove, 10000 unchanged"), "{}", table.stderr);
        assert_eq!(env.run(&["settings", "get", "secret.key00007", "--env", "production", "--reveal", "--raw"]).ok().stdout, "s3cr3t-7");

        let small = env.home.path().join("small.yaml");
        std::fs::write(&small, "environment: production\nsettings:\n  app.name01001: changed\n  extra.key: {value: true}\n").unwrap();
        let s = small.to_str().unwrap();
        let dry = env.run(&["settings", "import", "-f", s, "--prune", "--dry-run", "-o", "json"]).ok().json();
        assert_eq!(dry["removed"].as_array().unwrap().len(), 9_999);
        assert_eq!(dry["applied"], false);
        env.run(&["settings", "import", "-f", s, "--prune"]).code(2).stderr_has("--yes");
        let pruned = env.run(&["settings", "import", "-f", s, "--prune", "-y", "-o", "json"]).ok().json();
        assert_eq!(pruned["changed"][0]["key"], "app.name01001");
        assert_eq!(pruned["added"], serde_json::json!(["extra.key"]));
        let left = env.run(&["settings", "list", "--env", "production", "-o", "json"]).ok().json();
        assert_eq!(left.as_array().unwrap().len(), 2);

        let broken = env.home.path().join("broken.yaml");
        std::fs::write(&broken, "settings:\n  a: 1\n  b: 2\n  c: 3\n  d: 4\n  e: 5\n  f: [unclosed\n  g: 7\n").unwrap();
        let before = env.run(&["audit", "list", "-o", "json"]).ok().json();
        env.run(&["settings", "import", "-f", broken.to_str().unwrap(), "--env", "production"]).code(2).stderr_has("line 7");
        assert_eq!(env.run(&["audit", "list", "-o", "json"]).ok().json(), before, "nothing was written");
        // From stdin too, and a bad value names its key.
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some("settings:\n  p: {value: x, type: int}\n")).code(2).stderr_has("'p'");
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some("settings:\n  p: {value: 5, type: int}\n")).ok();
        // A file for one environment is not applied to another asked for explicitly.
        env.run(&["settings", "import", "-f", s, "--env", "staging"]).code(2).stderr_has("production");
        env.run(&["audit", "verify"]).ok();
    }
}

/// `export --reveal` from SQLite, imported into PostgreSQL, gives an identical export.
#[test]
fn export_round_trips_between_backends() {
    let sqlite = Env::new(Backend::Sqlite).unwrap();
    let Some(pg) = Env::new(Backend::Postgres) else {
        return;
    };
    sqlite.init();
    pg.init();
    let source = "environment: staging\nsettings:\n  a.string: \"it's $HOME\\nline two\"\n  a.quoted.number: '587'\n  b.int: {value: 42, type: int, category: nums, description: The answer}\n  c.float: {value: 0.25, type: float}\n  d.bool: false\n  e.json: {value: {x: [1, 2, {y: null}]}, type: json}\n  f.secret: {value: \"p@ss'word\\\"\", secret: true, category: creds}\n";
    sqlite
        .run_with_stdin(&["settings", "import", "-f", "-"], Some(source))
        .ok();
    for format in ["yaml", "json"] {
        let exported = sqlite
            .run(&[
                "settings", "export", "--env", "staging", "--reveal", "--format", format,
            ])
            .ok()
            .stdout;
        pg.run_with_stdin(&["settings", "import", "-f", "-"], Some(&exported))
            .ok();
        let again = pg
            .run(&[
                "settings", "export", "--env", "staging", "--reveal", "--format", format,
            ])
            .ok()
            .stdout;
        assert_eq!(exported, again, "{format}");
        let second = pg
            .run_with_stdin(
                &["settings", "import", "-f", "-", "-o", "json"],
                Some(&exported),
            )
            .ok()
            .json();
        assert_eq!(second["unchanged"], 7);
    }
    let masked = sqlite.run(&["settings", "export", "--env", "staging"]).ok();
    assert!(!masked.stdout.contains("f.secret"));
    assert!(masked.stderr.contains("1 secret setting(s) left out"));
}

cli_test! {
    /// dotenv and shell exports survive `source`, quotes, dollars and newlines included.
    fn dotenv_and_shell_exports_survive_source(env) {
        env.init();
        env.run_with_stdin(&["settings", "set", "tricky.value", "--value-stdin"], Some("it's \"$HOME\" `x`\nline two\n")).ok();
        set_secret(env, "smtp.password", SECRET, "development");
        for format in ["dotenv", "shell"] {
            let text = env.run(&["settings", "export", "--format", format, "--reveal"]).ok().stdout;
            let file = env.home.path().join(format!("vars.{format}"));
            std::fs::write(&file, &text).unwrap();
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("set -a; . '{}'; printf '%s|%s' \"$TRICKY_VALUE\" \"$SMTP_PASSWORD\"", file.display()))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("it's \"$HOME\" `x`\nline two|{SECRET}"), "{format}: {text}");
        }
    }
}

cli_test! {
    /// `settings run` passes secrets in the environment and the command's exit code out.
    fn run_passes_settings_and_exit_code(env) {
        env.init();
        set_secret(env, "smtp.password", SECRET, "production");
        env.run(&["settings", "set", "smtp.host", "mail.example.com", "--env", "production"]).ok();
        let out = env.run(&["settings", "run", "--env", "production", "--", "sh", "-c", "echo $SMTP_PASSWORD@$SMTP_HOST"]).ok();
        assert_eq!(out.stdout, format!("{SECRET}@mail.example.com\n"));
        env.run(&["settings", "run", "--env", "production", "--", "sh", "-c", "exit 3"]).code(3);
        env.run(&["settings", "run", "--env", "production", "--prefix", "smtp.h", "--", "sh", "-c", "test -z \"$SMTP_PASSWORD\""]).ok();
        env.run(&["settings", "run", "--", "no-such-command-kw"]).code(127);
        // Two keys that become one variable: refused before anything runs.
        env.run(&["settings", "set", "smtp-host", "other", "--env", "production"]).ok();
        env.run(&["settings", "run", "--env", "production", "--", "sh", "-c", "touch ran"]).code(2).stderr_has("SMTP_HOST");
    }
}

cli_test! {
    /// diff shows keys in one environment only and differing values (secrets unshown); promote copies as audited changes.
    fn diff_and_promote(env) {
        env.init();
        env.run(&["settings", "set", "a", "1", "--env", "staging"]).ok();
        env.run(&["settings", "set", "b", "2", "--env", "staging"]).ok();
        env.run(&["settings", "set", "b", "3", "--env", "production"]).ok();
        env.run(&["settings", "set", "c", "4", "--env", "production"]).ok();
        set_secret(env, "s", "same-secret", "staging");
        set_secret(env, "s", "other-secret", "production");
        let diff = env.run(&["settings", "diff", "--env", "staging", "--against", "production", "-o", "json"]).ok();
        assert!(!diff.stdout.contains("same-secret") && !diff.stdout.contains("other-secret"));
        let rows = diff.json();
        let status = |k: &str| rows.as_array().unwrap().iter().find(|r| r["key"] == k).map(|r| r["status"].as_str().unwrap().to_owned());
        assert_eq!(status("a").as_deref(), Some("only_in_staging"));
        assert_eq!(status("b").as_deref(), Some("different"));
        assert_eq!(status("c").as_deref(), Some("only_in_production"));
        assert_eq!(status("s").as_deref(), Some("different"));

        let dry = env.run(&["settings", "promote", "a", "b", "s", "--from", "staging", "--to", "production", "--dry-run", "-o", "json"]).ok().json();
        assert_eq!(dry.as_array().unwrap().len(), 3);
        env.run(&["settings", "get", "a", "--env", "production"]).code(3);
        env.run(&["settings", "promote", "a", "b", "s", "--from", "staging", "--to", "production"]).ok();
        assert_eq!(env.run(&["settings", "get", "s", "--env", "production", "--reveal", "--raw"]).ok().stdout, "same-secret");
        let rows = env.run(&["settings", "diff", "--env", "staging", "--against", "production", "-o", "json"]).ok().json();
        assert_eq!(rows.as_array().unwrap().len(), 1, "only c differs now: {rows}");
        env.run(&["settings", "promote", "zz", "--from", "staging", "--to", "production"]).code(3);
        let audited = env.run(&["audit", "list", "--action", "setting.create", "--target", "a", "-o", "json"]).ok().json();
        assert_eq!(audited.as_array().unwrap().len(), 2);
    }
}

cli_test! {
    /// After rotate-key every secret reads back; with only the old key, reading a rotated value exits 7.
    fn rotation_re_encrypts_settings(env) {
        env.init();
        let old_key = env.home.path().join("old.key");
        std::fs::copy(env.key_file(), &old_key).unwrap();
        for i in 0..5 {
            set_secret(env, &format!("s{i}"), &format!("value-{i}"), "production");
        }
        let new_key = env.home.path().join("new.key");
        let report = env.run(&["db", "rotate-key", "--new-key-file", new_key.to_str().unwrap(), "-y", "-o", "json"]).ok().json();
        assert_eq!(report["reencrypted"], 5);
        for i in 0..5 {
            assert_eq!(env.run(&["settings", "get", &format!("s{i}"), "--env", "production", "--reveal", "--raw"]).ok().stdout, format!("value-{i}"));
        }
        // History rows stay under the old key, readable while it is a previous key.
        env.run(&["settings", "history", "s0", "--env", "production", "--reveal"]).ok();
        env.run(&["--key-file", old_key.to_str().unwrap(), "settings", "get", "s0", "--env", "production", "--reveal"]).code(7);
    }
}

cli_test! {
    /// A value in the seed's legacy format (no kw1 prefix, no associated data) reads, and becomes kw1 on its next change.
    fn legacy_values_read_and_upgrade(env) {
        env.init();
        set_secret(env, "legacy", "placeholder", "development");
        // Seal "old-format-secret" the legacy way with the active key: base64(nonce || ct || tag), no AAD.
        let key_line = std::fs::read_to_string(env.key_file()).unwrap();
        let key = keyward::crypto::keyring::Key::from_base64(key_line.lines().next().unwrap()).unwrap();
        let ring = keyward::crypto::keyring::Keyring::new(key.clone(), vec![], keyward::crypto::keyring::KeySource::EnvVar("T".into()));
        let envelope = keyward::crypto::envelope::seal(&key, "", b"old-format-secret").unwrap();
        let legacy = envelope.rsplit(':').next().unwrap().to_owned();
        assert_eq!(&*keyward::crypto::envelope::open(&ring, "", &legacy).unwrap(), b"old-format-secret");
        env.sql(&format!("UPDATE settings SET value = '{legacy}' WHERE key = 'legacy'")).unwrap();
        assert_eq!(env.run(&["settings", "get", "legacy", "--reveal", "--raw"]).ok().stdout, "old-format-secret");
        env.run_with_stdin(&["settings", "set", "legacy", "--value-stdin"], Some("new-value\n")).ok();
        let stored = env.sql_text("SELECT value FROM settings WHERE key = 'legacy'");
        assert!(stored.starts_with("kw1:"), "{stored}");
    }
}

cli_test! {
    /// Several processes writing at once all succeed: no "database is locked",
    /// no lost write, one linear audit chain.
    fn concurrent_processes_all_succeed(env) {
        env.init();
        const WRITERS: usize = 8;
        let children: Vec<_> = (0..WRITERS)
            .map(|i| {
                let mut cmd = env.command(&["settings", "set", "shared.key", &format!("value-{i}")]);
                cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
                let mut own = env.command(&["settings", "set", &format!("own.key{i}"), "x"]);
                own.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
                (cmd.spawn().unwrap(), own.spawn().unwrap())
            })
            .collect();
        for (a, b) in children {
            for child in [a, b] {
                let out = child.wait_with_output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "a writer failed: {stderr}");
                assert!(!stderr.contains("locked"), "{stderr}");
            }
        }
        let history = env.run(&["settings", "history", "shared.key", "-o", "json"]).ok().json();
        let versions: Vec<i64> = history.as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
        assert_eq!(versions, (1..=WRITERS as i64).collect::<Vec<_>>(), "every write is a version");
        let listed = env.run(&["settings", "list", "--prefix", "own.", "-o", "json"]).ok().json();
        assert_eq!(listed.as_array().unwrap().len(), WRITERS);
        let verify = env.run(&["audit", "verify", "-o", "json"]).ok().json();
        assert_eq!(verify["entries"], 3 + 2 * WRITERS);
    }
}

cli_test! {
    /// Killing an import part-way leaves all of it or none of it, and the chain intact.
    fn killed_import_is_all_or_nothing(env) {
        env.init();
        let file = env.home.path().join("big.yaml");
        std::fs::write(&file, big_file(10_000, 1_000)).unwrap();
        for delay_ms in [50u64, 200, 400] {
            let mut child = env.command(&["settings", "import", "-f", file.to_str().unwrap(), "--env", "production", "--prune", "-y"]);
            child.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
            let mut child = child.spawn().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            let _ = child.kill();
            let _ = child.wait();
            let listed = env.run(&["settings", "list", "--env", "production", "-o", "json"]).ok().json();
            let n = listed.as_array().unwrap().len();
            assert!(n == 0 || n == 10_000, "half an import is visible: {n} settings after a kill at {delay_ms} ms");
            env.run(&["audit", "verify"]).ok();
            // Start the next round from nothing.
            if n > 0 {
                std::fs::write(env.home.path().join("empty.yaml"), "settings: {}\n").unwrap();
                env.run(&["settings", "import", "-f", env.home.path().join("empty.yaml").to_str().unwrap(), "--env", "production", "--prune", "-y"]).ok();
            }
        }
    }
}

cli_test! {
    /// --from-file stores the file exactly; --value-stdin drops one trailing newline; conflicting sources are refused.
    fn value_sources(env) {
        env.init();
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let file = env.home.path().join("cert.pem");
        std::fs::write(&file, pem).unwrap();
        env.run(&["settings", "set", "tls.cert", "--from-file", file.to_str().unwrap()]).ok();
        let got = env.run(&["settings", "get", "tls.cert", "-o", "json"]).ok().json();
        assert_eq!(got["value"], pem);
        env.run_with_stdin(&["settings", "set", "motd", "--value-stdin"], Some("two\nlines\n\n")).ok();
        assert_eq!(env.run(&["settings", "get", "motd", "-o", "json"]).ok().json()["value"], "two\nlines\n");
        env.run(&["settings", "set", "x", "1", "--value-stdin"]).code(2);
        env.run(&["settings", "set", "x"]).code(2).stderr_has("--value-stdin");
        env.run(&["settings", "set", "bad key", "1"]).code(2).stderr_has("invalid setting key");
        env.run(&["--env", "Prod", "settings", "list"]).code(2);
        // A negative number is a value, not a flag.
        env.run(&["settings", "set", "limit", "-5", "--type", "int"]).ok();
        assert_eq!(env.run(&["settings", "get", "limit", "--raw"]).ok().stdout, "-5");
    }
}

cli_test! {
    /// Review findings: --if-version 0 on a deleted key, promote keeps a target secret,
    /// NUL bytes refused, an empty file with --prune refused, `-o json` exports JSON,
    /// json-typed strings round-trip, and entry errors carry their line.
    fn settings_edge_cases(env) {
        env.init();
        env.run(&["settings", "set", "gone", "x"]).ok();
        env.run(&["settings", "delete", "gone", "-y"]).ok();
        let again = env.run(&["settings", "set", "gone", "y", "--if-version", "0", "-o", "json"]).ok().json();
        assert_eq!(again["version"], 3, "versions keep growing across a deletion");

        env.run(&["settings", "set", "db.pw", "plain-in-staging", "--env", "staging"]).ok();
        set_secret(env, "db.pw", "secret-in-prod", "production");
        env.run(&["settings", "promote", "db.pw", "--from", "staging", "--to", "production"]).ok();
        let promoted = env.run(&["settings", "get", "db.pw", "--env", "production", "-o", "json"]).ok().json();
        assert_eq!(promoted["secret"], true);
        assert_eq!(promoted["value"], serde_json::Value::Null);

        env.run_with_stdin(&["settings", "set", "nul", "--value-stdin"], Some("a\0b")).code(2).stderr_has("NUL");
        env.run_with_stdin(&["settings", "import", "-f", "-", "--prune", "-y"], Some("settings: {}\n")).code(2).stderr_has("no settings");

        env.run(&["settings", "set", "j.str", "\"587\"", "--type", "json"]).ok();
        env.run(&["settings", "set", "j.obj", "{\"a\": [1, 2]}", "--type", "json"]).ok();
        env.run(&["settings", "set", "s.yes", "yes"]).ok();
        env.run_with_stdin(&["settings", "set", "s.del", "--value-stdin"], Some("del\u{7f}here")).ok();
        let exported = env.run(&["settings", "export", "-o", "json", "--reveal"]).ok();
        let doc = exported.json();
        assert_eq!(doc["environment"], "development");
        // Round trip through a new environment of the same database.
        let text = exported.stdout.replace("\"development\"", "\"copy\"");
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some(&text)).ok();
        for (key, want) in [("j.str", serde_json::json!("587")), ("j.obj", serde_json::json!({"a": [1, 2]})), ("s.yes", serde_json::json!("yes")), ("s.del", serde_json::json!("del\u{7f}here"))] {
            let got = env.run(&["settings", "get", key, "--env", "copy", "-o", "json"]).ok().json();
            assert_eq!(got["value"], want, "{key}");
        }
        let yaml = env.run(&["settings", "export", "--env", "copy"]).ok().stdout;
        assert!(yaml.contains("\"s.yes\": \"yes\""), "strings are quoted for every YAML parser: {yaml}");

        let bad = "settings:\n  a: 1\n  b: 2\n  c: 3\n  d: 4\n  e: 5\n  g: {value: x, type: int}\n  h: 8\n";
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some(bad)).code(2).stderr_has("line 7");
        let dup = "settings:\n  a: 1\n  b: 2\n  c: 3\n  d: 4\n  e: 5\n  a: 7\n";
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some(dup)).code(2).stderr_has("line 7");
        // --reveal needs no key when nothing secret is involved.
        std::fs::rename(env.key_file(), env.home.path().join("away.key")).unwrap();
        env.run(&["settings", "get", "gone", "--reveal", "--raw"]).ok();
        env.run(&["settings", "list", "--prefix", "j.", "--reveal"]).ok();
        env.run(&["settings", "get", "db.pw", "--env", "production", "--reveal"]).code(7);
    }
}

cli_test! {
    /// `set K --secret` racing `set K plain`: every decision is made inside the
    /// write transaction, so neither ever fails (no "secret read without a key
    /// ring"), and the key ends secret whichever runs first.
    fn concurrent_secret_and_plain_sets_never_fail(env) {
        use std::io::Write;
        use std::process::Stdio;
        env.init();
        for round in 0..20 {
            // A key that is not secret yet when both start (new, or plain).
            let key = format!("race.key{round}");
            if round % 2 == 1 {
                env.run(&["settings", "set", &key, "plain-before"]).ok();
            }
            let mut secret = env.command(&["settings", "set", &key, "--secret", "--value-stdin"]);
            secret.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut plain = env.command(&["settings", "set", &key, &format!("plain-{round}")]);
            plain.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut secret = secret.spawn().unwrap();
            let plain = plain.spawn().unwrap();
            let mut pipe = secret.stdin.take().unwrap();
            pipe.write_all(format!("secret-{round}\n").as_bytes()).unwrap();
            drop(pipe);
            for (what, child) in [("--secret", secret), ("plain", plain)] {
                let out = child.wait_with_output().unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "round {round}: the {what} set failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let got = env.run(&["settings", "get", &key, "-o", "json"]).ok().json();
            assert_eq!(got["secret"], true, "round {round}: a secret stays secret: {got}");
        }
        // Without a configured key, a secret gives the key error (exit 7), never exit 1.
        std::fs::rename(env.key_file(), env.home.path().join("away.key")).unwrap();
        env.run(&["settings", "set", "race.key0", "plain-again"]).code(7).stderr_has("key");
        env.run(&["settings", "set", "race.plain", "x"]).ok();
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// The time of a change is read under the write lock: however concurrent
    /// writers interleave, versions and their times go up together.
    fn change_times_follow_commit_order(env) {
        use std::process::Stdio;
        env.init();
        let children: Vec<_> = (0..8)
            .map(|i| {
                let mut cmd = env.command(&["settings", "set", "busy.key", &format!("v{i}")]);
                cmd.stdout(Stdio::null()).stderr(Stdio::piped());
                cmd.spawn().unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        let history = env.run(&["settings", "history", "busy.key", "-o", "json"]).ok().json();
        let rows = history.as_array().unwrap();
        assert_eq!(rows.len(), 8);
        for pair in rows.windows(2) {
            assert_eq!(pair[1]["version"].as_i64(), pair[0]["version"].as_i64().map(|v| v + 1));
            let (a, b) = (pair[0]["changed_at"].as_str().unwrap(), pair[1]["changed_at"].as_str().unwrap());
            assert!(a <= b, "version {} at {a} but version {} at {b}", pair[0]["version"], pair[1]["version"]);
        }
    }
}
