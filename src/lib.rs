//! keyward: a web application's settings-and-authentication database, managed.
//!
//! The library holds everything an application may embed: configuration,
//! the storage trait and its SQLite and PostgreSQL backends, the crypto
//! (AES-256-GCM envelopes, PBKDF2 hashes), the domain rules and the hash-chained
//! audit trail. The `keyward` binary is a thin clap layer on top ([`cli`]).

pub mod cli;
pub mod config;
pub mod context;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod fsutil;
pub mod ident;
pub mod ids;
pub mod ops;
pub mod output;
pub mod secret;
pub mod store;
pub mod text;
pub mod time;

pub use error::{Error, Result};
