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
    let counts: Vec<String> = FoundStatus::ALL
        .into_iter()
        .filter_map(|s| match r.count(s) {
            0 => None,
            n => Some(format!("{n} {}", s.as_str())),
        })
        .collect();
    let mut msg = format!(
        "{} in {}",
        plural(r.total as u64, "finding", "findings"),
        plural(r.files_with_findings as u64, "file", "files")
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
    if !r.unreadable.is_empty() {
        msg.push_str(&format!(", {} not read", r.unreadable.len()));
    }
    msg.push(')');
    if r.unlisted > 0 {
        msg.push_str(&format!("; {} not listed", r.unlisted));
    }
    if revoke && r.count(FoundStatus::Active) > 0 {
        msg.push_str(&format!(
            "; revoked now: {}",
            ops::counted(r.revoked_keys, r.revoked_sessions)
        ));
    }
    msg
}

/// Names shown in the unreadable error before "and N more".
const NAMED: usize = 10;

/// "could not read N files or directories: a, b, … and K more".
fn unreadable(names: &[String]) -> Error {
    let mut list = names
        .iter()
        .take(NAMED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMED {
        list.push_str(&format!(" and {} more", names.len() - NAMED));
    }
    Error::internal(format!(
        "could not read {}: {list}",
        plural(
            names.len() as u64,
            "file or directory",
            "files or directories"
        )
    ))
}

/// "2 active findings (1 distinct key or token): revoke it …".
fn active_error(r: &ScanReport, revoke: bool) -> Error {
    let distinct = r.active_distinct;
    let it = if distinct == 1 { "it" } else { "them" };
    let found = format!(
        "{} ({})",
        plural(
            r.count(FoundStatus::Active) as u64,
            "active finding",
            "active findings"
        ),
        plural(
            distinct as u64,
            "distinct key or token",
            "distinct keys or tokens"
        ),
    );
    Error::denied(if revoke {
        format!(
            "{found}: revoked now, but treat {it} as leaked and replace {it} where {} used",
            if distinct == 1 { "it was" } else { "they were" },
        )
    } else {
        format!(
            "{found}: revoke {it} (`keyward apikeys scan --revoke`) and replace {it} where used"
        )
    })
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
    if report.unlisted > 0 {
        output::warn(format!(
            "listing truncated: {} bad_checksum or unknown findings after the first {} not listed \
             (the summary counts them)",
            report.unlisted,
            ops::LISTED
        ));
    }
    let msg = summary(&report, req.revoke);
    let columns = if req.revoke { REVOKE_COLUMNS } else { COLUMNS };
    let reply = Reply::list(columns, &report.findings).with_message(msg);
    if report.count(FoundStatus::Active) > 0 {
        Ok(reply.failing(active_error(&report, req.revoke)))
    } else if !report.unreadable.is_empty() {
        Ok(reply.failing(unreadable(&report.unreadable)))
    } else {
        Ok(reply)
    }
}
