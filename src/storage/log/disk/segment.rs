//! One segment: a `.log` file of batches starting at a base offset, plus its index.
//!
//! An index entry reaches the index file only once the batch it points at was synced:
//! recovery then trusts every batch up to the file's last entry, and knows that damage
//! after it is an unsynced write cut short, not lost data.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;

use super::format::{
    self, BatchHeader, BATCH_HEADER_LEN, FILE_HEADER_LEN, INDEX_MAGIC, SEGMENT_MAGIC,
};
use super::handles::{lock, HandleCache, OpenFile, Slot};
use super::index::{IndexEntry, INDEX_ENTRY_LEN};
use super::paths;
use crate::storage::fs::OpenMode;
use crate::storage::StorageError;

#[derive(Debug)]
pub(crate) struct Segment {
    pub base: u64,
    pub log: Arc<Slot>,
    pub index_file: Arc<Slot>,
    /// Bytes of the log file that hold complete batches; readers never look past it.
    pub size: AtomicU64,
    /// The whole index, in memory: small (16 bytes per `index_interval_bytes`).
    pub index: RwLock<Vec<IndexEntry>>,
    /// For rolling by age; a recovered segment's age counts from when it was opened.
    pub opened_at: Instant,
    /// The last batch appended, set after `size` covers it: where a sync begun now ends.
    tail: Mutex<Option<IndexEntry>>,
    /// What of the index the file holds.
    on_disk: Mutex<DiskIndex>,
}

/// How far a sync of a segment reaches, taken before it begins.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncPoint {
    /// Every byte below this was written before the sync began.
    pub len: u64,
    /// The last batch below `len`.
    pub last: Option<IndexEntry>,
}

/// The index file's part of the index.
#[derive(Debug, Default)]
struct DiskIndex {
    /// Entries of the in-memory index already written.
    from_memory: usize,
    /// Entries in the file: those, and one for the last batch of each sync.
    in_file: u64,
    /// Position of the file's last entry.
    last_pos: Option<u32>,
}

impl Segment {
    /// Wraps files that exist: recovery decides `size`, and `index` is what the index
    /// file holds, its last entry at the segment's last batch.
    pub fn existing(
        cache: &Arc<HandleCache>,
        log_dir: &Path,
        base: u64,
        size: u64,
        index: Vec<IndexEntry>,
    ) -> Segment {
        let on_disk = DiskIndex {
            from_memory: index.len(),
            in_file: index.len() as u64,
            last_pos: index.last().map(|e| e.position),
        };
        Segment {
            base,
            log: Slot::new(cache, paths::segment_log(log_dir, base), true),
            index_file: Slot::new(cache, paths::segment_index(log_dir, base), true),
            size: AtomicU64::new(size),
            tail: Mutex::new(index.last().copied()),
            index: RwLock::new(index),
            opened_at: Instant::now(),
            on_disk: Mutex::new(on_disk),
        }
    }

    /// Creates both files with their headers, unsynced: a lost header is rewritten at
    /// recovery, and the caller syncs the directory so the names survive. A file that
    /// already has the name is a leftover of an earlier attempt that failed or was cut
    /// short (no segment holds offsets from `base` yet), so it is cut to nothing.
    pub fn create(
        cache: &Arc<HandleCache>,
        log_dir: &Path,
        base: u64,
    ) -> Result<Segment, StorageError> {
        let files = [
            (paths::segment_log(log_dir, base), SEGMENT_MAGIC),
            (paths::segment_index(log_dir, base), INDEX_MAGIC),
        ];
        for (path, magic) in &files {
            let made = cache
                .fs
                .open(path, OpenMode::CreateTruncate)
                .map_err(|e| StorageError::io("create", path, e))
                .and_then(|f| {
                    f.write_all_at(&format::encode_file_header(*magic, base), 0)
                        .map_err(|e| StorageError::io("write", path, e))
                });
            if let Err(e) = made {
                // Not left to claim offsets the segment before it goes on to hold
                // (recovery would remove it too, being empty).
                for (p, _) in &files {
                    let _best_effort = cache.fs.remove_file(p);
                }
                return Err(e);
            }
        }
        Ok(Segment::existing(
            cache,
            log_dir,
            base,
            FILE_HEADER_LEN,
            Vec::new(),
        ))
    }

    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub fn has_batches(&self) -> bool {
        self.size() > FILE_HEADER_LEN
    }

    /// Stamp of the segment's first batch (always indexed), if it has one.
    pub fn first_timestamp(&self) -> Option<i64> {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        index
            .first()
            .filter(|e| u64::from(e.position) == FILE_HEADER_LEN)
            .map(|e| e.timestamp_ms)
    }

    /// Records an entry in the in-memory index; the file gets it once its batch is
    /// synced ([`Segment::synced`]).
    pub fn push_index(&self, entry: IndexEntry) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        index.push(entry);
    }

    /// Makes `size` cover a batch just written at `entry.position`, ending at `end`.
    pub fn appended(&self, entry: IndexEntry, end: u64) {
        self.size.store(end, Ordering::Release);
        // After `size`, so a sync point that sees this batch covers it.
        *lock(&self.tail) = Some(entry);
    }

    /// Where a sync begun now will reach.
    pub fn sync_point(&self) -> SyncPoint {
        let last = *lock(&self.tail);
        SyncPoint {
            len: self.size(),
            last,
        }
    }

    /// After a sync from `point` succeeded: writes the index entries of the batches it
    /// covered, and one for its last batch, to the index file (unsynced: an entry lost
    /// in a crash only makes recovery scan further). A failed write is tried again
    /// with the next sync.
    pub fn synced(&self, point: SyncPoint) {
        let mut d = lock(&self.on_disk);
        let mut out = Vec::new();
        let mut last_pos = d.last_pos;
        let mut from_memory = d.from_memory;
        {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            for e in index[from_memory.min(index.len())..]
                .iter()
                .take_while(|e| u64::from(e.position) < point.len)
            {
                out.extend_from_slice(&e.encode());
                last_pos = Some(e.position);
                from_memory += 1;
            }
        }
        if let Some(t) = point.last {
            if last_pos.is_none_or(|p| t.position > p) {
                out.extend_from_slice(&t.encode());
                last_pos = Some(t.position);
            }
        }
        if out.is_empty() {
            return;
        }
        let at = FILE_HEADER_LEN + d.in_file * INDEX_ENTRY_LEN;
        let written = self.index_file.get().and_then(|f| {
            f.file
                .write_all_at(&out, at)
                .map_err(|e| StorageError::io("write", &f.path, e))
        });
        match written {
            Ok(()) => {
                d.in_file += out.len() as u64 / INDEX_ENTRY_LEN;
                d.from_memory = from_memory;
                d.last_pos = last_pos;
            }
            Err(e) => tracing::warn!(error = %e, "could not write index entries"),
        }
    }

    /// Syncs the segment's log file through `health`, then records how far it reached.
    pub fn sync(&self, health: &super::syncer::Health) -> Result<(), StorageError> {
        self.sync_through(&*self.log.get()?, health)
    }

    /// [`Segment::sync`] through `file`, a descriptor that wrote to it: an error of a
    /// write is reported to the descriptors open when it happened.
    pub fn sync_through(
        &self,
        file: &OpenFile,
        health: &super::syncer::Health,
    ) -> Result<(), StorageError> {
        let point = self.sync_point();
        health.sync(file)?;
        self.synced(point);
        Ok(())
    }

    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    pub fn corrupt(&self, offset: u64, reason: String) -> StorageError {
        StorageError::Corrupt {
            path: self.log_path().to_path_buf(),
            offset,
            reason,
        }
    }
}

/// Reads the batch header at `pos`; `None` when the file ends first.
pub(crate) fn read_header(
    file: &OpenFile,
    pos: u64,
) -> Result<Option<Result<BatchHeader, String>>, StorageError> {
    let mut buf = [0u8; BATCH_HEADER_LEN as usize];
    let n = read_full(file, &mut buf, pos)?;
    if n < buf.len() {
        return Ok(None);
    }
    Ok(Some(BatchHeader::parse(&buf)))
}

/// Reads a whole batch (from its length field) into a shared buffer.
pub(crate) fn read_batch(
    file: &OpenFile,
    pos: u64,
    header: &BatchHeader,
) -> Result<Bytes, StorageError> {
    let mut buf = vec![0u8; header.total_len() as usize];
    let n = read_full(file, &mut buf, pos)?;
    buf.truncate(n);
    Ok(Bytes::from(buf))
}

/// `read_at` until the buffer is full or the file ends; returns the bytes read.
pub(crate) fn read_full(file: &OpenFile, buf: &mut [u8], pos: u64) -> Result<usize, StorageError> {
    let mut done = 0;
    while done < buf.len() {
        match file.file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StorageError::io("read", &file.path, e)),
        }
    }
    Ok(done)
}
