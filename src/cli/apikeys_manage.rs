//! `keyward apikeys create|list|show|revoke|rotate`.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ops::apikeys::manage as ops;
use crate::output::Reply;
use clap::Args;

/// `apikeys create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// A name for the key (who or what uses it); a rotation keeps it
    pub name: String,
    /// The user the key acts for: it holds only permissions they have, and stops working when they are disabled, locked or deleted
    #[arg(long, value_name = "U")]
    pub user: Option<String>,
    /// A permission the key holds, RESOURCE:ACTION (repeatable)
    #[arg(long = "permission", value_name = "RESOURCE:ACTION")]
    pub permissions: Vec<String>,
    /// A network the key may be used from: CIDR or bare address, IPv4 or IPv6 (repeatable; none: anywhere)
    #[arg(long = "allow-ip", value_name = "CIDR")]
    pub allow_ips: Vec<String>,
    /// Successful verifications allowed per minute, N/min (none: no limit)
    #[arg(long, value_name = "N/min")]
    pub rate_limit: Option<String>,
    /// The key stops working this long after creation (e.g. 90d; none: it does not expire)
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,
}

/// `apikeys list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Include revoked and expired keys
    #[arg(long)]
    pub all: bool,
}

/// A key named by id or prefix.
#[derive(Debug, Args)]
pub(crate) struct KeyArg {
    /// The key's id or prefix (kw_ and 8 characters), as `list` shows them
    pub key: String,
}

/// `apikeys rotate`.
#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// The key's id or prefix (kw_ and 8 characters), as `list` shows them
    pub key: String,
    /// How long the old key keeps working (0s: not at all) [default: 24h]
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
}

pub(crate) fn create(ctx: &mut Context, args: CreateArgs) -> Result<Reply> {
    let req = ops::CreateRequest {
        name: args.name,
        user: args.user,
        permissions: args.permissions,
        allow_ips: args.allow_ips,
        rate_limit: args.rate_limit,
        expires_in: args
            .expires_in
            .as_deref()
            .map(|s| crate::time::parse_duration(s).map_err(|e| e.context("--expires-in")))
            .transpose()?,
    };
    let made = ops::create(ctx, &req)?;
    let msg = format!(
        "created API key {} ({}): this is the only time the key is shown, store it now",
        made.record.key_prefix, made.record.name
    );
    Ok(Reply::object(made).with_message(msg))
}

pub(crate) fn list(_ctx: &mut Context, _args: ListArgs) -> Result<Reply> {
    Err(Error::internal("apikeys list: being built"))
}

pub(crate) fn show(ctx: &mut Context, args: KeyArg) -> Result<Reply> {
    Ok(Reply::object(ops::show(ctx, &args.key)?))
}

pub(crate) fn revoke(_ctx: &mut Context, _args: KeyArg) -> Result<Reply> {
    Err(Error::internal("apikeys revoke: being built"))
}

pub(crate) fn rotate(_ctx: &mut Context, _args: RotateArgs) -> Result<Reply> {
    Err(Error::internal("apikeys rotate: being built"))
}
