//! `keyward apikeys scan [PATH…] [--revoke]` on both backends: keys and
//! refresh tokens found in files, directories and stdin, reported with their
//! status and never their secret, revoked with `--revoke --yes`.

use crate::cli_test;
use crate::sessions::{add_user, login, T0};
use crate::util::{at, Env, Run};
use keyward::crypto::token::checksum;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `apikeys create NAME` (with `extra` flags); returns the whole key.
fn create(env: &Env, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["apikeys", "create", name, "-o", "json"];
    args.extend_from_slice(extra);
    let made = env.run(&args).ok().json();
    made["key"].as_str().expect("the key").to_owned()
}

/// A directory for files to scan, under the test's home.
fn dir(env: &Env, name: &str) -> PathBuf {
    let d = env.home.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `apikeys scan ARGS -o json`.
fn scan(env: &Env, args: &[&str]) -> Run {
    let mut all = vec!["apikeys", "scan", "-o", "json"];
    all.extend_from_slice(args);
    env.run(&all)
}

fn findings(run: &Run) -> Vec<Value> {
    run.json().as_array().expect("a JSON array").clone()
}

/// Asserts the secret part of `tok` (after its shown prefix) is in neither output.
fn assert_secret_kept(run: &Run, tok: &str) {
    let secret = &tok[12..];
    assert!(
        !run.stdout.contains(secret),
        "secret in stdout:\n{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains(secret),
        "secret in stderr:\n{}",
        run.stderr
    );
}

fn show(env: &Env, prefix: &str) -> Value {
    env.run(&["apikeys", "show", prefix, "-o", "json"])
        .ok()
        .json()
}

fn events(env: &Env, action: &str) -> Vec<Value> {
    env.run(&["audit", "list", "--all", "--action", action, "-o", "json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

/// A key with a good checksum: `body` (`kw_<8>_<32>`) and its CRC.
fn checksummed(body: &str) -> String {
    format!("{body}{}", checksum(body))
}

cli_test! {
    /// A key pasted (glued, in quotes) into a file deep in a directory is
    /// found with its file and line and reported active (exit 5); `--revoke`
    /// off a terminal needs --yes (exit 2, nothing revoked); `--revoke --yes`
    /// revokes it once though it was found twice, audited with the prefix and
    /// never the key; the next scan reports it revoked (exit 0).
    fn pasted_key_found_revoked_and_then_reported_revoked(env) {
        env.init();
        let key = create(env, "ci deploy", &[]);
        let prefix = &key[..11];
        let root = dir(env, "repo");
        let env_file = root.join("config/prod/app.env");
        write(&env_file, format!("# settings\nDEBUG=0\n\nAPI_KEY=\"{key}\"\nPORT=8080\n"));
        write(&root.join("notes/a.md"), format!("see {key}, rotate soon\n"));
        write(&root.join("README"), "nothing here\n");

        let run = scan(env, &[s(&root)]).code(5);
        assert_secret_kept(&run, &key);
        let found = findings(&run);
        assert_eq!(found.len(), 2, "{found:?}");
        let f = &found[0];
        assert_eq!(f["file"], s(&env_file));
        assert_eq!(f["line"], 4);
        assert_eq!(f["kind"], "api_key");
        assert_eq!(f["prefix"], prefix);
        assert_eq!(f["name"], "ci deploy");
        assert_eq!(f["status"], "active");
        assert!(f.get("revoked_now").is_none(), "{f}");
        assert_eq!(found[1]["file"], s(&root.join("notes/a.md")));
        assert_eq!(found[1]["line"], 1);
        assert!(run.stderr.contains("2 findings in 2 files: 2 active"), "{}", run.stderr);
        assert!(run.stderr.contains("3 files scanned"), "{}", run.stderr);

        // The table names the columns too, and keeps the secret.
        let table = env.run(&["apikeys", "scan", s(&root)]).code(5);
        assert!(table.stdout.contains(prefix) && table.stdout.contains("app.env"));
        assert_secret_kept(&table, &key);

        // --revoke off a terminal without --yes: refused, nothing revoked.
        scan(env, &["--revoke", s(&root)]).code(2).stderr_has("--yes");
        assert_eq!(show(env, prefix)["status"], "active");
        assert!(events(env, "apikey.revoke").is_empty());

        let run = scan(env, &["--revoke", "--yes", s(&root)]).code(5);
        assert_secret_kept(&run, &key);
        let found = findings(&run);
        assert!(found.iter().all(|f| f["status"] == "active" && f["revoked_now"] == true), "{found:?}");
        assert!(run.stderr.contains("revoked now: 1 API key"), "{}", run.stderr);
        let shown = show(env, prefix);
        assert_eq!(shown["status"], "revoked");
        assert_eq!(shown["revoked_reason"], "leaked");

        let revokes = events(env, "apikey.revoke");
        assert_eq!(revokes.len(), 1, "revoked once: {revokes:?}");
        let e = &revokes[0];
        assert_eq!(e["target_type"], "api_key");
        assert_eq!(e["target"], prefix);
        assert_eq!(e["details"]["reason"], "leaked");
        assert_eq!(e["details"]["via"], "scan");
        assert_eq!(e["details"]["name"], "ci deploy");
        assert_eq!(e["details"]["file"], s(&env_file));
        assert_eq!(e["details"]["line"], 4);
        let audit = env.run(&["audit", "export"]).ok();
        assert!(!audit.stdout.contains(&key[12..]), "the key is in the audit log");

        // Reported revoked from now on, and that is not a failure.
        let run = scan(env, &[s(&root)]).ok();
        let found = findings(&run);
        assert!(found.iter().all(|f| f["status"] == "revoked"), "{found:?}");
        // A second --revoke has nothing to revoke and asks for nothing.
        let run = scan(env, &["--revoke", s(&env_file)]).ok();
        assert_eq!(findings(&run)[0]["revoked_now"], false);
        assert_eq!(events(env, "apikey.revoke").len(), 1);
    }
}

cli_test! {
    /// With no path, stdin is scanned (file `-`), binary bytes and all.
    fn stdin_is_scanned(env) {
        env.init();
        let key = create(env, "from logs", &[]);
        let input = format!("GET /health 200\nPOST /x auth=Bearer {key} 401\n\0tail\n");
        let run = env.run_with_stdin(&["apikeys", "scan", "-o", "json"], Some(&input)).code(5);
        assert_secret_kept(&run, &key);
        let found = findings(&run);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["file"], "-");
        assert_eq!(found[0]["line"], 2);
        assert_eq!(found[0]["status"], "active");
        // Clean text: nothing found, exit 0, an empty array.
        let run = env.run_with_stdin(&["apikeys", "scan", "-o", "json"], Some("all quiet\n")).ok();
        assert!(findings(&run).is_empty());
        assert!(run.stderr.contains("0 findings"), "{}", run.stderr);
    }
}

cli_test! {
    /// `.git` directories, binary files (a NUL in the first 8 KiB) and
    /// symlinked directories are skipped; the skipped binaries are counted.
    /// A path that does not exist is exit 3 before anything is scanned.
    fn git_binary_and_symlinked_dirs_are_skipped(env) {
        env.init();
        let key = create(env, "hidden", &[]);
        let root = dir(env, "tree");
        write(&root.join(".git/config"), format!("token = {key}\n"));
        write(&root.join("sub/.git/objects/x"), format!("{key}\n"));
        write(&root.join("image.png"), [b"\x89PNG\0\0".as_slice(), key.as_bytes()].concat());
        let outside = dir(env, "outside");
        write(&outside.join("leak.txt"), format!("{key}\n"));
        std::os::unix::fs::symlink(&outside, root.join("linked")).unwrap();
        write(&root.join("sub/ok.txt"), "fine\n");

        let run = scan(env, &[s(&root)]).ok();
        assert!(findings(&run).is_empty(), "{}", run.stdout);
        assert!(run.stderr.contains("1 binary file skipped"), "{}", run.stderr);
        assert!(run.stderr.contains("1 file scanned"), "{}", run.stderr);

        // Named on the command line, the symlinked directory is scanned.
        let run = scan(env, &[s(&root.join("linked"))]).code(5);
        assert_eq!(findings(&run).len(), 1);

        let missing = root.join("nope");
        scan(env, &[s(&root.join("linked")), s(&missing)]).code(3).stderr_has("nope");
    }
}

cli_test! {
    /// Typos are found and reported `bad_checksum` offline: with only those,
    /// the database is never opened (an unreachable one still exits 0); a
    /// well-formed key needs it (exit 6 then).
    fn bad_checksums_need_no_database(env) {
        env.init();
        let key = create(env, "typo", &[]);
        let mut typo = key.clone().into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let bad_refresh = format!("kwr_{}", "A".repeat(38));
        let root = dir(env, "typos");
        write(&root.join("t.txt"), format!("key: {typo}\nrefresh: {bad_refresh}\n"));
        let down = "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable";
        let run = env
            .run(&["--database-url", down, "apikeys", "scan", "-o", "json", s(&root)])
            .ok();
        let found = findings(&run);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0]["status"], "bad_checksum");
        assert_eq!(found[0]["kind"], "api_key");
        assert_eq!(found[0]["name"], Value::Null);
        assert_eq!(found[1]["status"], "bad_checksum");
        assert_eq!(found[1]["kind"], "refresh_token");
        assert_eq!(found[1]["line"], 2);
        assert_eq!(found[1]["prefix"], "kwr_AAAAAAAA…");
        assert_secret_kept(&run, &typo);

        write(&root.join("real.txt"), format!("{key}\n"));
        env.run(&["--database-url", down, "apikeys", "scan", s(&root)]).code(6);
    }
}

cli_test! {
    /// A well-formed key with a good checksum that no key has (a new prefix,
    /// or a known prefix with another secret) is `unknown`, exit 0; an
    /// expired key is `expired`.
    fn unknown_and_expired_keys(env) {
        env.init();
        at(env, T0);
        let key = create(env, "short lived", &["--expires-in", "1h"]);
        let stranger = checksummed(&format!("kw_Zz9Yy8Xx_{}", "q".repeat(32)));
        let forged = checksummed(&format!("{}_{}", &key[..11], "Q".repeat(32)));
        let root = dir(env, "mixed");
        write(&root.join("f.log"), format!("{stranger}\n{forged}\n{key}\n"));

        let found = findings(&scan(env, &[s(&root)]).code(5));
        let statuses: Vec<&str> = found.iter().map(|f| f["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["unknown", "unknown", "active"]);
        assert_eq!(found[1]["name"], Value::Null, "an unknown key's name is not shown");

        at(env, "2030-01-01T02:00:00Z");
        let found = findings(&scan(env, &[s(&root)]).ok());
        assert_eq!(found[2]["status"], "expired");
        assert_eq!(found[2]["name"], "short lived");
        // --revoke has nothing active to revoke: no confirmation needed.
        scan(env, &["--revoke", s(&root)]).ok();
    }
}

cli_test! {
    /// A refresh token from `sessions login` is found active and named by
    /// its session; a spent one (after a refresh) is reported revoked;
    /// `--revoke --yes` revokes the session (reason `leaked`, audited).
    fn refresh_tokens_are_found_and_their_sessions_revoked(env) {
        env.init();
        at(env, T0);
        add_user(env, "alice", &["viewer"]);
        let first = login(env, "alice");
        let spent = first["refresh_token"].as_str().unwrap().to_owned();
        let sid = first["session_id"].as_i64().unwrap();
        let next = env
            .run_with_stdin(&["sessions", "refresh", "--token-stdin", "-o", "json"], Some(&format!("{spent}\n")))
            .ok()
            .json();
        let current = next["refresh_token"].as_str().unwrap().to_owned();
        let root = dir(env, "shell");
        let hist = root.join(".bash_history");
        write(&hist, format!("ls\ncurl -d refresh={current}\necho {spent}\n"));

        let run = scan(env, &[s(&hist)]).code(5);
        assert_secret_kept(&run, &current);
        assert_secret_kept(&run, &spent);
        let found = findings(&run);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0]["kind"], "refresh_token");
        assert_eq!(found[0]["line"], 2);
        assert_eq!(found[0]["status"], "active");
        assert_eq!(found[0]["name"], format!("session {sid} of alice"));
        assert_eq!(found[0]["prefix"], format!("{}…", &current[..12]));
        assert_eq!(found[1]["status"], "revoked", "a spent token no longer works");

        let run = scan(env, &["--revoke", "--yes", s(&hist)]).code(5);
        let found = findings(&run);
        assert_eq!(found[0]["revoked_now"], true);
        assert_eq!(found[1]["revoked_now"], false);
        assert!(run.stderr.contains("revoked now: 1 session"), "{}", run.stderr);
        let session = env.run(&["sessions", "show", &sid.to_string(), "-o", "json"]).ok().json();
        assert_eq!(session["status"], "revoked");
        assert_eq!(session["revoked_reason"], "leaked");
        let e = events(env, "session.revoke");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0]["target"], sid.to_string());
        assert_eq!(e[0]["details"]["reason"], "leaked");
        assert_eq!(e[0]["details"]["via"], "scan");
        assert_eq!(e[0]["details"]["line"], 2);
        let audit = env.run(&["audit", "export"]).ok();
        assert!(!audit.stdout.contains(&current[4..]) && !audit.stdout.contains(&spent[16..]));

        let found = findings(&scan(env, &[s(&hist)]).ok());
        assert!(found.iter().all(|f| f["status"] == "revoked"));
        // A token of no session is unknown.
        let orphan = checksummed(&format!("kwr_{}", "x".repeat(32)));
        let found = findings(&env.run_with_stdin(&["apikeys", "scan", "-o", "json"], Some(&orphan)).ok());
        assert_eq!(found[0]["status"], "unknown");
    }
}

cli_test! {
    /// A key across the 1 MiB read boundary is found whole, on the right
    /// line, in a file of several chunks.
    fn keys_across_chunk_edges_are_found(env) {
        env.init();
        let key = create(env, "big", &[]);
        let mib = 1 << 20;
        let line = "2030-01-01T00:00:00Z INFO request served in 3ms path=/api/v1/items\n";
        let mut text = String::new();
        while text.len() + line.len() < mib - 20 {
            text.push_str(line);
        }
        let pad = mib - 20 - text.len();
        text.push_str(&"x".repeat(pad));
        text.push(' ');
        let key_line = text.matches('\n').count() + 1;
        text.push_str(&key);
        text.push('\n');
        while text.len() < 3 * mib {
            text.push_str(line);
        }
        text.push_str(&format!("last={key}\n"));
        let last_line = text.matches('\n').count();
        assert!(text.find(&key).unwrap() < mib && text.find(&key).unwrap() + key.len() > mib);
        let root = dir(env, "logs");
        write(&root.join("app.log"), &text);

        let found = findings(&scan(env, &[s(&root)]).code(5));
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0]["line"], key_line);
        assert_eq!(found[1]["line"], last_line);
        assert!(found.iter().all(|f| f["status"] == "active"));
    }
}

/// `text` as UTF-16 with its BOM, little or big endian.
fn utf16(text: &str, big: bool) -> Vec<u8> {
    let mut out = if big {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for u in text.encode_utf16() {
        out.extend(if big {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

cli_test! {
    /// A key in a UTF-16 file with a BOM (what Windows PowerShell 5 writes
    /// with `>`, CRLF lines) is found active on its line, little or big
    /// endian; without a BOM the same bytes are binary.
    fn utf16_files_with_a_bom_are_scanned(env) {
        env.init();
        let key = create(env, "powershell", &[]);
        let root = dir(env, "win");
        let text = format!("Name  Value\r\n----  -----\r\nKEY   {key}\r\nété ✓\r\n");
        write(&root.join("le.txt"), utf16(&text, false));
        write(&root.join("be.txt"), utf16(&text, true));
        write(&root.join("nobom.bin"), &utf16(&text, false)[2..]);

        let run = scan(env, &[s(&root)]).code(5);
        assert_secret_kept(&run, &key);
        let found = findings(&run);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0]["file"], s(&root.join("be.txt")));
        assert_eq!(found[1]["file"], s(&root.join("le.txt")));
        for f in &found {
            assert_eq!(f["line"], 3);
            assert_eq!(f["status"], "active");
            assert_eq!(f["prefix"], &key[..11]);
        }
        assert!(run.stderr.contains("1 binary file skipped"), "{}", run.stderr);
        // One key in two files: two findings, one key.
        assert!(
            run.stderr.contains("2 active findings (1 distinct key or token)"),
            "{}",
            run.stderr
        );
    }
}

cli_test! {
    /// Something that cannot be read fails the scan (exit 1, after scanning
    /// the rest) unless an active key was found (exit 5): a FIFO named on the
    /// command line (skipped unopened, no hang), a dangling symlink met in a
    /// directory, /proc/self/mem (a read error). The JSON array still comes.
    fn unreadable_paths_fail_the_scan(env) {
        env.init();
        let key = create(env, "seen", &[]);
        let root = dir(env, "odd");
        let fifo = root.join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let run = scan(env, &[s(&fifo)]).code(1);
        assert!(findings(&run).is_empty());
        assert!(run.stderr.contains("not a regular file or directory"), "{}", run.stderr);
        assert!(run.stderr.contains("could not read 1 file or directory"), "{}", run.stderr);
        assert!(run.stderr.contains("pipe"), "{}", run.stderr);

        // In a walk a FIFO is skipped quietly; a dangling symlink cannot be read.
        let tree = dir(env, "tree");
        write(&tree.join("a.txt"), "clean\n");
        std::os::unix::fs::symlink(&fifo, tree.join("fifo-link")).unwrap();
        std::os::unix::fs::symlink(tree.join("gone"), tree.join("dangling")).unwrap();
        let run = scan(env, &[s(&tree)]).code(1);
        assert!(findings(&run).is_empty());
        assert!(run.stderr.contains("dangling"), "{}", run.stderr);
        assert!(!run.stderr.contains("fifo-link"), "{}", run.stderr);
        assert!(run.stderr.contains("1 file scanned"), "{}", run.stderr);
        assert!(run.stderr.contains("could not read 1 file or directory"), "{}", run.stderr);

        let run = scan(env, &["/proc/self/mem"]).code(1);
        assert!(run.stderr.contains("/proc/self/mem"), "{}", run.stderr);
        assert!(run.stderr.contains("0 files scanned"), "{}", run.stderr);

        // Two unreadable, and a live key elsewhere: still scanned, exit 5.
        write(&tree.join("b.txt"), format!("{key}\n"));
        let run = scan(env, &[s(&fifo), s(&tree)]).code(5);
        assert_eq!(findings(&run).len(), 1);
        assert!(run.stderr.contains("2 not read"), "{}", run.stderr);
        // Without the key: both named in the error.
        std::fs::remove_file(tree.join("b.txt")).unwrap();
        let run = scan(env, &[s(&fifo), s(&tree)]).code(1);
        assert!(run.stderr.contains("could not read 2 files or directories"), "{}", run.stderr);
    }
}

cli_test! {
    /// Past the first 10,000 findings, bad checksums and unknown tokens are
    /// counted but not listed (a warning says how many); active, revoked
    /// and expired ones are always listed.
    fn listing_is_capped_for_noise(env) {
        env.init();
        let key = create(env, "needle", &[]);
        let stranger = checksummed(&format!("kw_Zz9Yy8Xx_{}", "q".repeat(32)));
        let noise = format!("kw_AAAAAAAA_{} ", "B".repeat(38));
        let text = format!("{}\n{stranger}\n{key}\n{noise}\n", noise.repeat(10_500));
        let root = dir(env, "noise");
        write(&root.join("n.txt"), &text);

        let run = scan(env, &[s(&root)]).code(5);
        let found = findings(&run);
        assert_eq!(found.len(), 10_001, "the first 10,000 and the active key");
        assert!(found[..10_000].iter().all(|f| f["status"] == "bad_checksum"));
        assert_eq!(found[10_000]["status"], "active");
        assert_eq!(found[10_000]["line"], 3);
        assert!(
            run.stderr.contains("10503 findings in 1 file: 1 active, 1 unknown, 10501 bad_checksum"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("listing truncated: 502 "), "{}", run.stderr);
        assert!(run.stderr.contains("502 not listed"), "{}", run.stderr);
    }
}
