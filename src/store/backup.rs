//! `db backup` for SQLite: an online copy written to a new file that no
//! link or existing file can redirect.
//!
//! The name is reserved first with `O_EXCL|O_NOFOLLOW` (a file, or a link
//! even dangling, already there is refused: exit 4). The copy is made in a
//! private directory (mode 0700) next to it, then renamed over the
//! reservation: a rename replaces a name and never writes through a link.

use crate::error::{Error, Result};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Copies the open database `src` to the new file `dest`; returns its size.
pub(super) fn to_new_file(src: &rusqlite::Connection, dest: &Path) -> Result<u64> {
    let shown = dest.display();
    let exists = || {
        let link = std::fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_symlink());
        let what = if link { " (a symbolic link)" } else { "" };
        Error::conflict(format!(
            "{shown} already exists{what}: choose a new file name"
        ))
    };
    let placeholder = crate::fsutil::create_new_private(dest).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists || e.raw_os_error() == Some(libc::ELOOP) {
            exists()
        } else {
            Error::invalid(format!("cannot create {shown}: {e}"))
        }
    })?;
    let mut reserved = Reserved::new(dest, &placeholder)?;
    drop(placeholder);
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let work = PrivateDir::create(&dir).map_err(|e| {
        Error::invalid(format!(
            "cannot create a working directory in {}: {e}",
            dir.display()
        ))
    })?;
    let tmp = work.0.join("backup.db");
    let failed = |e: io::Error| Error::invalid(format!("cannot write {shown}: {e}"));
    drop(crate::fsutil::create_new_private(&tmp).map_err(failed)?);
    copy(src, &tmp)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(failed)?;
    std::fs::rename(&tmp, dest).map_err(failed)?;
    reserved.done = true;
    crate::fsutil::sync_dir(&dir).map_err(failed)?;
    drop(work);
    Ok(std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0))
}

/// SQLite's online backup into the (empty) file `tmp`, left in rollback-journal mode.
fn copy(src: &rusqlite::Connection, tmp: &Path) -> Result<()> {
    use super::sqlite::map_err;
    let mut out = rusqlite::Connection::open_with_flags(
        tmp,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    let backup = rusqlite::backup::Backup::new(src, &mut out).map_err(map_err)?;
    backup
        .run_to_completion(256, Duration::from_millis(5), None)
        .map_err(map_err)?;
    drop(backup);
    out.execute_batch("PRAGMA journal_mode = DELETE;")
        .map_err(map_err)?;
    out.close().map_err(|(_, e)| map_err(e))
}

/// The reserved name: removed on failure, if it is still the file we made.
struct Reserved<'a> {
    path: &'a Path,
    id: (u64, u64),
    done: bool,
}

impl<'a> Reserved<'a> {
    fn new(path: &'a Path, file: &std::fs::File) -> Result<Self> {
        let meta = file
            .metadata()
            .map_err(|e| Error::invalid(format!("cannot create {}: {e}", path.display())))?;
        Ok(Reserved {
            path,
            id: file_id(&meta),
            done: false,
        })
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(self.path).is_ok_and(|m| file_id(&m) == self.id);
        if !self.done && ours {
            // Best effort: a failed backup leaves no empty file behind.
            let _ = std::fs::remove_file(self.path);
        }
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.len(), 0)
}

/// A new directory only we may enter (mode 0700), removed with its contents on drop.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create(parent: &Path) -> io::Result<Self> {
        let suffix =
            crate::crypto::random::bytes::<8>().map_err(|e| io::Error::other(e.to_string()))?;
        let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let path = parent.join(format!(".keyward-backup-{suffix}"));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&path)?;
        Ok(PrivateDir(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // Best effort: the copy was renamed out; SQLite's journals may remain.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
