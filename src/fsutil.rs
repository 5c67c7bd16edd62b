//! Small file-system helpers shared by the key file, the config file and
//! the SQLite backend: private directories and files, non-blocking opens,
//! the permission rule for files that hold a secret.

use std::io;
use std::path::Path;

/// Creates a directory and its missing parents with mode 0700 (owner only).
#[cfg(unix)]
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates a directory and its missing parents.
#[cfg(not(unix))]
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).create(dir)
}

/// Opens a file for reading without blocking on the open itself: a FIFO
/// with no writer (or a device) would otherwise hang the open. Callers then
/// check the metadata of the opened file (`is_file`) before reading it.
#[cfg(unix)]
pub fn open_for_reading(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Opens a file for reading.
#[cfg(not(unix))]
pub fn open_for_reading(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// The permission bits (e.g. `0o644`) of a file that group or others may
/// access in any way, or `None` when only its owner may (Unix; elsewhere
/// always `None`). The rule for every file that holds a secret.
#[cfg(unix)]
pub fn shared_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Permission bits are not checked on platforms without Unix modes.
#[cfg(not(unix))]
pub fn shared_mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

/// Creates a new file with mode 0600 (whatever the umask), failing if
/// anything exists at `path`, a symbolic link included (`O_EXCL|O_NOFOLLOW`):
/// nothing is ever written through a link planted there.
#[cfg(unix)]
pub fn create_new_private(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Creates a new file, failing if it exists.
#[cfg(not(unix))]
pub fn create_new_private(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
/// Flushes a directory's entries to disk so a rename survives a crash.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Directories cannot be opened for syncing on this platform.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
