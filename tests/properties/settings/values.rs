//! Values a setting can hold, leaning on what formats trip on: controls,
//! CR/LF, line separators, tabs, quotes, `#`, `$`, leading `=` and spaces,
//! YAML-significant words, very long and empty values.

use keyward::domain::settings::{Desired, ValueType};
use proptest::prelude::*;
use zeroize::Zeroizing;

/// Fragments that formats treat specially.
pub const PIECES: &[&str] = &[
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{7f}",
    "\u{9b}",
    "\u{1b}",
    "\u{1}",
    "\u{8}",
    "\u{c}",
    "\u{b}",
    "'",
    "''",
    "\"",
    "\\",
    "\\n",
    "#",
    " #",
    "$",
    "${HOME}",
    "$(id)",
    "`id`",
    "=",
    "==",
    "- a",
    "-",
    ": ",
    ":",
    "{}",
    "[]",
    "{a: 1}",
    "yes",
    "no",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "0x1F",
    "0o17",
    "017",
    "1e3",
    "1_000",
    "+1",
    "-0",
    ".inf",
    "-.inf",
    ".nan",
    "NaN",
    "true",
    "False",
    "2024-01-01",
    "12:30:00",
    "&a",
    "*a",
    "!tag",
    "!!str",
    "|",
    ">",
    "%YAML",
    "---",
    "...",
    "?",
    ",",
    "@",
    "\u{feff}",
    "é",
    "😀",
    "\u{fffe}",
    "\u{ffff}",
    "\u{202e}",
    "\u{a0}",
    "\u{3000}",
    "kw1:",
    "export X=1",
    "a=b",
    "'\\''",
];

/// A piece or any character but NUL.
pub fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(PIECES).prop_map(str::to_owned),
        1 => any::<char>().prop_filter("no NUL", |c| *c != '\0').prop_map(String::from),
        1 => "[a-zA-Z0-9]{1,8}",
    ]
}

/// Text a string setting can hold (anything but NUL).
pub fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::collection::vec(piece(), 0..10).prop_map(|v| v.concat()),
        2 => any::<String>().prop_map(|s| s.replace('\0', "")),
        2 => proptest::sample::select(PIECES).prop_map(str::to_owned),
        1 => (piece(), 100usize..3000).prop_map(|(p, n)| p.repeat(n)),
    ]
}

/// A setting key: letters, digits, `_ . -`, starting with a letter or digit.
pub fn setting_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z][a-z0-9_]{0,8}(\\.[a-z0-9_-]{1,8}){0,2}",
        2 => "[A-Za-z0-9][A-Za-z0-9_.-]{0,40}",
        1 => proptest::sample::select(vec!["yes", "no", "null", "true", "1e3", "0x1F", "on", "y", "123", "1.5"]).prop_map(str::to_owned),
        1 => "[a-z0-9][a-z0-9]{250,254}",
    ]
}

/// One of the value types.
pub fn value_type() -> impl Strategy<Value = ValueType> {
    proptest::sample::select(vec![
        ValueType::String,
        ValueType::Int,
        ValueType::Float,
        ValueType::Bool,
        ValueType::Json,
    ])
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(Into::into),
        any::<i64>().prop_map(Into::into),
        any::<u64>().prop_map(Into::into),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Into::into),
        text_value().prop_map(Into::into),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Into::into),
            proptest::collection::btree_map(text_value(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON value nested 1 to 64 levels deep (the most a value may be), in
/// arrays and objects mixed.
fn deep_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(Into::into),
        text_value().prop_map(Into::into),
    ];
    (leaf, proptest::collection::vec(any::<bool>(), 1..=64)).prop_map(|(leaf, wraps)| {
        wraps.into_iter().fold(leaf, |v, array| {
            if array {
                serde_json::Value::Array(vec![v])
            } else {
                serde_json::json!({ "k": v })
            }
        })
    })
}

/// A value's raw text for its type (the product normalizes it).
pub fn typed_raw() -> impl Strategy<Value = (ValueType, String)> {
    prop_oneof![
        6 => text_value().prop_map(|v| (ValueType::String, v)),
        1 => any::<i64>().prop_map(|n| (ValueType::Int, n.to_string())),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| (ValueType::Float, f.to_string())),
        1 => proptest::sample::select(vec!["true", "false", "yes", "no", "on", "off", "1", "0"]).prop_map(|b| (ValueType::Bool, b.to_owned())),
        2 => json_value().prop_map(|j| (ValueType::Json, j.to_string())),
        1 => deep_json().prop_map(|j| (ValueType::Json, j.to_string())),
    ]
}

/// A category or description: any text but NUL (bounded as the product bounds them).
fn label(max: usize) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text_value().prop_map(move |s| s.chars().take(max).collect::<String>()))
}

/// What a setting should hold, normalized as the product stores it.
pub fn desired() -> impl Strategy<Value = Desired> {
    (typed_raw(), any::<bool>(), label(64), label(1000)).prop_map(
        |((ty, raw), secret, category, description)| {
            let value = ty.normalize("k", &raw).expect("generated values are valid");
            Desired {
                value: Zeroizing::new(value),
                value_type: ty,
                secret,
                category,
                description,
            }
        },
    )
}

/// Whether a value is distinctive enough that finding it in a message means it was echoed.
pub fn distinctive(s: &str) -> bool {
    s.trim().chars().count() >= 8
        && s.chars()
            .any(|c| !(c.is_ascii_alphanumeric() || " _.-'`:,".contains(c)))
}
