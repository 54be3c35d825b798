//! The catalog in memory, for tests and `--in-memory`; the file catalog keeps the same
//! maps and persists them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogOp, CatalogState, StreamMeta};
use crate::storage::StorageError;

/// Streams by key, and settings by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Maps {
    pub streams: BTreeMap<String, StreamMeta>,
    pub settings: BTreeMap<String, Vec<u8>>,
}

impl Maps {
    pub fn state(&self) -> CatalogState {
        CatalogState {
            streams: self.streams.values().cloned().collect(),
            settings: self.settings.clone(),
        }
    }

    pub fn apply(&mut self, ops: &[CatalogOp]) {
        for op in ops {
            match op {
                CatalogOp::PutStream(meta) => {
                    self.streams.insert(meta.key(), meta.clone());
                }
                CatalogOp::DeleteStream { key } => {
                    self.streams.remove(key);
                }
                CatalogOp::PutSetting { name, value } => {
                    self.settings.insert(name.clone(), value.clone());
                }
                CatalogOp::ShardEnd {
                    key,
                    log_id,
                    end_offset,
                } => {
                    let shard = self
                        .streams
                        .get_mut(key)
                        .and_then(|m| m.shards.iter_mut().find(|s| s.log_id == *log_id));
                    if let Some(closed) = shard.and_then(|s| s.closed.as_mut()) {
                        closed.end_offset = *end_offset;
                    }
                }
            }
        }
    }
}

/// The in-memory catalog, for tests and `--in-memory`.
#[derive(Default)]
pub struct MemoryCatalog {
    maps: Mutex<Maps>,
}

impl Catalog for MemoryCatalog {
    fn load(&self) -> Result<CatalogState, StorageError> {
        Ok(self.maps.lock().unwrap_or_else(|p| p.into_inner()).state())
    }

    fn commit(&self, ops: &[CatalogOp]) -> Result<(), StorageError> {
        self.maps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(ops);
        Ok(())
    }
}
