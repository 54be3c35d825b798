//! What a power cut leaves: the operation it interrupts torn, then a seeded choice, name
//! by name and sector by sector, between what was durable and what was only cached.

use std::collections::{BTreeMap, BTreeSet};

use super::file::FileNode;
use super::tree::{DirNode, Inode, State, ROOT};
use super::SECTOR;

/// SplitMix64: a few lines, and the same choices for the same seed on every machine.
/// Tests that drive the simulated disk draw their own choices from it too.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }
}

/// What of an operation a power cut in the middle of it may have done.
pub(super) enum Tear<'a> {
    /// Nothing: the operation happened entirely or not at all.
    None,
    /// Some of the write's sectors.
    Write {
        ino: u64,
        pos: usize,
        buf: &'a [u8],
        direct: bool,
    },
    /// Some of the file's dirty sectors made durable.
    Sync { ino: u64 },
}

/// Salts the tearing's choices, so the image after a tear is `crash(seed)` of the torn
/// disk, not a shifted sequence.
const TEAR_SALT: u64 = 0x7465_6172_0000_0001;

impl FileNode {
    fn sync_some(&mut self, rng: &mut Rng) {
        let chosen: Vec<usize> = self.dirty.iter().copied().filter(|_| rng.coin()).collect();
        for s in chosen {
            let (a, b) = (s * SECTOR, ((s + 1) * SECTOR).min(self.data.len()));
            if a < b {
                if self.durable.len() < b {
                    self.durable.resize(b, 0);
                }
                self.durable[a..b].copy_from_slice(&self.data[a..b]);
            }
            self.dirty.remove(&s);
        }
    }

    /// The file after a power cut: its durable bytes, its durable or its current length,
    /// and each dirty sector as written or as it was.
    fn image(&self, rng: &mut Rng) -> FileNode {
        let len = if rng.coin() {
            self.durable_len
        } else {
            self.data.len()
        };
        let mut bytes = self.durable.clone();
        bytes.resize(len, 0);
        for &s in &self.dirty {
            let end = ((s + 1) * SECTOR).min(len).min(self.data.len());
            if rng.coin() && s * SECTOR < end {
                bytes[s * SECTOR..end].copy_from_slice(&self.data[s * SECTOR..end]);
            }
        }
        FileNode {
            data: bytes.clone(),
            durable: bytes,
            durable_len: len,
            dirty: BTreeSet::new(),
        }
    }
}

impl State {
    pub(super) fn tear(&mut self, tear: Tear<'_>, seed: u64) {
        let mut rng = Rng::new(seed ^ TEAR_SALT);
        match tear {
            Tear::None => {}
            Tear::Sync { ino } => {
                if let Some(f) = self.file_mut(ino) {
                    f.sync_some(&mut rng);
                }
            }
            Tear::Write {
                ino,
                pos,
                buf,
                direct,
            } => {
                let Some(f) = self.file_mut(ino) else { return };
                let end = pos + buf.len();
                let mut at = pos;
                while at < end {
                    let next = ((at / SECTOR + 1) * SECTOR).min(end);
                    if rng.coin() {
                        let part = &buf[at - pos..next - pos];
                        if direct {
                            f.write_direct(at, part);
                        } else {
                            f.write(at, part);
                        }
                    }
                    at = next;
                }
            }
        }
    }

    /// A fresh disk holding what a power cut now could leave.
    pub(super) fn image(&self, seed: u64) -> State {
        let mut rng = Rng::new(seed);
        let mut out = State::new();
        let mut placed = BTreeMap::from([(ROOT, ROOT)]);
        self.copy_dir(ROOT, ROOT, &mut out, &mut placed, &mut rng);
        out
    }

    /// Rebuilds directory `from` as `to` in `out`: names whose volatile and durable
    /// entries differ keep one or the other.
    fn copy_dir(
        &self,
        from: u64,
        to: u64,
        out: &mut State,
        placed: &mut BTreeMap<u64, u64>,
        rng: &mut Rng,
    ) {
        let Some(Inode::Dir(d)) = self.inodes.get(&from) else {
            return;
        };
        let names: BTreeSet<&String> = d.entries.keys().chain(d.durable.keys()).collect();
        for name in names {
            let (cur, dur) = (d.entries.get(name), d.durable.get(name));
            let pick = if cur == dur || rng.coin() { cur } else { dur };
            let Some(&ino) = pick else { continue };
            let new = match placed.get(&ino) {
                // Mixing old and new entries can reach a moved directory twice, or inside
                // itself; a directory has one parent, so the first name wins.
                Some(&new) if out.is_dir(new) => continue,
                Some(&new) => new,
                None => match self.inodes.get(&ino) {
                    Some(Inode::File(f)) => {
                        let new = out.alloc(Inode::File(f.image(rng)));
                        placed.insert(ino, new);
                        new
                    }
                    Some(Inode::Dir(_)) => {
                        let new = out.alloc(Inode::Dir(DirNode::default()));
                        placed.insert(ino, new);
                        self.copy_dir(ino, new, out, placed, rng);
                        new
                    }
                    None => continue,
                },
            };
            let dir = out.dir_mut(to);
            dir.entries.insert(name.clone(), new);
            dir.durable.insert(name.clone(), new);
        }
    }
}
