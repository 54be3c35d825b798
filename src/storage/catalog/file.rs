//! The catalog as one file, replaced whole by every commit: written under a temporary
//! name, synced, renamed over the old one, and the directory synced. A crash leaves the
//! old catalog or the new one, never a mix; the only thing recovery has to trust is an
//! atomic rename. Control-plane commits are rare, so rewriting a few hundred KiB each
//! time is cheap beside a reshard's own work (docs/adr/0004-catalog-file.md).
//!
//! A catalog kept by an earlier version in redb (`catalog.redb`) is imported once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::memory::Maps;
use super::{Catalog, CatalogOp, CatalogState, RedbCatalog};
use crate::storage::fs::{self, Fs, FsFile, OpenMode};
use crate::storage::StorageError;

const MAGIC: [u8; 8] = *b"SHOALCAT";
const VERSION: u32 = 1;
/// magic (8) + version (4) + reserved (4) + payload length (8) + CRC32C of the payload (4)
/// + reserved (4).
const HEADER_LEN: usize = 32;

/// The catalog file of a data dir.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("catalog")
}

fn tmp_path(dir: &Path) -> PathBuf {
    dir.join("catalog.tmp")
}

fn corrupt(path: &Path, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason: reason.into(),
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::io(op, path, e)
}

/// The catalog of one data dir.
pub struct FileCatalog {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    state: Mutex<State>,
    /// Holds the data dir's lock for as long as the catalog is open.
    _lock: Box<dyn FsFile>,
}

struct State {
    maps: Maps,
    /// A commit failed after its rename, so the file may hold it while memory does not:
    /// further commits are refused until a restart reads the file again.
    poisoned: Option<String>,
}

impl FileCatalog {
    /// Opens the catalog in `dir` (empty when there is none), taking the data dir's lock:
    /// a second server on the same data dir is refused.
    pub fn open_on(fs: &Arc<dyn Fs>, dir: &Path) -> Result<FileCatalog, StorageError> {
        let lock = take_lock(&**fs, dir)?;
        let file = path(dir);
        match fs.remove_file(&tmp_path(dir)) {
            // Left by a crash before its rename: the catalog it would have replaced holds.
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io("remove", tmp_path(dir), e)),
        }
        let catalog = FileCatalog {
            fs: fs.clone(),
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                maps: Maps::default(),
                poisoned: None,
            }),
            _lock: lock,
        };
        let exists = fs.exists(&file).map_err(io("stat", &file))?;
        let maps = if exists {
            read(&**fs, &file)?
        } else {
            catalog.import_redb()?
        };
        // The file read may be a rename a crashed process left unsynced: what the
        // broker is about to serve must survive a power cut now.
        fs.sync_dir(dir).map_err(io("sync directory", dir))?;
        catalog.lock().maps = maps;
        Ok(catalog)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The catalog of an earlier version, if there is one, written as this one's file;
    /// the redb file is kept beside it, renamed, as a backup.
    fn import_redb(&self) -> Result<Maps, StorageError> {
        let old = self.dir.join("catalog.redb");
        if !self.fs.exists(&old).map_err(io("stat", &old))? {
            return Ok(Maps::default());
        }
        let state = RedbCatalog::open_on(&self.fs, &old)?.load()?;
        let maps = Maps {
            streams: state.streams.into_iter().map(|m| (m.key(), m)).collect(),
            settings: state.settings,
        };
        self.write(&maps)?;
        let kept = self.dir.join("catalog.redb.imported");
        self.fs.rename(&old, &kept).map_err(io("rename", &old))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io("sync directory", &self.dir))?;
        tracing::info!(from = %old.display(), "imported the catalog of an earlier version");
        Ok(maps)
    }

    /// Replaces the file with `maps`. An error before the rename leaves the old file;
    /// after it, which file a restart reads is unknown, and the error is `Poisoned`.
    fn write(&self, maps: &Maps) -> Result<(), StorageError> {
        let (fs, tmp, file) = (&*self.fs, tmp_path(&self.dir), path(&self.dir));
        let payload = serde_json::to_vec(maps).map_err(|e| StorageError::Catalog(e.to_string()))?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&payload);
        let f = fs
            .open(&tmp, OpenMode::CreateTruncate)
            .map_err(io("create", &tmp))?;
        f.write_all_at(&bytes, 0).map_err(io("write", &tmp))?;
        f.sync_data().map_err(io("sync", &tmp))?;
        drop(f);
        fs.rename(&tmp, &file).map_err(io("rename", &file))?;
        fs.sync_dir(&self.dir).map_err(|e| {
            StorageError::Poisoned(format!(
                "syncing {} failed, so whether the catalog's last change reached the disk \
                 is unknown until a restart reads it: {e}",
                self.dir.display()
            ))
        })
    }
}

/// The data dir's lock file: locked by the process that has the catalog open.
const LOCK: &str = "lock";

/// Whether another process holds `dir`'s lock now: a probe a server makes before it
/// listens (the lock is taken for good when the catalog opens).
pub fn dir_in_use(fs: &dyn Fs, dir: &Path) -> bool {
    let Ok(file) = fs.open(&dir.join(LOCK), OpenMode::Read) else {
        return false;
    };
    // Taken here when free, the lock goes again as the file closes.
    matches!(file.try_lock(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// The data dir's lock file, locked.
fn take_lock(fs: &dyn Fs, dir: &Path) -> Result<Box<dyn FsFile>, StorageError> {
    let path = dir.join(LOCK);
    let file = match fs.open(&path, OpenMode::ReadWrite) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let f = fs
                .open(&path, OpenMode::CreateTruncate)
                .map_err(io("create", &path))?;
            fs.sync_dir(dir).map_err(io("sync directory", dir))?;
            f
        }
        Err(e) => return Err(StorageError::io("open", &path, e)),
    };
    file.try_lock().map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::WouldBlock {
            "another process holds it".to_string()
        } else {
            e.to_string()
        };
        StorageError::Catalog(format!("lock {}: {why}", path.display()))
    })?;
    Ok(file)
}

/// Reads and checks a catalog file.
fn read(fs: &dyn Fs, file: &Path) -> Result<Maps, StorageError> {
    let bytes = fs::read_file(fs, file).map_err(io("read", file))?;
    if bytes.len() < HEADER_LEN || bytes[0..8] != MAGIC {
        return Err(corrupt(file, "not a catalog file"));
    }
    let le32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    if le32(8) != VERSION {
        return Err(corrupt(
            file,
            format!("unknown catalog version {}", le32(8)),
        ));
    }
    let len = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len || le32(24) != crc32c::crc32c(payload) {
        return Err(corrupt(file, "catalog length or CRC mismatch"));
    }
    serde_json::from_slice(payload)
        .map_err(|e| corrupt(file, format!("catalog does not decode: {e}")))
}

impl Catalog for FileCatalog {
    fn load(&self) -> Result<CatalogState, StorageError> {
        Ok(self.lock().maps.state())
    }

    fn poisoned(&self) -> Option<String> {
        self.lock().poisoned.clone()
    }

    fn commit(&self, ops: &[CatalogOp]) -> Result<(), StorageError> {
        // Held throughout: one commit at a time, each on top of the one before.
        let mut st = self.lock();
        if let Some(why) = &st.poisoned {
            return Err(StorageError::Poisoned(why.clone()));
        }
        let mut next = st.maps.clone();
        next.apply(ops);
        match self.write(&next) {
            Ok(()) => {
                st.maps = next;
                Ok(())
            }
            Err(StorageError::Poisoned(why)) => {
                st.poisoned = Some(why.clone());
                Err(StorageError::Poisoned(why))
            }
            Err(e) => Err(e),
        }
    }
}
