//! The data half of the simulated disk: what writes, truncations and fdatasync do to a
//! file's volatile bytes, its durable bytes and its dirty sectors, and the open handles
//! through which the store makes them.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::power::Tear;
use super::tree::{err, Inode, State, Stop};
use super::{lock, OpKind, SECTOR};
use crate::storage::fs::{FsFile, OpenMode};

/// Larger files are refused with EFBIG: a real disk would hold them, this one's memory
/// would not, and an offset that large in a test is a bug.
const MAX_FILE: u64 = 1 << 32;

/// A file's bytes as reads see them and as a power cut keeps them.
#[derive(Default, Clone)]
pub(super) struct FileNode {
    pub data: Vec<u8>,
    /// Durable bytes; longer than `durable_len` only after a torn sync wrote sectors
    /// past the durable size.
    pub durable: Vec<u8>,
    pub durable_len: usize,
    /// Sectors written since the last sync: a power cut keeps each, or not.
    pub dirty: BTreeSet<usize>,
}

impl FileNode {
    fn mark(&mut self, from: usize, to: usize) {
        self.dirty.extend(from / SECTOR..to.div_ceil(SECTOR));
    }

    /// Puts `buf` at `pos` in the volatile bytes, zeros in any hole before it.
    fn put(&mut self, pos: usize, buf: &[u8]) {
        let end = pos + buf.len();
        if end > self.data.len() {
            self.data.resize(end, 0);
        }
        self.data[pos..end].copy_from_slice(buf);
    }

    pub fn write(&mut self, pos: usize, buf: &[u8]) {
        if buf.is_empty() {
            return;
        }
        let old = self.data.len();
        self.put(pos, buf);
        self.mark(pos.min(old), pos + buf.len());
    }

    /// A write past the page cache, durable when it returns; `pos` and `buf` are whole
    /// sectors.
    pub fn write_direct(&mut self, pos: usize, buf: &[u8]) {
        if buf.is_empty() {
            return;
        }
        let end = pos + buf.len();
        let old = self.data.len();
        if pos > old {
            // The hole is zeros in the cache only.
            self.mark(old, pos);
        }
        self.put(pos, buf);
        if pos > self.durable_len {
            // Past the durable size the durable bytes are zeros, whatever a torn sync left.
            self.durable.truncate(self.durable_len);
        }
        if end > self.durable.len() {
            self.durable.resize(end, 0);
        }
        self.durable[pos..end].copy_from_slice(buf);
        self.durable_len = self.durable_len.max(end);
        for s in pos / SECTOR..end / SECTOR {
            self.dirty.remove(&s);
        }
    }

    /// A volatile change of length, like `ftruncate` before the next sync.
    pub fn resize(&mut self, len: usize) {
        let old = self.data.len();
        if old != len {
            self.data.resize(len, 0);
            self.mark(old.min(len), old.max(len));
        }
    }

    pub fn sync(&mut self) {
        let len = self.data.len();
        // Sectors not dirty yet not durable (a failed sync forgot them) stay as they were.
        self.durable.resize(len, 0);
        for &s in &self.dirty {
            let (a, b) = (s * SECTOR, ((s + 1) * SECTOR).min(len));
            if a < b {
                self.durable[a..b].copy_from_slice(&self.data[a..b]);
            }
        }
        self.dirty.clear();
        self.durable_len = len;
    }
}

/// An open file of the simulated disk.
pub(super) struct SimFile {
    state: Arc<Mutex<State>>,
    ino: u64,
    /// Tells this handle's lock from another's.
    id: u64,
    mode: OpenMode,
    /// The path it was opened by, for the operation log.
    path: PathBuf,
}

impl SimFile {
    /// The handle for `ino`, whose count of handles `State::open` has already raised.
    /// `st` is the locked `state`.
    pub fn new(
        state: Arc<Mutex<State>>,
        st: &mut State,
        ino: u64,
        mode: OpenMode,
        path: &Path,
    ) -> SimFile {
        let path = path.to_path_buf();
        st.next_handle += 1;
        let id = st.next_handle;
        SimFile {
            state,
            ino,
            id,
            mode,
            path,
        }
    }

    fn node<'a>(&self, st: &'a mut State) -> &'a mut FileNode {
        match st.inodes.get_mut(&self.ino) {
            Some(Inode::File(f)) => f,
            _ => unreachable!("an open handle's inode {} is a file", self.ino),
        }
    }

    /// `pos..pos + len` as indices, or EFBIG.
    fn span(pos: u64, len: usize) -> io::Result<(usize, usize)> {
        match pos.checked_add(len as u64) {
            Some(end) if end <= MAX_FILE => Ok((pos as usize, end as usize)),
            _ => Err(err(libc::EFBIG)),
        }
    }

    /// ENOSPC unless the disk has room for this file to be `len` bytes long.
    fn check_space(&self, st: &mut State, len: usize) -> io::Result<()> {
        let Some(cap) = st.capacity else {
            return Ok(());
        };
        let old = (self.node(st).data.len().div_ceil(SECTOR) * SECTOR) as u64;
        let new = (len.div_ceil(SECTOR) * SECTOR) as u64;
        if new > old && st.used_bytes() - old + new > cap {
            return Err(err(libc::ENOSPC));
        }
        Ok(())
    }

    /// Whether a write would run, so that a power cut at it may tear it.
    fn would_write(&self, st: &mut State, buf: &[u8], pos: u64) -> io::Result<(usize, usize)> {
        if self.mode == OpenMode::Read {
            return Err(err(libc::EBADF));
        }
        let aligned = pos % SECTOR as u64 == 0 && buf.len() % SECTOR == 0;
        if self.mode == OpenMode::DirectWrite && !aligned {
            return Err(err(libc::EINVAL));
        }
        let (pos, end) = Self::span(pos, buf.len())?;
        let len = self.node(st).data.len().max(end);
        self.check_space(st, len)?;
        Ok((pos, end))
    }
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("ino", &self.ino)
            .field("mode", &self.mode)
            .field("path", &self.path)
            .finish()
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        if st.locks.get(&self.ino) == Some(&self.id) {
            st.locks.remove(&self.ino);
        }
        if let Some(n) = st.handles.get_mut(&self.ino) {
            *n -= 1;
            if *n == 0 {
                st.handles.remove(&self.ino);
                st.collect();
            }
        }
    }
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let mut st = lock(&self.state);
        let desc = format!("read {} @{pos}+{}", self.path.display(), buf.len());
        st.begin(OpKind::Read, desc, Tear::None)?;
        if self.mode == OpenMode::DirectWrite {
            return Err(err(libc::EBADF));
        }
        let data = &self.node(&mut st).data;
        let Some(pos) = usize::try_from(pos).ok().filter(|&p| p < data.len()) else {
            return Ok(0);
        };
        let n = buf.len().min(data.len() - pos);
        buf[..n].copy_from_slice(&data[pos..pos + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        let direct = self.mode == OpenMode::DirectWrite;
        let verb = if direct { "dwrite" } else { "write" };
        let desc = format!("{verb} {} @{pos}+{}", self.path.display(), buf.len());
        let checked = self.would_write(&mut st, buf, pos);
        let tear = match checked {
            Ok((pos, _)) => Tear::Write {
                ino: self.ino,
                pos,
                buf,
                direct,
            },
            Err(_) => Tear::None,
        };
        st.begin(OpKind::Write, desc, tear)?;
        let (pos, _) = checked?;
        let f = self.node(&mut st);
        if direct {
            f.write_direct(pos, buf);
        } else {
            f.write(pos, buf);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = lock(&self.state);
        let desc = format!("set_len {} {len}", self.path.display());
        st.begin(OpKind::SetLen, desc, Tear::None)?;
        if self.mode == OpenMode::Read {
            return Err(err(libc::EINVAL));
        }
        let (_, len) = Self::span(len, 0)?;
        self.check_space(&mut st, len)?;
        self.node(&mut st).resize(len);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut st = lock(&self.state);
        st.begin(
            OpKind::Other,
            format!("len {}", self.path.display()),
            Tear::None,
        )?;
        Ok(self.node(&mut st).data.len() as u64)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut st = lock(&self.state);
        let desc = format!("sync_data {}", self.path.display());
        match st.begin(OpKind::SyncData, desc, Tear::Sync { ino: self.ino }) {
            Ok(()) => {
                self.node(&mut st).sync();
                Ok(())
            }
            Err(Stop::Fault(f)) => {
                // As Linux after a writeback error: the pages are clean but not on disk,
                // and the next sync has nothing to say about them.
                self.node(&mut st).dirty.clear();
                Err(Stop::Fault(f).into())
            }
            Err(Stop::Off) => Err(Stop::Off.into()),
        }
    }

    fn start_writeback(&self, from: u64, to: u64) {
        let mut st = lock(&self.state);
        let desc = format!("start_writeback {} {from}..{to}", self.path.display());
        // A hint: nothing to report, even when it failed.
        let _ = st.begin(OpKind::Other, desc, Tear::None);
    }

    fn try_lock(&self) -> io::Result<()> {
        let mut st = lock(&self.state);
        let desc = format!("lock {}", self.path.display());
        st.begin(OpKind::Other, desc, Tear::None)?;
        match st.locks.get(&self.ino) {
            Some(&holder) if holder != self.id => Err(err(libc::EWOULDBLOCK)),
            _ => {
                st.locks.insert(self.ino, self.id);
                Ok(())
            }
        }
    }
}
