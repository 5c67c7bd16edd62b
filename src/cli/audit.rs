//! `keyward audit`: list, show, verify, export.

use crate::context::Context;
use crate::domain::audit::Entry;
use crate::error::{Error, Result};
use crate::ops::audit as ops;
use crate::output::{JsonStream, Reply, RowStream, StreamFormat, Style};
use clap::{Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit entries, oldest first: the newest 100 unless --limit or --all
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
        /// Only the newest N matching entries (default: 100)
        #[arg(long, value_name = "N", conflicts_with = "all")]
        limit: Option<u32>,
        /// Every matching entry, oldest first (streamed)
        #[arg(long)]
        all: bool,
    },
    /// Show one entry with its details and hashes
    Show {
        /// The entry's id
        id: i64,
    },
    /// Walk the hash chain and compare its end with the head record; exit 8 naming the first bad entry when broken or truncated
    Verify {
        /// Also prove the chain still holds this entry (ID:HASH, from `audit head`) and continues from it
        #[arg(long, value_name = "ID:HASH")]
        anchor: Option<String>,
    },
    /// Print the newest entry's id and hash (ID:HASH), to record outside the database
    Head,
    /// Write every entry to stdout
    Export {
        /// jsonl: one entry per line; json: one array
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
}

/// Streams the entries to stdout as they are read; says on stderr when the
/// default limit left older ones out.
fn list(ctx: &mut Context, req: ops::ListRequest) -> Result<Reply> {
    let mut stream = RowStream::stdout::<Entry>(Style::of(&ctx.config));
    let listing = ops::list(ctx, req, &mut |e| stream.push(e))?;
    stream.finish()?;
    let mut reply = Reply::default();
    if let Some(n) = listing.matching {
        reply.message = Some(format!(
            "showing the newest {} of {n} entries: --limit N or --all for more",
            listing.shown
        ));
    }
    Ok(reply)
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
            all,
        } => {
            let req = ops::ListRequest {
                since,
                actor,
                action,
                target,
                limit,
                all,
            };
            list(ctx, req)
        }
        AuditCommand::Show { id } => Ok(Reply::object(ops::show(ctx, id)?)),
        AuditCommand::Head => {
            let head = ops::head(ctx)?;
            let msg = format!(
                "the audit chain ends at entry {}; record this anchor outside the database and check it later with `keyward audit verify --anchor {}`",
                head.id, head.anchor
            );
            Ok(Reply::object(head).with_message(msg))
        }
        AuditCommand::Verify { anchor } => {
            let v = ops::verify(ctx, anchor.as_deref())?;
            if v.ok {
                let mut msg = format!("audit chain intact: {} entries", v.entries);
                if let Some(a) = &v.checked_anchor {
                    msg.push_str(&format!(", and it continues from anchor {a}"));
                }
                Ok(Reply::object(v).with_message(msg))
            } else {
                let err = Error::integrity(format!(
                    "audit chain broken at entry {}: {}",
                    v.first_bad_entry.map(|id| id.get()).unwrap_or_default(),
                    v.problem.clone().unwrap_or_default()
                ));
                Ok(Reply::object(v).failing(err))
            }
        }
        AuditCommand::Export { format } => {
            let mut stream = JsonStream::stdout(match format {
                ExportFormat::Jsonl => StreamFormat::Lines,
                ExportFormat::Json => StreamFormat::Array,
            });
            ops::export(ctx, &mut |e| stream.push(e))?;
            stream.finish()?;
            Ok(Reply::default())
        }
    }
}
