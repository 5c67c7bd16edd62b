//! `apikeys scan`: walks files and directories (or reads stdin) through the
//! finder of [`crate::domain::apikeys::scan`], checks every match's checksum
//! offline, looks the valid ones up (the store is opened only when there is
//! one), and with `--revoke` revokes every active key and the session of
//! every active refresh token in one audited write. A token itself is held
//! only until it is checked and hashed; nothing here returns one.

use crate::context::Context;
use crate::crypto::token;
use crate::domain::apikeys::repo as keys;
use crate::domain::apikeys::scan::{self as finder, FoundStatus, Kind, Scanned};
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
use std::io::Read;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

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
    /// The findings, in the order read (paths as given, directories sorted).
    pub findings: Vec<Finding>,
    /// Files (and stdin) read.
    pub files_scanned: u64,
    /// Files skipped as binary.
    pub binary_skipped: u64,
    /// Files or directories that could not be read (the scan went on).
    pub warnings: Vec<String>,
    /// Distinct keys revoked now.
    pub revoked_keys: usize,
    /// Distinct sessions revoked now (their refresh tokens were found).
    pub revoked_sessions: usize,
}

impl ScanReport {
    /// How many findings have `status`.
    pub fn count(&self, status: FoundStatus) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    /// Files with at least one finding.
    pub fn files_with_findings(&self) -> usize {
        let mut files: Vec<&str> = self.findings.iter().map(|f| f.file.as_str()).collect();
        files.sort_unstable();
        files.dedup();
        files.len()
    }
}

/// A match, checked and hashed: the token itself is gone.
struct Hit {
    file: String,
    line: u64,
    kind: Kind,
    prefix: String,
    /// The key's stored prefix or the refresh family: how it is looked up.
    lookup: String,
    /// The token's SHA-256; none when its checksum is bad.
    hash: Option<String>,
}

fn hit_of(file: &str, found: &finder::Found) -> Hit {
    let t = found.token.as_str();
    let (ok, lookup) = match found.kind {
        Kind::ApiKey => (
            token::check_api_key(t).is_ok(),
            token::api_key_prefix(t).unwrap_or_default(),
        ),
        Kind::RefreshToken => (
            token::check_refresh(t).is_ok(),
            t.get(token::REFRESH_PREFIX.len()..token::REFRESH_PREFIX.len() + sessions::FAMILY_LEN)
                .unwrap_or_default(),
        ),
    };
    Hit {
        file: file.to_owned(),
        line: found.line,
        kind: found.kind,
        prefix: finder::shown_prefix(found.kind, t),
        lookup: lookup.to_owned(),
        hash: ok.then(|| token::hash(t)),
    }
}

/// Reads every path (checked to exist first: exit 3) or stdin into hits.
fn read_all(req: &ScanRequest, report: &mut ScanReport) -> Result<Vec<Hit>> {
    for p in &req.paths {
        // Only "not there" stops the scan; a path that cannot be read is
        // reported as a warning when it is reached.
        if matches!(std::fs::metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            return Err(Error::not_found(format!(
                "no such file or directory: {}",
                shown(&p.to_string_lossy())
            )));
        }
    }
    let mut hits = Vec::new();
    if req.paths.is_empty() {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        scan_one("-", &mut lock, false, report, &mut hits);
        return Ok(hits);
    }
    for p in &req.paths {
        walk(p, report, &mut hits);
    }
    Ok(hits)
}

fn scan_one(
    file: &str,
    r: &mut dyn Read,
    skip_binary: bool,
    report: &mut ScanReport,
    hits: &mut Vec<Hit>,
) {
    let done = finder::scan_stream(r, finder::CHUNK, skip_binary, &mut |found| {
        hits.push(hit_of(file, &found));
    });
    match done {
        Ok(Scanned::Text) => report.files_scanned += 1,
        Ok(Scanned::Binary) => report.binary_skipped += 1,
        Err(e) => report
            .warnings
            .push(format!("cannot read {}: {e}", shown(file))),
    }
}

fn scan_file(path: &Path, report: &mut ScanReport, hits: &mut Vec<Hit>) {
    let name = path.to_string_lossy();
    match std::fs::File::open(path) {
        Ok(mut f) => scan_one(&name, &mut f, true, report, hits),
        Err(e) => report
            .warnings
            .push(format!("cannot read {}: {e}", shown(&name))),
    }
}

/// Scans `root`: a file, or a directory depth first in name order, skipping
/// `.git`, symlinked directories (no loops) and anything not a regular file.
/// A path given by name is followed even when it is a symlink.
fn walk(root: &Path, report: &mut ScanReport, hits: &mut Vec<Hit>) {
    if !root.is_dir() {
        scan_file(root, report, hits);
        return;
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.collect::<std::io::Result<Vec<_>>>(),
            Err(e) => Err(e),
        };
        let mut entries = match entries {
            Ok(v) => v,
            Err(e) => {
                report.warnings.push(format!(
                    "cannot read directory {}: {e}",
                    shown(&dir.to_string_lossy())
                ));
                continue;
            }
        };
        entries.sort_by_key(std::fs::DirEntry::file_name);
        let mut subdirs = Vec::new();
        // Files of a directory first, in name order, then its subdirectories.
        for e in entries {
            if e.file_name() == ".git" {
                continue;
            }
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                subdirs.push(path);
            } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
                scan_file(&path, report, hits);
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
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

/// Looks a checksummed hit up as of `now`.
fn look_up(c: &mut dyn Conn, h: &Hit, hash: &str, now: OffsetDateTime) -> Result<Looked> {
    match h.kind {
        Kind::ApiKey => {
            let Some(row) = keys::by_prefix(c, &h.lookup, now)? else {
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
            let Some(row) = sessions_repo::by_family(c, &h.lookup)? else {
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
        if let Some(hash) = &h.hash {
            if !out.contains_key(hash) {
                out.insert(hash.clone(), look_up(c, h, hash, now)?);
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
fn revoke_one(c: &mut dyn Conn, stamp: Stamp<'_>, h: &Hit, hash: &str) -> Result<Option<Target>> {
    let now = look_up(c, h, hash, stamp.at)?;
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
                Event::new("apikey.revoke", "api_key", &h.lookup).details_of(&KeyLeaked {
                    name: now.name.as_deref().unwrap_or_default(),
                    reason: RevokeReason::Leaked,
                    via: "scan",
                    file: &h.file,
                    line: h.line,
                }),
            )?;
        }
        Some(Target::Session(id, username)) => {
            let leak = sessions_revoke::Leak {
                file: &h.file,
                line: h.line,
            };
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
    hits: &[Hit],
    looked: &HashMap<String, Looked>,
) -> Result<Vec<Target>> {
    let mut first: BTreeMap<Target, (&Hit, &str)> = BTreeMap::new();
    for h in hits {
        let Some(hash) = &h.hash else { continue };
        if let Some(Looked {
            status: FoundStatus::Active,
            target: Some(t),
            ..
        }) = looked.get(hash)
        {
            first.entry(t.clone()).or_insert((h, hash));
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
        for (h, hash) in first.values() {
            if let Some(t) = revoke_one(c, stamp, h, hash)? {
                done.push(t);
            }
        }
        Ok(done)
    })
}

/// Scans, looks up, and (with `--revoke`) revokes.
pub fn scan(ctx: &mut Context, req: &ScanRequest) -> Result<ScanReport> {
    let mut report = ScanReport::default();
    let hits = read_all(req, &mut report)?;
    let looked = if hits.iter().any(|h| h.hash.is_some()) {
        let now = ctx.clock.now();
        store::read(ctx.store()?, |c| look_up_all(c, &hits, now))?
    } else {
        HashMap::new()
    };
    let revoked = if req.revoke {
        revoke_active(ctx, &hits, &looked)?
    } else {
        Vec::new()
    };
    report.revoked_keys = revoked
        .iter()
        .filter(|t| matches!(t, Target::Key(_)))
        .count();
    report.revoked_sessions = revoked.len() - report.revoked_keys;
    report.findings = hits
        .into_iter()
        .map(|h| {
            let l = match &h.hash {
                None => Looked {
                    status: FoundStatus::BadChecksum,
                    name: None,
                    target: None,
                },
                Some(hash) => looked.get(hash).cloned().unwrap_or(UNKNOWN),
            };
            // Only an active finding was revoked now (a spent refresh token
            // of a session revoked now was already dead).
            let now = l.status == FoundStatus::Active
                && l.target.as_ref().is_some_and(|t| revoked.contains(t));
            Finding {
                file: h.file,
                line: h.line,
                kind: h.kind,
                prefix: h.prefix,
                name: l.name,
                status: l.status,
                revoked_now: req.revoke.then_some(now),
            }
        })
        .collect();
    Ok(report)
}
