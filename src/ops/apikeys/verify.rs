//! `apikeys verify`: `--ip` and `--permission` checked, then the key's shape
//! and checksum offline (a typo is refused with no database at all), then
//! one unaudited write transaction that decides on the rows it reads and
//! records the use (or counts the failure). The time is read inside that
//! transaction, after its lock, so rate windows follow commit order.

use crate::context::Context;
use crate::domain::apikeys::parse_ip;
use crate::domain::apikeys::verify::{self as domain, Refused, Request, Valid};
use crate::error::Result;
use crate::ident;
use crate::store;

/// `apikeys verify`, as given (the key read by the caller).
#[derive(Clone, Default)]
pub struct VerifyRequest {
    /// `--ip`.
    pub ip: Option<String>,
    /// `--permission`.
    pub permission: Option<String>,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("ip", &self.ip)
            .field("permission", &self.permission)
            .finish()
    }
}

/// The checked flags: exit 2 when one is bad (before the key is read).
pub struct Checked {
    ip: Option<std::net::IpAddr>,
    permission: Option<String>,
}

/// Checks `--ip` and `--permission` (exit 2).
pub fn check_flags(req: &VerifyRequest) -> Result<Checked> {
    Ok(Checked {
        ip: req.ip.as_deref().map(parse_ip).transpose()?,
        permission: req
            .permission
            .as_deref()
            .map(|p| ident::permission(p.trim()).map(|(r, a)| format!("{r}:{a}")))
            .transpose()?,
    })
}

/// Verifies `key` (a line read from stdin) for a use from `flags.ip`
/// needing `flags.permission`.
pub fn verify(
    ctx: &mut Context,
    flags: &Checked,
    key: &str,
) -> Result<std::result::Result<Valid, Refused>> {
    let key = key.trim();
    if let Some(refused) = domain::offline(key) {
        return Ok(Err(refused));
    }
    let req = Request {
        key,
        ip: flags.ip,
        permission: flags.permission.as_deref(),
    };
    let clock = std::sync::Arc::clone(&ctx.clock);
    let store = ctx.store()?;
    // One short write per process, called for every request a gateway sees:
    // the SQLite checkpoint at close is left to a later process (see
    // `Store::hot_path`).
    store.hot_path();
    store::write_unaudited(store, |c| domain::check(c, &req, clock.now()))
}
