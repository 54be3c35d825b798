//! One segment: a `.log` file of batches starting at a base offset, plus its index.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;

use super::format::{
    self, BatchHeader, BATCH_HEADER_LEN, FILE_HEADER_LEN, INDEX_MAGIC, SEGMENT_MAGIC,
};
use super::handles::{HandleCache, OpenFile, Slot};
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
}

impl Segment {
    /// Wraps files that exist (recovery decides `size` and `index`).
    pub fn existing(
        cache: &Arc<HandleCache>,
        log_dir: &Path,
        base: u64,
        size: u64,
        index: Vec<IndexEntry>,
    ) -> Segment {
        Segment {
            base,
            log: Slot::new(cache, paths::segment_log(log_dir, base), true),
            index_file: Slot::new(cache, paths::segment_index(log_dir, base), true),
            size: AtomicU64::new(size),
            index: RwLock::new(index),
            opened_at: Instant::now(),
        }
    }

    /// Creates both files with their headers, unsynced: a lost header is rewritten at
    /// recovery, and the caller syncs the directory so the names survive.
    pub fn create(
        cache: &Arc<HandleCache>,
        log_dir: &Path,
        base: u64,
    ) -> Result<Segment, StorageError> {
        for (path, magic) in [
            (paths::segment_log(log_dir, base), SEGMENT_MAGIC),
            (paths::segment_index(log_dir, base), INDEX_MAGIC),
        ] {
            let f = cache
                .fs
                .open(&path, OpenMode::CreateNew)
                .map_err(|e| StorageError::io("create", &path, e))?;
            f.write_all_at(&format::encode_file_header(magic, base), 0)
                .map_err(|e| StorageError::io("write", &path, e))?;
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

    /// Records an entry in memory and, best effort, in the index file.
    pub fn push_index(&self, entry: IndexEntry) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        let at = FILE_HEADER_LEN + index.len() as u64 * INDEX_ENTRY_LEN;
        let written = self.index_file.get().and_then(|f| {
            f.file
                .write_all_at(&entry.encode(), at)
                .map_err(|e| StorageError::io("write", &f.path, e))
        });
        if let Err(e) = written {
            // The index is rebuilt at open when inconsistent, so losing an entry is only slower.
            tracing::warn!(error = %e, "could not write an index entry");
        }
        index.push(entry);
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
