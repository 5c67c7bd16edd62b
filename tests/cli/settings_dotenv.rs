//! `settings import` of dotenv files: the dotenv and shell exports round-trip
//! exactly, hand-written .env files import sensibly, bad files are refused
//! naming the line and never the value.

use crate::cli_test;
use crate::util::{set_secret, Env};

const SECRET: &str = "hunter2 'quoted' \"$HOME\" #x";

/// Values that need care in a dotenv file.
const TRICKY: &[(&str, &str)] = &[
    ("t.quotes", "it's \"double\" and 'single' and `back`"),
    ("t.newlines", "line one\nline two\n\n"),
    ("t.dollar", "$HOME ${PATH} $(id) \\n \\"),
    ("t.hash", "#not a comment # still not"),
    ("t.spaces", "  leading and trailing  "),
    ("t.separator", "a\u{2028}b\u{2029}c\u{85}d\r"),
    ("t.empty", ""),
];

/// Settings of every type and a secret in environment `e` of `env`.
fn fill(env: &Env, e: &str) {
    for (i, (key, value)) in TRICKY.iter().enumerate() {
        let file = env.home.path().join(format!("value{i}"));
        std::fs::write(&file, value).expect("value file");
        let f = file.to_str().expect("utf-8 path");
        env.run(&["settings", "set", key, "--from-file", f, "--env", e])
            .ok();
    }
    for (key, value, ty) in [
        ("smtp.port", "587", "int"),
        ("ratio", "0.25", "float"),
        ("feature-x.on", "true", "bool"),
        ("limits", "{\"a\": [1, \"x y\"]}", "json"),
        ("9lives", "nine", "string"),
    ] {
        env.run(&["settings", "set", key, value, "--type", ty, "--env", e])
            .ok();
    }
    set_secret(env, "smtp.password", SECRET, e);
}

/// Each live setting as (key, type, secret, value) read with `get --raw --reveal`.
fn state(env: &Env, e: &str) -> Vec<(String, String, bool, String)> {
    let list = env
        .run(&["settings", "list", "--env", e, "-o", "json"])
        .ok()
        .json();
    let mut out = Vec::new();
    for s in list.as_array().expect("a list") {
        let key = s["key"].as_str().expect("key").to_owned();
        let value = env
            .run(&["settings", "get", &key, "--raw", "--reveal", "--env", e])
            .ok()
            .stdout;
        let ty = s["type"].as_str().expect("type").to_owned();
        out.push((key, ty, s["secret"] == true, value));
    }
    out
}

fn write(env: &Env, name: &str, text: &str) -> String {
    let path = env.home.path().join(name);
    std::fs::write(&path, text).expect("file");
    path.to_str().expect("utf-8 path").to_owned()
}

cli_test! {
    /// export dotenv/shell --reveal -> import into another database gives the
    /// same keys, types, secrecy and values; a second import changes nothing.
    fn export_round_trips(env) {
        env.init();
        fill(env, "production");
        let want = state(env, "production");
        assert_eq!(want.len(), TRICKY.len() + 6);
        for format in ["dotenv", "shell"] {
            let text = env.run(&["settings", "export", "--env", "production", "--format", format, "--reveal"]).ok().stdout;
            assert!(text.contains("# keyward: smtp.port type=int\n"), "{text}");
            assert!(text.contains("# keyward: smtp.password secret\n"), "{text}");
            let dst = Env::new(env.db.backend).expect("a second database");
            dst.init();
            let f = write(&dst, &format!("prod.{format}"), &text);
            let plan = dst.run(&["settings", "import", "-f", &f, "--env", "staging", "-o", "json"]).ok().json();
            assert_eq!(plan["added"].as_array().map(Vec::len), Some(want.len()), "{plan}");
            assert_eq!(state(&dst, "staging"), want, "{format}");
            let again = dst.run(&["settings", "import", "-f", &f, "--env", "staging", "-o", "json"]).ok().json();
            assert_eq!(again["unchanged"], want.len(), "{again}");
            assert_eq!(again["applied"], false, "{again}");
            // Exported again, the text is the same.
            let back = dst.run(&["settings", "export", "--env", "staging", "--format", format, "--reveal"]).ok().stdout;
            assert_eq!(back, text);
        }
        // From stdin as well; without --reveal the secret is left out, and the import keeps it.
        let masked = env.run(&["settings", "export", "--env", "production", "--format", "dotenv"]).ok().stdout;
        assert!(!masked.contains("hunter2"));
        let plan = env.run_with_stdin(&["settings", "import", "-f", "-", "--env", "production", "-o", "json"], Some(&masked)).ok().json();
        assert_eq!(plan["unchanged"], want.len() - 1, "{plan}");
        assert_eq!(state(env, "production"), want);
    }
}

cli_test! {
    /// A hand-written .env: unquoted, double-quoted and single-quoted values,
    /// comments, `export`; variables match existing keys (keeping type,
    /// secrecy and category), else become the name lowercased.
    fn hand_written_file(env) {
        env.init();
        env.run(&["settings", "set", "smtp.port", "25", "--type", "int", "--category", "email"]).ok();
        set_secret(env, "smtp.password", "old", "development");
        let text = "# my app\n\nSMTP_PORT=587   # the submission port\nexport SMTP_PASSWORD=\"new \\\"one\\\"\\nline\"\nAPI_URL=https://x.example/a?b=c#frag\nGREETING='hello world'\n";
        let f = write(env, ".env", text);
        let dry = env.run(&["settings", "import", "-f", &f, "--dry-run", "-o", "json"]).ok().json();
        assert_eq!(dry["added"], serde_json::json!(["api_url", "greeting"]), "{dry}");
        assert_eq!(dry["changed"].as_array().map(Vec::len), Some(2), "{dry}");
        env.run(&["settings", "import", "-f", &f]).ok();
        let port = env.run(&["settings", "get", "smtp.port", "-o", "json"]).ok().json();
        assert_eq!((port["value"].clone(), port["type"].clone(), port["category"].clone()), (serde_json::json!(587), "int".into(), "email".into()), "{port}");
        let pw = env.run(&["settings", "get", "smtp.password", "-o", "json"]).ok().json();
        assert_eq!(pw["secret"], true, "{pw}");
        assert_eq!(env.run(&["settings", "get", "smtp.password", "--raw", "--reveal"]).ok().stdout, "new \"one\"\nline");
        assert_eq!(env.run(&["settings", "get", "api_url", "--raw"]).ok().stdout, "https://x.example/a?b=c#frag");
        assert_eq!(env.run(&["settings", "get", "greeting", "--raw"]).ok().stdout, "hello world");
        let again = env.run(&["settings", "import", "-f", &f, "-o", "json"]).ok().json();
        assert_eq!(again["unchanged"], 4, "{again}");
        // A value the existing type refuses names its line.
        let bad = write(env, "bad.env", "A=1\nSMTP_PORT=s3cr3t\n");
        let out = env.run(&["settings", "import", "-f", &bad]).code(2).stderr_has("line 2");
        assert!(!out.stderr.contains("s3cr3t"), "{}", out.stderr);
    }
}

cli_test! {
    /// Bad files exit 2 naming the line, never echoing a value, and change nothing.
    fn bad_files_are_refused(env) {
        env.init();
        env.run(&["settings", "set", "keep", "me"]).ok();
        let before = env.run(&["audit", "list", "-o", "json"]).ok().json();
        for (text, line) in [
            ("A=1\ns3cr3t-word\n", "line 2"),
            ("A=1\nB='s3cr3t-word\n", "line 2"),
            ("A=s3cr3t-word more\n", "line 1"),
            ("A=1\nA=s3cr3t-word\n", "line 2"),
            ("A=1\n# keyward: b\nA2=s3cr3t-word\n", "line 3"),
            ("A=1\n# keyward: a2 type=int\n\nA2=s3cr3t-word\n", "line 2"),
            ("# keyward: n type=int\nN=s3cr3t-word\n", "line 2"),
            ("foo=1\nFOO=s3cr3t-word\n", "line 2"),
            ("A=1\n_X=s3cr3t-word\n", "line 2"),
        ] {
            let out = env.run_with_stdin(&["settings", "import", "-f", "-"], Some(text)).code(2).stderr_has(line);
            assert!(!out.stderr.contains("s3cr3t"), "{text:?}: {}", out.stderr);
        }
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some("A=1\nA=2\n")).code(2).stderr_has("A is given twice");
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some("A=x\0y\n")).code(2).stderr_has("NUL");
        assert_eq!(env.run(&["audit", "list", "-o", "json"]).ok().json(), before, "nothing was written");
    }
}

cli_test! {
    /// --prune deletes what the dotenv file does not name (after matching names to keys).
    fn prune(env) {
        env.init();
        env.run(&["settings", "set", "smtp.host", "a"]).ok();
        env.run(&["settings", "set", "gone", "b"]).ok();
        let f = write(env, "p.env", "SMTP_HOST=a\nNEW=c\n");
        let dry = env.run(&["settings", "import", "-f", &f, "--prune", "--dry-run", "-o", "json"]).ok().json();
        assert_eq!((dry["removed"].clone(), dry["added"].clone(), dry["unchanged"].clone()), (serde_json::json!(["gone"]), serde_json::json!(["new"]), serde_json::json!(1)), "{dry}");
        env.run(&["settings", "import", "-f", &f, "--prune", "-y"]).ok();
        let keys: Vec<String> = env.run(&["settings", "list", "-o", "json"]).ok().json().as_array().expect("list").iter().map(|s| s["key"].as_str().expect("key").to_owned()).collect();
        assert_eq!(keys, ["new", "smtp.host"]);
    }
}
