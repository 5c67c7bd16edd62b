//! Keeps the checked-in shell completions (`completions/`) and man pages
//! (`man/`) in step with the clap definition, `keyward::cli::command()`.
//!
//! The test regenerates every file in memory and compares it byte for byte
//! with the file on disk; it fails naming each stale, missing or orphaned
//! file. With `KEYWARD_BLESS=1` it writes the files instead, and removes man
//! pages of commands that no longer exist:
//!
//! ```text
//! KEYWARD_BLESS=1 cargo test --test generated
//! ```

use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The binary's name, as the completion scripts and man pages call it.
const BIN: &str = "keyward";

/// The completion scripts: shell and file name under `completions/`.
const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "keyward.bash"),
    (Shell::Zsh, "_keyward"),
    (Shell::Fish, "keyward.fish"),
];

/// Environment variables without a flag of their own, for the root page.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("DATABASE_URL", "Database URL, as --database-url."),
    (
        "DATABASE_CLIENT",
        "sqlite or postgres: build the database from parts instead of a URL, with \
         DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USER, DATABASE_PASSWORD, \
         DATABASE_SSL_MODE (postgres) or DATABASE_FILENAME (sqlite).",
    ),
    (
        "DATABASE_POOL_SIZE",
        "Connection pool size for SQLite, 1 to 64 (default 4).",
    ),
    (
        "DATABASE_ENCRYPTION_KEY",
        "The active encryption key, base64 of 32 bytes (instead of a key file).",
    ),
    ("KEYWARD_KEY_FILE", "Key file, as --key-file."),
    (
        "KEYWARD_PREVIOUS_KEYS",
        "Comma-separated base64 keys that only decrypt (after a key rotation).",
    ),
    ("KEYWARD_CONFIG", "Config file, as --config."),
    ("KEYWARD_ENV", "Environment of settings, as --env."),
    (
        "KEYWARD_ACTOR",
        "Name recorded in the audit log, as --actor.",
    ),
    ("KEYWARD_OUTPUT", "Output format, as --output."),
    (
        "KEYWARD_PBKDF2_ITERATIONS",
        "PBKDF2 iterations for new password hashes, at most 100000000 (default 600000; lower draws a warning).",
    ),
    (
        "KEYWARD_MAX_VALUE_SIZE",
        "Largest setting value in bytes, 1 to 268435456 (default 1048576).",
    ),
    (
        "KEYWARD_MAX_FAILED_LOGINS",
        "Failed logins before an account locks (default 5).",
    ),
    (
        "KEYWARD_LOCKOUT_DURATION",
        "How long a lockout lasts (default 15m).",
    ),
    (
        "KEYWARD_ACCESS_TTL",
        "How long a session's access token lasts, 1s to 3650d (default 15m).",
    ),
    (
        "KEYWARD_REFRESH_TTL",
        "How long a session can be refreshed, 1s to 3650d (default 7d).",
    ),
    (
        "KEYWARD_ISSUER",
        "The iss claim of access tokens, checked by sessions verify (default keyward).",
    ),
    (
        "KEYWARD_AUDIENCE",
        "The aud claim of access tokens, checked by sessions verify (default: none).",
    ),
    ("NO_COLOR", "Disables colour in output."),
];

/// Default file locations, for the root page.
const FILES: &[(&str, &str)] = &[
    (
        "~/.local/share/keyward/keyward.db",
        "The default SQLite database (the platform data directory; this is the Linux path).",
    ),
    (
        "~/.config/keyward/key",
        "The default key file, mode 0600, created by keyward db init (platform config directory).",
    ),
    (
        "~/.config/keyward/config.yaml",
        "The default config file; unknown keys are an error (exit 2).",
    ),
];

fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every generated file: path relative to the crate root, and its bytes.
fn generate() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();

    for (shell, name) in COMPLETIONS {
        let mut cmd = keyward::cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
        files.insert(Path::new("completions").join(name), buf);
    }

    // Building the tree propagates the global flags into every subcommand and
    // gives each one its bin name (`keyward db init`) for the synopsis.
    let mut root = keyward::cli::command().name(BIN).bin_name(BIN);
    root.build();
    files.insert(Path::new("man").join(format!("{BIN}.1")), root_page(&root));
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        sub_pages(sub, BIN, &mut files);
    }
    files
}

/// One page per subcommand at every depth: `keyward-db.1`, `keyward-db-init.1`.
fn sub_pages(cmd: &clap::Command, parent: &str, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let name = format!("{parent}-{}", cmd.get_name());
    // clap wants a `&'static str` name (without its `string` feature); a
    // handful of leaked names in a test process is harmless.
    let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
    let page = cmd.clone().name(static_name).display_name(name.clone());
    let mut buf = Vec::new();
    Man::new(page)
        .render(&mut buf)
        .expect("rendering to memory cannot fail");
    files.insert(Path::new("man").join(format!("{name}.1")), buf);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        sub_pages(sub, &name, files);
    }
}

/// The root page: clap_mangen's page with the exit codes (the root's
/// `after_help`), the environment and the files as proper sections.
///
/// clap_mangen renders `after_help` as an "EXTRA" section whose lines run
/// together into one paragraph, so the page is rendered without it and the
/// exit codes are laid out as a list instead.
fn root_page(root: &clap::Command) -> Vec<u8> {
    let after_help = root
        .get_after_long_help()
        .or_else(|| root.get_after_help())
        .map(|s| s.to_string())
        .expect("the root command's after_help holds the exit codes");
    let codes = exit_codes(&after_help);
    assert!(
        codes.len() >= 9,
        "expected the exit codes 0 to 8 in the root command's after_help, got:\n{after_help}"
    );

    let mut page = Vec::new();
    Man::new(
        root.clone()
            .after_help(None::<&str>)
            .after_long_help(None::<&str>),
    )
    .render(&mut page)
    .expect("rendering to memory cannot fail");
    let page = String::from_utf8(page).expect("clap_mangen writes UTF-8");

    let mut extra = Roff::new();
    extra.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in &codes {
        extra.control("TP", []);
        extra.text([bold(code.as_str())]);
        extra.text([roman(meaning.as_str())]);
    }
    extra.control("SH", ["ENVIRONMENT"]);
    extra.text([roman(
        "Precedence, highest first: command-line flag, environment variable, config file, \
         built-in default. Empty variables count as unset.",
    )]);
    for (var, meaning) in ENVIRONMENT {
        extra.control("TP", []);
        extra.text([bold(*var)]);
        extra.text([roman(*meaning)]);
    }
    extra.control("SH", ["FILES"]);
    for (file, meaning) in FILES {
        extra.control("TP", []);
        extra.text([bold(*file)]);
        extra.text([roman(*meaning)]);
    }
    // Each rendering starts with the same preamble; keep the page's only.
    let preamble = Roff::new().render();
    let extra = extra.render();
    let extra = extra.strip_prefix(&preamble).unwrap_or(&extra);

    let page = match page.find("\n.SH VERSION\n") {
        Some(at) => format!("{}\n{extra}{}", &page[..at], &page[at + 1..]),
        None => format!("{page}{extra}"),
    };
    page.into_bytes()
}

/// `  3  not found` lines of the exit-code help text, as (code, meaning).
fn exit_codes(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (code, meaning) = line.split_once(char::is_whitespace)?;
            code.parse::<u8>().ok()?;
            Some((code.to_owned(), meaning.trim().to_owned()))
        })
        .collect()
}

/// Generated man pages on disk whose command no longer exists.
fn orphans(expected: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<PathBuf> {
    let dir = root_dir().join("man");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .map(|e| e.expect("readable man/ directory").file_name())
        .filter_map(|n| n.to_str().map(str::to_owned))
        .filter(|n| (n == "keyward.1" || n.starts_with("keyward-")) && n.ends_with(".1"))
        .map(|n| Path::new("man").join(n))
        .filter(|p| !expected.contains_key(p))
        .collect();
    found.sort();
    found
}

#[test]
#[allow(clippy::disallowed_methods)] // KEYWARD_BLESS is the test's own switch
fn completions_and_man_pages_are_current() {
    let files = generate();
    let root = root_dir();
    let bless = std::env::var_os("KEYWARD_BLESS").is_some_and(|v| v == "1");

    let mut stale = Vec::new();
    for (rel, bytes) in &files {
        let path = root.join(rel);
        if fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        if bless {
            fs::create_dir_all(path.parent().expect("a file in a folder"))
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
            fs::write(&path, bytes)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            eprintln!("wrote {}", rel.display());
        } else {
            let why = if path.exists() { "stale" } else { "missing" };
            stale.push(format!("  {} ({why})", rel.display()));
        }
    }
    for rel in orphans(&files) {
        if bless {
            let path = root.join(&rel);
            fs::remove_file(&path)
                .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
            eprintln!("removed {}", rel.display());
        } else {
            stale.push(format!("  {} (no such command any more)", rel.display()));
        }
    }

    assert!(
        stale.is_empty(),
        "generated files are out of date with the clap definition:\n{}\n\
         run `KEYWARD_BLESS=1 cargo test --test generated` and commit",
        stale.join("\n")
    );
}

#[test]
fn root_man_page_documents_exit_codes_and_subcommand_pages_show_global_flags() {
    let files = generate();
    let root = String::from_utf8(files[Path::new("man/keyward.1")].clone()).unwrap();
    assert!(root.contains(".SH \"EXIT STATUS\""), "{root}");
    for code in 0..=8 {
        assert!(
            root.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "exit code {code}"
        );
    }
    assert!(!root.contains(".SH EXTRA"), "after_help rendered twice");

    let init = String::from_utf8(files[Path::new("man/keyward-db-init.1")].clone()).unwrap();
    assert!(init.starts_with(".ie"), "{init}");
    assert!(init.contains(".TH keyward-db-init 1"), "{init}");
    for flag in ["database\\-url", "key\\-file", "output", "yes"] {
        assert!(
            init.contains(&format!("\\-\\-{flag}")),
            "--{flag} missing:\n{init}"
        );
    }
}
