//! `keyward settings run`: the settings as a program's environment, the
//! program then put in keyward's place (`exec`), so that signals sent to the
//! pid a supervisor knows (`docker stop`, systemd) reach the program and its
//! exit status is the one the supervisor sees.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ops::settings as ops;
use crate::output::{warn, Reply};
use std::os::unix::process::CommandExt;
use zeroize::Zeroizing;

/// What `settings run` was asked.
pub(super) struct RunArgs {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Protected variables to set all the same.
    pub allow_vars: Vec<String>,
    /// The program and its arguments.
    pub command: Vec<String>,
}

/// Runs the command with the settings in its environment. Returns only when
/// the program cannot be started (exit 127 not found, 126 otherwise).
pub(super) fn run(ctx: &mut Context, args: RunArgs) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let req = ops::RunRequest {
        env,
        prefix: args.prefix,
        allow_vars: args.allow_vars,
    };
    let out = ops::run_environment(ctx, &req)?;
    if let Some(empty) = &out.empty {
        warn(format!("{empty}: running the command without settings"));
    }
    if !out.skipped.is_empty() {
        warn(format!(
            "not set from settings: {} (they decide what runs; name one with --allow-var NAME to set it)",
            out.skipped.join(", ")
        ));
    }
    // Nothing remains to do after the program: close the database and put
    // the program in keyward's place.
    ctx.close();
    Ok(exec(&out.vars, &args.command))
}

/// Replaces this process with the command (the variables added to keyward's
/// environment). Returns only when it cannot.
fn exec(vars: &[(String, Zeroizing<String>)], command: &[String]) -> Reply {
    let exit = |code: u8| Reply {
        exit: Some(code),
        ..Reply::default()
    };
    let Some((program, args)) = command.split_first() else {
        crate::output::error(Error::invalid("no command given after --"));
        return exit(2);
    };
    let mut child = std::process::Command::new(program);
    child.args(args);
    for (name, value) in vars {
        child.env(name, value.as_str());
    }
    let e = child.exec();
    if e.kind() == std::io::ErrorKind::NotFound {
        crate::output::error(format!("command not found: {program}"));
        exit(127)
    } else {
        crate::output::error(format!("cannot run {program}: {e}"));
        exit(126)
    }
}
