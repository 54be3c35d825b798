//! The one narrow door through which the disk store touches files and directories, so
//! that durability can be shown rather than assumed: in production it is the plain
//! system calls ([`OsFs`]); in tests a simulated disk keeps a page cache that forgets
//! every unsynced write at a power cut and injects EIO and ENOSPC.

mod os;
mod redb_backend;
pub mod sim;

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use os::OsFs;
pub use redb_backend::FsBackend;

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// An existing file, for reading.
    Read,
    /// An existing file, for reading and writing.
    ReadWrite,
    /// A new file for reading and writing; fails with `AlreadyExists` if the name is taken.
    CreateNew,
    /// For reading and writing, created if missing, cut to length 0 if present.
    CreateTruncate,
    /// An existing file for writes that are durable when they return and bypass the
    /// page cache (`O_DIRECT | O_DSYNC`): offsets, lengths and buffers must be aligned
    /// to 4 KiB. Filesystems without direct I/O refuse it with `EINVAL`, at the open or
    /// at the first write.
    DirectWrite,
}

/// An open file. Positional reads and writes only, so handles are shared between threads.
// `len` as on `std::fs::Metadata`; nothing asks whether a file is empty.
#[allow(clippy::len_without_is_empty)]
pub trait FsFile: Send + Sync + Debug {
    /// Reads at `pos`; fewer bytes than asked (0 at the end) only where the file ends.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `pos`, extending the file as needed (with zeros in any hole).
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    /// `fdatasync`: every write to the file so far, and its size, survive a power cut.
    fn sync_data(&self) -> io::Result<()>;
    /// Starts writing `from..to` back without waiting (a hint; no durability promised).
    fn start_writeback(&self, _from: u64, _to: u64) {}
    /// Takes an exclusive lock on the file for as long as it is open, or fails at once
    /// with `WouldBlock` when another process holds one (a simulated disk has no other
    /// processes).
    fn try_lock(&self) -> io::Result<()> {
        Ok(())
    }
}

/// A filesystem: the operations the store makes on paths.
pub trait Fs: Send + Sync + Debug + 'static {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>>;
    /// Creates one directory; its parent must exist.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory and any missing parents; no error if it exists.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names in a directory, in no particular order.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Replaces `to` with `from` atomically (files, or a directory to a free name).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes an empty directory.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    /// `fsync` of a directory: entries created, renamed or removed in it survive a power cut.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Whether anything is at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Bytes a writer may still add on the filesystem holding `path`.
    fn available_space(&self, path: &Path) -> io::Result<u64>;
    /// Lets the calling thread's wake-ups stop preempting running threads, where the
    /// platform can (the journal committer; see `journal::sched`).
    fn as_batch_thread(&self) {}
}

/// The production filesystem, shared.
pub fn os() -> Arc<dyn Fs> {
    Arc::new(OsFs::native())
}

/// The production filesystem without Linux's own calls (`storage.portable_io`): what
/// Shoal runs on elsewhere, to be tested on Linux too.
pub fn portable() -> Arc<dyn Fs> {
    Arc::new(OsFs::portable())
}

/// The whole content of a file.
pub fn read_file(fs: &dyn Fs, path: &Path) -> io::Result<Vec<u8>> {
    let f = fs.open(path, OpenMode::Read)?;
    let len = f.len()?;
    let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// Creates `dir` and any missing parents so that they survive a power cut: each new
/// directory's name is synced into its parent.
pub fn create_dir_all_durably(fs: &dyn Fs, dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(p) = at {
        if p.as_os_str().is_empty() || fs.exists(p)? {
            break;
        }
        missing.push(p);
        at = p.parent();
    }
    for p in missing.into_iter().rev() {
        match fs.create_dir(p) {
            Ok(()) => {}
            // Another creator got there first; its name may not be synced yet.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = p.parent().filter(|q| !q.as_os_str().is_empty()) {
            fs.sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Removes a directory and everything under it, deepest first.
pub fn remove_dir_all(fs: &dyn Fs, dir: &Path) -> io::Result<()> {
    for name in fs.read_dir(dir)? {
        let path = dir.join(&name);
        match fs.remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // A directory: `remove_file` refuses it on every filesystem we run on.
            Err(_) => remove_dir_all(fs, &path)?,
        }
    }
    fs.remove_dir(dir)
}
