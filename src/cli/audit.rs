//! `keyward audit`: list, show, verify, export.

use crate::context::Context;
use crate::domain::audit::{self, Filter};
use crate::error::{Error, Result};
use crate::output::{Data, Reply};
use crate::store;
use clap::{Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit entries, oldest first
    List {
        /// Only entries since this long ago (`24h`, `7d`) or this RFC 3339 time
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only entries by this actor
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (`user.create`), or a family (`user.` or `user.*`)
        #[arg(long)]
        action: Option<String>,
        /// Only entries about this target
        #[arg(long)]
        target: Option<String>,
        /// Only the newest N matching entries
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Show one entry with its details and hashes
    Show {
        /// The entry's id
        id: i64,
    },
    /// Walk the hash chain; exit 8 naming the first bad entry when broken
    Verify,
    /// Write every entry to stdout
    Export {
        /// jsonl: one entry per line; json: one array
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    Jsonl,
    Json,
}

pub(crate) fn run(ctx: &mut Context, cmd: AuditCommand) -> Result<Reply> {
    match cmd {
        AuditCommand::List {
            since,
            actor,
            action,
            target,
            limit,
        } => {
            let filter = Filter {
                since: since
                    .as_deref()
                    .map(|s| crate::time::parse_since(s, ctx.clock.now()))
                    .transpose()?,
                actor,
                action,
                target,
                limit,
            };
            let entries = store::read(ctx.store()?, |c| audit::list(c, &filter))?;
            Ok(Reply::list(
                &[
                    "id",
                    "occurred_at",
                    "actor",
                    "action",
                    "target_type",
                    "target",
                ],
                entries,
            ))
        }
        AuditCommand::Show { id } => {
            let entry = store::read(ctx.store()?, |c| audit::get(c, id))?;
            Ok(Reply::object(entry))
        }
        AuditCommand::Verify => {
            let v = store::read(ctx.store()?, audit::verify)?;
            if v.ok {
                let msg = format!("audit chain intact: {} entries", v.entries);
                Ok(Reply::object(v).with_message(msg))
            } else {
                let err = Error::integrity(format!(
                    "audit chain broken at entry {}: {}",
                    v.first_bad_entry.unwrap_or_default(),
                    v.problem.clone().unwrap_or_default()
                ));
                Ok(Reply::object(v).failing(err))
            }
        }
        AuditCommand::Export { format } => {
            let mut text = String::new();
            let mut all = Vec::new();
            store::read(ctx.store()?, |c| {
                text.clear();
                all.clear();
                audit::for_each(c, |e| {
                    match format {
                        ExportFormat::Jsonl => {
                            text.push_str(&serde_json::to_string(&e).map_err(Error::internal)?);
                            text.push('\n');
                        }
                        ExportFormat::Json => all.push(e),
                    }
                    Ok(())
                })
            })?;
            if let ExportFormat::Json = format {
                text = serde_json::to_string_pretty(&all).map_err(Error::internal)?;
                text.push('\n');
            }
            Ok(Reply {
                data: Data::Raw(text),
                ..Reply::default()
            })
        }
    }
}
