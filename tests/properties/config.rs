//! The YAML config file, read through `Config::resolve` as the binary reads
//! it: generated files give back what they say; mutated ones are read or
//! refused with exit 2 (or 7 for a shared file holding a password), without
//! quoting a password.

use crate::harness::{check, error_ok};
use keyward::config::{Config, Dirs, Flags, Format};
use keyward::error::ErrorKind;
use keyward::store::target::parse_url;
use proptest::prelude::*;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;

/// A generated config file and what it says.
#[derive(Debug, Clone)]
struct File {
    text: String,
    url: String,
    password: String,
    environment: String,
    actor: String,
    output: &'static str,
    iterations: u32,
    issuer: String,
}

/// YAML's double-quoted form of a text (JSON's, which YAML reads alike).
fn quoted(s: &str) -> String {
    keyward::domain::settings::file::portable_json(&s.into(), false)
}

fn file() -> impl Strategy<Value = File> {
    let output = proptest::sample::select(vec!["table", "json", "yaml"]);
    (
        ("[a-z][a-z0-9_]{0,10}", "[!-~]{8,20}", "[a-z][a-z0-9-]{0,12}", 1u16..),
        ("[a-z][a-z0-9_-]{0,31}", "[!-~][ -~]{0,40}", output, 1u32..1_000_000),
        "[!-~][ -~é😀]{0,30}",
    )
        .prop_map(|((user, password, host, port), (environment, actor, output, iterations), issuer)| {
            let pw = percent_encoding::utf8_percent_encode(&password, percent_encoding::NON_ALPHANUMERIC);
            let url = format!("postgres://{user}:{pw}@{host}:{port}/app?sslmode=require");
            let text = format!(
                "# keyward\ndatabase:\n  url: {}\nenvironment: {environment}\nactor: {}\noutput: {output}\nauth:\n  pbkdf2_iterations: {iterations}\n  issuer: {}\n  access_ttl: 15m\nsettings:\n  max_value_size: 4096\n",
                quoted(&url),
                quoted(&actor),
                quoted(&issuer),
            );
            File { text, url, password, environment, actor, output, iterations, issuer }
        })
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
    check("config: file -> Config", 0.25, file(), |f| {
        std::fs::write(&path, &f.text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let c = resolve(&path, dir.path())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", f.text)))?;
        prop_assert_eq!(
            c.database.to_string(),
            parse_url(&f.url).expect("url").to_string()
        );
        prop_assert_eq!(&c.environment, &f.environment);
        prop_assert_eq!(&c.actor, &f.actor);
        let want = match f.output {
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            _ => Format::Table,
        };
        prop_assert_eq!(c.output, want);
        prop_assert_eq!(c.auth.pbkdf2_iterations, f.iterations);
        prop_assert_eq!(&c.auth.issuer, &f.issuer);
        prop_assert_eq!(c.max_value_size, 4096);
        // Shared with others, a file holding a password is a key problem (exit 7).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = resolve(&path, dir.path()).expect_err("shared file");
        error_ok(&e, &[ErrorKind::Key], Some(&f.password))?;
        Ok(())
    });
}

#[test]
fn mutated_config_files_are_read_or_refused_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    let s = crate::harness::mutated_text(file().prop_map(|f| (f.password.clone(), f.text)));
    check("config: mutated file", 0.25, s, |(password, _, text)| {
        let password = password.as_str();
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        if let Err(e) = resolve(&path, dir.path()) {
            let secret = password
                .chars()
                .any(|c| !c.is_ascii_alphanumeric())
                .then_some(password);
            error_ok(&e, &[ErrorKind::Invalid, ErrorKind::Key], secret)?;
        }
        Ok(())
    });
}
