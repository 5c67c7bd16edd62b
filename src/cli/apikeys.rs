//! `keyward apikeys`: keys for partners, CI jobs and services, shown once,
//! scoped, allowlisted, rate limited, rotated with a grace period, verified
//! by the application, and found again when they leak.

use crate::context::Context;
use crate::error::Result;
use crate::output::Reply;
use clap::Subcommand;

use super::apikeys_manage as manage;
use super::apikeys_scan as scan;
use super::apikeys_verify as verify;

#[derive(Debug, Subcommand)]
pub(crate) enum ApikeysCommand {
    /// Create a key and print it once (only its prefix and hash are stored)
    Create(manage::CreateArgs),
    /// List keys: active ones (a rotated key in its grace period too), or all with --all (never a key)
    List(manage::ListArgs),
    /// Show one key by id or prefix: grants, status, last use, failures, rotation links
    Show(manage::KeyArg),
    /// Revoke a key by id or prefix: it stops verifying at once
    Revoke(manage::KeyArg),
    /// Replace a key with a new one (same name, grants, allowlist, limit); the old one works until the grace period ends
    Rotate(manage::RotateArgs),
    /// Check a key read from stdin (exit 0 valid, 5 with one reason)
    Verify(verify::VerifyArgs),
    /// Find keyward keys and refresh tokens in files, directories or stdin, and report each one's status (exit 5 when one is active, 1 when a path could not be read)
    Scan(scan::ScanArgs),
}

pub(crate) fn run(ctx: &mut Context, cmd: ApikeysCommand) -> Result<Reply> {
    match cmd {
        ApikeysCommand::Create(args) => manage::create(ctx, args),
        ApikeysCommand::List(args) => manage::list(ctx, args),
        ApikeysCommand::Show(args) => manage::show(ctx, args),
        ApikeysCommand::Revoke(args) => manage::revoke(ctx, args),
        ApikeysCommand::Rotate(args) => manage::rotate(ctx, args),
        ApikeysCommand::Verify(args) => verify::run(ctx, args),
        ApikeysCommand::Scan(args) => scan::run(ctx, args),
    }
}
