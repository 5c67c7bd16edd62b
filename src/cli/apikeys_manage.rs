//! `keyward apikeys create|list|show|revoke|rotate`.

use crate::context::Context;
use crate::domain::apikeys;
use crate::error::Result;
use crate::ident::shown;
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
            .map(duration("--expires-in"))
            .transpose()?,
    };
    let made = ops::create(ctx, &req)?;
    let k = &made.record;
    let owner = match &k.user {
        Some(u) => format!(" for '{u}'"),
        None => " (a service key, no user)".to_owned(),
    };
    let msg = format!(
        "created API key {} {}{owner}{}: this is the only time the key is shown, store it now",
        k.key_prefix,
        shown(&k.name),
        until(k.expires_at, ", expires")
    );
    Ok(Reply::object(made).with_message(msg))
}

pub(crate) fn list(ctx: &mut Context, args: ListArgs) -> Result<Reply> {
    let keys = ops::list(ctx, args.all)?;
    let reply = Reply::rows(keys.iter().cloned());
    Ok(if keys.is_empty() {
        reply.with_message(if args.all {
            "no API keys: `keyward apikeys create NAME` makes one"
        } else {
            "no active API keys (`--all` lists revoked and expired ones too)"
        })
    } else {
        reply
    })
}

pub(crate) fn show(ctx: &mut Context, args: KeyArg) -> Result<Reply> {
    Ok(Reply::object(ops::show(ctx, &args.key)?))
}

pub(crate) fn revoke(ctx: &mut Context, args: KeyArg) -> Result<Reply> {
    let done = ops::revoke(ctx, &args.key)?;
    let k = &done.key;
    let msg = if done.already_revoked {
        format!(
            "API key {} {} was already revoked ({}{}): nothing changed",
            k.key_prefix,
            shown(&k.name),
            k.revoked_reason.as_deref().unwrap_or("revoked"),
            until(k.revoked_at, ", at")
        )
    } else if done.was_rotating {
        format!(
            "revoked API key {} {}: it no longer verifies (its rotation grace period ended now)",
            k.key_prefix,
            shown(&k.name)
        )
    } else {
        format!(
            "revoked API key {} {}: it no longer verifies",
            k.key_prefix,
            shown(&k.name)
        )
    };
    Ok(Reply::object(done).with_message(msg).quiet_table())
}

pub(crate) fn rotate(ctx: &mut Context, args: RotateArgs) -> Result<Reply> {
    let grace = args.grace.as_deref().map(duration("--grace")).transpose()?;
    let done = ops::rotate(ctx, &args.key, grace)?;
    let old = if done.old.status == apikeys::Status::Revoked {
        format!("the old key {} is revoked now", done.old.key_prefix)
    } else {
        format!(
            "the old key {} works until {}",
            done.old.key_prefix,
            crate::time::rfc3339(done.old_key_works_until)
        )
    };
    let msg = format!(
        "rotated API key {} {} to {}; {old}. This is the only time the new key is shown, store it now",
        done.old.key_prefix,
        shown(&done.record.name),
        done.record.key_prefix
    );
    Ok(Reply::object(done).with_message(msg))
}

/// Parses a duration flag.
fn duration(flag: &'static str) -> impl Fn(&str) -> Result<time::Duration> {
    move |s| crate::time::parse_duration(s).map_err(|e| e.context(flag))
}

/// `", expires at T"`-style text for an optional instant (empty when none).
fn until(t: Option<time::OffsetDateTime>, words: &str) -> String {
    t.map(|t| format!("{words} {}", crate::time::rfc3339(t)))
        .unwrap_or_default()
}
