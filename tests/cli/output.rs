//! What people see: tables and messages escape terminal controls and cut long
//! cells; a zero-width terminal does not wrap; no error quotes a value.
//! `-o json` stays exact.

use crate::cli_test;
use crate::util::{Env, Run};

/// Clears the screen (ESC [2J), starts an 8-bit CSI (U+009B) and reverses
/// the text that follows (U+202E): each must show escaped, never act.
const HOSTILE: &str = "a\u{1b}[2Jb\u{9b}31mc\u{202e}d";

/// A character a terminal would act on, or that would reorder what is shown.
fn is_control(c: char) -> bool {
    c.is_control() && c != '\n'
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Asserts no raw control reaches stdout or stderr.
#[track_caller]
fn assert_clean(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if let Some(c) = text.chars().find(|c| is_control(*c)) {
            panic!(
                "raw control {:?} on {name} of `keyward {}`:\n{text:?}",
                c,
                run.args.join(" ")
            );
        }
    }
}

/// Asserts a table shows HOSTILE with every control escaped.
#[track_caller]
fn assert_shows_escaped(run: &Run) {
    assert_clean(run);
    assert!(
        run.stdout.contains(r"a\e[2Jb\u{9b}31mc\u{202e}d"),
        "the escaped value is not shown:\n{}",
        run.stdout
    );
}

cli_test! {
    /// Item 1: a setting's value, category and description, a role's
    /// description, an actor and a username holding terminal controls show
    /// escaped in tables and messages, and come back exact from `-o json`.
    fn terminal_controls_show_escaped_and_json_stays_exact(env) {
        env.init();
        let set = env.run(&[
            "settings", "set", "hostile", HOSTILE,
            "--category", HOSTILE, "--description", HOSTILE,
        ]);
        assert_clean(&set.ok());
        assert_shows_escaped(&env.run(&["settings", "list"]).ok());
        let shown = env.run(&["settings", "get", "hostile"]).ok();
        assert_shows_escaped(&shown);
        assert!(shown.stdout.matches(r"\e[2J").count() >= 3, "{}", shown.stdout);
        let json = env.run(&["settings", "list", "-o", "json"]).ok().json();
        let row = &json[0];
        for field in ["value", "category", "description"] {
            assert_eq!(row[field], HOSTILE, "{field} is not exact in JSON");
        }
        let yaml = env.run(&["settings", "get", "hostile", "-o", "yaml"]).ok();
        let yaml: serde_yaml::Value = serde_yaml::from_str(&yaml.stdout).unwrap();
        assert_eq!(yaml["value"].as_str(), Some(HOSTILE), "YAML is not exact");

        assert_clean(&env.run(&["roles", "add", "hostile", "--description", HOSTILE]).ok());
        assert_shows_escaped(&env.run(&["roles", "list"]).ok());
        let roles = env.run(&["roles", "list", "-o", "json"]).ok().json();
        let role = roles.as_array().unwrap().iter().find(|r| r["name"] == "hostile").unwrap();
        assert_eq!(role["description"], HOSTILE);

        // An actor and a username are identifiers: refused or stored, never shown raw.
        let acted = env.run(&["--actor", HOSTILE, "settings", "set", "plain", "v"]);
        assert_clean(&acted);
        if acted.code == 0 {
            assert_shows_escaped(&env.run(&["audit", "list"]).ok());
            let audit = env.run(&["audit", "list", "-o", "json"]).ok().json();
            assert!(audit.as_array().unwrap().iter().any(|e| e["actor"] == HOSTILE));
        }
        let check = env.run_with_stdin(
            &["users", "check-password", HOSTILE, "--password-stdin"],
            Some("whatever\n"),
        );
        assert_ne!(check.code, 0);
        assert_clean(&check);
        assert!(check.stderr.contains(r"\e[2J"), "{}", check.stderr);

        // Errors that name what was asked for, and clap's usage errors.
        assert_clean(&env.run(&["settings", "get", HOSTILE]));
        assert_clean(&env.run(&["users", "show", HOSTILE]));
        let usage = env.run(&["settings", HOSTILE]);
        assert_eq!(usage.code, 2);
        assert_clean(&usage);
    }
}

cli_test! {
    /// Item 1: a value with line breaks keeps one table row per setting,
    /// the breaks shown as `\n`; JSON keeps them.
    fn newlines_in_table_cells_show_escaped(env) {
        env.init();
        env.run(&["settings", "set", "pem", "line one\r\nline two\n"]).ok();
        let table = env.run(&["settings", "list"]).ok();
        assert_clean(&table);
        assert!(table.stdout.contains(r"line one\r\nline two\n"), "{}", table.stdout);
        let json = env.run(&["settings", "list", "-o", "json"]).ok().json();
        assert_eq!(json[0]["value"], "line one\r\nline two\n");
    }
}

cli_test! {
    /// Item 2: a long value is cut in a table, with a marker saying how much
    /// was left out, so rendering stays linear; `-o json` returns all of it.
    /// (Under the default value size cap; the renderer itself is checked with
    /// 5 MB in output.rs's unit tests.)
    fn long_cells_are_cut_with_a_marker(env) {
        env.init();
        let len = 900_000;
        let value: String = "0123456789".repeat(len / 10);
        let file = env.home.path().join("long.txt");
        std::fs::write(&file, &value).unwrap();
        env.run(&["settings", "set", "long", "--from-file", file.to_str().unwrap()]).ok();
        let table = env.run(&["settings", "list"]).ok();
        assert!(table.stdout.len() < 10_000, "the table is {} bytes", table.stdout.len());
        let shown = 200;
        let marker = format!("… (+{} chars; -o json for all)", len - shown);
        assert!(table.stdout.contains(&marker), "no marker {marker:?}:\n{}", table.stdout);
        let get = env.run(&["settings", "get", "long"]).ok();
        assert!(get.stdout.len() < 20_000, "the table is {} bytes", get.stdout.len());
        assert!(get.stdout.contains("-o json for all"), "{}", get.stdout);
        let json = env.run(&["settings", "list", "-o", "json"]).ok().json();
        assert_eq!(json[0]["value"].as_str().map(str::len), Some(len));
        assert_eq!(json[0]["value"], value.as_str());
        let raw = env.run(&["settings", "get", "long", "--raw"]).ok();
        assert_eq!(raw.stdout, value);
    }
}

/// Runs `args` under `script(1)`, whose pseudo-terminal reports 0 columns
/// when script itself has no terminal; `None` when script is not installed.
pub(crate) fn under_script(env: &Env, args: &[&str]) -> Option<String> {
    let cmd = env.command(args);
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let mut line = quote(cmd.get_program());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut script = std::process::Command::new("script");
    script.env_clear().args(["-qec", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    // NO_COLOR used to hide the terminal from the table: test without it.
    script
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null());
    let out = script.output().ok()?;
    assert!(out.status.success(), "script failed: {out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

cli_test! {
    /// Item 3: a pseudo-terminal that reports 0 columns gets an unwrapped
    /// table, not one character per line (the width rule itself is
    /// `output::usable_width`, unit-tested).
    fn zero_column_terminal_does_not_wrap(env) {
        env.init();
        env.run(&["settings", "set", "smtp.host", "mail.example.com"]).ok();
        let Some(text) = under_script(env, &["settings", "list"]) else {
            return; // no script(1) here: the unit test covers the rule
        };
        assert!(
            text.lines().any(|l| l.contains("smtp.host") && l.contains("mail.example.com")),
            "the row is not on one line:\n{text}"
        );
        let health = under_script(env, &["db", "health"]).unwrap_or_default();
        assert!(
            health.lines().any(|l| l.contains("healthy") && l.contains("yes")),
            "{health}"
        );
    }
}

/// Imports `yaml` and asserts exit 2 with an error naming `key` and `line`
/// and quoting none of `digits`.
#[track_caller]
fn refused_without_value(env: &Env, yaml: &str, key: &str, line: &str, value: &str) {
    let file = env.home.path().join("import.yaml");
    std::fs::write(&file, yaml).unwrap();
    let run = env
        .run(&["settings", "import", "--file", file.to_str().unwrap()])
        .code(2);
    assert!(
        !run.stderr.contains(value),
        "the error quotes the value:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(key),
        "the error does not name {key}:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(line),
        "the error does not name {line}:\n{}",
        run.stderr
    );
}

cli_test! {
    /// Item 13: import errors name the key and line, never the value:
    /// a huge integer (secret or plain), a string where a mapping belongs,
    /// a repeated key inside a JSON value.
    fn import_errors_do_not_quote_values(env) {
        env.init();
        let big = "123456789012345678901234567890";
        refused_without_value(
            env,
            &format!("settings:\n  ok: 1\n  api.token: {{value: {big}, secret: true}}\n"),
            "api.token",
            "line 3",
            big,
        );
        refused_without_value(env, &format!("settings:\n  limit: {big}\n"), "limit", "line 2", big);
        refused_without_value(
            env,
            "settings:\n  flag: {value: x, secret: 98765432109876543210987}\n",
            "flag",
            "line 2",
            "98765432109876543210987",
        );
        refused_without_value(env, "settings: \"s3cr3t-token\"\n", "settings", "line 1", "s3cr3t-token");
        refused_without_value(
            env,
            "settings:\n  cfg: {value: {pw: s3cr3tA, pw: s3cr3tB}, type: json}\n",
            "cfg",
            "line 2",
            "s3cr3t",
        );
        let listed = env.run(&["settings", "list", "-o", "json"]).ok().json();
        assert_eq!(listed, serde_json::json!([]), "nothing was written");
    }
}

cli_test! {
    /// Item 13: a config file's type errors name the field and line, not
    /// the value (a config file can hold the database password).
    fn config_file_errors_do_not_quote_values(env) {
        let config = env.home.path().join("config.yaml");
        for (yaml, value) in [
            ("database:\n  port: \"s3cr3t-pw\"\n", "s3cr3t-pw"),
            ("database:\n  pool_size: 123456789012345678901234567\n", "123456789012345678901234567"),
            ("database:\n  port: 4294967296\n", "4294967296"),
        ] {
            std::fs::write(&config, yaml).unwrap();
            let run = env.run(&["--config", config.to_str().unwrap(), "db", "health"]).code(2);
            assert!(!run.stderr.contains(value), "the error quotes the value:\n{}", run.stderr);
            assert!(run.stderr.contains("line 2"), "{}", run.stderr);
            assert!(run.stderr.contains("database."), "{}", run.stderr);
        }
    }
}

cli_test! {
    /// Items 8 and 13: input quoted back in an error (a duration, an email, a
    /// type, an output format) is cut short and escaped, never echoed whole.
    fn errors_quote_input_short_and_escaped(env) {
        env.init();
        let long = format!("\u{1b}[2J{}", "9".repeat(100_000));
        for args in [
            vec!["audit", "list", "--since", long.as_str()],
            vec!["users", "add", "alice", "--email", long.as_str(), "--password-stdin"],
            vec!["settings", "set", "k", "v", "--type", long.as_str()],
        ] {
            let run = env.run_with_stdin(&args, Some("correct horse battery staple\n"));
            assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
            assert!(run.stderr.len() < 600, "{args:?} echoed its input: {} bytes", run.stderr.len());
            assert_clean(&run);
        }
        let mut cmd = env.command(&["db", "health"]);
        cmd.env("KEYWARD_OUTPUT", &long);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stderr.len() < 600, "KEYWARD_OUTPUT echoed: {} bytes", out.stderr.len());
    }
}
