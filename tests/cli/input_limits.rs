//! Issue 8, bounded input: the size of a settings file and of a key file
//! (A2), JSON integers beyond 64 bits (A3), the length of categories and
//! descriptions (A7).

use crate::cli_test;
use crate::util::{audit_count, Env, Run};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// A sparse file of `len` bytes (no disk used).
fn sparse(env: &Env, name: &str, len: u64) -> String {
    let path = env.home.path().join(name);
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(len).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs keyward with stdin fed by `head -c BYTES /dev/zero` through a pipe.
fn run_with_zeros(env: &Env, bytes: &str, args: &[&str]) -> Run {
    let mut head = Command::new("head")
        .args(["-c", bytes, "/dev/zero"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("head starts");
    let mut cmd = env.command(args);
    cmd.stdin(Stdio::from(head.stdout.take().unwrap()));
    let out = cmd.output().expect("keyward runs");
    // The command holds a copy of the pipe's read end: closed, head sees
    // the broken pipe and ends.
    drop(cmd);
    let _ = head.kill();
    let _ = head.wait();
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const IMPORT_LIMIT: &str = "limit of 268435456 bytes";

cli_test! {
    /// A2: a settings file over 256 MiB is refused (exit 2) by its size before
    /// it is read; a pipe or a device is read only one byte past the limit.
    fn import_input_is_capped_at_256_mib(env) {
        env.init();
        let before = audit_count(env);
        let big = sparse(env, "big.yaml", 300 << 20);
        env.run(&["settings", "import", "-f", &big]).code(2).stderr_has(IMPORT_LIMIT);
        env.run(&["settings", "import", "-f", "/dev/zero"]).code(2).stderr_has(IMPORT_LIMIT);
        run_with_zeros(env, "300M", &["settings", "import", "-f", "-"])
            .code(2)
            .stderr_has(IMPORT_LIMIT);
        assert_eq!(audit_count(env), before, "nothing was written");
        // A file within the limit is imported as before.
        let ok = env.home.path().join("ok.yaml");
        std::fs::write(&ok, "settings:\n  a: 1\n").unwrap();
        env.run(&["settings", "import", "-f", ok.to_str().unwrap()]).ok();
    }
}

cli_test! {
    /// A2: a key file over 64 KiB is refused (exit 7) by its size, before it
    /// is read (a 2 GB sparse file included); one of exactly 64 KiB is read.
    fn key_files_are_capped_at_64_kib(env) {
        env.init();
        for len in [(64 << 10) + 1, 2 << 30] {
            let big = sparse(env, "big.key", len);
            env.run(&["--key-file", &big, "db", "health"])
                .code(7)
                .stderr_has("larger than 65536 bytes");
        }
        // The real key padded with comments to exactly the limit still works.
        let key = std::fs::read_to_string(env.key_file()).unwrap();
        let mut text = key.clone();
        let pad = 65536 - text.len() - 1;
        text.push('#');
        text.push_str(&"x".repeat(pad - 1));
        text.push('\n');
        assert_eq!(text.len(), 65536);
        let padded = env.home.path().join("padded.key");
        std::fs::write(&padded, &text).unwrap();
        std::fs::set_permissions(&padded, std::fs::Permissions::from_mode(0o600)).unwrap();
        env.run(&["--key-file", padded.to_str().unwrap(), "db", "health"]).ok();
    }
}

cli_test! {
    /// A3: a JSON import refuses an integer beyond 64 bits as YAML does (exit 2,
    /// naming the key and line, never the value), instead of storing a float.
    fn json_import_refuses_integers_beyond_64_bits(env) {
        env.init();
        let before = audit_count(env);
        let cases = [
            "{\"settings\":{\n\"ok\": 1,\n\"big\":{\"value\":123456789012345678901234567890,\"secret\":true}}}",
            "{\"settings\":{\n\"ok\": 1,\n\"big\": 18446744073709551616}}",
            "{\"settings\":{\n\"ok\": 1,\n\"big\": -9223372036854775809}}",
            "{\"settings\":{\n\"ok\": 1,\n\"big\": {\"value\": {\"n\": [1, 99999999999999999999]}, \"type\": \"json\"}}}",
        ];
        for doc in cases {
            let run = env.run_with_stdin(&["settings", "import", "-f", "-"], Some(doc))
                .code(2)
                .stderr_has("beyond 64 bits")
                .stderr_has("line 3")
                .stderr_has("'big'");
            for digits in ["1234567890123", "18446744073709551616", "9223372036854775809", "99999999999", "e+"] {
                assert!(!run.stderr.contains(digits), "never the value: {}", run.stderr);
            }
        }
        env.run(&["settings", "get", "big"]).code(3);
        env.run(&["settings", "get", "ok"]).code(3);
        assert_eq!(audit_count(env), before, "nothing was written");
        // Within 64 bits, in a string, or as a float: imported as before.
        let fine = r#"{"settings":{"i":-9223372036854775808,"s":"123456789012345678901234567890","f":1.5e300}}"#;
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some(fine)).ok();
        let got = env.run(&["settings", "get", "i", "-o", "json"]).ok().json();
        assert_eq!(got["type"], "int");
        assert_eq!(got["value"], -9223372036854775808_i64);
    }
}

cli_test! {
    /// A7: a category over 64 characters or a description over 1,000 is
    /// refused (exit 2) before anything is written, by `settings set`,
    /// `settings import` and `roles add`; the limits themselves are accepted.
    fn category_and_description_lengths_are_capped(env) {
        env.init();
        let before = audit_count(env);
        let long_cat = "c".repeat(65);
        let long_desc = "d".repeat(1001);
        env.run(&["settings", "set", "k", "v", "--category", &long_cat])
            .code(2)
            .stderr_has("64 characters");
        let run = env.run(&["settings", "set", "k", "v", "--description", &"d".repeat(120_000)])
            .code(2)
            .stderr_has("1000 characters");
        assert!(run.stderr.len() < 400, "never the text: {}", run.stderr);
        let doc = format!("settings:\n  ok: 1\n  k: {{value: 1, description: {long_desc}}}\n");
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some(&doc))
            .code(2)
            .stderr_has("'k'")
            .stderr_has("line 3")
            .stderr_has("1000 characters");
        let doc = format!("{{\"settings\":{{\"k\":{{\"value\":1,\"category\":\"{long_cat}\"}}}}}}");
        env.run_with_stdin(&["settings", "import", "-f", "-"], Some(&doc))
            .code(2)
            .stderr_has("64 characters");
        env.run(&["roles", "add", "ops", "--description", &long_desc])
            .code(2)
            .stderr_has("1000 characters");
        env.run(&["settings", "get", "k"]).code(3);
        env.run(&["settings", "get", "ok"]).code(3);
        env.run(&["roles", "show", "ops"]).code(3);
        assert_eq!(audit_count(env), before, "nothing was written");
        // Exactly the limits (in characters, not bytes) are accepted.
        let cat = "é".repeat(64);
        let desc = "ü".repeat(1000);
        env.run(&["settings", "set", "k", "v", "--category", &cat, "--description", &desc]).ok();
        let got = env.run(&["settings", "get", "k", "-o", "json"]).ok().json();
        assert_eq!(got["category"], cat.as_str());
        assert_eq!(got["description"], desc.as_str());
        env.run(&["roles", "add", "ops", "--description", &desc]).ok();
    }
}
