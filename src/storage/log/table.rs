//! The id -> log map both stores keep: creating an id twice is an error, and removing
//! takes the log out so its handles can be marked dead.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::LogId;
use crate::storage::StorageError;

pub(crate) struct LogTable<T> {
    logs: RwLock<HashMap<LogId, Arc<T>>>,
}

impl<T> LogTable<T> {
    pub fn new(logs: HashMap<LogId, Arc<T>>) -> Self {
        LogTable {
            logs: RwLock::new(logs),
        }
    }

    /// Inserts the log `make` builds, unless `id` exists. `make` runs under the table's
    /// write lock, so two creators of one id cannot both build it.
    pub fn create(
        &self,
        id: LogId,
        what: impl Into<std::path::PathBuf>,
        make: impl FnOnce() -> Result<Arc<T>, StorageError>,
    ) -> Result<Arc<T>, StorageError> {
        let mut logs = self.logs.write().unwrap_or_else(|e| e.into_inner());
        if logs.contains_key(&id) {
            let e = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "log exists");
            return Err(StorageError::io("create log", what, e));
        }
        let log = make()?;
        logs.insert(id, log.clone());
        Ok(log)
    }

    pub fn get(&self, id: LogId) -> Result<Arc<T>, StorageError> {
        let logs = self.logs.read().unwrap_or_else(|e| e.into_inner());
        logs.get(&id).cloned().ok_or(StorageError::LogNotFound(id))
    }

    /// Every id, ascending.
    pub fn ids(&self) -> Vec<LogId> {
        let logs = self.logs.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<LogId> = logs.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn take(&self, id: LogId) -> Result<Arc<T>, StorageError> {
        let mut logs = self.logs.write().unwrap_or_else(|e| e.into_inner());
        logs.remove(&id).ok_or(StorageError::LogNotFound(id))
    }

    /// Every log, by ascending id (one order, so a store stepped by hand makes the same
    /// I/O every run).
    pub fn all(&self) -> Vec<Arc<T>> {
        let logs = self.logs.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<(LogId, Arc<T>)> = logs.iter().map(|(&id, l)| (id, l.clone())).collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all.into_iter().map(|(_, l)| l).collect()
    }
}
