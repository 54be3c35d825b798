//! The catalog in one redb file, created whole or not at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use super::{Catalog, CatalogOp, CatalogState, StreamMeta};
use crate::storage::fs::{Fs, FsBackend, OpenMode};
use crate::storage::StorageError;

const STREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("streams");
const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// The on-disk catalog: one redb file.
pub struct RedbCatalog {
    db: Database,
    path: PathBuf,
}

fn catalog_err(path: &Path, what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Catalog(format!("{what} on {}: {e}", path.display()))
}

impl RedbCatalog {
    pub fn open(path: &Path) -> Result<RedbCatalog, StorageError> {
        RedbCatalog::open_on(&crate::storage::fs::os(), path)
    }

    /// The catalog on `fs`, through [`FsBackend`]. A new catalog is built under a
    /// temporary name and renamed into place once it is whole, so a crash during the
    /// first start never leaves a file redb cannot open. The file is locked while open:
    /// a second server on the same data dir is refused.
    pub fn open_on(fs: &Arc<dyn Fs>, path: &Path) -> Result<RedbCatalog, StorageError> {
        let exists = fs.exists(path).map_err(|e| catalog_err(path, "stat", e))?;
        if !exists {
            create_whole(fs, path)?;
        }
        let db = database(fs, path, OpenMode::ReadWrite)?;
        RedbCatalog::init(db, path)
    }

    fn init(db: Database, path: &Path) -> Result<RedbCatalog, StorageError> {
        let mut txn = db
            .begin_write()
            .map_err(|e| catalog_err(path, "begin", e))?;
        txn.set_two_phase_commit(true);
        txn.open_table(STREAMS)
            .map_err(|e| catalog_err(path, "create table", e))?;
        txn.open_table(SETTINGS)
            .map_err(|e| catalog_err(path, "create table", e))?;
        txn.commit().map_err(|e| catalog_err(path, "commit", e))?;
        Ok(RedbCatalog {
            db,
            path: path.to_path_buf(),
        })
    }
}

/// The redb database in the file at `path`, locked.
fn database(fs: &Arc<dyn Fs>, path: &Path, mode: OpenMode) -> Result<Database, StorageError> {
    let file = fs
        .open(path, mode)
        .map_err(|e| catalog_err(path, "open", e))?;
    file.try_lock().map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::WouldBlock {
            "another process holds it".to_string()
        } else {
            e.to_string()
        };
        catalog_err(path, "lock", why)
    })?;
    Database::builder()
        .create_with_backend(FsBackend(file))
        .map_err(|e| catalog_err(path, "open", e))
}

/// Builds an empty catalog at `<path>.tmp`, then renames it to `path` and syncs the
/// directory. A leftover of a crash at the same step is started over.
fn create_whole(fs: &Arc<dyn Fs>, path: &Path) -> Result<(), StorageError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match fs.remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(catalog_err(&tmp, "remove", e)),
    }
    // redb syncs each commit; `init` commits the tables, and dropping the database
    // closes the file.
    drop(RedbCatalog::init(
        database(fs, &tmp, OpenMode::CreateNew)?,
        &tmp,
    )?);
    fs.rename(&tmp, path)
        .map_err(|e| catalog_err(path, "rename", e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs.sync_dir(dir)
            .map_err(|e| catalog_err(path, "sync directory", e))?;
    }
    Ok(())
}

impl Catalog for RedbCatalog {
    fn load(&self) -> Result<CatalogState, StorageError> {
        let p = &self.path;
        let txn = self
            .db
            .begin_read()
            .map_err(|e| catalog_err(p, "begin", e))?;
        let mut state = CatalogState::default();
        let streams = txn
            .open_table(STREAMS)
            .map_err(|e| catalog_err(p, "open table", e))?;
        for item in streams.iter().map_err(|e| catalog_err(p, "scan", e))? {
            let (k, v) = item.map_err(|e| catalog_err(p, "scan", e))?;
            let meta: StreamMeta = serde_json::from_slice(v.value())
                .map_err(|e| catalog_err(p, &format!("decode stream {}", k.value()), e))?;
            state.streams.push(meta);
        }
        let settings = txn
            .open_table(SETTINGS)
            .map_err(|e| catalog_err(p, "open table", e))?;
        for item in settings.iter().map_err(|e| catalog_err(p, "scan", e))? {
            let (k, v) = item.map_err(|e| catalog_err(p, "scan", e))?;
            state
                .settings
                .insert(k.value().to_string(), v.value().to_vec());
        }
        Ok(state)
    }

    fn commit(&self, ops: &[CatalogOp]) -> Result<(), StorageError> {
        let p = &self.path;
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| catalog_err(p, "begin", e))?;
        // The header points at the new roots only once they are durable, rather than
        // trusting checksums to spot a commit a crash cut short.
        txn.set_two_phase_commit(true);
        {
            let mut streams = txn
                .open_table(STREAMS)
                .map_err(|e| catalog_err(p, "open table", e))?;
            let mut settings = txn
                .open_table(SETTINGS)
                .map_err(|e| catalog_err(p, "open table", e))?;
            for op in ops {
                match op {
                    CatalogOp::PutStream(meta) => {
                        let bytes = serde_json::to_vec(meta)
                            .map_err(|e| catalog_err(p, "encode stream", e))?;
                        streams
                            .insert(meta.key().as_str(), bytes.as_slice())
                            .map_err(|e| catalog_err(p, "insert", e))?;
                    }
                    CatalogOp::DeleteStream { key } => {
                        streams
                            .remove(key.as_str())
                            .map_err(|e| catalog_err(p, "remove", e))?;
                    }
                    CatalogOp::PutSetting { name, value } => {
                        settings
                            .insert(name.as_str(), value.as_slice())
                            .map_err(|e| catalog_err(p, "insert", e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| catalog_err(p, "commit", e))
    }
}
