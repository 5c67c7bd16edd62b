//! `keyward flags`: feature flags defined once, switched per environment.

use super::flags_eval::{self, EvalArgs, ExportArgs};
use crate::context::Context;
use crate::error::Result;
use crate::output::Reply;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum FlagsCommand {
    /// Decide a flag for users in this environment: enabled, reason and bucket (exit 3 for an unknown flag)
    Eval(EvalArgs),
    /// Print this environment's flags for applications to evaluate offline
    Export(ExportArgs),
}

pub(crate) fn run(ctx: &mut Context, cmd: FlagsCommand) -> Result<Reply> {
    match cmd {
        FlagsCommand::Eval(args) => flags_eval::eval(ctx, args),
        FlagsCommand::Export(args) => flags_eval::export(ctx, args),
    }
}
