//! Crash consistency (issue 13, SPEC §5): every multi-step command is
//! SIGKILLed at random moments of its run, N trials per command per backend,
//! and after each kill the database must be exactly before or after the
//! command (or, for batched commands, before or after a whole batch), `audit
//! verify` and `db health` pass, no row points nowhere, and running the
//! command again finishes the job.
//!
//! Size: `KEYWARD_CRASH_TRIALS` trials per test (default: the CI short
//! form). Seed: `KEYWARD_RELIABILITY_SEED`, printed when a test fails.
//! Figures: one JSON line per test appended to `KEYWARD_RELIABILITY_REPORT`.

#[path = "../support/mod.rs"]
mod support;
#[path = "../cli/util.rs"]
mod util;

mod apikeys_rotate;
mod apikeys_scan;
mod db_copy;
mod harness;
mod rotate_key;
mod sessions_prune;
mod sessions_refresh;
mod settings_import;
