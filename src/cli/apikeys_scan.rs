//! `keyward apikeys scan`.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::Reply;
use clap::Args;
use std::path::PathBuf;

/// `apikeys scan`.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files or directories to scan (directories recursively, skipping .git and binary files); stdin when none
    pub paths: Vec<PathBuf>,
    /// Revoke every active key (and the session of every active refresh token) found
    #[arg(long)]
    pub revoke: bool,
}

pub(crate) fn run(_ctx: &mut Context, _args: ScanArgs) -> Result<Reply> {
    Err(Error::internal("apikeys scan: being built"))
}
