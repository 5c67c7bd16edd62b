//! `keyward settings import`: the file read, the plan shown for people (or as one object).

use crate::config::Format;
use crate::context::Context;
use crate::error::Result;
use crate::ops::settings::{self as ops, Plan};
use crate::output::{Data, Reply};
use crate::secret;
use std::path::Path;

pub(super) fn import(ctx: &mut Context, file: &Path, dry_run: bool, prune: bool) -> Result<Reply> {
    let env = ctx.config.environment.clone();
    let text = secret::document(file, "the settings file", secret::MAX_DOCUMENT)?;
    let source = if file.as_os_str() == "-" {
        "stdin".to_owned()
    } else {
        file.display().to_string()
    };
    let plan = ops::import(
        ctx,
        &ops::ImportRequest {
            env,
            env_explicit: ctx.config.environment_explicit,
            text,
            source,
            dry_run,
            prune,
        },
    )?;
    let summary = summary(&plan);
    if ctx.config.output == Format::Table {
        return Ok(Reply {
            data: Data::Text(plan_lines(&plan)),
            message: Some(summary),
            ..Reply::default()
        });
    }
    Ok(Reply::object(plan).with_message(summary))
}

/// The plan for people: `+ key`, `~ key (fields)`, `- key`.
fn plan_lines(plan: &Plan) -> String {
    let added = plan.added.iter().map(|k| format!("+ {k}\n"));
    let changed = (plan.changed.iter()).map(|c| format!("~ {} ({})\n", c.key, c.fields));
    let removed = plan.removed.iter().map(|k| format!("- {k}\n"));
    added.chain(changed).chain(removed).collect()
}

fn summary(plan: &Plan) -> String {
    let verb = if plan.applied {
        "applied"
    } else if plan.dry_run {
        "dry run, nothing changed"
    } else {
        "nothing to do"
    };
    format!(
        "{}: {} to add, {} to change, {} to remove, {} unchanged ({verb})",
        plan.environment,
        plan.added.len(),
        plan.changed.len(),
        plan.removed.len(),
        plan.unchanged
    )
}
