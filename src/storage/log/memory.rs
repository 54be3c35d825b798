//! A log store in memory, for tests and for running the broker without a disk. It keeps
//! the same contract as the disk store (stamps, read limits, `next_offset`), so the
//! shared behavioural tests hold for both.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::table::LogTable;
use super::{
    Appended, DurableWait, LogBounds, LogId, LogStore, ReadBatch, RecordIn, ShardLog, StoredRecord,
};
use crate::storage::StorageError;

/// Logs as vectors of records; nothing survives the process.
pub struct MemoryLogStore {
    logs: LogTable<MemoryLog>,
    closed: AtomicBool,
}

impl MemoryLogStore {
    pub fn new() -> Arc<MemoryLogStore> {
        Arc::new(MemoryLogStore {
            logs: LogTable::new(HashMap::new()),
            closed: AtomicBool::new(false),
        })
    }
}

struct MemoryLog {
    id: LogId,
    records: RwLock<Records>,
    removed: AtomicBool,
    /// The store's flag, so handles refuse writes after shutdown.
    closed: Arc<AtomicBool>,
}

/// A log's records; `records[i]` has offset `base + i` (trimming moves `base`).
#[derive(Default)]
struct Records {
    base: u64,
    records: VecDeque<StoredRecord>,
    sealed: bool,
}

impl Records {
    fn end(&self) -> u64 {
        self.base + self.records.len() as u64
    }
}

impl LogStore for MemoryLogStore {
    fn create(&self, id: LogId) -> Result<Arc<dyn ShardLog>, StorageError> {
        let log = self.logs.create(id, format!("memory:{id}"), || {
            Ok(Arc::new(MemoryLog {
                id,
                records: RwLock::new(Records::default()),
                removed: AtomicBool::new(false),
                closed: Arc::new(AtomicBool::new(self.closed.load(Ordering::Acquire))),
            }))
        })?;
        Ok(log)
    }

    fn open(&self, id: LogId) -> Result<Arc<dyn ShardLog>, StorageError> {
        Ok(self.logs.get(id)?)
    }

    fn list(&self) -> Result<Vec<LogId>, StorageError> {
        Ok(self.logs.ids())
    }

    fn remove(&self, id: LogId) -> Result<(), StorageError> {
        self.logs.take(id)?.removed.store(true, Ordering::Release);
        Ok(())
    }

    fn shutdown(&self) -> Result<(), StorageError> {
        self.closed.store(true, Ordering::Release);
        for log in self.logs.all() {
            log.closed.store(true, Ordering::Release);
        }
        Ok(())
    }
}

impl MemoryLog {
    fn check_live(&self) -> Result<(), StorageError> {
        if self.removed.load(Ordering::Acquire) {
            return Err(StorageError::LogNotFound(self.id));
        }
        Ok(())
    }
}

impl ShardLog for MemoryLog {
    fn append(&self, now_ms: i64, records: &[RecordIn]) -> Result<Appended, StorageError> {
        self.check_live()?;
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Poisoned("the store was shut down".into()));
        }
        let mut log = self.records.write().unwrap_or_else(|e| e.into_inner());
        if log.sealed {
            return Err(StorageError::Sealed(self.id));
        }
        let ts = log
            .records
            .back()
            .map_or(now_ms, |r| r.timestamp_ms.max(now_ms));
        let first = log.end();
        for (i, r) in records.iter().enumerate() {
            log.records.push_back(StoredRecord {
                offset: first + i as u64,
                timestamp_ms: ts,
                key: r.key.clone(),
                data: r.data.clone(),
            });
        }
        Ok(Appended {
            first_offset: first,
            timestamp_ms: ts,
            durable: DurableWait::Ready,
        })
    }

    fn read(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, StorageError> {
        self.check_live()?;
        let log = self.records.read().unwrap_or_else(|e| e.into_inner());
        let end = log.end();
        let last_ts = log.records.back().map(|r| r.timestamp_ms);
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let start = (from.clamp(log.base, end) - log.base) as usize;
        for r in log.records.range(start..).take(max_records) {
            let size = r.key.len() + r.data.len();
            if !records.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            records.push(r.clone());
        }
        let next_offset = match records.last() {
            Some(r) => r.offset + 1,
            None if max_records == 0 => from.clamp(log.base, end),
            None => end,
        };
        Ok(ReadBatch {
            records,
            next_offset,
            end_offset: end,
            last_timestamp_ms: last_ts,
        })
    }

    fn offset_at_time(&self, timestamp_ms: i64) -> Result<u64, StorageError> {
        self.check_live()?;
        let log = self.records.read().unwrap_or_else(|e| e.into_inner());
        let i = log
            .records
            .partition_point(|r| r.timestamp_ms < timestamp_ms);
        Ok(log.base + i as u64)
    }

    fn bounds(&self) -> LogBounds {
        let log = self.records.read().unwrap_or_else(|e| e.into_inner());
        LogBounds {
            start_offset: log.base,
            end_offset: log.end(),
            last_timestamp_ms: log.records.back().map(|r| r.timestamp_ms),
        }
    }

    fn seal(&self) -> Result<u64, StorageError> {
        self.check_live()?;
        let mut log = self.records.write().unwrap_or_else(|e| e.into_inner());
        log.sealed = true;
        Ok(log.end())
    }

    fn unseal(&self) {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .sealed = false;
    }

    fn trim_before(&self, cutoff_ms: i64) -> Result<u64, StorageError> {
        self.check_live()?;
        let mut log = self.records.write().unwrap_or_else(|e| e.into_inner());
        let mut freed = 0u64;
        while log
            .records
            .front()
            .is_some_and(|r| r.timestamp_ms < cutoff_ms)
        {
            let r = log.records.pop_front().expect("front exists");
            freed += (r.key.len() + r.data.len()) as u64;
            log.base += 1;
        }
        Ok(freed)
    }

    fn stored_bytes(&self) -> u64 {
        let log = self.records.read().unwrap_or_else(|e| e.into_inner());
        log.records
            .iter()
            .map(|r| (r.key.len() + r.data.len()) as u64)
            .sum()
    }
}
