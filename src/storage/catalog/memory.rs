//! The catalog in memory, for tests and `--in-memory`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Catalog, CatalogOp, CatalogState, StreamMeta};
use crate::storage::StorageError;

/// Streams by key, and settings by name.
type MemoryState = (BTreeMap<String, StreamMeta>, BTreeMap<String, Vec<u8>>);

/// The in-memory catalog, for tests and `--in-memory`.
#[derive(Default)]
pub struct MemoryCatalog {
    state: Mutex<MemoryState>,
}

impl Catalog for MemoryCatalog {
    fn load(&self) -> Result<CatalogState, StorageError> {
        let g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(CatalogState {
            streams: g.0.values().cloned().collect(),
            settings: g.1.clone(),
        })
    }

    fn commit(&self, ops: &[CatalogOp]) -> Result<(), StorageError> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for op in ops {
            match op {
                CatalogOp::PutStream(meta) => {
                    g.0.insert(meta.key(), meta.clone());
                }
                CatalogOp::DeleteStream { key } => {
                    g.0.remove(key);
                }
                CatalogOp::PutSetting { name, value } => {
                    g.1.insert(name.clone(), value.clone());
                }
            }
        }
        Ok(())
    }
}
