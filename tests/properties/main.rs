//! Property tests for every parser and format of keyward (issue 13): arbitrary
//! and mutated inputs never panic and give the documented error kind, with a
//! message that neither echoes a secret nor carries a raw control character;
//! and round trips hold (seal → open, make → check, format → parse, export →
//! import for every value a setting can hold).
//!
//! Size: `KEYWARD_PROP_CASES` (cases per property; the CI short form is the
//! default). Seed: `KEYWARD_RELIABILITY_SEED` (u64), else one from the clock,
//! printed on failure. Figures: `KEYWARD_RELIABILITY_REPORT` (JSON lines).
//! See `harness.rs`.

#[path = "../support/mod.rs"]
mod support;
#[path = "../cli/util.rs"]
mod util;

mod harness;

mod cli;
mod config;
mod crypto;
mod jwt;
mod settings;
mod text;
mod tokens;
