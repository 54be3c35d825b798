//! The catalog of earlier versions: one redb file, `catalog.redb`, read once so that
//! `FileCatalog` can import it (docs/adr/0004-catalog-file.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use super::{CatalogState, StreamMeta};
use crate::storage::fs::{Fs, FsBackend, OpenMode};
use crate::storage::StorageError;

const STREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("streams");
const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// A catalog in redb.
pub struct RedbCatalog {
    db: Database,
    path: PathBuf,
}

fn catalog_err(path: &Path, what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Catalog(format!("{what} on {}: {e}", path.display()))
}

impl RedbCatalog {
    /// Opens the redb catalog at `path` on `fs` (created, in tests that build one).
    pub fn open_on(fs: &Arc<dyn Fs>, path: &Path) -> Result<RedbCatalog, StorageError> {
        let exists = fs.exists(path).map_err(|e| catalog_err(path, "stat", e))?;
        let mode = if exists {
            OpenMode::ReadWrite
        } else {
            OpenMode::CreateNew
        };
        let file = fs
            .open(path, mode)
            .map_err(|e| catalog_err(path, "open", e))?;
        let db = Database::builder()
            .create_with_backend(FsBackend(file))
            .map_err(|e| catalog_err(path, "open", e))?;
        let txn = db
            .begin_write()
            .map_err(|e| catalog_err(path, "begin", e))?;
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

    pub fn load(&self) -> Result<CatalogState, StorageError> {
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

    /// Writes `ops`, as earlier versions did: for tests of the import.
    #[cfg(test)]
    pub(super) fn commit(&self, ops: &[super::CatalogOp]) -> Result<(), StorageError> {
        let p = &self.path;
        let txn = self
            .db
            .begin_write()
            .map_err(|e| catalog_err(p, "begin", e))?;
        {
            let mut streams = txn
                .open_table(STREAMS)
                .map_err(|e| catalog_err(p, "open table", e))?;
            let mut settings = txn
                .open_table(SETTINGS)
                .map_err(|e| catalog_err(p, "open table", e))?;
            for op in ops {
                match op {
                    super::CatalogOp::PutStream(meta) => {
                        let bytes = serde_json::to_vec(meta)
                            .map_err(|e| catalog_err(p, "encode stream", e))?;
                        streams
                            .insert(meta.key().as_str(), bytes.as_slice())
                            .map_err(|e| catalog_err(p, "insert", e))?;
                    }
                    super::CatalogOp::DeleteStream { key } => {
                        streams
                            .remove(key.as_str())
                            .map_err(|e| catalog_err(p, "remove", e))?;
                    }
                    super::CatalogOp::PutSetting { name, value } => {
                        settings
                            .insert(name.as_str(), value.as_slice())
                            .map_err(|e| catalog_err(p, "insert", e))?;
                    }
                    // Only a shared catalog settles ends late; this store predates it.
                    super::CatalogOp::ShardEnd { .. } => {
                        return Err(StorageError::Catalog(
                            "the legacy catalog takes no shard ends".into(),
                        ))
                    }
                }
            }
        }
        txn.commit().map_err(|e| catalog_err(p, "commit", e))
    }
}
