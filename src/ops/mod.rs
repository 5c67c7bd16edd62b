//! Operations: whole flows (init, migrate, rotate-key, login check, import,
//! promote, …) over the store, the clock and the key ring, each run in the
//! transactions it needs. An operation takes the [`Context`] and a resolved
//! request, and returns a typed view (a struct deriving `Serialize`) or an
//! outcome enum; it never prints and never parses command-line arguments.
//! Rules and SQL live below, in `crate::domain::<group>`.
//!
//! [`Context`]: crate::context::Context

pub mod apikeys;
pub mod audit;
pub mod db;
pub mod flags;
pub mod roles;
pub mod sessions;
pub mod settings;
pub mod users;

use crate::context::Context;
use crate::domain::audit::Stamp;
use crate::error::Result;
use crate::store::{self, Conn};

/// Runs `f` in one audited write transaction with a [`Stamp`] (the actor,
/// and `ctx.clock`'s instant read inside the transaction, after the write
/// lock, so the times of changes follow the order in which they commit).
pub(crate) fn audited<T>(
    ctx: &mut Context,
    mut f: impl FnMut(&mut dyn Conn, Stamp<'_>) -> Result<T>,
) -> Result<T> {
    let actor = ctx.actor().to_owned();
    let clock = std::sync::Arc::clone(&ctx.clock);
    store::write(ctx.store()?, |c| f(c, Stamp::new(&actor, &*clock)))
}
