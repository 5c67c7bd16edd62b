//! `keyward apikeys scan`.

use crate::context::Context;
use crate::domain::apikeys::scan::FoundStatus;
use crate::error::{Error, Result};
use crate::ops::apikeys::scan::{self as ops, ScanReport};
use crate::output::{self, Reply};
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

const COLUMNS: &[&str] = &["file", "line", "kind", "prefix", "name", "status"];
const REVOKE_COLUMNS: &[&str] = &[
    "file",
    "line",
    "kind",
    "prefix",
    "name",
    "status",
    "revoked_now",
];

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "N findings in M files: A active, …" and what was skipped.
fn summary(r: &ScanReport, revoke: bool) -> String {
    let counts: Vec<String> = [
        FoundStatus::Active,
        FoundStatus::Revoked,
        FoundStatus::Expired,
        FoundStatus::Unknown,
        FoundStatus::BadChecksum,
    ]
    .into_iter()
    .filter_map(|s| match r.count(s) {
        0 => None,
        n => Some(format!("{n} {}", s.as_str())),
    })
    .collect();
    let mut msg = format!(
        "{} in {}",
        plural(r.findings.len() as u64, "finding", "findings"),
        plural(r.files_with_findings() as u64, "file", "files")
    );
    if !counts.is_empty() {
        msg.push_str(&format!(": {}", counts.join(", ")));
    }
    msg.push_str(&format!(
        " ({} scanned",
        plural(r.files_scanned, "file", "files")
    ));
    if r.binary_skipped > 0 {
        msg.push_str(&format!(
            ", {} skipped",
            plural(r.binary_skipped, "binary file", "binary files")
        ));
    }
    msg.push(')');
    if revoke && r.count(FoundStatus::Active) > 0 {
        msg.push_str(&format!(
            "; revoked now: {}",
            ops::counted(r.revoked_keys, r.revoked_sessions)
        ));
    }
    msg
}

pub(crate) fn run(ctx: &mut Context, args: ScanArgs) -> Result<Reply> {
    let req = ops::ScanRequest {
        paths: args.paths,
        revoke: args.revoke,
    };
    let report = ops::scan(ctx, &req)?;
    for w in &report.warnings {
        output::warn(w);
    }
    let msg = summary(&report, req.revoke);
    let active = report.count(FoundStatus::Active);
    let columns = if req.revoke { REVOKE_COLUMNS } else { COLUMNS };
    let reply = Reply::list(columns, &report.findings).with_message(msg);
    if active == 0 {
        return Ok(reply);
    }
    let why = if req.revoke {
        format!(
            "{} found: revoked now, but treat {} as leaked and replace {} where {} used",
            plural(
                active as u64,
                "active key or token",
                "active keys or tokens"
            ),
            if active == 1 { "it" } else { "them" },
            if active == 1 { "it" } else { "them" },
            if active == 1 { "it was" } else { "they were" },
        )
    } else {
        format!(
            "{} found: revoke {} (`keyward apikeys scan --revoke`) and replace {} where used",
            plural(
                active as u64,
                "active key or token",
                "active keys or tokens"
            ),
            if active == 1 { "it" } else { "them" },
            if active == 1 { "it" } else { "them" },
        )
    };
    Ok(reply.failing(Error::denied(why)))
}
