//! Reading what `apikeys scan` is given (files, directories, stdin) into
//! hits: each match checked and hashed at once (the token itself is not
//! kept), a file named once however many hits it has, and past
//! [`LISTED`] matches the bad-checksum ones only counted, so memory stays
//! bounded on text full of noise.

use crate::crypto::token;
use crate::domain::apikeys::scan::{self as finder, Kind, Scanned};
use crate::domain::sessions;
use crate::ident::shown;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Findings listed in full; past this many, only those that may be a real
/// key or token (a good checksum) are kept, the rest only counted.
pub const LISTED: usize = 10_000;

/// A match, checked and hashed: the token itself is gone.
pub(super) struct Hit {
    /// Its file: an index into [`Reading::files`].
    pub file: usize,
    pub line: u64,
    pub kind: Kind,
    /// What a report shows of it.
    pub prefix: Box<str>,
    /// None when its checksum is bad.
    pub checked: Option<Checked>,
    /// Found after the first [`LISTED`] matches: listed only if it is a
    /// known key or token.
    pub past_cap: bool,
}

/// A token whose checksum is good: how it is looked up.
pub(super) struct Checked {
    /// The key's stored prefix or the refresh family.
    pub lookup: Box<str>,
    /// The token's SHA-256.
    pub hash: String,
}

/// Everything read.
#[derive(Default)]
pub(super) struct Reading {
    /// Files with at least one match, as named (`-` for stdin).
    pub files: Vec<String>,
    pub hits: Vec<Hit>,
    /// Every match, kept or not.
    pub total: usize,
    /// Bad-checksum matches past the cap, not kept.
    pub bad_unlisted: usize,
    pub files_scanned: u64,
    pub binary_skipped: u64,
    /// What could not be read, as shown in messages.
    pub unreadable: Vec<String>,
    /// One line for each thing not read (or skipped).
    pub warnings: Vec<String>,
}

fn check(found: &finder::Found) -> Option<Checked> {
    let t = found.token.as_str();
    let lookup = match found.kind {
        Kind::ApiKey => {
            token::check_api_key(t).ok()?;
            token::api_key_prefix(t)?
        }
        Kind::RefreshToken => {
            token::check_refresh(t).ok()?;
            let from = token::REFRESH_PREFIX.len();
            t.get(from..from + sessions::FAMILY_LEN)?
        }
    };
    Some(Checked {
        lookup: lookup.into(),
        hash: token::hash(t),
    })
}

impl Reading {
    fn cannot(&mut self, what: &str, name: &str, e: impl std::fmt::Display) {
        let name = shown(name);
        self.warnings.push(format!("cannot read {what}{name}: {e}"));
        self.unreadable.push(name);
    }

    fn take(&mut self, file: &str, index: &mut Option<usize>, found: &finder::Found) {
        let past_cap = self.total >= LISTED;
        self.total += 1;
        let checked = check(found);
        if past_cap && checked.is_none() {
            self.bad_unlisted += 1;
            return;
        }
        let file = *index.get_or_insert_with(|| {
            self.files.push(file.to_owned());
            self.files.len() - 1
        });
        self.hits.push(Hit {
            file,
            line: found.line,
            kind: found.kind,
            prefix: finder::shown_prefix(found.kind, &found.token).into(),
            checked,
            past_cap,
        });
    }

    /// Scans one stream named `file`.
    pub fn scan_one(&mut self, file: &str, r: &mut dyn Read, skip_binary: bool) {
        let mut index = None;
        let done = finder::scan_stream(r, finder::CHUNK, skip_binary, &mut |found| {
            self.take(file, &mut index, &found)
        });
        match done {
            Ok(Scanned::Text) => self.files_scanned += 1,
            Ok(Scanned::Binary) => self.binary_skipped += 1,
            Err(e) => self.cannot("", file, e),
        }
    }

    /// Opens `path` without blocking (a FIFO swapped in since it was
    /// looked at does not hang the scan) and scans it if it is a regular file.
    fn scan_file(&mut self, path: &Path) {
        let name = path.to_string_lossy();
        let opened = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .and_then(|f| Ok((f.metadata()?, f)));
        match opened {
            Ok((meta, mut f)) if meta.is_file() => self.scan_one(&name, &mut f, true),
            Ok(_) => self.not_regular(&name),
            Err(e) => self.cannot("", &name, e),
        }
    }

    fn not_regular(&mut self, name: &str) {
        let name = shown(name);
        self.warnings
            .push(format!("skipped {name}: not a regular file or directory"));
        self.unreadable.push(name);
    }

    /// Scans `root` as named: a directory (followed even when a symlink) is
    /// walked, a regular file read, anything else (a FIFO, a device, a
    /// socket) skipped without being opened and counted as not read.
    pub fn walk(&mut self, root: &Path) {
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => self.walk_dir(root),
            Ok(m) if m.is_file() => self.scan_file(root),
            Ok(_) => self.not_regular(&root.to_string_lossy()),
            Err(e) => self.cannot("", &root.to_string_lossy(), e),
        }
    }

    /// Walks a directory depth first in name order (a directory's files,
    /// then its subdirectories), skipping `.git`, symlinked directories (no
    /// loops) and anything not a regular file; a symlink that leads nowhere
    /// cannot be read.
    fn walk_dir(&mut self, root: &Path) {
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).and_then(|rd| rd.collect::<io::Result<Vec<_>>>());
            let mut entries = match entries {
                Ok(v) => v,
                Err(e) => {
                    self.cannot("directory ", &dir.to_string_lossy(), e);
                    continue;
                }
            };
            entries.sort_by_key(fs::DirEntry::file_name);
            let mut subdirs = Vec::new();
            for e in entries {
                if e.file_name() == ".git" {
                    continue;
                }
                let path = e.path();
                let ft = match e.file_type() {
                    Ok(ft) => ft,
                    Err(err) => {
                        self.cannot("", &path.to_string_lossy(), err);
                        continue;
                    }
                };
                if ft.is_dir() {
                    subdirs.push(path);
                } else if ft.is_file() {
                    self.scan_file(&path);
                } else if ft.is_symlink() {
                    match fs::metadata(&path) {
                        Ok(m) if m.is_file() => self.scan_file(&path),
                        Ok(_) => {}
                        Err(err) => self.cannot("", &path.to_string_lossy(), err),
                    }
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
    }
}
