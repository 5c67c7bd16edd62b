//! Operations of `keyward audit`: list, show, verify and export the chain.

use crate::context::Context;
use crate::domain::audit::{self, Anchor, ChainHead, Entry, Filter, Verification};
use crate::error::Result;
use crate::output::TableRow;
use crate::store;

impl TableRow for Entry {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "occurred_at",
        "actor",
        "action",
        "target_type",
        "target",
    ];
}

/// How many entries `audit list` shows without `--limit` or `--all`: the newest.
pub const DEFAULT_LIST_LIMIT: u32 = 100;

/// `audit list`: filters as given on the command line.
#[derive(Debug, Default, Clone)]
pub struct ListRequest {
    /// A duration back from now (`24h`) or an RFC 3339 instant.
    pub since: Option<String>,
    /// Exactly this actor.
    pub actor: Option<String>,
    /// This action, or a family (`user.` / `user.*`).
    pub action: Option<String>,
    /// Exactly this target.
    pub target: Option<String>,
    /// The newest N matching entries.
    pub limit: Option<u32>,
    /// Every matching entry (otherwise, without a limit, the newest [`DEFAULT_LIST_LIMIT`]).
    pub all: bool,
}

/// What `audit list` showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    /// Entries handed to the sink.
    pub shown: u64,
    /// How many matched, when the default limit left some out.
    pub matching: Option<u64>,
}

/// Hands the entries matching the filter to `sink`, oldest first, a page at
/// a time in one read transaction: the newest `limit`, every one with `all`,
/// else the newest [`DEFAULT_LIST_LIMIT`] (`--since` counted back from `ctx.clock`).
pub fn list(
    ctx: &mut Context,
    req: ListRequest,
    sink: &mut dyn FnMut(&Entry) -> Result<()>,
) -> Result<Listing> {
    let defaulted = req.limit.is_none() && !req.all;
    let filter = Filter {
        since: req
            .since
            .as_deref()
            .map(|s| crate::time::parse_since(s, ctx.clock.now()))
            .transpose()?,
        actor: req.actor,
        action: req.action,
        target: req.target,
        limit: if req.all {
            None
        } else {
            Some(req.limit.unwrap_or(DEFAULT_LIST_LIMIT))
        },
    };
    store::read(ctx.store()?, |c| {
        let shown = audit::list_paged(c, &filter, audit::LIST_PAGE, |e| sink(&e))?;
        let mut matching = None;
        if defaulted && shown >= u64::from(DEFAULT_LIST_LIMIT) {
            let n = audit::count(c, &filter)?;
            matching = (n > shown).then_some(n);
        }
        Ok(Listing { shown, matching })
    })
}

/// One entry by id (exit 3 when absent).
pub fn show(ctx: &mut Context, id: i64) -> Result<Entry> {
    store::read(ctx.store()?, |c| audit::get(c, id))
}

/// Walks the chain and compares its end with the head record; with an
/// anchor (`ID:HASH`, checked before the database is opened), also proves the
/// chain holds that entry with that hash and continues from it.
pub fn verify(ctx: &mut Context, anchor: Option<&str>) -> Result<Verification> {
    let anchor = anchor.map(Anchor::parse).transpose()?;
    store::read(ctx.store()?, |c| audit::verify_with(c, anchor.as_ref()))
}

/// The chain's newest id and hash, to record outside the database (exit 8
/// when the head record and the newest entry disagree).
pub fn head(ctx: &mut Context) -> Result<ChainHead> {
    store::read(ctx.store()?, audit::chain_head)
}

/// Hands every entry, in chain order, to `sink` as it is read (constant
/// memory, one read transaction); returns how many there were.
pub fn export(ctx: &mut Context, sink: &mut dyn FnMut(&Entry) -> Result<()>) -> Result<u64> {
    store::read(ctx.store()?, |c| {
        let mut n = 0u64;
        audit::for_each(c, |e| {
            n += 1;
            sink(&e)
        })?;
        Ok(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_columns_are_fields() {
        crate::output::assert_columns(&Entry {
            id: audit::AuditId(1),
            occurred_at: crate::time::parse_stored("2030-01-01T00:00:00Z").unwrap(),
            actor: "a".into(),
            action: "x.y".into(),
            target_type: "t".into(),
            target: "t".into(),
            details: serde_json::json!({}),
            prev_hash: audit::GENESIS.into(),
            hash: String::new(),
        });
    }
}
