//! The simulated disk's state and its names: inodes with a volatile and a durable half,
//! the path walk (always through the volatile entries, as the kernel's), the operations on
//! names, and the gate every operation passes, where faults and the power cut strike.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::path::{Component, Path};
use std::sync::Arc;

use super::file::FileNode;
use super::power::Tear;
use super::{Fault, OpKind, SimFs, SECTOR};
use crate::storage::fs::OpenMode;

pub(super) const ROOT: u64 = 1;

/// Descriptions kept for failure messages; a long test would otherwise keep them all.
const RECENT: usize = 4096;

pub(super) fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A directory: the entries lookups see, and the ones a power cut keeps for sure.
#[derive(Default, Clone)]
pub(super) struct DirNode {
    pub entries: BTreeMap<String, u64>,
    pub durable: BTreeMap<String, u64>,
}

#[derive(Clone)]
pub(super) enum Inode {
    File(FileNode),
    Dir(DirNode),
}

/// Why an operation did not run.
pub(super) enum Stop {
    Fault(Fault),
    Off,
}

impl From<Stop> for io::Error {
    fn from(stop: Stop) -> io::Error {
        match stop {
            Stop::Fault(f) => err(f.errno()),
            Stop::Off => err(libc::EIO),
        }
    }
}

/// What stops the machine at an operation.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cut {
    /// The power fails; the seed chooses what of the page cache reached the disk.
    Power(u64),
    /// The process dies; the page cache, and so every write, survives.
    Process,
}

pub(super) struct State {
    pub inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    pub kinds: Vec<OpKind>,
    pub recent: VecDeque<String>,
    pub faults: BTreeMap<u64, Fault>,
    /// The operation index of the power cut (or process death) to come.
    pub cut: Option<(u64, Cut)>,
    pub image: Option<Arc<SimFs>>,
    pub off: bool,
    pub direct_io: bool,
    pub capacity: Option<u64>,
    /// Open handles per inode: an unlinked file lives, and takes space, while they do.
    pub handles: BTreeMap<u64, usize>,
    /// Every sync and direct write fails with this, while set: a dying disk.
    pub failing_syncs: Option<Fault>,
    /// Every op that changes a path containing this fails with the fault, while set.
    pub failing_path: Option<(String, Fault)>,
    /// Locked inodes, and the handle (by number) holding each lock.
    pub locks: BTreeMap<u64, u64>,
    /// Numbers handles, for the locks.
    pub next_handle: u64,
}

impl State {
    pub fn new() -> State {
        State {
            inodes: BTreeMap::from([(ROOT, Inode::Dir(DirNode::default()))]),
            next_ino: ROOT + 1,
            kinds: Vec::new(),
            recent: VecDeque::new(),
            faults: BTreeMap::new(),
            cut: None,
            image: None,
            off: false,
            direct_io: true,
            capacity: None,
            handles: BTreeMap::new(),
            failing_syncs: None,
            failing_path: None,
            locks: BTreeMap::new(),
            next_handle: 0,
        }
    }

    pub fn alloc(&mut self, node: Inode) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, node);
        ino
    }

    /// Starts an operation: counts it, then lets it run, fails it with its injected fault,
    /// or cuts the power at it (tearing it as `tear` says).
    pub fn begin(&mut self, kind: OpKind, desc: String, tear: Tear<'_>) -> Result<(), Stop> {
        let op = self.kinds.len() as u64;
        self.kinds.push(kind);
        let mut line = format!("#{op} {desc}");
        let out = if self.off {
            line.push_str(" [off]");
            Err(Stop::Off)
        } else if let Some((_, cut)) = self.cut.filter(|&(at, _)| at == op) {
            let image = match cut {
                Cut::Power(seed) => {
                    self.tear(tear, seed);
                    line.push_str(" [power cut]");
                    self.image(seed)
                }
                Cut::Process => {
                    line.push_str(" [process killed]");
                    self.copy()
                }
            };
            self.image = Some(SimFs::from_state(image));
            self.off = true;
            Err(Stop::Off)
        } else if let Some(fault) = self.faults.remove(&op) {
            line.push_str(&format!(" [injected {fault:?}]"));
            Err(Stop::Fault(fault))
        } else if let Some(fault) = self.failing_syncs.filter(|_| makes_durable(kind, &tear)) {
            line.push_str(&format!(" [failing {fault:?}]"));
            Err(Stop::Fault(fault))
        } else if let Some((_, fault)) = self
            .failing_path
            .as_ref()
            .filter(|(p, _)| kind.mutates() && desc_has_path(&line, p))
        {
            let fault = *fault;
            line.push_str(&format!(" [failing {fault:?}]"));
            Err(Stop::Fault(fault))
        } else {
            Ok(())
        };
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
        out
    }

    /// The same disk, page cache and all, with no handles open and a fresh op count.
    pub fn copy(&self) -> State {
        let mut out = State::new();
        out.inodes = self.inodes.clone();
        out.next_ino = self.next_ino;
        out.direct_io = self.direct_io;
        out.capacity = self.capacity;
        out.collect();
        out
    }

    pub fn is_dir(&self, ino: u64) -> bool {
        matches!(self.inodes.get(&ino), Some(Inode::Dir(_)))
    }

    pub fn file_mut(&mut self, ino: u64) -> Option<&mut FileNode> {
        match self.inodes.get_mut(&ino) {
            Some(Inode::File(f)) => Some(f),
            _ => None,
        }
    }

    /// The directory `ino`; callers have checked that it is one.
    pub fn dir_mut(&mut self, ino: u64) -> &mut DirNode {
        match self.inodes.get_mut(&ino) {
            Some(Inode::Dir(d)) => d,
            _ => unreachable!("inode {ino} is not a directory"),
        }
    }

    fn child(&self, dir: u64, name: &str) -> io::Result<u64> {
        match self.inodes.get(&dir) {
            Some(Inode::Dir(d)) => d
                .entries
                .get(name)
                .copied()
                .ok_or_else(|| err(libc::ENOENT)),
            _ => Err(err(libc::ENOTDIR)),
        }
    }

    fn entry(&self, dir: u64, name: &str) -> Option<u64> {
        self.child(dir, name).ok()
    }

    pub fn lookup(&self, path: &Path) -> io::Result<u64> {
        names(path)?
            .iter()
            .try_fold(ROOT, |ino, name| self.child(ino, name))
    }

    /// The directory holding `path`'s last name, and that name; every inode on the way
    /// there is in `through`, so a rename can tell a directory moving into itself.
    fn parent(&self, path: &Path, through: &mut Vec<u64>) -> io::Result<(u64, String)> {
        let mut names = names(path)?;
        let name = names.pop().ok_or_else(|| err(libc::EBUSY))?;
        let mut ino = ROOT;
        through.push(ino);
        for n in &names {
            ino = self.child(ino, n)?;
            through.push(ino);
        }
        if !self.is_dir(ino) {
            return Err(err(libc::ENOTDIR));
        }
        Ok((ino, name))
    }

    pub fn open(&mut self, path: &Path, mode: OpenMode) -> io::Result<u64> {
        let ino = match mode {
            OpenMode::CreateNew | OpenMode::CreateTruncate => {
                let (dir, name) = self.parent(path, &mut Vec::new())?;
                match self.entry(dir, &name) {
                    Some(_) if mode == OpenMode::CreateNew => return Err(err(libc::EEXIST)),
                    Some(ino) => match self.inodes.get_mut(&ino) {
                        Some(Inode::File(f)) => {
                            f.resize(0);
                            ino
                        }
                        _ => return Err(err(libc::EISDIR)),
                    },
                    None => {
                        let ino = self.alloc(Inode::File(FileNode::default()));
                        self.dir_mut(dir).entries.insert(name, ino);
                        ino
                    }
                }
            }
            OpenMode::Read | OpenMode::ReadWrite | OpenMode::DirectWrite => {
                let ino = self.lookup(path)?;
                if self.is_dir(ino) {
                    return Err(err(libc::EISDIR));
                }
                if mode == OpenMode::DirectWrite && !self.direct_io {
                    return Err(err(libc::EINVAL));
                }
                ino
            }
        };
        *self.handles.entry(ino).or_default() += 1;
        Ok(ino)
    }

    pub fn create_dir(&mut self, path: &Path) -> io::Result<()> {
        if names(path)?.is_empty() {
            return Err(err(libc::EEXIST));
        }
        let (dir, name) = self.parent(path, &mut Vec::new())?;
        if self.entry(dir, &name).is_some() {
            return Err(err(libc::EEXIST));
        }
        let ino = self.alloc(Inode::Dir(DirNode::default()));
        self.dir_mut(dir).entries.insert(name, ino);
        Ok(())
    }

    pub fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        let names = names(path)?;
        // Checked first so that a failure creates nothing.
        let mut at = Some(ROOT);
        for name in &names {
            let Some(dir) = at else { break };
            if !self.is_dir(dir) {
                return Err(err(libc::ENOTDIR));
            }
            at = self.entry(dir, name);
        }
        if at.is_some_and(|ino| !self.is_dir(ino)) {
            return Err(err(libc::EEXIST));
        }
        let mut ino = ROOT;
        for name in names {
            ino = match self.entry(ino, &name) {
                Some(next) => next,
                None => {
                    let next = self.alloc(Inode::Dir(DirNode::default()));
                    self.dir_mut(ino).entries.insert(name, next);
                    next
                }
            };
        }
        Ok(())
    }

    pub fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        match self.inodes.get(&self.lookup(dir)?) {
            Some(Inode::Dir(d)) => Ok(d.entries.keys().cloned().collect()),
            _ => Err(err(libc::ENOTDIR)),
        }
    }

    pub fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let (fdir, fname) = self.parent(from, &mut Vec::new())?;
        let ino = self.child(fdir, &fname)?;
        let mut through = Vec::new();
        let (tdir, tname) = self.parent(to, &mut through)?;
        let target = self.entry(tdir, &tname);
        if target == Some(ino) {
            return Ok(());
        }
        if self.is_dir(ino) {
            if through.contains(&ino) {
                return Err(err(libc::EINVAL));
            }
            match target.map(|t| &self.inodes[&t]) {
                Some(Inode::File(_)) => return Err(err(libc::ENOTDIR)),
                Some(Inode::Dir(d)) if !d.entries.is_empty() => return Err(err(libc::ENOTEMPTY)),
                _ => {}
            }
        } else if target.is_some_and(|t| self.is_dir(t)) {
            return Err(err(libc::EISDIR));
        }
        self.dir_mut(fdir).entries.remove(&fname);
        self.dir_mut(tdir).entries.insert(tname, ino);
        self.collect();
        Ok(())
    }

    pub fn remove(&mut self, path: &Path, dir: bool) -> io::Result<()> {
        let (parent, name) = self.parent(path, &mut Vec::new())?;
        let ino = self.child(parent, &name)?;
        match (&self.inodes[&ino], dir) {
            (Inode::File(_), false) => {}
            (Inode::Dir(_), false) => return Err(err(libc::EISDIR)),
            (Inode::File(_), true) => return Err(err(libc::ENOTDIR)),
            (Inode::Dir(d), true) if !d.entries.is_empty() => return Err(err(libc::ENOTEMPTY)),
            (Inode::Dir(_), true) => {}
        }
        self.dir_mut(parent).entries.remove(&name);
        self.collect();
        Ok(())
    }

    pub fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        match self.inodes.get_mut(&self.lookup(dir)?) {
            Some(Inode::Dir(d)) => d.durable = d.entries.clone(),
            _ => return Err(err(libc::ENOTDIR)),
        }
        self.collect();
        Ok(())
    }

    /// Drops the inodes nothing can reach any more: not the volatile tree, not a durable
    /// entry (a power cut could bring those back), not an open handle.
    pub fn collect(&mut self) {
        let mut live = BTreeSet::new();
        let mut stack: Vec<u64> = self.handles.keys().copied().collect();
        stack.push(ROOT);
        while let Some(ino) = stack.pop() {
            if live.insert(ino) {
                if let Some(Inode::Dir(d)) = self.inodes.get(&ino) {
                    stack.extend(d.entries.values().chain(d.durable.values()));
                }
            }
        }
        self.inodes.retain(|ino, _| live.contains(ino));
    }

    /// Walks the tree each time: simpler to trust than a running count, and only disks
    /// with a capacity pay for it on writes.
    pub fn used_bytes(&self) -> u64 {
        let mut files: BTreeSet<u64> = self.handles.keys().copied().collect();
        let mut stack = vec![ROOT];
        while let Some(ino) = stack.pop() {
            match self.inodes.get(&ino) {
                Some(Inode::Dir(d)) => stack.extend(d.entries.values()),
                Some(Inode::File(_)) => {
                    files.insert(ino);
                }
                None => {}
            }
        }
        files
            .iter()
            .filter_map(|ino| match self.inodes.get(ino) {
                Some(Inode::File(f)) => Some(f.data.len().div_ceil(SECTOR) * SECTOR),
                _ => None,
            })
            .map(|n| n as u64)
            .sum()
    }
}

/// The names along an absolute path; `..` is taken lexically, as there are no symlinks.
fn names(path: &Path) -> io::Result<Vec<String>> {
    if !path.is_absolute() {
        return Err(err(libc::EINVAL));
    }
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => {
                out.push(n.to_str().ok_or_else(|| err(libc::EINVAL))?.to_owned());
            }
            Component::Prefix(_) => return Err(err(libc::EINVAL)),
        }
    }
    Ok(out)
}

/// Whether an op's description names a path containing `part`.
fn desc_has_path(desc: &str, part: &str) -> bool {
    desc.split_whitespace().skip(2).any(|w| w.contains(part))
}

/// Whether an op of `kind` (torn as `tear` says) is one that makes data durable.
fn makes_durable(kind: OpKind, tear: &Tear<'_>) -> bool {
    matches!(kind, OpKind::SyncData | OpKind::SyncDir)
        || matches!(tear, Tear::Write { direct: true, .. })
}
