//! The YAML config file, read through `Config::resolve` as the binary reads
//! it: generated files give back what they say; mutated ones are read or
//! refused with exit 2 (or 7 for a shared file holding a password), without
//! quoting a password.

use crate::harness::{check, error_ok};
use keyward::config::KeyConfig;
use keyward::config::{Config, Dirs, Flags, Format};
use keyward::error::ErrorKind;
use keyward::store::target::{parse_url, pg_from_parts, PgParts};
use keyward::store::DatabaseTarget;
use proptest::prelude::*;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;

/// A generated config file and what it says.
#[derive(Debug, Clone)]
struct File {
    text: String,
    /// What `database` resolves to, shown as `Config::database` shows it.
    database: String,
    pool_size: u32,
    /// The database password: a marker (12 to 20 random letters and digits,
    /// which no message can hold by chance) or any printable text.
    password: String,
    key_file: Option<String>,
    environment: String,
    actor: String,
    output: &'static str,
    iterations: u32,
    max_failed_logins: Option<u32>,
    /// `lockout_duration`, `access_ttl`, `refresh_ttl` in seconds.
    durations: [Option<i64>; 3],
    issuer: String,
    audience: Option<String>,
}

/// YAML's double-quoted form of a text (JSON's, which YAML reads alike).
fn quoted(s: &str) -> String {
    keyward::domain::settings::file::portable_json(&s.into(), false)
}

/// A marker secret: letters and digits only, so it looks like a name.
pub fn marker() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9]{11,19}"
}

/// Whether finding `secret` in a message means it was echoed: a marker, or
/// text with a character no message's own words hold.
pub fn telling(secret: &str) -> bool {
    secret.len() >= 12 || secret.chars().any(|c| !c.is_ascii_alphanumeric())
}

fn password() -> impl Strategy<Value = String> {
    prop_oneof![marker(), "[!-~]{8,20}"]
}

/// The `database:` section (its YAML lines), what it resolves to and its
/// pool size: a URL, PostgreSQL parts, or SQLite parts.
fn database() -> impl Strategy<Value = (String, String, u32, String)> {
    let ssl = proptest::sample::select(vec!["disable", "prefer", "require"]);
    let pool = proptest::option::of(1u32..=64);
    let url = (
        "[a-z][a-z0-9_]{0,10}",
        password(),
        "[a-z][a-z0-9-]{0,12}",
        1u16..,
    )
        .prop_map(|(user, password, host, port)| {
            let pw = percent_encoding::utf8_percent_encode(
                &password,
                percent_encoding::NON_ALPHANUMERIC,
            );
            let url = format!("postgres://{user}:{pw}@{host}:{port}/app?sslmode=require");
            let shown = parse_url(&url).expect("url").to_string();
            (format!("  url: {}\n", quoted(&url)), shown, 4, password)
        });
    let pg = (
        ("[a-z][a-z0-9-]{0,12}", 1u16.., "[a-z][a-z0-9_]{0,10}", "[a-z][a-z0-9_]{0,10}"),
        (password(), ssl, pool.clone()),
    )
        .prop_map(|((host, port, name, user), (password, ssl, pool))| {
            let parts = PgParts {
                host: Some(host.clone()),
                port: Some(port.to_string()),
                name: Some(name.clone()),
                user: Some(user.clone()),
                password: Some(password.clone()),
                ssl_mode: Some(ssl.to_owned()),
            };
            let target = pg_from_parts(&parts).expect("parts");
            let shown = DatabaseTarget::Postgres(Box::new(target)).to_string();
            let pool_line = pool.map_or(String::new(), |n| format!("  pool_size: {n}\n"));
            let text = format!(
                "  client: postgres\n  host: {host}\n  port: {port}\n  name: {name}\n  user: {user}\n  password: {}\n  ssl_mode: {ssl}\n{pool_line}",
                quoted(&password)
            );
            (text, shown, pool.unwrap_or(4), password)
        });
    let sqlite =
        ("/[a-z][a-z0-9_/]{0,20}\\.db", pool, password()).prop_map(|(path, pool, password)| {
            let pool_line = pool.map_or(String::new(), |n| format!("  pool_size: {n}\n"));
            let text = format!(
                "  client: sqlite\n  filename: {}\n{pool_line}",
                quoted(&path)
            );
            // No password in an SQLite section: the marker sits in the actor instead.
            (text, path, pool.unwrap_or(4), password)
        });
    prop_oneof![url, pg, sqlite]
}

/// Seconds from 1s to 3650d, most of them short.
fn duration() -> impl Strategy<Value = i64> {
    prop_oneof![1i64..=86_400, 1i64..=3650 * 86_400]
}

fn file() -> impl Strategy<Value = File> {
    let output = proptest::sample::select(vec!["table", "json", "yaml"]);
    let durations = [
        proptest::option::of(duration()),
        proptest::option::of(duration()),
        proptest::option::of(duration()),
    ];
    (
        (database(), proptest::option::of("[a-z][a-z0-9_/.]{0,30}")),
        ("[a-z][a-z0-9_-]{0,31}", "[!-~][ -~]{0,40}", output, 1u32..1_000_000),
        (proptest::option::of(1u32..), durations),
        ("[!-~][ -~é😀]{0,30}", proptest::option::of("[!-~][ -~é😀]{0,30}")),
    )
        .prop_map(
            |(
                ((db_text, database, pool_size, password), key_file),
                (environment, actor, output, iterations),
                (max_failed_logins, durations),
                (issuer, audience),
            )| {
                // An SQLite section holds no password: the actor carries it.
                let sqlite = db_text.contains("client: sqlite");
                let actor = if sqlite { password.clone() } else { actor };
                let key_file = key_file.map(|k| format!("/keys/{k}"));
                let mut text = format!("# keyward\ndatabase:\n{db_text}");
                if let Some(k) = &key_file {
                    text += &format!("encryption:\n  key_file: {}\n", quoted(k));
                }
                text += &format!(
                    "environment: {environment}\nactor: {}\noutput: {output}\nauth:\n  pbkdf2_iterations: {iterations}\n  issuer: {}\n",
                    quoted(&actor),
                    quoted(&issuer),
                );
                if let Some(n) = max_failed_logins {
                    text += &format!("  max_failed_logins: {n}\n");
                }
                for (name, d) in ["lockout_duration", "access_ttl", "refresh_ttl"]
                    .iter()
                    .zip(durations)
                {
                    if let Some(secs) = d {
                        let shown = keyward::time::format_duration(time::Duration::seconds(secs));
                        text += &format!("  {name}: {shown}\n");
                    }
                }
                if let Some(a) = &audience {
                    text += &format!("  audience: {}\n", quoted(a));
                }
                text += "settings:\n  max_value_size: 4096\n";
                File {
                    text,
                    database,
                    pool_size,
                    password,
                    key_file,
                    environment,
                    actor,
                    output,
                    iterations,
                    max_failed_logins,
                    durations,
                    issuer,
                    audience,
                }
            },
        )
}

fn resolve(path: &std::path::Path, dir: &std::path::Path) -> keyward::Result<Config> {
    let flags = Flags {
        config: Some(path.to_path_buf()),
        ..Flags::default()
    };
    let read = |k: &str| -> Option<OsString> { (k == "USER").then(|| "tester".into()) };
    let dirs = Dirs {
        data: Some(dir.join("data")),
        config: Some(dir.join("config")),
    };
    Config::resolve(&flags, &read, &dirs)
}

#[test]
fn config_files_give_back_what_they_say() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    check("config: file -> Config", 1.0, file(), |f| {
        std::fs::write(&path, &f.text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let c = resolve(&path, dir.path())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", f.text)))?;
        prop_assert_eq!(c.database.to_string(), f.database.clone());
        prop_assert_eq!(c.pool_size, f.pool_size);
        if let Some(k) = &f.key_file {
            let KeyConfig::File { path, is_default } = &c.key else {
                return Err(TestCaseError::fail("the key file was not taken"));
            };
            prop_assert_eq!(path.to_str(), Some(k.as_str()));
            prop_assert!(!is_default);
        }
        prop_assert_eq!(&c.environment, &f.environment);
        prop_assert_eq!(&c.actor, &f.actor);
        let want = match f.output {
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            _ => Format::Table,
        };
        prop_assert_eq!(c.output, want);
        prop_assert_eq!(c.auth.pbkdf2_iterations, f.iterations);
        prop_assert_eq!(c.auth.max_failed_logins, f.max_failed_logins.unwrap_or(5));
        let [lockout, access, refresh] = f.durations;
        let secs = |d: Option<i64>, default: i64| time::Duration::seconds(d.unwrap_or(default));
        prop_assert_eq!(c.auth.lockout_duration, secs(lockout, 900));
        prop_assert_eq!(c.auth.access_ttl, secs(access, 900));
        prop_assert_eq!(c.auth.refresh_ttl, secs(refresh, 7 * 86_400));
        prop_assert_eq!(&c.auth.issuer, &f.issuer);
        prop_assert_eq!(&c.auth.audience, &f.audience);
        prop_assert_eq!(c.max_value_size, 4096);
        // Shared with others, a file holding a password is a key problem (exit 7).
        if !f.text.contains("client: sqlite") {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = resolve(&path, dir.path()).expect_err("shared file");
            error_ok(&e, &[ErrorKind::Key], Some(&f.password))?;
        }
        Ok(())
    });
}

#[test]
fn mutated_config_files_are_read_or_refused_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    let s = crate::harness::mutated_text(file().prop_map(|f| (f.password.clone(), f.text)));
    check("config: mutated file", 1.0, s, |(password, _, text)| {
        let password = password.as_str();
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        if let Err(e) = resolve(&path, dir.path()) {
            // A marker password (letters and digits) is checked too: it
            // looks like a name, which is how a damaged line shows one.
            let secret = telling(password).then_some(password);
            error_ok(&e, &[ErrorKind::Invalid, ErrorKind::Key], secret)?;
        }
        Ok(())
    });
}
