//! [`Fs`] as the plain system calls. Three of them are Linux's own and are used only
//! there: `sync_file_range` (start writeback early), `O_DIRECT | O_DSYNC` (journal
//! writes that skip the page cache) and `SCHED_BATCH` (a committer that does not
//! preempt request threads). Elsewhere, and on Linux with `storage.portable_io`, the
//! store does without them: no early writeback, buffered journal writes made durable by
//! `sync_data` (fdatasync, or `F_FULLFSYNC` on macOS, where fsync alone does not reach
//! the disk), an ordinary committer thread. The durability contract is the same.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{Fs, FsFile, OpenMode};

/// The machine's filesystem.
#[derive(Debug, Clone, Copy)]
pub struct OsFs {
    /// Use only what every Unix has, even on Linux (to test that path here).
    portable: bool,
}

impl Default for OsFs {
    fn default() -> Self {
        OsFs::native()
    }
}

impl OsFs {
    /// The platform's fastest calls: Linux's own on Linux, the portable ones elsewhere.
    pub const fn native() -> OsFs {
        OsFs { portable: false }
    }

    /// Only the calls every supported Unix has.
    pub const fn portable() -> OsFs {
        OsFs { portable: true }
    }

    /// Whether Linux's own calls are used.
    fn linux(&self) -> bool {
        cfg!(target_os = "linux") && !self.portable
    }
}

#[derive(Debug)]
struct OsFile {
    file: File,
    linux: bool,
}

impl FsFile for OsFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        FileExt::read_at(&self.file, buf, pos)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.file, buf, pos)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn sync_data(&self) -> io::Result<()> {
        durable(&self.file, true)
    }

    fn start_writeback(&self, from: u64, to: u64) {
        #[cfg(target_os = "linux")]
        if self.linux {
            linux::start_writeback(&self.file, from, to);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (from, to, self.linux);
    }

    fn try_lock(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // flock exists on every supported Unix.
        // SAFETY: the descriptor is open for as long as `self` is borrowed.
        if unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Fs for OsFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        let mut o = OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
            OpenMode::CreateTruncate => o.read(true).write(true).create(true).truncate(true),
            OpenMode::DirectWrite => {
                // Refused as a filesystem without direct I/O refuses it: the journal
                // then writes through the page cache and syncs.
                if !self.linux() {
                    return Err(io::Error::from_raw_os_error(libc::EINVAL));
                }
                #[cfg(target_os = "linux")]
                linux::direct(&mut o);
                &mut o
            }
        };
        Ok(Box::new(OsFile {
            file: o.open(path)?,
            linux: self.linux(),
        }))
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        durable(&File::open(dir)?, false)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn available_space(&self, path: &Path) -> io::Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: `c` is a valid C string and `st` a plain struct the call fills.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // The field types differ between platforms (u32 on macOS).
        #[allow(clippy::unnecessary_cast)]
        Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }

    fn as_batch_thread(&self) {
        #[cfg(target_os = "linux")]
        if self.linux() {
            linux::as_batch_thread();
        }
    }
}

/// Makes `file`'s writes (and, unless `data_only`, its metadata) survive a power cut:
/// fdatasync or fsync on Linux; on macOS std makes both `F_FULLFSYNC`, since a plain
/// fsync there leaves the data in the drive's cache. Some macOS filesystems (network,
/// FUSE) refuse `F_FULLFSYNC`; fsync is then the most they offer.
fn durable(file: &File, data_only: bool) -> io::Result<()> {
    let synced = match data_only {
        true => file.sync_data(),
        false => file.sync_all(),
    };
    #[cfg(target_vendor = "apple")]
    if let Err(e) = &synced {
        if matches!(
            e.raw_os_error(),
            Some(libc::ENOTSUP | libc::EINVAL | libc::ENOTTY)
        ) {
            use std::os::fd::AsRawFd;
            // SAFETY: the descriptor is open for as long as `file` is borrowed.
            return match unsafe { libc::fsync(file.as_raw_fd()) } {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            };
        }
    }
    synced
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::{File, OpenOptions};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;

    pub(super) fn start_writeback(file: &File, from: u64, to: u64) {
        let (Ok(offset), Ok(len)) = (i64::try_from(from), i64::try_from(to.saturating_sub(from)))
        else {
            return;
        };
        // SAFETY: the descriptor is open for as long as `file` is borrowed.
        let r = unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
        if r != 0 {
            // Best effort: a failed writeback shows again in the file's next fdatasync.
            let e = std::io::Error::last_os_error();
            tracing::debug!(error = %e, "could not start writeback");
        }
    }

    pub(super) fn direct(o: &mut OpenOptions) {
        o.write(true).custom_flags(libc::O_DIRECT | libc::O_DSYNC);
    }

    /// Marks the calling thread `SCHED_BATCH`: it still gets its fair share of the CPU,
    /// but its wake-ups no longer preempt the thread that is running. Any process may
    /// choose it for its own threads; where it is refused, the thread stays as it was.
    pub(super) fn as_batch_thread() {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` outlives the call, and pid 0 names the calling thread.
        let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            tracing::debug!(error = %e, "the journal committer stays an ordinary thread");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The scheduling policy of a fresh thread after `fs.as_batch_thread()`.
    fn policy_after(fs: OsFs) -> i32 {
        std::thread::spawn(move || {
            fs.as_batch_thread();
            // SAFETY: a plain query about the calling thread.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap()
    }

    #[test]
    fn the_portable_fs_uses_none_of_linuxs_own_calls() {
        assert_eq!(policy_after(OsFs::native()), libc::SCHED_BATCH);
        assert_eq!(policy_after(OsFs::portable()), libc::SCHED_OTHER);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let fs = OsFs::portable();
        let f = fs.open(&path, OpenMode::CreateNew).unwrap();
        f.write_all_at(b"data", 0).unwrap();
        f.start_writeback(0, 4);
        f.sync_data().unwrap();
        let refused = fs.open(&path, OpenMode::DirectWrite).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(libc::EINVAL));
    }
}
