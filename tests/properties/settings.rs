//! Settings files: export → import at the library level for every value a
//! setting can hold, in every format `settings export` writes (YAML and JSON
//! re-import; dotenv and shell lines read back with POSIX single-quote
//! rules), and arbitrary or mutated files refused cleanly.

mod dotenv;
pub mod values;

use crate::harness::{arbitrary_text, check, error_ok, message_ok, mutated};
use keyward::domain::settings::{file, Desired, Secrecy, ValueType};
use keyward::error::ErrorKind;
use proptest::prelude::*;
use values::{desired, setting_key};
use zeroize::Zeroizing;

/// An environment's settings: distinct keys, each with what it should hold.
pub fn entries(max: usize) -> impl Strategy<Value = Vec<(String, Desired)>> {
    proptest::collection::btree_map(setting_key(), desired(), 0..max)
        .prop_map(|m| m.into_iter().collect())
}

fn same(a: &Desired, b: &Desired) -> bool {
    *a.value == *b.value
        && a.value_type == b.value_type
        && a.secret == b.secret
        && a.category == b.category
        && a.description == b.description
}

fn show(d: &Desired) -> String {
    format!(
        "{:?} {:?} secret={} {:?} {:?}",
        d.value.as_str(),
        d.value_type,
        d.secret,
        d.category,
        d.description
    )
}

/// Renders `list` as `settings export` does and parses it back as `import` does.
fn round_trip(
    env: &str,
    list: &[(String, Desired)],
    json: bool,
    source: &str,
) -> Result<(), TestCaseError> {
    let rendered: Vec<(String, serde_json::Value)> = list
        .iter()
        .map(|(k, d)| (k.clone(), file::to_entry(d)))
        .collect();
    let text = if json {
        file::to_json(env, &rendered)
    } else {
        file::to_yaml(env, &rendered)
    };
    let parsed = file::parse(&text, source)
        .map_err(|e| TestCaseError::fail(format!("export does not import: {e}\n{text}")))?;
    prop_assert_eq!(parsed.environment.as_deref(), Some(env));
    prop_assert_eq!(parsed.entries.len(), list.len());
    for ((key, want), got) in list.iter().zip(&parsed.entries) {
        prop_assert_eq!(key, &got.key);
        prop_assert!(
            same(want, &got.want),
            "{}: {} came back as {}\n{}",
            key,
            show(want),
            show(&got.want),
            text
        );
        let secrecy = if want.secret {
            Secrecy::Secret
        } else {
            Secrecy::Unsaid
        };
        prop_assert_eq!(got.secrecy, secrecy);
    }
    Ok(())
}

#[test]
fn yaml_export_imports_to_the_same_settings() {
    let source = proptest::sample::select(vec!["stdin", "production.yaml", "export.yml", "-"]);
    check(
        "settings: export yaml -> import",
        1.0,
        (entries(6), "[a-z][a-z0-9_-]{0,31}", source),
        |(list, env, source)| round_trip(&env, &list, false, source),
    );
}

#[test]
fn json_export_imports_to_the_same_settings() {
    let source = proptest::sample::select(vec!["stdin", "production.json", "-"]);
    check(
        "settings: export json -> import",
        1.0,
        (entries(6), "[a-z][a-z0-9_-]{0,31}", source),
        |(list, env, source)| round_trip(&env, &list, true, source),
    );
}

#[test]
fn long_values_round_trip_up_to_the_size_limit() {
    let long = (
        values::text_value(),
        1usize..=keyward::config::DEFAULT_MAX_VALUE_SIZE as usize,
    )
        .prop_map(|(v, n)| {
            let mut s = v.repeat(n / v.len().max(1) + 1);
            let mut cut = n.min(s.len());
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s
        });
    check(
        "settings: long values yaml/json",
        0.002,
        (long, any::<bool>()),
        |(value, json)| {
            prop_assume!(!value.is_empty());
            let d = Desired {
                value: Zeroizing::new(value),
                value_type: ValueType::String,
                secret: true,
                category: None,
                description: None,
            };
            round_trip("production", &[("big.value".into(), d)], json, "stdin")
        },
    );
}

/// Reads `NAME='…'` lines as a POSIX shell does (`'\''` closes, escapes a
/// quote and reopens); `prefix` is `export ` for the shell format.
fn read_lines(text: &str, prefix: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(comment) = rest.strip_prefix('#') {
            rest = comment.split_once('\n').map_or("", |(_, r)| r);
            continue;
        }
        let line = rest.strip_prefix(prefix).ok_or("no prefix")?;
        let (name, after) = line.split_once('=').ok_or("no =")?;
        let mut value = String::new();
        let mut s = after;
        loop {
            let q = s.strip_prefix('\'').ok_or("no opening quote")?;
            let end = q.find('\'').ok_or("no closing quote")?;
            value.push_str(&q[..end]);
            s = &q[end + 1..];
            if let Some(more) = s.strip_prefix("\\'") {
                value.push('\'');
                s = more;
            } else {
                break;
            }
        }
        rest = s.strip_prefix('\n').ok_or("no newline after the value")?;
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

#[test]
fn dotenv_and_shell_lines_read_back_as_the_values() {
    check(
        "settings: export dotenv/shell -> sh rules",
        1.0,
        (entries(6), any::<bool>()),
        |(list, shell)| {
            let prefix = if shell { "export " } else { "" };
            let pairs = keyward::domain::settings::env_pairs(
                list.iter().map(|(k, d)| (k.as_str(), &d.value)),
            );
            let pairs = match pairs {
                Ok(pairs) => pairs,
                // Two keys that make one name are refused (exit 2), never merged.
                Err(e) => return error_ok(&e, &[ErrorKind::Invalid], None),
            };
            let screened = keyward::domain::settings::vars::screen(pairs.clone(), &[]);
            let text: String = screened
                .kept
                .iter()
                .map(|(n, v)| format!("{prefix}{n}={}\n", file::shell_quote(v)))
                .collect();
            let back = read_lines(&text, prefix)
                .map_err(|e| TestCaseError::fail(format!("{e}:\n{text}")))?;
            prop_assert_eq!(back.len(), screened.kept.len());
            for ((n, v), (bn, bv)) in screened.kept.iter().zip(&back) {
                prop_assert_eq!(n, bn);
                prop_assert_eq!(v.as_str(), bv.as_str());
                prop_assert!(
                    n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && !n.starts_with(|c: char| c.is_ascii_digit())
                );
            }
            Ok(())
        },
    );
}

#[test]
fn nul_is_refused_by_every_type() {
    let s = (
        values::text_value(),
        values::text_value(),
        values::value_type(),
    );
    check("settings: NUL refused", 1.0, s, |(a, b, ty)| {
        let raw = format!("{a}\0{b}");
        let e = ty.normalize("k", &raw).expect_err("NUL accepted");
        error_ok(&e, &[ErrorKind::Invalid], Some(&raw))?;
        prop_assert!(e.message().contains("NUL"));
        Ok(())
    });
}

/// An export (YAML or JSON), with its secret values kept apart to look for
/// in messages; the first is a marker (12 to 20 random letters and digits:
/// it looks like a name, and no message holds it by chance).
fn export_text() -> impl Strategy<Value = (String, Vec<String>)> {
    (
        entries(5),
        any::<bool>(),
        crate::config::marker(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut list, json, marker, at)| {
            let d = Desired {
                value: Zeroizing::new(marker.clone()),
                value_type: ValueType::String,
                secret: true,
                category: None,
                description: None,
            };
            let key = "marker.token".to_owned();
            if !list.iter().any(|(k, _)| *k == key) {
                list.insert(at.index(list.len() + 1), (key, d));
            }
            let rendered: Vec<(String, serde_json::Value)> = list
                .iter()
                .map(|(k, d)| (k.clone(), file::to_entry(d)))
                .collect();
            let text = if json {
                file::to_json("production", &rendered)
            } else {
                file::to_yaml("production", &rendered)
            };
            let secrets = std::iter::once(marker)
                .chain(
                    list.iter()
                        .filter(|(_, d)| d.secret && values::distinctive(&d.value))
                        .map(|(_, d)| d.value.to_string()),
                )
                .collect();
            (text, secrets)
        })
}

#[test]
fn mutated_settings_files_are_read_or_refused_cleanly() {
    let s = export_text().prop_flat_map(|(text, secrets)| (mutated(Just(text)), Just(secrets)));
    check("settings: mutated file", 1.0, s, |((_, bad), secrets)| {
        if let Err(e) = file::parse(&bad, "stdin") {
            error_ok(&e, &[ErrorKind::Invalid], None)?;
            for secret in &secrets {
                message_ok(e.message(), Some(secret))?;
            }
        }
        Ok(())
    });
    check("settings: arbitrary file", 1.0, arbitrary_text(), |text| {
        for source in ["stdin", "x.json", "x.yaml"] {
            if let Err(e) = file::parse(&text, source) {
                error_ok(&e, &[ErrorKind::Invalid], None)?;
            }
        }
        Ok(())
    });
}
