//! SQLite for a process that makes one short write on a hot path
//! ([`Store::hot_path`](super::Store::hot_path), `apikeys verify`). Such a
//! process is usually the database's only connection, so by default its
//! commit creates the WAL (fsync of the WAL and of the directory) and its
//! close checkpoints (fsync of the WAL and of the database) and deletes it:
//! four fsyncs, most of a cold verify's time. Here the close does not
//! checkpoint; the hot path keeps the WAL short itself.

use rusqlite::config::DbConfig;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// The WAL size past which a hot-path writer checkpoints and truncates it.
pub const HOT_WAL_BYTES: u64 = 256 * 1024;

/// Leaves the checkpoint at close to a later process.
pub(super) fn no_checkpoint_on_close(c: &Connection) -> rusqlite::Result<()> {
    c.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map(drop)
}

/// After a hot-path commit: once the WAL of the database at `path` has grown
/// past [`HOT_WAL_BYTES`], checkpoints and truncates it, unless another
/// connection is busy (then a later process does). Each process rebuilds the
/// WAL index and forgets what was checkpointed, so without this the WAL would
/// only grow, and every process would read all of it. `busy` is the
/// connection's usual busy timeout, restored afterwards.
pub(super) fn trim_wal(path: &Path, c: &Connection, busy: Duration) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if std::fs::metadata(&wal).map_or(true, |m| m.len() < HOT_WAL_BYTES) {
        return;
    }
    // Best effort: the commit is done; a checkpoint that fails or finds the
    // database busy leaves the WAL for the next one.
    if c.busy_timeout(Duration::ZERO).is_ok() {
        let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = c.busy_timeout(busy);
    }
}
