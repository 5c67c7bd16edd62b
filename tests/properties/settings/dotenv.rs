//! dotenv import: what the dotenv and shell exports write parses back to the
//! same settings, and mutated or arbitrary dotenv text is read or refused
//! cleanly (exit 2, the line named, no secret echoed, no panic).

use super::{entries, values};
use crate::harness::{arbitrary_text, check, error_ok, message_ok, mutated};
use keyward::domain::settings::{dotenv, file, Desired, Secrecy};
use keyward::error::ErrorKind;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The export's text for `list` (None when two keys make one variable, which export refuses).
fn export(list: &[(String, Desired)], shell: bool) -> Option<String> {
    keyward::domain::settings::env_pairs(list.iter().map(|(k, d)| (k.as_str(), &d.value))).ok()?;
    Some(
        list.iter()
            .map(|(k, d)| dotenv::lines(shell, k, d))
            .collect(),
    )
}

#[test]
fn dotenv_export_parses_back_to_the_same_settings() {
    check(
        "settings: export dotenv/shell -> import",
        1.0,
        (
            entries(6),
            any::<bool>(),
            proptest::sample::select(vec!["stdin", ".env", "x.yaml"]),
        ),
        |(list, shell, source)| {
            let Some(text) = export(&list, shell) else {
                return Ok(());
            };
            prop_assume!(!text.is_empty());
            let parsed = file::parse(&text, source)
                .map_err(|e| TestCaseError::fail(format!("export does not import: {e}\n{text}")))?;
            let entries = dotenv::resolve(&parsed, &BTreeMap::new(), source).map_err(|e| {
                TestCaseError::fail(format!("export does not resolve: {e}\n{text}"))
            })?;
            prop_assert!(parsed.environment.is_none());
            prop_assert_eq!(entries.len(), list.len());
            for ((key, want), got) in list.iter().zip(&entries) {
                prop_assert_eq!(key, &got.key);
                prop_assert_eq!(
                    want.value.as_str(),
                    got.want.value.as_str(),
                    "{}\n{}",
                    key,
                    text
                );
                prop_assert_eq!(want.value_type, got.want.value_type);
                prop_assert_eq!(want.secret, got.want.secret);
                let secrecy = if want.secret {
                    Secrecy::Secret
                } else {
                    Secrecy::Plain
                };
                prop_assert_eq!(got.secrecy, secrecy);
            }
            Ok(())
        },
    );
}

/// A dotenv export, with its distinctive values kept apart to look for in messages.
fn export_text() -> impl Strategy<Value = (String, Vec<String>)> {
    (entries(5), any::<bool>()).prop_map(|(list, shell)| {
        let text = export(&list, shell).unwrap_or_default();
        let values = list
            .iter()
            .map(|(_, d)| d.value.to_string())
            .filter(|v| values::distinctive(v))
            .collect();
        (text, values)
    })
}

#[test]
fn mutated_dotenv_files_are_read_or_refused_cleanly() {
    let s = export_text().prop_flat_map(|(text, secrets)| (mutated(Just(text)), Just(secrets)));
    check(
        "settings: mutated dotenv file",
        1.0,
        s,
        |((_, bad), secrets)| {
            let result = file::parse(&bad, "stdin")
                .and_then(|f| dotenv::resolve(&f, &BTreeMap::new(), "stdin"));
            if let Err(e) = result {
                error_ok(&e, &[ErrorKind::Invalid], None)?;
                for secret in &secrets {
                    message_ok(e.message(), Some(secret))?;
                }
            }
            Ok(())
        },
    );
    check(
        "settings: arbitrary dotenv file",
        1.0,
        arbitrary_text(),
        |text| {
            let text = format!("A=1\n{text}");
            if let Err(e) = file::parse(&text, "stdin")
                .and_then(|f| dotenv::resolve(&f, &BTreeMap::new(), "stdin"))
            {
                error_ok(&e, &[ErrorKind::Invalid], None)?;
                prop_assert!(e.message().starts_with("stdin at line "), "{}", e.message());
            }
            Ok(())
        },
    );
}
