//! Drives the real binary in an isolated environment: temp HOME and XDG
//! dirs, cleared `KEYWARD_*`/`DATABASE_*` variables, a private database.
//! Failures print the command, its stdout and its stderr.
#![allow(dead_code)]

use crate::support::{Backend, TestDb};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of keyward produced.
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn show(&self) -> String {
        format!(
            "keyward {}\nexit: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }

    /// Asserts the exit code, returning self.
    #[track_caller]
    pub fn code(self, want: i32) -> Self {
        assert_eq!(self.code, want, "unexpected exit code\n{}", self.show());
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.code(0)
    }

    /// Parses stdout as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{}", self.show()))
    }

    /// Asserts stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.show()
        );
        self
    }
}

/// One test's world: a home directory and a database.
pub struct Env {
    pub home: tempfile::TempDir,
    pub db: TestDb,
    /// Extra environment variables for every run.
    pub vars: Vec<(String, String)>,
    /// Whether to pass `--database-url` (false: the platform default).
    pub use_url: bool,
}

impl Env {
    /// A world on `backend`, or `None` when PostgreSQL is not configured.
    pub fn new(backend: Backend) -> Option<Env> {
        Some(Env {
            home: tempfile::tempdir().expect("temp home"),
            db: TestDb::new(backend)?,
            vars: Vec::new(),
            use_url: true,
        })
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.db.url
    }

    /// The default key file under the temp home.
    pub fn key_file(&self) -> PathBuf {
        self.home.path().join(".config/keyward/key")
    }

    /// The default SQLite file under the temp home.
    pub fn default_db(&self) -> PathBuf {
        self.home.path().join(".local/share/keyward/keyward.db")
    }

    /// A keyward command with a clean environment.
    #[allow(clippy::disallowed_methods)] // PATH passes through from the harness
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("keyward"));
        cmd.env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("USER", "tester")
            .env("NO_COLOR", "1")
            // Fast hashing for tests, through the documented setting.
            .env("KEYWARD_PBKDF2_ITERATIONS", "1000");
        if self.use_url && !args.contains(&"--database-url") {
            cmd.arg("--database-url").arg(&self.db.url);
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs keyward with `args`, stdin empty.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// Runs keyward feeding `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self.command(args);
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("keyward starts");
        // Stdin is written from a thread while the output is read here, so a
        // command whose output outgrows a pipe's buffer cannot deadlock.
        let writer = stdin.map(|input| {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin pipe");
            let input = input.to_owned();
            std::thread::spawn(move || {
                // keyward may refuse before reading stdin (e.g. the user exists); a closed pipe is fine then.
                match pipe.write_all(input.as_bytes()) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                        panic!("write stdin: {e}")
                    }
                    _ => {}
                }
            })
        });
        let out = child.wait_with_output().expect("keyward finishes");
        if let Some(w) = writer {
            w.join().expect("stdin writer");
        }
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `db init`, asserting success.
    pub fn init(&self) -> serde_json::Value {
        self.run(&["db", "init", "-o", "json"]).ok().json()
    }

    /// Takes the schema back to before V6 (API key revocation reasons and
    /// failure counts), as a database made by an earlier keyward would be.
    pub fn undo_v6(&self) {
        let pg = self.db.schema().is_some();
        let mut steps = vec!["DROP INDEX idx_api_keys_rotated_from"];
        if pg {
            steps.push("ALTER TABLE api_keys DROP CONSTRAINT api_keys_permissions_array");
            steps.push("ALTER TABLE api_keys DROP CONSTRAINT api_keys_allowed_ips_array");
        }
        steps.extend([
            "ALTER TABLE api_keys DROP COLUMN revoked_reason",
            "ALTER TABLE api_keys DROP COLUMN failure_count",
            "ALTER TABLE api_keys DROP COLUMN last_failure_at",
            "ALTER TABLE api_keys DROP COLUMN last_failure_reason",
            "DELETE FROM refinery_schema_history WHERE version = 6",
        ]);
        for sql in steps {
            self.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// Takes the schema back to before V5 (flag states per environment), as
    /// a database made by an earlier keyward would be.
    pub fn undo_v5(&self) {
        self.undo_v6();
        let (bool_type, false_value) = if self.db.schema().is_some() {
            ("BOOLEAN", "FALSE")
        } else {
            ("INTEGER", "0")
        };
        for sql in [
            "DROP TABLE feature_flag_states".to_owned(),
            "ALTER TABLE feature_flags DROP COLUMN group_id".to_owned(),
            format!("ALTER TABLE feature_flags ADD COLUMN enabled {bool_type} NOT NULL DEFAULT {false_value}"),
            "ALTER TABLE feature_flags ADD COLUMN percentage INTEGER NOT NULL DEFAULT 0".to_owned(),
            "ALTER TABLE feature_flags ADD COLUMN target_users TEXT NOT NULL DEFAULT '[]'".to_owned(),
            "ALTER TABLE feature_flags ADD COLUMN target_roles TEXT NOT NULL DEFAULT '[]'".to_owned(),
            "DELETE FROM refinery_schema_history WHERE version = 5".to_owned(),
        ] {
            self.sql(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// Takes the schema back to before V4 (sessions), as a database made by
    /// an earlier keyward would be, so an older migration can be replayed.
    pub fn undo_v4(&self) {
        self.undo_v5();
        for sql in [
            "DROP TABLE signing_keys",
            "DROP INDEX idx_sessions_ends_at",
            "DROP INDEX idx_sessions_revoked_at",
            "ALTER TABLE sessions DROP COLUMN refresh_hash",
            "ALTER TABLE sessions DROP COLUMN refresh_count",
            "CREATE INDEX idx_sessions_expires_at ON sessions (expires_at)",
            "CREATE INDEX idx_sessions_refresh_expires_at ON sessions (refresh_expires_at)",
            "DELETE FROM refinery_schema_history WHERE version = 4",
        ] {
            self.sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// Runs raw SQL against the test database, bypassing keyward's rules.
    pub fn sql(&self, sql: &str) -> keyward::Result<u64> {
        let mut store = self.db.open_raw();
        keyward::store::write(store.as_mut(), |c| c.execute(sql, &[]))
    }
}

impl Env {
    /// Reads one text value with raw SQL, bypassing keyward.
    pub fn sql_text(&self, sql: &str) -> String {
        let mut store = self.db.open_raw();
        keyward::store::read(store.as_mut(), |c| c.query_one(sql, &[])?.text(0)).expect(sql)
    }
}

/// Sets a secret setting in environment `e`, the value through stdin.
pub fn set_secret(env: &Env, key: &str, value: &str, e: &str) {
    env.run_with_stdin(
        &[
            "settings",
            "set",
            key,
            "--secret",
            "--value-stdin",
            "--env",
            e,
        ],
        Some(&format!("{value}\n")),
    )
    .ok();
}

/// How many entries the audit log holds (all of them: `audit list` alone shows the newest 100).
pub fn audit_count(env: &Env) -> usize {
    let events = env
        .run(&["audit", "list", "--all", "-o", "json"])
        .ok()
        .json();
    events.as_array().unwrap().len()
}

/// Runs a Python 3 snippet (an independent implementation to check against).
pub fn python(code: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The Unix mode bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

/// One test body, run on SQLite and (when configured) PostgreSQL, with an `Env`.
#[macro_export]
macro_rules! cli_test {
    ($(#[$meta:meta])* fn $name:ident($env:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($env: &mut $crate::util::Env) $body
            #[test]
            fn sqlite() {
                let mut env = $crate::util::Env::new($crate::support::Backend::Sqlite).expect("sqlite env");
                body(&mut env);
            }
            #[test]
            fn postgres() {
                if let Some(mut env) = $crate::util::Env::new($crate::support::Backend::Postgres) {
                    body(&mut env);
                }
            }
        }
    };
}

/// Sets the debug binary's clock (`KEYWARD_TEST_NOW`) for the commands `env` runs next.
pub fn at(env: &mut Env, when: &str) {
    env.vars.retain(|(k, _)| k != "KEYWARD_TEST_NOW");
    env.vars.push(("KEYWARD_TEST_NOW".into(), when.into()));
}

/// The TOTP code of `secret` (base32) at `unix` seconds, computed by Python's hmac.
pub fn totp_code(secret: &str, unix: i64) -> String {
    python(
        "import sys,hmac,hashlib,struct,base64\n\
         s=sys.argv[1]; k=base64.b32decode(s+'='*(-len(s)%8))\n\
         h=hmac.new(k,struct.pack('>Q',int(sys.argv[2])//30),hashlib.sha1).digest()\n\
         o=h[-1]&15\n\
         print('%06d'%((struct.unpack('>I',h[o:o+4])[0]&0x7fffffff)%1000000))",
        &[secret, &unix.to_string()],
    )
}

/// The password the tests give the users they add.
pub const TEST_PASSWORD: &str = "correct horse battery staple 9\n";

/// Adds user `name` (`name@example.com`) holding `role`, password [`TEST_PASSWORD`].
pub fn add_user(env: &Env, name: &str, role: &str) {
    let email = format!("{name}@example.com");
    env.run_with_stdin(
        &[
            "users",
            "add",
            name,
            "--email",
            &email,
            "--role",
            role,
            "--password-stdin",
        ],
        Some(TEST_PASSWORD),
    )
    .ok();
}

/// Logs `user` in with [`TEST_PASSWORD`] (and `extra` flags), asserting
/// success; returns the token response (`session_id`, `refresh_token`, …).
pub fn login(env: &Env, user: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["sessions", "login", user, "--password-stdin", "-o", "json"];
    args.extend_from_slice(extra);
    env.run_with_stdin(&args, Some(TEST_PASSWORD)).ok().json()
}
