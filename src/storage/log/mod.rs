//! The record log abstraction: one append-only log per shard, addressed by offset.
//!
//! Implementations: [`disk`] (segmented files, group commit), [`memory`], and the Kafka
//! store (`storage::kafka`). All must pass the same behavioural tests (`tests` below is
//! generic over `LogStore`).

use std::sync::Arc;

use bytes::Bytes;

use super::StorageError;

pub mod disk;
pub mod memory;
pub(crate) mod table;
#[cfg(test)]
mod tests;

pub use disk::{DiskLogStore, DiskOptions};
pub use memory::MemoryLogStore;

/// Identifies one log. Allocated by the broker, meaningless to storage.
pub type LogId = u64;

/// A sealed log's end while a shared store has not settled it yet.
pub const PENDING_END: u64 = u64::MAX;

/// How far an acknowledged append is guaranteed to survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge only after fdatasync; one sync covers every append that arrived
    /// meanwhile, across all logs (group commit).
    Sync,
    /// Sync in the background every `ms` milliseconds.
    Interval { ms: u64 },
    /// Never sync explicitly; the OS writes back when it likes.
    None,
}

/// One record handed to [`ShardLog::append`].
#[derive(Debug, Clone)]
pub struct RecordIn {
    /// The partition key's UTF-8 bytes (1..=256 characters, so at most 1024 bytes).
    pub key: Bytes,
    pub data: Bytes,
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: u64,
    /// Arrival time in epoch milliseconds, non-decreasing along the log.
    pub timestamp_ms: i64,
    pub key: Bytes,
    pub data: Bytes,
}

/// The result of an append that has been written (and is visible, or will be once
/// `durable` resolves).
#[derive(Debug)]
pub struct Appended {
    /// Offsets `first_offset .. first_offset + n` were given to the `n` records, in order.
    pub first_offset: u64,
    /// The arrival time stamped on every record of the append.
    pub timestamp_ms: i64,
    /// Resolves when the append is durable per the store's [`Durability`] (and visible
    /// to readers). Must be awaited before acknowledging the write.
    pub durable: DurableWait,
}

/// A handle to wait on for durability; ready at once unless the store syncs per write.
pub enum DurableWait {
    Ready,
    Pending(tokio::sync::oneshot::Receiver<Acked>),
    /// A store shared with other nodes learns where the records went only once they
    /// are acknowledged: `Appended`'s offset and stamp are then placeholders, and this
    /// resolves to the real ones (or to `Sealed` when a reshard closed the log first).
    Placed(std::pin::Pin<Box<dyn std::future::Future<Output = Placement> + Send>>),
}

/// Where an acknowledged append landed, when the store decides that at the end.
pub type Placement = Result<(u64, i64), StorageError>;

impl std::fmt::Debug for DurableWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DurableWait::Ready => "Ready",
            DurableWait::Pending(_) => "Pending",
            DurableWait::Placed(_) => "Placed",
        })
    }
}

/// A durable append's answer. A store may hand back a buffer it allocated on the
/// appending thread, to be freed there: glibc's malloc slows down when one thread
/// frees what another allocated (the commit journal's entries, ADR 0003).
pub type Acked = Result<Vec<u8>, StorageError>;

impl DurableWait {
    /// Waits until the append is durable; `Some((first_offset, timestamp_ms))` when the
    /// store placed the records only now.
    pub async fn wait(self) -> Result<Option<(u64, i64)>, StorageError> {
        match self {
            DurableWait::Ready => Ok(None),
            DurableWait::Pending(rx) => match rx.await {
                Ok(acked) => acked.map(|_| None),
                Err(_) => Err(StorageError::Poisoned(
                    "the sync thread stopped before confirming the write".into(),
                )),
            },
            DurableWait::Placed(placed) => placed.await.map(Some),
        }
    }
}

/// What a read returned.
#[derive(Debug, Clone)]
pub struct ReadBatch {
    /// Records with offset >= the requested one, in offset order.
    pub records: Vec<StoredRecord>,
    /// Where the next read should start: one past the last record returned, or the
    /// first readable offset at or after the requested one when nothing was returned.
    /// Never past `end_offset`: reading at or beyond the end gives `end_offset`.
    pub next_offset: u64,
    /// The log's visible end at the time of the read (one past the newest readable record).
    pub end_offset: u64,
    /// Arrival time of the newest readable record, if any.
    pub last_timestamp_ms: Option<i64>,
}

/// The readable extent of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBounds {
    /// The oldest offset still stored (records below it were trimmed or never existed).
    pub start_offset: u64,
    /// One past the newest readable record; the offset the next append will get is
    /// at least this.
    pub end_offset: u64,
    pub last_timestamp_ms: Option<i64>,
}

/// A store of logs.
pub trait LogStore: Send + Sync + 'static {
    /// Creates an empty log. Creating an id that exists is an error.
    fn create(&self, id: LogId) -> Result<Arc<dyn ShardLog>, StorageError>;
    /// Opens a log that exists (after recovery at start-up).
    fn open(&self, id: LogId) -> Result<Arc<dyn ShardLog>, StorageError>;
    /// Ids of every log present.
    fn list(&self) -> Result<Vec<LogId>, StorageError>;
    /// Removes a log and its files. Handles already open fail afterwards.
    fn remove(&self, id: LogId) -> Result<(), StorageError>;
    /// Flushes and syncs everything, then closes files. Later writes fail.
    fn shutdown(&self) -> Result<(), StorageError>;
    /// How long its fdatasync calls take, where it makes any.
    fn fsync_latency(&self) -> Option<&crate::metrics::Histogram> {
        None
    }
    /// Why the store refuses writes, when it does (a failed sync poisoned it): a
    /// restart is what brings it back.
    fn poisoned(&self) -> Option<String> {
        None
    }
    /// Why writes fail for lack of space, while they do: the last append failed on a
    /// full disk and the disk has not had room since.
    fn full(&self) -> Option<String> {
        None
    }
}

/// One shard's log. Appends are serialized per log; different logs proceed in
/// parallel; readers never block writers.
pub trait ShardLog: Send + Sync + 'static {
    /// Appends `records` (at least one) as one batch stamped `max(now_ms, last stamp)`.
    fn append(&self, now_ms: i64, records: &[RecordIn]) -> Result<Appended, StorageError>;
    /// [`ShardLog::append`] for a thread that must not wait for the disk: when the
    /// append would (a segment roll, a floor raise), it changes nothing and returns
    /// [`StorageError::WouldBlock`].
    fn append_quick(&self, now_ms: i64, records: &[RecordIn]) -> Result<Appended, StorageError> {
        self.append(now_ms, records)
    }
    /// Reads up to `max_records` records from `from`, stopping before `max_bytes` of
    /// key+data would be exceeded (but always returning at least one record if any is
    /// readable).
    fn read(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, StorageError>;
    /// The first offset whose arrival time is >= `timestamp_ms`, or the end offset.
    fn offset_at_time(&self, timestamp_ms: i64) -> Result<u64, StorageError>;
    fn bounds(&self) -> LogBounds;
    /// Refuses every later append with [`StorageError::Sealed`] (resharding closed the
    /// shard) and returns the offset one past the last record appended.
    fn seal(&self) -> Result<u64, StorageError>;
    /// Takes appends again after [`ShardLog::seal`], when the reshard that sealed the
    /// log could not be recorded.
    fn unseal(&self);
    /// Called once the reshard that sealed this log is recorded. A store shared with
    /// other nodes settles the log's end only now (it writes a fence, ADR 0005) and
    /// returns it; [`ShardLog::seal`] then returned [`PENDING_END`]. Others return None.
    fn seal_recorded(&self) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }
    /// Settles the end of a log a reshard sealed at `closed_ms` whose sealing node never
    /// recorded it (it died, or its store failed): on a shared store, the first fence
    /// anyone wrote after the reshard, writing one if none is there. Others return None.
    fn complete_seal(&self, _closed_ms: i64) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }
    /// Tells a sealed log where the catalog says it ends (another node sealed it).
    fn ends_at(&self, _end: u64) {}
    /// Deletes stored data all of which is older than `cutoff_ms`: whole sealed segments
    /// on disk (never the segment being appended to). Returns the bytes freed.
    fn trim_before(&self, cutoff_ms: i64) -> Result<u64, StorageError>;
    /// Bytes the log occupies in its store.
    fn stored_bytes(&self) -> u64;
    /// How often a reader following the tail should look again, for a log other
    /// processes append to (their appends wake no one here); None when every append
    /// goes through this process.
    fn tail_poll(&self) -> Option<std::time::Duration> {
        None
    }
    /// Segment files the log occupies (0 for a store without files).
    fn segment_count(&self) -> u64 {
        0
    }
}
