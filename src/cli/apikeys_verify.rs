//! `keyward apikeys verify`.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::Reply;
use clap::Args;

/// `apikeys verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Read the key as one line from stdin
    #[arg(long)]
    pub key_stdin: bool,
    /// The client's IP address, checked against the key's allowlist
    #[arg(long, value_name = "A")]
    pub ip: Option<String>,
    /// A permission the use needs, RESOURCE:ACTION
    #[arg(long, value_name = "P")]
    pub permission: Option<String>,
}

pub(crate) fn run(_ctx: &mut Context, _args: VerifyArgs) -> Result<Reply> {
    Err(Error::internal("apikeys verify: being built"))
}
