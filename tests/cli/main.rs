//! Integration tests that drive the `keyward` binary as users do, on both backends.

#[path = "../support/mod.rs"]
mod support;
mod util;

mod apikeys;
mod apikeys_scan;
mod apikeys_verify;
mod audit;
mod config;
mod db;
mod db_copy;
mod flags;
mod flags_adversarial;
mod flags_eval;
mod flags_scenario;
mod flags_unleash;
mod input_limits;
mod lists;
mod output;
mod roles;
mod sessions;
mod sessions_adversarial;
mod sessions_manage;
mod sessions_prune;
mod sessions_verify;
mod settings;
mod settings_dotenv;
mod settings_hardening;
mod users;
