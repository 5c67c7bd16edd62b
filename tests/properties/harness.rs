//! The runner every property goes through: its size (`KEYWARD_PROP_CASES`),
//! its seed (`KEYWARD_RELIABILITY_SEED`), its figures
//! (`KEYWARD_RELIABILITY_REPORT`), the mutations applied to valid inputs, and
//! the checks on error messages.
//!
//! Seeding: each property gets its own proptest `TestRunner` whose RNG is
//! `TestRng::from_seed(RngAlgorithm::ChaCha, …)` of the run's seed mixed with
//! the property's name, so a failure is repeated by setting
//! `KEYWARD_RELIABILITY_SEED` to the seed it prints (proptest's own
//! `PROPTEST_RNG_SEED` is not used). No failure persistence file: the seed
//! is the record.
#![allow(dead_code)]

use keyward::error::ErrorKind;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::sync::OnceLock;
use std::time::Instant;

/// The size knob: cases per property.
pub const CASES_VAR: &str = "KEYWARD_PROP_CASES";
/// The CI short form's cases per property.
pub const DEFAULT_CASES: u64 = 1500;

use crate::support::reliability::{self, var};

/// Cases per property (`KEYWARD_PROP_CASES`, default [`DEFAULT_CASES`]).
pub fn cases() -> u64 {
    static CASES: OnceLock<u64> = OnceLock::new();
    *CASES.get_or_init(|| {
        var(CASES_VAR).map_or(DEFAULT_CASES, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{CASES_VAR}={v} is not a number"))
        })
    })
}

/// The run's seed: `KEYWARD_RELIABILITY_SEED`, else the clock's nanoseconds.
pub fn seed() -> u64 {
    reliability::seed()
}

/// FNV-1a of the name, mixed with the seed: one independent stream per property.
fn stream_seed(name: &str) -> [u8; 32] {
    let h = reliability::stream(seed(), name);
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let v = h.rotate_left(17 * i as u32) ^ seed().rotate_right(7 * i as u32);
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// Appends one JSON line of figures to `KEYWARD_RELIABILITY_REPORT`, if set.
pub fn report(line: &serde_json::Value) {
    reliability::report(line);
}

/// Runs property `name` over `weight` × [`cases`] cases of `strategy`.
/// Weights below 1 are for costly properties (key derivation, processes).
pub fn check<S>(
    name: &str,
    weight: f64,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let n = ((cases() as f64 * weight).ceil() as u64).clamp(1, u64::from(u32::MAX));
    check_n(name, n, strategy, test);
}

/// Runs property `name` over exactly `n` cases of `strategy`.
pub fn check_n<S>(
    name: &str,
    n: u64,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases: n as u32,
        failure_persistence: None,
        max_shrink_iters: 2048,
        max_global_rejects: u32::MAX,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &stream_seed(name));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let start = Instant::now();
    let result = runner.run(&strategy, test);
    let secs = start.elapsed().as_secs_f64();
    report(&serde_json::json!({
        "suite": "properties",
        "case": name,
        "backend": "none",
        "cases": n,
        "failures": u32::from(result.is_err()),
        "secs": (secs * 1000.0).round() / 1000.0,
        "per_sec": (n as f64 / secs.max(1e-9)).round(),
        "seed": seed(),
    }));
    if let Err(e) = result {
        panic!(
            "property `{name}` failed (KEYWARD_RELIABILITY_SEED={} {CASES_VAR}={} repeats it): {e}",
            seed(),
            cases()
        );
    }
}

/// Whether `c` is a character an error message must not carry raw: C0
/// controls (a newline too), DEL, C1 controls, bidi and line-separator controls.
pub fn is_raw_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// Checks an error: its kind is one of `kinds`, its message is printable and,
/// when `secret` is given (and long enough to mean something), does not hold it.
pub fn error_ok(
    e: &keyward::Error,
    kinds: &[ErrorKind],
    secret: Option<&str>,
) -> Result<(), TestCaseError> {
    prop_assert!(
        kinds.contains(&e.kind()),
        "kind {:?} not in {kinds:?}: {}",
        e.kind(),
        e.message().escape_debug()
    );
    message_ok(e.message(), secret)
}

/// Checks a message for raw controls and, optionally, a secret.
pub fn message_ok(msg: &str, secret: Option<&str>) -> Result<(), TestCaseError> {
    prop_assert!(
        !msg.chars().any(is_raw_control),
        "raw control character in message: {}",
        msg.escape_debug()
    );
    if let Some(s) = secret.filter(|s| s.trim().len() >= 8) {
        prop_assert!(
            !msg.contains(s.trim()),
            "message echoes the secret input: {}",
            msg.escape_debug()
        );
    }
    Ok(())
}

/// Characters and fragments that parsers trip on.
pub const SPECIALS: &[&str] = &[
    "\0",
    "\u{1}",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\u{1b}",
    "\u{7f}",
    "\u{85}",
    "\u{9b}",
    "\u{a0}",
    "\u{2028}",
    "\u{2029}",
    "\u{202e}",
    "\u{feff}",
    "\u{fffd}",
    "é",
    "😀",
    "-",
    "+",
    "/",
    "=",
    "_",
    ":",
    "$",
    ",",
    ".",
    "%",
    "%00",
    "%ff",
    "%",
    " ",
    "'",
    "\"",
    "\\",
    "#",
    "!!",
    "{",
    "}",
    "[",
    "]",
    "&a",
    "*a",
    "kw1:",
    "kw_",
    "kwr_",
    "$pbkdf2-sha256$",
    "0",
    "9",
    "Z",
    "z",
    "@",
    "?",
];

/// A special fragment or any character.
pub fn special() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(SPECIALS).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ]
}

/// One damage done to a text.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flip one bit of one byte (the text is re-read as UTF-8, lossily).
    Flip(usize, u8),
    /// Cut the text at a byte.
    Truncate(usize),
    /// Insert a fragment at a byte.
    Insert(usize, String),
    /// Remove one byte.
    Delete(usize),
    /// Replace one byte with another.
    Replace(usize, u8),
    /// Repeat a slice many times (an overlong input).
    Repeat(usize, usize, usize),
}

/// A random mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        3 => (any::<usize>(), special()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        2 => any::<usize>().prop_map(Mutation::Delete),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        1 => (any::<usize>(), 1usize..16, 2usize..5000).prop_map(|(i, l, n)| Mutation::Repeat(i, l, n)),
    ]
}

/// Applies mutations to a text.
pub fn apply(text: &str, muts: &[Mutation]) -> String {
    let mut b = text.as_bytes().to_vec();
    for m in muts {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match m {
            Mutation::Flip(i, bit) if !b.is_empty() => {
                let i = at(*i, b.len());
                b[i] ^= 1 << bit;
            }
            Mutation::Truncate(i) => b.truncate(at(*i, b.len() + 1)),
            Mutation::Insert(i, s) => {
                let i = at(*i, b.len() + 1);
                b.splice(i..i, s.bytes());
            }
            Mutation::Delete(i) if !b.is_empty() => {
                b.remove(at(*i, b.len()));
            }
            Mutation::Replace(i, v) if !b.is_empty() => {
                let i = at(*i, b.len());
                b[i] = *v;
            }
            Mutation::Repeat(i, l, n) if !b.is_empty() => {
                let i = at(*i, b.len());
                let end = (i + l).min(b.len());
                let chunk = b[i..end].to_vec();
                let rep = chunk.repeat(*n);
                b.splice(end..end, rep);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// A valid text with 1 to 4 mutations, or (one time in 8) unchanged.
pub fn mutated(valid: impl Strategy<Value = String>) -> impl Strategy<Value = (String, String)> {
    (
        valid,
        prop_oneof![1 => Just(Vec::new()), 7 => proptest::collection::vec(mutation(), 1..=4)],
    )
        .prop_map(|(v, m)| {
            let bad = apply(&v, &m);
            (v, bad)
        })
}

/// A value and its text, the text with 1 to 4 mutations (or, one time in 8, none):
/// `(value, text, mutated text)`. The value says what the text holds (a password, a key).
pub fn mutated_text<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = (T, String)>,
) -> impl Strategy<Value = (T, String, String)> {
    (
        s,
        prop_oneof![1 => Just(Vec::new()), 7 => proptest::collection::vec(mutation(), 1..=4)],
    )
        .prop_map(|((v, text), m)| {
            let bad = apply(&text, &m);
            (v, text, bad)
        })
}

/// Arbitrary text: any characters, or (more often) ones a parser cares about.
pub fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(special(), 0..40).prop_map(|v| v.concat()),
        "[ -~\\n\\t]{0,200}",
    ]
}
