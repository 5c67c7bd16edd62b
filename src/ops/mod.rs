//! Operations: whole flows (init, migrate, rotate-key, login check, import,
//! promote, …) over the store, the clock and the key ring, each run in the
//! transactions it needs. An operation takes the [`Context`] and a resolved
//! request, and returns a typed view (a struct deriving `Serialize`) or an
//! outcome enum; it never prints and never parses command-line arguments.
//! Rules and SQL live below, in `crate::domain::<group>`.
//!
//! [`Context`]: crate::context::Context

pub mod audit;
pub mod db;
pub mod roles;
pub mod settings;
pub mod users;
