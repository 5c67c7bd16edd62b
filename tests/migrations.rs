//! Guards the layout of the SQL migrations under `migrations/`, which
//! refinery embeds per dialect (`migrations/sqlite`, `migrations/postgres`).
//!
//! refinery silently skips (with only a log warning) any file whose name does
//! not match its pattern, and walks folders recursively, so a misnamed,
//! misplaced or missing file would quietly change the schema one dialect gets.
//! These tests turn such mistakes into failures. Only `std` is used.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The dialect folders, each holding the same migrations in its own SQL.
const DIALECTS: [&str; 2] = ["sqlite", "postgres"];

fn migrations_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

fn dialect_dir(dialect: &str) -> PathBuf {
    migrations_root().join(dialect)
}

/// One entry of a folder: its name and whether it is a regular file
/// (symbolic links count as not regular).
struct Entry {
    name: String,
    path: PathBuf,
    is_file: bool,
    is_dir: bool,
}

/// The entries of `dir`, sorted by name. Panics if the folder cannot be read
/// or holds a name that is not valid UTF-8 (refinery could not use it either).
fn entries(dir: &Path) -> Vec<Entry> {
    let read =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read folder {}: {e}", dir.display()));
    let mut out: Vec<Entry> = read
        .map(|entry| {
            let entry =
                entry.unwrap_or_else(|e| panic!("cannot read an entry of {}: {e}", dir.display()));
            let path = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .unwrap_or_else(|raw| panic!("{}: name {raw:?} is not UTF-8", dir.display()));
            let file_type = entry
                .file_type()
                .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()));
            Entry {
                name,
                path,
                is_file: file_type.is_file(),
                is_dir: file_type.is_dir(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The pieces of a migration file name.
#[derive(Debug, PartialEq, Eq)]
struct MigrationName<'a> {
    /// `V` (versioned) or `U` (unversioned).
    prefix: char,
    /// The version exactly as written (`1`, or `1.2` which the pattern admits).
    version: &'a str,
    /// The name after `__`.
    name: &'a str,
}

fn is_ascii_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Hand-written equivalent of refinery's `^[U|V](\d+(?:\.\d+)?)__(\w+)\.sql$`.
///
/// Two deliberate tightenings, both of names refinery could not use anyway:
/// the prefix must be `U` or `V` (the character class `[U|V]` also admits
/// `|`, on which refinery's name parser panics), and `\d` / `\w` are taken as
/// ASCII (refinery parses the version as an integer, and `embed_migrations!`
/// turns the file stem into a Rust module name).
fn parse_migration_file_name(file_name: &str) -> Option<MigrationName<'_>> {
    let stem = file_name.strip_suffix(".sql")?;
    let prefix = stem.chars().next()?;
    if prefix != 'U' && prefix != 'V' {
        return None;
    }
    let rest = &stem[1..];
    // The version ends at the first `__`: neither digits nor `.` contain `_`.
    let (version, name) = rest.split_once("__")?;
    let version_ok = match version.split_once('.') {
        None => is_ascii_digits(version),
        Some((major, minor)) => is_ascii_digits(major) && is_ascii_digits(minor),
    };
    if !version_ok || !is_word(name) {
        return None;
    }
    Some(MigrationName {
        prefix,
        version,
        name,
    })
}

/// The regular files of one dialect folder that match the naming pattern.
fn migration_files(dialect: &str) -> Vec<Entry> {
    entries(&dialect_dir(dialect))
        .into_iter()
        .filter(|e| e.is_file && parse_migration_file_name(&e.name).is_some())
        .collect()
}

/// Guards the hand-written matcher itself: it accepts and rejects what refinery's pattern does (bar the tightenings noted on the matcher).
#[test]
fn name_matcher_agrees_with_refinery_pattern() {
    let accepted = [
        ("V1__initial.sql", 'V', "1", "initial"),
        ("U2__seed_roles.sql", 'U', "2", "seed_roles"),
        ("V10__add__index.sql", 'V', "10", "add__index"),
        (
            "V3___leading_underscore.sql",
            'V',
            "3",
            "_leading_underscore",
        ),
        ("V1.5__dotted.sql", 'V', "1.5", "dotted"),
        ("V007__Zero_Padded9.sql", 'V', "007", "Zero_Padded9"),
    ];
    for (file, prefix, version, name) in accepted {
        assert_eq!(
            parse_migration_file_name(file),
            Some(MigrationName {
                prefix,
                version,
                name
            }),
            "{file} should match"
        );
    }
    let rejected = [
        "V1__initial.SQL",
        "V1__initial.sql~",
        "V1__initial.sql.bak",
        "V1__initial",
        "v1__initial.sql",
        "|1__initial.sql",
        "X1__initial.sql",
        "V__initial.sql",
        "Vx__initial.sql",
        "V1_initial.sql",
        "V1__.sql",
        "V1__initial-schema.sql",
        "V1__initial schema.sql",
        "V1.__initial.sql",
        "V.1__initial.sql",
        "V1.2.3__initial.sql",
        "V-1__initial.sql",
        "V1__initial.rs",
        ".V1__initial.sql",
        "README.md",
        ".DS_Store",
        "",
    ];
    for file in rejected {
        assert_eq!(
            parse_migration_file_name(file),
            None,
            "{file:?} should not match"
        );
    }
}

/// Guards against anything but the dialect folders sitting directly in `migrations/`.
#[test]
fn migrations_root_holds_exactly_the_dialect_folders() {
    let root = migrations_root();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in entries(&root) {
        if DIALECTS.contains(&entry.name.as_str()) && entry.is_dir {
            seen.insert(entry.name);
        } else {
            problems.push(format!("stray entry {}", entry.path.display()));
        }
    }
    for dialect in DIALECTS {
        if !seen.contains(dialect) {
            problems.push(format!("missing folder {}", root.join(dialect).display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Guards against subfolders and non-regular files (symlinks and the like) in a dialect folder; refinery would walk into a subfolder and pick up its migrations too.
#[test]
fn dialect_folders_hold_no_subfolders() {
    let mut problems = Vec::new();
    for dialect in DIALECTS {
        for entry in entries(&dialect_dir(dialect)) {
            if entry.is_dir {
                problems.push(format!("subfolder {}", entry.path.display()));
            } else if !entry.is_file {
                problems.push(format!("not a regular file: {}", entry.path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Guards against stray or misnamed files, which refinery would silently skip: every file must match `^[U|V](\d+(?:\.\d+)?)__(\w+)\.sql$`.
#[test]
fn every_file_matches_refinery_naming_pattern() {
    let mut problems = Vec::new();
    for dialect in DIALECTS {
        for entry in entries(&dialect_dir(dialect)) {
            if entry.is_file && parse_migration_file_name(&entry.name).is_none() {
                problems.push(format!(
                    "{} does not match [U|V]{{version}}__{{name}}.sql",
                    entry.path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Guards against versions refinery cannot use: each must be a plain integer that fits its i32 schema version, and unique within a dialect.
#[test]
fn versions_are_unique_integers() {
    let mut problems = Vec::new();
    for dialect in DIALECTS {
        let mut by_version: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for entry in migration_files(dialect) {
            let parsed = parse_migration_file_name(&entry.name).expect("filtered on match");
            match parsed.version.parse::<i32>() {
                Ok(version) => by_version
                    .entry(version)
                    .or_default()
                    .push(entry.name.clone()),
                Err(_) => problems.push(format!(
                    "{}: version {:?} is not an integer that fits in i32",
                    entry.path.display(),
                    parsed.version
                )),
            }
        }
        for (version, files) in by_version {
            if files.len() > 1 {
                problems.push(format!(
                    "{dialect}: version {version} is used by more than one file: {}",
                    files.join(", ")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Guards against a migration written for one dialect only: both folders must hold the same set of file names.
#[test]
fn dialects_hold_the_same_file_names() {
    let names: Vec<BTreeSet<String>> = DIALECTS
        .iter()
        .map(|dialect| {
            entries(&dialect_dir(dialect))
                .into_iter()
                .filter(|e| e.is_file)
                .map(|e| e.name)
                .collect()
        })
        .collect();
    let (first, second) = (&names[0], &names[1]);
    let only_first: Vec<&String> = first.difference(second).collect();
    let only_second: Vec<&String> = second.difference(first).collect();
    assert!(
        only_first.is_empty() && only_second.is_empty(),
        "only in {}: {only_first:?}; only in {}: {only_second:?}",
        DIALECTS[0],
        DIALECTS[1]
    );
    assert!(
        !first.is_empty(),
        "no migrations at all in {}",
        migrations_root().display()
    );
}

/// Guards against empty or unreadable migrations: each file is UTF-8 text with something besides whitespace in it.
#[test]
fn every_migration_file_is_non_empty() {
    let mut problems = Vec::new();
    for dialect in DIALECTS {
        for entry in entries(&dialect_dir(dialect))
            .into_iter()
            .filter(|e| e.is_file)
        {
            match fs::read_to_string(&entry.path) {
                Ok(text) if text.trim().is_empty() => {
                    problems.push(format!("{} is empty", entry.path.display()));
                }
                Ok(_) => {}
                Err(e) => problems.push(format!(
                    "cannot read {} as UTF-8: {e}",
                    entry.path.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
