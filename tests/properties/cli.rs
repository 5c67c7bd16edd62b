//! The CLI round trip, on both backends, with the real binary: `settings set`
//! (values through stdin or `--from-file`), `settings export` in every
//! format, `import` of the YAML export into another database (everything
//! added) and of the JSON export on top (nothing changed), `get --raw
//! --reveal` of each key there, and the dotenv and shell exports read back by
//! `sh`. Sized from `KEYWARD_PROP_CASES`: one batch of 4 to 8 values per 500
//! cases, at most 50 batches per backend.

use crate::harness::{cases, check_n, message_ok};
use crate::settings::values::{desired, setting_key};
use crate::util::Env;
use keyward::domain::settings::{env_var_name, vars, Desired};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Values per batch.
const BATCH: usize = 8;

/// Batches of values per backend.
fn batches() -> u64 {
    cases().div_ceil(500).clamp(1, 50)
}

/// Distinct keys that make distinct variable names.
fn batch() -> impl Strategy<Value = Vec<(String, Desired)>> {
    let list = proptest::collection::btree_map(setting_key(), desired(), BATCH / 2..=BATCH);
    list.prop_map(|list| {
        let mut names = std::collections::HashSet::new();
        list.into_iter()
            .filter(|(k, _)| names.insert(env_var_name(k)))
            .collect()
    })
}

fn set(env: &Env, e: &str, key: &str, d: &Desired, i: usize) {
    let ty = d.value_type.name();
    let mut args = vec!["settings", "set", key, "--type", ty, "--env", e];
    if d.secret {
        args.push("--secret");
    }
    if let Some(c) = &d.category {
        args.extend(["--category", c]);
    }
    if let Some(c) = &d.description {
        args.extend(["--description", c]);
    }
    // Through stdin (one trailing newline dropped: "\r\n" too) or a file, as it is.
    let file = env.home.path().join(format!("value-{i}"));
    let file_text = file.display().to_string();
    if i % 2 == 0 && !d.value.ends_with('\r') {
        args.push("--value-stdin");
        env.run_with_stdin(&args, Some(&format!("{}\n", d.value.as_str())))
            .ok();
    } else {
        std::fs::write(&file, d.value.as_bytes()).expect("value file");
        args.extend(["--from-file", &file_text]);
        env.run(&args).ok();
    }
}

/// Reads a dotenv or shell export with `sh` and returns the variables it set.
fn sourced(path: &std::path::Path) -> BTreeMap<String, String> {
    let out = std::process::Command::new("env")
        .args(["-i", "sh", "-c", "set -a; . \"$1\"; exec env -0", "sh"])
        .arg(path)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 environment");
    text.split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn round_trip(
    src: &Env,
    dst: &Env,
    list: &[(String, Desired)],
    n: usize,
) -> Result<(), TestCaseError> {
    let e = format!("batch{n}");
    for (i, (key, d)) in list.iter().enumerate() {
        set(src, &e, key, d, i);
    }
    let yaml = src
        .run(&["settings", "export", "--env", &e, "--reveal"])
        .ok()
        .stdout;
    let json = src
        .run(&[
            "settings", "export", "--env", &e, "--reveal", "--format", "json",
        ])
        .ok()
        .stdout;
    let dir = dst.home.path();
    let (yaml_file, json_file) = (dir.join(format!("{e}.yaml")), dir.join(format!("{e}.json")));
    std::fs::write(&yaml_file, &yaml).expect("yaml file");
    std::fs::write(&json_file, &json).expect("json file");
    let plan = dst
        .run(&[
            "settings",
            "import",
            "-f",
            &yaml_file.display().to_string(),
            "-o",
            "json",
        ])
        .ok()
        .json();
    prop_assert_eq!(
        plan["added"].as_array().map(Vec::len),
        Some(list.len()),
        "{}",
        plan
    );
    let plan = dst
        .run(&[
            "settings",
            "import",
            "-f",
            &json_file.display().to_string(),
            "-o",
            "json",
        ])
        .ok()
        .json();
    prop_assert_eq!(
        &plan["unchanged"],
        &serde_json::json!(list.len()),
        "JSON import changed what YAML set: {}",
        plan
    );
    for (key, d) in list {
        let got = dst
            .run(&["settings", "get", key, "--raw", "--reveal", "--env", &e])
            .ok()
            .stdout;
        prop_assert_eq!(got.as_str(), d.value.as_str(), "{}", key);
    }
    for (format, prefix) in [("dotenv", ""), ("shell", "export ")] {
        let text = src
            .run(&[
                "settings", "export", "--env", &e, "--reveal", "--format", format,
            ])
            .ok()
            .stdout;
        let path = dir.join(format!("{e}.{format}"));
        std::fs::write(&path, &text).expect("export file");
        let got = sourced(&path);
        for (key, d) in list {
            let name = env_var_name(key);
            if vars::is_protected(&name) {
                let line = format!("{prefix}{name}=");
                prop_assert!(!text.lines().any(|l| l.starts_with(&line)));
                continue;
            }
            prop_assert_eq!(
                got.get(&name).map(String::as_str),
                Some(d.value.as_str()),
                "{} ({})",
                name,
                format
            );
        }
        message_ok(
            &text
                .lines()
                .filter(|l| l.starts_with("# ") && l.contains(" left out: "))
                .collect::<String>(),
            None,
        )?;
    }
    Ok(())
}

fn body(backend: crate::support::Backend) {
    let Some(src) = Env::new(backend) else { return };
    let Some(dst) = Env::new(backend) else { return };
    src.init();
    dst.init();
    let n = std::cell::Cell::new(0usize);
    let values = std::cell::Cell::new(0usize);
    let start = std::time::Instant::now();
    check_n(
        &format!("cli: settings set/export/import ({backend:?})"),
        batches(),
        batch(),
        |list| {
            n.set(n.get() + 1);
            values.set(values.get() + list.len());
            round_trip(&src, &dst, &list, n.get())
        },
    );
    crate::harness::report(&serde_json::json!({
        "suite": "properties",
        "case": "cli: settings values round-tripped",
        "backend": format!("{backend:?}").to_lowercase(),
        "cases": values.get(),
        "failures": 0,
        "secs": (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    }));
}

#[test]
fn settings_round_trip_through_the_binary_sqlite() {
    body(crate::support::Backend::Sqlite);
}

#[test]
fn settings_round_trip_through_the_binary_postgres() {
    body(crate::support::Backend::Postgres);
}

/// What no format can carry and the limits: a NUL is refused where it comes
/// in (a value file, an imported JSON file), exit 2 naming it; a value of
/// exactly the size cap goes through every step; one byte more is refused.
fn edges(backend: crate::support::Backend) {
    let Some(src) = Env::new(backend) else { return };
    let Some(dst) = Env::new(backend) else { return };
    src.init();
    dst.init();
    let dir = src.home.path();
    let nul = dir.join("nul");
    std::fs::write(&nul, "a\0b").expect("file");
    let nul_arg = nul.display().to_string();
    src.run(&["settings", "set", "k", "--from-file", &nul_arg])
        .code(2)
        .stderr_has("NUL");
    let json = dir.join("nul.json");
    std::fs::write(&json, r#"{"settings": {"k": "a\u0000b"}}"#).expect("file");
    src.run(&["settings", "import", "-f", &json.display().to_string()])
        .code(2)
        .stderr_has("NUL");
    let max = keyward::config::DEFAULT_MAX_VALUE_SIZE as usize;
    let big: String = "é\u{2028}'\"\r\n$#- a: ~ "
        .chars()
        .cycle()
        .scan(0usize, |len, c| {
            *len += c.len_utf8();
            (*len <= max).then_some(c)
        })
        .collect();
    let big = format!("{big}{}", "x".repeat(max - big.len()));
    assert_eq!(big.len(), max);
    let file = dir.join("big");
    std::fs::write(&file, format!("{big}x")).expect("file");
    let file_arg = file.display().to_string();
    src.run(&[
        "settings",
        "set",
        "big",
        "--secret",
        "--from-file",
        &file_arg,
    ])
    .code(2);
    std::fs::write(&file, &big).expect("file");
    src.run(&[
        "settings",
        "set",
        "big",
        "--secret",
        "--from-file",
        &file_arg,
    ])
    .ok();
    for format in ["yaml", "json"] {
        let text = src
            .run(&["settings", "export", "--reveal", "--format", format])
            .ok()
            .stdout;
        let path = dst.home.path().join(format!("big.{format}"));
        std::fs::write(&path, text).expect("export");
        dst.run(&["settings", "import", "-f", &path.display().to_string()])
            .ok();
        let got = dst
            .run(&["settings", "get", "big", "--raw", "--reveal"])
            .ok()
            .stdout;
        assert!(
            got == big,
            "{format}: the value at the cap came back changed"
        );
    }
}

#[test]
fn nul_and_the_size_cap_through_the_binary_sqlite() {
    edges(crate::support::Backend::Sqlite);
}

#[test]
fn nul_and_the_size_cap_through_the_binary_postgres() {
    edges(crate::support::Backend::Postgres);
}
