//! A simulated disk, so that tests can cut the power at any operation and see what a real
//! disk might keep: a deterministic, in-memory [`Fs`] with a page cache that forgets
//! unsynced writes, directory entries that are durable only after a directory sync, and
//! EIO or ENOSPC injected at any operation.
//!
//! Everything, including what a power cut keeps, is a function of the operations and a
//! seed, so a failing case can be replayed.

mod file;
mod power;
#[cfg(test)]
mod tests;
mod tree;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Fs, FsFile, OpenMode};
use file::SimFile;
pub use power::Rng;
use power::Tear;
use tree::{Cut, Inode, State};

/// The unit in which the simulated disk writes back, tears and keeps data.
const SECTOR: usize = 4096;

/// An error to make one operation fail with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Eio,
    Enospc,
}

impl Fault {
    fn errno(self) -> i32 {
        match self {
            Fault::Eio => libc::EIO,
            Fault::Enospc => libc::ENOSPC,
        }
    }
}

/// What an operation does, so a test can pick the operations worth failing or cutting at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Read,
    Write,
    SetLen,
    SyncData,
    SyncDir,
    Create,
    Rename,
    Remove,
    CreateDir,
    Other,
}

impl OpKind {
    /// Whether the operation changes what is on the disk or what of it is durable: the
    /// operations at which a power cut or a fault can tell something.
    pub fn mutates(self) -> bool {
        !matches!(self, OpKind::Read | OpKind::Other)
    }
}

/// The simulated disk. Handles share its state, so they keep working (and counting
/// operations) however the disk is reached.
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

/// A test that panicked while holding the lock leaves a state still worth reading.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for SimFs {
    // The contents would drown a failure message; the counters say where the disk is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.st();
        f.debug_struct("SimFs")
            .field("ops", &st.kinds.len())
            .field("inodes", &st.inodes.len())
            .field("off", &st.off)
            .finish_non_exhaustive()
    }
}

impl SimFs {
    /// An empty disk holding only "/".
    pub fn new() -> Arc<SimFs> {
        SimFs::from_state(State::new())
    }

    fn from_state(state: State) -> Arc<SimFs> {
        Arc::new(SimFs {
            state: Arc::new(Mutex::new(state)),
        })
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Operations started so far; the next one has this index.
    pub fn ops(&self) -> u64 {
        self.st().kinds.len() as u64
    }

    /// The kind of every operation so far, by index.
    pub fn op_kinds(&self) -> Vec<OpKind> {
        self.st().kinds.clone()
    }

    /// The last `n` operations described, oldest first, for failure messages. Only the
    /// last few hundred are kept.
    pub fn recent_ops(&self, n: usize) -> Vec<String> {
        let st = self.st();
        let skip = st.recent.len().saturating_sub(n);
        st.recent.iter().skip(skip).cloned().collect()
    }

    /// Whether opens for direct I/O work; without it they fail with EINVAL, as on tmpfs.
    pub fn set_direct_io(&self, on: bool) {
        self.st().direct_io = on;
    }

    /// The bytes files may take, in whole sectors; `None` for no limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.st().capacity = bytes;
    }

    /// Bytes taken by files still in the tree or still open, each rounded up to a sector.
    pub fn used_bytes(&self) -> u64 {
        self.st().used_bytes()
    }

    /// While `Some`, every sync (of a file or a directory) and every direct write fails
    /// with `fault`: a disk that went bad.
    pub fn fail_syncs(&self, fault: Option<Fault>) {
        self.st().failing_syncs = fault;
    }

    /// While `Some((part, fault))`, every operation that changes a path containing
    /// `part` fails with `fault`.
    pub fn fail_path(&self, rule: Option<(&str, Fault)>) {
        self.st().failing_path = rule.map(|(p, f)| (p.to_string(), f));
    }

    /// Makes the operation with index `op` fail with `fault` instead of running.
    pub fn inject(&self, op: u64, fault: Fault) {
        self.st().faults.insert(op, fault);
    }

    /// Cuts the power when the operation with index `op` starts: that operation is torn,
    /// the image a power cut leaves is taken with `seed` (see [`SimFs::crash`]), and it and
    /// every later operation fail with EIO.
    pub fn cut_power_at(&self, op: u64, seed: u64) {
        self.st().cut = Some((op, Cut::Power(seed)));
    }

    /// Kills the process when the operation with index `op` starts: the image keeps
    /// everything written, durable or not (the page cache outlives the process), and
    /// that operation and every later one fail with EIO.
    pub fn kill_process_at(&self, op: u64) {
        self.st().cut = Some((op, Cut::Process));
    }

    /// This disk as it is, page cache included, for a second store to open: what a
    /// process crash leaves.
    pub fn clone_disk(&self) -> Arc<SimFs> {
        SimFs::from_state(self.st().copy())
    }

    /// The disk as the power cut of [`SimFs::cut_power_at`] (or the process death of
    /// [`SimFs::kill_process_at`]) left it, once it happened.
    pub fn power_cut_image(&self) -> Option<Arc<SimFs>> {
        self.st().image.clone()
    }

    /// What a power cut now could leave, chosen by `seed`, as a new disk on which
    /// everything is durable.
    pub fn crash(&self, seed: u64) -> Arc<SimFs> {
        SimFs::from_state(self.st().image(seed))
    }

    /// Whether the power was cut.
    pub fn is_off(&self) -> bool {
        self.st().off
    }

    /// What reads of the file at `path` see now; `None` if there is no file there.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.st();
        match st.inodes.get(&st.lookup(path).ok()?)? {
            Inode::File(f) => Some(f.data.clone()),
            Inode::Dir(_) => None,
        }
    }
}

impl Fs for SimFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        let kind = match mode {
            OpenMode::CreateNew | OpenMode::CreateTruncate => OpKind::Create,
            OpenMode::Read | OpenMode::ReadWrite | OpenMode::DirectWrite => OpKind::Read,
        };
        let mut st = self.st();
        let desc = format!("open {} {mode:?}", path.display());
        st.begin(kind, desc, Tear::None)?;
        let ino = st.open(path, mode)?;
        let file = SimFile::new(Arc::clone(&self.state), &mut st, ino, mode, path);
        Ok(Box::new(file))
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let desc = format!("create_dir {}", path.display());
        st.begin(OpKind::CreateDir, desc, Tear::None)?;
        st.create_dir(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let desc = format!("create_dir_all {}", path.display());
        st.begin(OpKind::CreateDir, desc, Tear::None)?;
        st.create_dir_all(path)
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut st = self.st();
        st.begin(
            OpKind::Other,
            format!("read_dir {}", dir.display()),
            Tear::None,
        )?;
        st.read_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.st();
        let desc = format!("rename {} -> {}", from.display(), to.display());
        st.begin(OpKind::Rename, desc, Tear::None)?;
        st.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let desc = format!("remove_file {}", path.display());
        st.begin(OpKind::Remove, desc, Tear::None)?;
        st.remove(path, false)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.st();
        let desc = format!("remove_dir {}", path.display());
        st.begin(OpKind::Remove, desc, Tear::None)?;
        st.remove(path, true)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.st();
        st.begin(
            OpKind::SyncDir,
            format!("sync_dir {}", dir.display()),
            Tear::None,
        )?;
        st.sync_dir(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let mut st = self.st();
        st.begin(
            OpKind::Other,
            format!("exists {}", path.display()),
            Tear::None,
        )?;
        Ok(st.lookup(path).is_ok())
    }

    fn available_space(&self, path: &Path) -> io::Result<u64> {
        let mut st = self.st();
        let desc = format!("available_space {}", path.display());
        st.begin(OpKind::Other, desc, Tear::None)?;
        st.lookup(path)?;
        Ok(match st.capacity {
            Some(cap) => cap.saturating_sub(st.used_bytes()),
            None => u64::MAX / 2,
        })
    }
}
