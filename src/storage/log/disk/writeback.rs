//! Page-cache writeback started by hand (`sync_file_range`), so that large writes reach
//! the disk in pieces instead of one burst at an fdatasync, which stalls whatever
//! waits on that fdatasync.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Starts writing `from..to` back without waiting for it. Best effort: a failed
/// writeback shows again in the file's next fdatasync, which poisons the store.
pub(crate) fn start(file: &File, from: u64, to: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(from), i64::try_from(to.saturating_sub(from)))
    else {
        return;
    };
    // SAFETY: the descriptor is open for as long as `file` is borrowed.
    let r = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        tracing::debug!(error = %e, "could not start writeback");
    }
}
