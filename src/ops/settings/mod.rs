//! Operations of `keyward settings`: one function per verb, each taking the
//! [`Context`] and a request, running its flow in the transactions it needs,
//! and returning a typed view.
//!
//! Every decision (a secret stays secret, the type by default, check-and-set,
//! whether a key ring is needed) is made on rows read inside the transaction
//! that acts on them. The key ring is loaded only when a secret is involved;
//! when a transaction finds one it did not expect, it rolls back, the ring is
//! loaded, and it runs again ([`with_ring`]).

mod import;
mod promote;
mod read;
mod view;
mod write;

pub use import::{import, ImportRequest, Plan, PlanChange};
pub use promote::{promote, PromoteRequest, PromoteRow};
pub use read::{
    diff, envs, export, get, history, list, run_environment, DiffRequest, Diffed, ExportFormat,
    ExportRequest, Exported, GetRequest, Got, HistoryRequest, ListRequest, Listed, RunEnvironment,
    RunRequest,
};
pub use view::{DiffRow, DiffStatus, EnvRow, HistoryRow, Mask, SettingView, Shown};
pub use write::{delete, rollback, set, DeleteRequest, RollbackRequest, SetOutcome, SetRequest};

use crate::context::Context;
use crate::crypto::keyring::Keyring;
use crate::domain::audit::Stamp;
use crate::error::{Error, Result};
use crate::store::{self, Access, Conn};
use std::cell::Cell;

/// The key ring as a transaction has it: loaded, or not (yet).
pub struct Ring<'a> {
    loaded: Option<&'a Keyring>,
    wanted: Cell<bool>,
}

impl<'a> Ring<'a> {
    /// The ring, when loaded.
    pub fn get(&self) -> Option<&'a Keyring> {
        self.loaded
    }

    /// Asks for the ring when `needed`: without it, the transaction fails
    /// and [`with_ring`] runs it again with the ring loaded.
    pub fn require_if(&self, needed: bool) -> Result<()> {
        if needed && self.loaded.is_none() {
            self.wanted.set(true);
            return Err(Error::internal(
                "a secret needs the key ring, which was not loaded",
            ));
        }
        Ok(())
    }
}

/// Runs `body` in one transaction (`access`: a read or an audited write)
/// with the key ring loaded so far (none at first) and a [`Stamp`] read
/// inside the transaction (after the write lock, so the times of changes
/// follow the order in which they commit). When `body` finds it needs the
/// ring ([`Ring::require_if`]), the transaction rolls back, the ring is loaded
/// (exit 7 when no key is configured) and `body` runs again.
pub(crate) fn with_ring<T>(
    ctx: &mut Context,
    access: Access,
    mut body: impl FnMut(&mut dyn Conn, &Ring<'_>, Stamp<'_>) -> Result<T>,
) -> Result<T> {
    let actor = ctx.actor().to_owned();
    let clock = std::sync::Arc::clone(&ctx.clock);
    let mut ring: Option<Keyring> = None;
    loop {
        let slot = Ring {
            loaded: ring.as_ref(),
            wanted: Cell::new(false),
        };
        let store = ctx.store()?;
        let tx = |c: &mut dyn Conn| body(c, &slot, Stamp::new(&actor, &*clock));
        let out = match access {
            Access::Read => store::read(store, tx),
            Access::Write => store::write(store, tx),
            Access::WriteUnaudited => store::write_unaudited(store, tx),
        };
        match out {
            Err(_) if slot.wanted.get() && ring.is_none() => {
                ring = Some(ctx.keyring()?.clone());
            }
            other => return other,
        }
    }
}
