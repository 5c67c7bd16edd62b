//! `apikeys scan`: walks files and directories (or reads stdin) through the
//! finder of [`crate::domain::apikeys::scan`], checks every match's checksum
//! offline, looks the valid ones up (the store is opened only when there is
//! one), and with `--revoke` revokes every active key and the session of
//! every active refresh token in one audited write. A token itself is held
//! only until it is checked and hashed; nothing here returns one.

use crate::context::Context;
use crate::crypto::token;
use crate::domain::apikeys::repo as keys;
use crate::domain::apikeys::scan::{self as finder, FoundStatus, Kind};
use crate::domain::apikeys::RevokeReason;
use crate::domain::audit::{self, Event, Stamp};
use crate::domain::sessions::{self, repo as sessions_repo, revoke as sessions_revoke};
use crate::error::{Error, Result};
use crate::ident::shown;
use crate::ids::{ApiKeyId, SessionId};
use crate::ops::audited;
use crate::store::{self, Conn};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use time::OffsetDateTime;

mod read;

pub use read::LISTED;
use read::{Checked, Hit, Reading};

/// `apikeys scan`, as given.
#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Files and directories; stdin when empty.
    pub paths: Vec<PathBuf>,
    /// `--revoke`.
    pub revoke: bool,
}

/// One token found: where, what, and its status (never the token).
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The file as named (a path under a given directory), `-` for stdin.
    pub file: String,
    /// The line it starts on, from 1.
    pub line: u64,
    /// `api_key` or `refresh_token`.
    pub kind: Kind,
    /// An API key's prefix (`kw_<8>`); a refresh token's `kwr_<8>…`.
    pub prefix: String,
    /// The key's name, or `session N of USER`; none when not known.
    pub name: Option<String>,
    /// Its status when found (`active` even when `--revoke` revoked it now).
    pub status: FoundStatus,
    /// With `--revoke`: whether this scan revoked it (every finding of a
    /// token it revoked says so; the token was revoked once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_now: Option<bool>,
}

/// What a scan came to.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    /// The findings listed, in the order read (paths as given, directories
    /// sorted): the first [`LISTED`], then only active, revoked and expired ones.
    pub findings: Vec<Finding>,
    /// Every finding, listed or not.
    pub total: usize,
    /// Findings by status (listed or not), indexed by [`FoundStatus::index`].
    pub counts: [usize; 5],
    /// Findings not listed (bad checksums and unknown tokens past the first [`LISTED`]).
    pub unlisted: usize,
    /// Files (and stdin) with at least one finding.
    pub files_with_findings: usize,
    /// Distinct keys and tokens found active.
    pub active_distinct: usize,
    /// Files (and stdin) read.
    pub files_scanned: u64,
    /// Files skipped as binary.
    pub binary_skipped: u64,
    /// Files and directories that could not be read, or were named but are
    /// not a regular file or a directory (the scan went on), as shown.
    pub unreadable: Vec<String>,
    /// What was not read, and why: one line each.
    pub warnings: Vec<String>,
    /// Distinct keys revoked now.
    pub revoked_keys: usize,
    /// Distinct sessions revoked now (their refresh tokens were found).
    pub revoked_sessions: usize,
}

impl ScanReport {
    /// How many findings have `status`.
    pub fn count(&self, status: FoundStatus) -> usize {
        self.counts[status.index()]
    }
}

/// Reads every path (checked to exist first: exit 3) or stdin.
fn read_all(req: &ScanRequest) -> Result<Reading> {
    for p in &req.paths {
        // Only "not there" stops the scan; a path that cannot be read is
        // reported when it is reached, and fails the scan at its end.
        if matches!(std::fs::metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            return Err(Error::not_found(format!(
                "no such file or directory: {}",
                shown(&p.to_string_lossy())
            )));
        }
    }
    let mut reading = Reading::default();
    if req.paths.is_empty() {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        reading.scan_one("-", &mut lock, false);
    }
    for p in &req.paths {
        reading.walk(p);
    }
    Ok(reading)
}

/// What a lookup found behind a token, to revoke it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Key(ApiKeyId),
    Session(SessionId, String),
}

#[derive(Debug, Clone)]
struct Looked {
    status: FoundStatus,
    name: Option<String>,
    target: Option<Target>,
}

const UNKNOWN: Looked = Looked {
    status: FoundStatus::Unknown,
    name: None,
    target: None,
};

/// Looks a checksummed token up as of `now`.
fn look_up(c: &mut dyn Conn, kind: Kind, t: &Checked, now: OffsetDateTime) -> Result<Looked> {
    let hash = t.hash.as_str();
    match kind {
        Kind::ApiKey => {
            let Some(row) = keys::by_prefix(c, &t.lookup, now)? else {
                return Ok(UNKNOWN);
            };
            let same = token::hashes_match(&row.key_hash, hash);
            let status = finder::key_status(same, row.key.status);
            if status == FoundStatus::Unknown {
                return Ok(UNKNOWN);
            }
            Ok(Looked {
                status,
                name: Some(row.key.name),
                target: Some(Target::Key(row.key.id)),
            })
        }
        Kind::RefreshToken => {
            let Some(row) = sessions_repo::by_family(c, &t.lookup)? else {
                return Ok(UNKNOWN);
            };
            let current = row
                .refresh_hash
                .as_deref()
                .is_some_and(|stored| token::hashes_match(stored, hash));
            let ends = sessions::ends_at(row.expires_at, row.refresh_expires_at);
            Ok(Looked {
                status: finder::refresh_status(current, row.revoked_at.is_some(), ends, now),
                name: Some(format!("session {} of {}", row.id, row.username)),
                target: Some(Target::Session(row.id, row.username)),
            })
        }
    }
}

/// Looks up every distinct checksummed token (by hash).
fn look_up_all(
    c: &mut dyn Conn,
    hits: &[Hit],
    now: OffsetDateTime,
) -> Result<HashMap<String, Looked>> {
    let mut out = HashMap::new();
    for h in hits {
        if let Some(t) = &h.checked {
            if !out.contains_key(&t.hash) {
                out.insert(t.hash.clone(), look_up(c, h.kind, t, now)?);
            }
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct KeyLeaked<'a> {
    name: &'a str,
    reason: RevokeReason,
    via: &'static str,
    file: &'a str,
    line: u64,
}

/// Revokes what `h` (active when looked up) stands for, if it still is
/// active at `stamp.at`; returns the target revoked.
fn revoke_one(
    c: &mut dyn Conn,
    stamp: Stamp<'_>,
    (h, file, t): (&Hit, &str, &Checked),
) -> Result<Option<Target>> {
    let now = look_up(c, h.kind, t, stamp.at)?;
    if now.status != FoundStatus::Active {
        return Ok(None);
    }
    match &now.target {
        Some(Target::Key(id)) => {
            if !keys::set_revoked(c, *id, stamp.at, RevokeReason::Leaked)? {
                return Ok(None);
            }
            audit::record(
                c,
                stamp,
                Event::new("apikey.revoke", "api_key", &*t.lookup).details_of(&KeyLeaked {
                    name: now.name.as_deref().unwrap_or_default(),
                    reason: RevokeReason::Leaked,
                    via: "scan",
                    file,
                    line: h.line,
                }),
            )?;
        }
        Some(Target::Session(id, username)) => {
            let leak = sessions_revoke::Leak { file, line: h.line };
            if !sessions_revoke::revoke_leaked(c, stamp, (*id, username), leak)? {
                return Ok(None);
            }
        }
        None => return Ok(None),
    }
    Ok(now.target)
}

/// "2 API keys and 1 session", leaving out a count of none.
pub fn counted(keys: usize, sessions: usize) -> String {
    let part = |n: usize, one: &str| match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {one}s")),
    };
    let parts: Vec<String> = [part(keys, "API key"), part(sessions, "session")]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(" and ")
    }
}

/// Revokes every active target once (its first finding names it in the
/// audit), each re-checked inside one audited write; returns those revoked.
fn revoke_active(
    ctx: &mut Context,
    read: &Reading,
    looked: &HashMap<String, Looked>,
) -> Result<Vec<Target>> {
    let mut first: BTreeMap<Target, (&Hit, &str, &Checked)> = BTreeMap::new();
    for h in &read.hits {
        let Some(t) = &h.checked else { continue };
        if let Some(Looked {
            status: FoundStatus::Active,
            target: Some(target),
            ..
        }) = looked.get(&t.hash)
        {
            let file = read.files.get(h.file).map_or("", String::as_str);
            first.entry(target.clone()).or_insert((h, file, t));
        }
    }
    if first.is_empty() {
        return Ok(Vec::new());
    }
    let keys = first.keys().filter(|t| matches!(t, Target::Key(_))).count();
    ctx.confirm(&format!(
        "revoke {} found by the scan",
        counted(keys, first.len() - keys)
    ))?;
    audited(ctx, |c, stamp| {
        let mut done = Vec::new();
        for hit in first.values() {
            if let Some(t) = revoke_one(c, stamp, *hit)? {
                done.push(t);
            }
        }
        Ok(done)
    })
}

/// Scans, looks up, and (with `--revoke`) revokes.
pub fn scan(ctx: &mut Context, req: &ScanRequest) -> Result<ScanReport> {
    let read = read_all(req)?;
    let looked = if read.hits.iter().any(|h| h.checked.is_some()) {
        let now = ctx.clock.now();
        store::read(ctx.store()?, |c| look_up_all(c, &read.hits, now))?
    } else {
        HashMap::new()
    };
    let revoked = if req.revoke {
        revoke_active(ctx, &read, &looked)?
    } else {
        Vec::new()
    };
    let mut report = ScanReport {
        total: read.total,
        unlisted: read.bad_unlisted,
        files_with_findings: read.files.len(),
        active_distinct: looked
            .values()
            .filter(|l| l.status == FoundStatus::Active)
            .count(),
        files_scanned: read.files_scanned,
        binary_skipped: read.binary_skipped,
        unreadable: read.unreadable,
        warnings: read.warnings,
        ..ScanReport::default()
    };
    report.counts[FoundStatus::BadChecksum.index()] = read.bad_unlisted;
    report.revoked_keys = revoked
        .iter()
        .filter(|t| matches!(t, Target::Key(_)))
        .count();
    report.revoked_sessions = revoked.len() - report.revoked_keys;
    let files = read.files;
    for h in read.hits {
        let l = match &h.checked {
            None => Looked {
                status: FoundStatus::BadChecksum,
                name: None,
                target: None,
            },
            Some(t) => looked.get(&t.hash).cloned().unwrap_or(UNKNOWN),
        };
        report.counts[l.status.index()] += 1;
        if h.past_cap && matches!(l.status, FoundStatus::Unknown | FoundStatus::BadChecksum) {
            report.unlisted += 1;
            continue;
        }
        // Only an active finding was revoked now (a spent refresh token
        // of a session revoked now was already dead).
        let now = l.status == FoundStatus::Active
            && l.target.as_ref().is_some_and(|t| revoked.contains(t));
        report.findings.push(Finding {
            file: files.get(h.file).cloned().unwrap_or_default(),
            line: h.line,
            kind: h.kind,
            prefix: h.prefix.into(),
            name: l.name,
            status: l.status,
            revoked_now: req.revoke.then_some(now),
        });
    }
    Ok(report)
}
