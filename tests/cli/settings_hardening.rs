//! Issue 8, settings: the value size cap, mistyped environments and
//! `settings envs`, signals and protected variables in `settings run`, line
//! separators through export/import, rollback to the same content, YAML
//! tags, tampered secrets named, and `--value-stdin` on a terminal.

use crate::cli_test;
use crate::util::{audit_count, set_secret, Env};
use std::process::Stdio;
use std::time::{Duration, Instant};

cli_test! {
    /// Item 2: values over the cap (1 MiB by default; KEYWARD_MAX_VALUE_SIZE or
    /// settings.max_value_size) are refused with exit 2 before anything is
    /// written, from argv, stdin, a file, an import (naming the key) and a promote.
    fn value_size_cap_refuses_before_writing(env) {
        env.init();
        let before = audit_count(env);
        // The default: 1 MiB. One byte more is refused, from stdin and from a file.
        let mib = 1 << 20;
        let over = "x".repeat(mib + 1);
        env.run_with_stdin(&["settings", "set", "big", "--value-stdin"], Some(&over))
            .code(2)
            .stderr_has("limit of 1048576 bytes");
        let file = env.home.path().join("big.txt");
        std::fs::write(&file, "y".repeat(2 * mib)).unwrap();
        let err = env.run(&["settings", "set", "big", "--from-file", file.to_str().unwrap()]).code(2);
        assert!(!err.stderr.contains("yyyy"), "never the value: {}", err.stderr);
        let import = format!("settings:\n  fine: 1\n  big: \"{over}\"\n");
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some(&import)).code(2).stderr_has("'big'");
        env.run(&["settings", "get", "fine"]).code(3);
        env.run(&["settings", "get", "big"]).code(3);
        assert_eq!(audit_count(env), before, "nothing was written");
        // Exactly the cap is accepted (the trailing newline of stdin is not the value's).
        let at = format!("{}\n", "z".repeat(mib));
        env.run_with_stdin(&["settings", "set", "at.cap", "--value-stdin"], Some(&at)).ok();

        // A lower cap from the environment.
        env.vars.push(("KEYWARD_MAX_VALUE_SIZE".into(), "16".into()));
        env.run(&["settings", "set", "s", "0123456789abcdef"]).ok();
        env.run(&["settings", "set", "s", "0123456789abcdefg"]).code(2).stderr_has("'s'");
        env.run_with_stdin(&["settings", "set", "s", "--value-stdin"], Some("0123456789abcdefg\n")).code(2);
        env.run_with_stdin(&["settings", "set", "s", "--secret", "--value-stdin"], Some("0123456789abcdef\n")).ok();
        // Promoting a value written under the higher cap is refused too.
        env.run(&["settings", "promote", "at.cap", "--from", "development", "--to", "staging"]).code(2).stderr_has("'at.cap'");
        env.run(&["settings", "get", "at.cap", "--env", "staging"]).code(3);
        env.vars.retain(|(k, _)| k != "KEYWARD_MAX_VALUE_SIZE");

        // From the config file, and bad values are exit 2.
        let config = env.home.path().join("config.yaml");
        std::fs::write(&config, "settings:\n  max_value_size: 8\n").unwrap();
        let c = config.to_str().unwrap();
        env.run(&["--config", c, "settings", "set", "t", "12345678"]).ok();
        env.run(&["--config", c, "settings", "set", "t", "123456789"]).code(2).stderr_has("limit of 8 bytes");
        for bad in ["0", "1MiB", "999999999999"] {
            env.vars.push(("KEYWARD_MAX_VALUE_SIZE".into(), bad.into()));
            env.run(&["settings", "list"]).code(2).stderr_has("KEYWARD_MAX_VALUE_SIZE");
            env.vars.pop();
        }
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Item 6: an environment with no settings (a mistyped --env) is said on
    /// stderr with the closest existing one; `settings envs` lists environments.
    fn mistyped_environment_warns_and_envs_lists(env) {
        env.init();
        env.run(&["settings", "set", "a", "1", "--env", "production"]).ok();
        set_secret(env, "b", "s3cr3t-value", "production");
        env.run(&["settings", "set", "c", "1", "--env", "staging"]).ok();
        env.run(&["settings", "set", "gone", "1", "--env", "staging"]).ok();
        env.run(&["settings", "delete", "gone", "--env", "staging", "-y"]).ok();
        let hint = "did you mean 'production'?";

        let run = env.run(&["--env", "prodution", "settings", "run", "--", "sh", "-c", "exit 0"]).ok();
        assert!(run.stderr.contains("'prodution' has no settings") && run.stderr.contains(hint), "{}", run.stderr);
        env.run(&["--env", "prodution", "settings", "list"]).ok().stderr_has(hint);
        env.run(&["--env", "prodution", "settings", "list", "-o", "json"]).ok().stderr_has(hint);
        env.run(&["--env", "prodution", "settings", "export"]).ok().stderr_has(hint);
        env.run(&["--env", "prodution", "settings", "get", "a"]).code(3).stderr_has(hint);
        env.run(&["--env", "prodution", "settings", "history", "a"]).code(3).stderr_has(hint);
        env.run(&["settings", "diff", "--env", "staging", "--against", "prodution"]).ok().stderr_has(hint);
        env.run(&["settings", "set", "x", "1", "--env", "prodution"]).ok().stderr_has(hint);
        // A name close to none still says the environment is empty.
        env.run(&["--env", "qa", "settings", "list"]).ok().stderr_has("'qa' has no settings");
        // No warning where the environment has settings, even when a filter finds none.
        for args in [
            vec!["settings", "list", "--env", "production"],
            vec!["settings", "list", "--env", "production", "--prefix", "zzz"],
            vec!["settings", "export", "--env", "staging"],
        ] {
            let out = env.run(&args).ok();
            assert!(!out.stderr.contains("has no settings"), "{args:?}: {}", out.stderr);
        }
        env.run(&["settings", "get", "zzz", "--env", "production"]).code(3);

        let envs = env.run(&["settings", "envs", "-o", "json"]).ok().json();
        assert_eq!(
            envs,
            serde_json::json!([
                {"environment": "production", "settings": 2, "secrets": 1, "deleted": 0},
                {"environment": "prodution", "settings": 1, "secrets": 0, "deleted": 0},
                {"environment": "staging", "settings": 1, "secrets": 0, "deleted": 1},
            ])
        );
        let table = env.run(&["settings", "envs"]).ok().stdout;
        assert!(table.contains("ENVIRONMENT") && table.contains("staging"), "{table}");
        let yaml = env.run(&["settings", "envs", "-o", "yaml"]).ok().stdout;
        assert!(yaml.contains("environment: production"), "{yaml}");
    }
}

#[allow(unsafe_code)]
fn signal(pid: u32, sig: i32) -> i32 {
    // SAFETY: kill(2) takes plain integers and has no memory effects.
    unsafe { libc::kill(pid as i32, sig) }
}

/// Gives the child the default disposition of the signals sent here: a test
/// run started in the background of a non-interactive shell inherits SIGINT
/// and SIGQUIT ignored, and a shell cannot trap a signal ignored at entry.
#[allow(unsafe_code)]
fn default_signals(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls signal(2), which is
    // async-signal-safe, and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
}

/// Waits for `child` up to `limit`, killing it (and failing) when it overruns.
fn wait_for(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("keyward did not end within {limit:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

cli_test! {
    /// Item 9: SIGTERM, SIGINT, SIGHUP and SIGQUIT sent to keyward's pid reach
    /// the program; keyward ends with the program's status and leaves no orphan.
    fn run_passes_signals_to_the_program(env) {
        env.init();
        env.run(&["settings", "set", "app.name", "demo"]).ok();
        for (sig, code) in [(libc::SIGTERM, 42), (libc::SIGINT, 43), (libc::SIGHUP, 44), (libc::SIGQUIT, 45)] {
            let pidfile = env.home.path().join(format!("pid{sig}"));
            let script = format!(
                "trap 'kill $! 2>/dev/null; exit {code}' {sig}; sleep 30 & echo $$ > '{}.tmp'; mv '{0}.tmp' '{0}'; wait",
                pidfile.display()
            );
            let mut child = env.command(&["settings", "run", "--", "sh", "-c", &script]);
            child.stdout(Stdio::null()).stderr(Stdio::null());
            default_signals(&mut child);
            let mut child = child.spawn().unwrap();
            let start = Instant::now();
            let program: u32 = loop {
                if let Ok(text) = std::fs::read_to_string(&pidfile) {
                    break text.trim().parse().unwrap();
                }
                assert!(start.elapsed() < Duration::from_secs(20), "the program did not start");
                std::thread::sleep(Duration::from_millis(20));
            };
            assert_eq!(signal(child.id(), sig), 0);
            let status = wait_for(&mut child, Duration::from_secs(20));
            let alive = signal(program, 0) == 0;
            if alive {
                signal(program, libc::SIGKILL);
            }
            assert_eq!(status.code(), Some(code), "signal {sig}: {status:?}");
            assert!(!alive, "signal {sig}: the program {program} outlived keyward");
        }
    }
}

cli_test! {
    /// Item 10: settings never set PATH, LD_*, NODE_OPTIONS and the like for
    /// `run` (nor write them in dotenv/shell exports) unless named with
    /// --allow-var; stderr names what was left out, never its value.
    fn protected_variables_need_allow_var(env) {
        env.init();
        env.run(&["settings", "set", "path", "/nonexistent-kw"]).ok();
        env.run(&["settings", "set", "ld_preload", "/tmp/evil-kw.so"]).ok();
        env.run(&["settings", "set", "node_options", "--require=/tmp/evil-kw.js"]).ok();
        env.run(&["settings", "set", "smtp.host", "mail.example.com"]).ok();
        let show = "printf '%s|%s|%s|%s' \"$PATH\" \"${LD_PRELOAD-unset}\" \"${NODE_OPTIONS-unset}\" \"$SMTP_HOST\"";
        let out = env.run(&["settings", "run", "--", "sh", "-c", show]).ok();
        let fields: Vec<&str> = out.stdout.split('|').collect();
        assert_ne!(fields[0], "/nonexistent-kw", "{}", out.stdout);
        assert_eq!(&fields[1..], ["unset", "unset", "mail.example.com"]);
        for name in ["PATH", "LD_PRELOAD", "NODE_OPTIONS"] {
            assert!(out.stderr.contains(name), "{name} is named: {}", out.stderr);
        }
        assert!(!out.stderr.contains("/nonexistent-kw") && !out.stderr.contains("evil"), "never a value: {}", out.stderr);
        // Named explicitly, it is set.
        let out = env.run(&["settings", "run", "--allow-var", "NODE_OPTIONS", "--", "sh", "-c", show]).ok();
        assert!(out.stdout.ends_with("|unset|--require=/tmp/evil-kw.js|mail.example.com"), "{}", out.stdout);
        env.run(&["settings", "run", "--allow-var", "A=B", "--", "true"]).code(2);

        // dotenv and shell exports leave them out with a comment, unless allowed.
        for format in ["dotenv", "shell"] {
            let out = env.run(&["settings", "export", "--format", format]).ok();
            assert!(!out.stdout.contains("/nonexistent-kw") && !out.stdout.contains("evil"), "{}", out.stdout);
            assert!(out.stdout.contains("# PATH left out"), "{}", out.stdout);
            assert!(out.stdout.contains("SMTP_HOST='mail.example.com'"), "{}", out.stdout);
            out.stderr_has("LD_PRELOAD");
            let allowed = env.run(&["settings", "export", "--format", format, "--allow-var", "PATH"]).ok();
            assert!(allowed.stdout.contains("PATH='/nonexistent-kw'"), "{}", allowed.stdout);
        }
        // The import formats hold settings, not variables: nothing left out.
        let yaml = env.run(&["settings", "export"]).ok();
        assert!(yaml.stdout.contains("\"path\": \"/nonexistent-kw\""), "{}", yaml.stdout);
    }
}

cli_test! {
    /// Item 10, as an adversarial review tried it: variables that make a
    /// runtime import, run or trust something (`PYTHONWARNINGS` imports a
    /// module, `BROWSER` is run by `webbrowser`, `OPENSSL_CONF` loads engines,
    /// `SSLKEYLOGFILE` leaks TLS keys) are protected too.
    fn runtime_hooks_are_protected_too(env) {
        env.init();
        for (key, value) in [
            ("pythonwarnings", "all:0:antigravity.x:0:0"),
            ("browser", "/bin/sh -c 'id > /tmp/pwned-kw' #%s"),
            ("openssl_conf", "/tmp/evil-kw.cnf"),
            ("sslkeylogfile", "/tmp/keys-kw.log"),
            ("dotnet_startup_hooks", "/tmp/evil-kw.dll"),
            ("node_env", "production"),
        ] {
            env.run(&["settings", "set", key, value]).ok();
        }
        let show = "printf '%s|%s|%s|%s|%s|%s' \"${PYTHONWARNINGS-unset}\" \"${BROWSER-unset}\" \"${OPENSSL_CONF-unset}\" \"${SSLKEYLOGFILE-unset}\" \"${DOTNET_STARTUP_HOOKS-unset}\" \"${NODE_ENV-unset}\"";
        let out = env.run(&["settings", "run", "--", "sh", "-c", show]).ok();
        assert_eq!(out.stdout, "unset|unset|unset|unset|unset|production", "{}", out.stderr);
        for name in ["PYTHONWARNINGS", "BROWSER", "OPENSSL_CONF", "SSLKEYLOGFILE", "DOTNET_STARTUP_HOOKS"] {
            assert!(out.stderr.contains(name), "{name} is named: {}", out.stderr);
        }
    }
}

/// Values holding every kind of line separator, and spaces beside them.
const SEPARATED: &[(&str, &str)] = &[
    ("ls", "a\u{2028}b"),
    ("ls.spaced", "x \u{2028} y"),
    ("ps.lead", " \u{2029}lead"),
    ("ps.trail", "trail \u{2029}"),
    ("nel", "\u{85} y \u{85}"),
    ("mixed", "l1\r\nl2 \u{2028}\u{2029}\u{85}\r end"),
    ("controls", "\u{b}\u{c}\u{1c}\u{1d}\u{1e} z"),
];

cli_test! {
    /// Item 12: export then import keeps U+2028, U+2029, U+0085 and other line
    /// separators exactly, in YAML and JSON; JSON input is read as JSON.
    fn line_separators_round_trip(env) {
        env.init();
        for (key, value) in SEPARATED {
            env.run_with_stdin(&["settings", "set", key, "--value-stdin"], Some(&format!("{value}\n"))).ok();
        }
        set_secret(env, "secret.ls", "s \u{2028} t", "development");
        for format in ["yaml", "json"] {
            let exported = env.run(&["settings", "export", "--reveal", "--format", format]).ok().stdout;
            let copy = format!("copy-{format}");
            let text = exported.replace("\"development\"", &format!("\"{copy}\""));
            env.run_with_stdin(&["settings", "import", "-f", "-"], Some(&text)).ok();
            let diff = env.run(&["settings", "diff", "--against", &copy, "-o", "json"]).ok().json();
            assert_eq!(diff, serde_json::json!([]), "{format}: {exported}");
            for (key, value) in SEPARATED {
                let got = env.run(&["settings", "get", key, "--env", &copy, "-o", "json"]).ok().json();
                assert_eq!(got["value"], *value, "{format} {key}");
            }
        }
        // A JSON file holding the separators raw (as other tools write them),
        // by its name and by its first character.
        let mut doc = serde_json::Map::new();
        for (key, value) in SEPARATED {
            doc.insert(key.to_string(), serde_json::json!(value));
        }
        let raw = serde_json::to_string_pretty(&serde_json::json!({"environment": "raw", "settings": doc})).unwrap();
        assert!(raw.contains('\u{2028}'), "serde_json writes U+2028 raw");
        let file = env.home.path().join("settings.json");
        std::fs::write(&file, &raw).unwrap();
        env.run(&["settings", "import", "-f", file.to_str().unwrap()]).ok();
        let diff = env.run(&["settings", "diff", "--env", "raw", "--against", "copy-json", "-o", "json"]).ok().json();
        assert_eq!(diff, serde_json::json!([{"key": "secret.ls", "status": "only_in_copy-json", "secret": true}]));
        let text = raw.replace("\"raw\"", "\"raw-stdin\"");
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some(&text)).ok();
        let diff = env.run(&["settings", "diff", "--env", "raw", "--against", "raw-stdin", "-o", "json"]).ok().json();
        assert_eq!(diff, serde_json::json!([]));
    }
}

cli_test! {
    /// Item 19: rolling back to what the setting already holds says nothing
    /// changed and makes no version (nor audit entry).
    fn rollback_to_identical_content_changes_nothing(env) {
        env.init();
        env.run(&["settings", "set", "k", "one"]).ok();
        env.run(&["settings", "set", "k", "two"]).ok();
        let before = audit_count(env);
        let same = env.run(&["settings", "rollback", "k", "--to-version", "2", "-o", "json"]).ok();
        assert_eq!(same.json()["action"], "unchanged");
        assert_eq!(same.json()["version"], 2);
        env.run(&["settings", "rollback", "k", "--to-version", "2"]).ok().stderr_has("nothing changed");
        assert_eq!(audit_count(env), before);
        let back = env.run(&["settings", "rollback", "k", "--to-version", "1", "-o", "json"]).ok().json();
        assert_eq!((back["action"].as_str(), back["version"].as_i64()), (Some("rollback"), Some(3)));
        let again = env.run(&["settings", "rollback", "k", "--to-version", "1", "-o", "json"]).ok().json();
        assert_eq!((again["action"].as_str(), again["version"].as_i64()), (Some("unchanged"), Some(3)));
        // A secret compares by its plaintext.
        set_secret(env, "s", "same-secret", "development");
        env.run(&["settings", "rollback", "s", "--to-version", "1"]).ok().stderr_has("nothing changed");
        let history = env.run(&["settings", "history", "k", "-o", "json"]).ok().json();
        assert_eq!(history.as_array().unwrap().len(), 3);
        env.run(&["audit", "verify"]).ok();
    }
}

cli_test! {
    /// Item 19: every YAML tag (`!!binary` as much as `!foo`) is refused with
    /// exit 2 naming the line and the key, and nothing is written.
    fn yaml_tags_are_refused_alike(env) {
        env.init();
        for tagged in ["!!binary aGVsbG8=", "!!str 5", "!!int '5'", "!foo x", "!<tag:yaml.org,2002:binary> aGVsbG8=", "{value: !!binary aGVsbG8=, secret: true}"] {
            let file = format!("settings:\n  a: 1\n  b: {tagged}\n  c: 3\n");
            let out = env.run_with_stdin(&["settings", "import", "-f", "-"], Some(&file)).code(2);
            for needle in ["line 3", "'b'", "YAML tags"] {
                assert!(out.stderr.contains(needle), "{tagged}: {needle}: {}", out.stderr);
            }
        }
        env.run(&["settings", "get", "a"]).code(3);
        // Quoted, the same text is a value.
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some("settings:\n  b: \"!!binary aGVsbG8=\"\n")).ok();
        assert_eq!(env.run(&["settings", "get", "b", "--raw"]).ok().stdout, "!!binary aGVsbG8=");
    }
}

cli_test! {
    /// Item 19: a tampered secret makes list/get/export/run --reveal exit 8
    /// naming the setting and its environment.
    fn tampered_secret_is_named(env) {
        env.init();
        set_secret(env, "db.password", "first-secret-1", "production");
        set_secret(env, "other", "second-secret-2", "production");
        // Another row's ciphertext: valid, but bound to another key.
        env.sql("UPDATE settings SET value = (SELECT s.value FROM settings s WHERE s.key = 'other') WHERE key = 'db.password'").unwrap();
        for args in [
            vec!["settings", "list", "--reveal"],
            vec!["settings", "get", "db.password", "--reveal"],
            vec!["settings", "export", "--reveal"],
            vec!["settings", "run", "--", "true"],
        ] {
            let mut args = args;
            args.splice(0..0, ["--env", "production"]);
            let out = env.run(&args).code(8);
            assert!(out.stderr.contains("'db.password'") && out.stderr.contains("'production'"), "{args:?}: {}", out.stderr);
            assert!(!out.stderr.contains("second-secret-2"), "{}", out.stderr);
        }
        // Unrevealed, nothing is decrypted.
        env.run(&["settings", "list", "--env", "production"]).ok();
    }
}

cli_test! {
    /// Item 19: `--value-stdin` from a pipe reads all of it as before (one
    /// trailing newline dropped), secret or not.
    fn value_stdin_from_a_pipe_is_read_whole(env) {
        env.init();
        env.run_with_stdin(&["settings", "set", "multi", "--secret", "--value-stdin"], Some("line one\nline two\n\n")).ok();
        assert_eq!(env.run(&["settings", "get", "multi", "--reveal", "--raw"]).ok().stdout, "line one\nline two\n");
    }
}

/// Item 19: `--value-stdin` on a terminal asks without echo: the secret
/// typed never shows on the terminal, and is stored. Needs `script` (util-linux).
#[test]
fn value_stdin_on_a_terminal_is_not_echoed() {
    use std::io::{Read, Write};
    let Some(env) = Env::new(crate::support::Backend::Sqlite) else {
        return;
    };
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: no `script` to give keyward a terminal");
        return;
    }
    env.init();
    let base = env.command(&["settings", "set", "tty.secret", "--secret", "--value-stdin"]);
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(base.get_program())
        .chain(base.get_args())
        .map(quote)
        .collect();
    let mut cmd = std::process::Command::new("script");
    cmd.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    // Type only once the prompt is up (echo is off by then).
    let mut seen = Vec::new();
    let start = Instant::now();
    while !String::from_utf8_lossy(&seen).contains("input hidden") {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.extend(chunk);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("no prompt: {}", String::from_utf8_lossy(&seen));
        }
    }
    // rpassword turns echo off just after it writes the prompt.
    std::thread::sleep(Duration::from_secs(1));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"typed-secret-kw\n").unwrap();
    let status = wait_for(&mut child, Duration::from_secs(20));
    drop(stdin);
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.extend(chunk);
    }
    let shown = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{shown}");
    assert!(
        !shown.contains("typed-secret-kw"),
        "the terminal showed the secret: {shown}"
    );
    assert_eq!(
        env.run(&["settings", "get", "tty.secret", "--reveal", "--raw"])
            .ok()
            .stdout,
        "typed-secret-kw"
    );
}
