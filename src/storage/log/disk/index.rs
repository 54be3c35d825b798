//! The sparse index of a segment: fixed-width entries (relative offset, file position,
//! timestamp) that serve both offset and time lookups. It is advisory: whenever it is
//! missing or inconsistent it is rebuilt from the log, so it is never synced per write.

use std::path::Path;

use super::format::{self, FILE_HEADER_LEN, INDEX_MAGIC};
use super::paths;
use crate::storage::fs::{self, Fs, OpenMode};
use crate::storage::StorageError;

pub(crate) const INDEX_ENTRY_LEN: u64 = 16;

/// Points at the start of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// The batch's base offset minus the segment's base offset.
    pub rel_offset: u32,
    /// Byte position of the batch in the segment file.
    pub position: u32,
    pub timestamp_ms: i64,
}

impl IndexEntry {
    pub fn encode(&self) -> [u8; INDEX_ENTRY_LEN as usize] {
        let mut b = [0u8; INDEX_ENTRY_LEN as usize];
        b[0..4].copy_from_slice(&self.rel_offset.to_le_bytes());
        b[4..8].copy_from_slice(&self.position.to_le_bytes());
        b[8..16].copy_from_slice(&self.timestamp_ms.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> IndexEntry {
        IndexEntry {
            rel_offset: u32::from_le_bytes(b[0..4].try_into().unwrap()),
            position: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            timestamp_ms: i64::from_le_bytes(b[8..16].try_into().unwrap()),
        }
    }
}

/// Decides which batches get an entry: the first of a segment, then the first batch
/// after every `interval` bytes of log.
#[derive(Debug, Clone)]
pub(crate) struct IndexBuilder {
    interval: u64,
    since_last: u64,
}

impl IndexBuilder {
    pub fn new(interval: u32) -> IndexBuilder {
        IndexBuilder {
            interval: u64::from(interval.max(1)),
            since_last: u64::MAX,
        }
    }

    /// Called once per batch in file order; true if this batch gets an entry.
    pub fn observe(&mut self, batch_len: u64) -> bool {
        let index_it = self.since_last >= self.interval;
        if index_it {
            self.since_last = 0;
        }
        self.since_last = self.since_last.saturating_add(batch_len);
        index_it
    }
}

/// An index file as read back.
pub(crate) struct Loaded {
    /// Its longest consistent prefix.
    pub entries: Vec<IndexEntry>,
    /// Why the rest (if any) was left out; the file should then be rewritten.
    pub rest: Option<String>,
}

/// Loads and checks an index: entries must be increasing and point inside a log of
/// `log_len` bytes. The file is only ever appended to, so the entries before the first
/// bad one (a crash's lost or torn write) still hold.
pub(crate) fn load(
    fs: &dyn Fs,
    path: &Path,
    base_offset: u64,
    log_len: u64,
) -> Result<Loaded, StorageError> {
    let bytes = match fs::read_file(fs, path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(rejected("missing")),
        Err(e) => return Err(StorageError::io("read", path, e)),
    };
    if let Err(why) = format::check_file_header(&bytes, INDEX_MAGIC, base_offset) {
        return Ok(rejected(why));
    }
    let body = &bytes[FILE_HEADER_LEN as usize..];
    let mut entries: Vec<IndexEntry> = Vec::with_capacity(body.len() / INDEX_ENTRY_LEN as usize);
    for (i, e) in body
        .chunks_exact(INDEX_ENTRY_LEN as usize)
        .map(IndexEntry::decode)
        .enumerate()
    {
        let inside = u64::from(e.position) >= FILE_HEADER_LEN && u64::from(e.position) < log_len;
        let increasing = entries.last().is_none_or(|prev| {
            e.rel_offset > prev.rel_offset
                && e.position > prev.position
                && e.timestamp_ms >= prev.timestamp_ms
        });
        if !inside || !increasing {
            let why = format!("entry {i} points outside the log or goes backwards");
            return Ok(Loaded {
                entries,
                rest: Some(why),
            });
        }
        entries.push(e);
    }
    let rest = (body.len() as u64 % INDEX_ENTRY_LEN != 0).then(|| "truncated entry".to_string());
    Ok(Loaded { entries, rest })
}

fn rejected(why: impl Into<String>) -> Loaded {
    Loaded {
        entries: Vec::new(),
        rest: Some(why.into()),
    }
}

/// Replaces an index file with `entries` (temporary name, then rename).
pub(crate) fn write_all(
    fs: &dyn Fs,
    log_dir: &Path,
    base_offset: u64,
    entries: &[IndexEntry],
) -> Result<(), StorageError> {
    let tmp = paths::index_tmp(log_dir, base_offset);
    let mut buf = Vec::with_capacity(FILE_HEADER_LEN as usize + entries.len() * 16);
    buf.extend_from_slice(&format::encode_file_header(INDEX_MAGIC, base_offset));
    for e in entries {
        buf.extend_from_slice(&e.encode());
    }
    let f = fs
        .open(&tmp, OpenMode::CreateTruncate)
        .map_err(|e| StorageError::io("create", &tmp, e))?;
    f.write_all_at(&buf, 0)
        .map_err(|e| StorageError::io("write", &tmp, e))?;
    let path = paths::segment_index(log_dir, base_offset);
    fs.rename(&tmp, &path)
        .map_err(|e| StorageError::io("rename", &path, e))
}

/// The last entry for a batch starting at or before `offset`.
pub(crate) fn by_offset(entries: &[IndexEntry], base: u64, offset: u64) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| base + u64::from(e.rel_offset) <= offset);
    n.checked_sub(1).map(|i| entries[i])
}

/// The last entry stamped before `ts`: every batch before it is older than `ts` too.
pub(crate) fn before_time(entries: &[IndexEntry], ts: i64) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.timestamp_ms < ts);
    n.checked_sub(1).map(|i| entries[i])
}
