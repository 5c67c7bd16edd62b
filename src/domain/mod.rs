//! The rules, once, above the storage trait: audit, keys, seed data.

pub mod apikeys;
pub mod audit;
pub mod flags;
pub mod keys;
pub mod roles;
pub mod seed;
pub mod sessions;
pub mod settings;
pub mod users;
