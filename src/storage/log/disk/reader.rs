//! Reads and time lookups over a snapshot of a log's segments. Nothing here takes the
//! log's append mutex: callers pass the visible end and the segment list they loaded,
//! and file access is positional (`read_at`) on shared descriptors.

use std::sync::Arc;

use bytes::Bytes;

use super::format::{self, BatchHeader, BATCH_HEADER_LEN, FILE_HEADER_LEN};
use super::handles::OpenFile;
use super::index;
use super::segment::{read_batch, read_header, Segment};
use crate::storage::log::{ReadBatch, StoredRecord};
use crate::storage::StorageError;

/// Walks batch headers forward from a position, crossing into later segments.
struct Cursor<'a> {
    segs: &'a [Arc<Segment>],
    seg: usize,
    pos: u64,
    file: Option<Arc<OpenFile>>,
}

impl Cursor<'_> {
    fn file(&mut self) -> Result<Arc<OpenFile>, StorageError> {
        match &self.file {
            Some(f) => Ok(f.clone()),
            None => {
                let f = self.segs[self.seg].log.get()?;
                self.file = Some(f.clone());
                Ok(f)
            }
        }
    }

    /// The next complete batch header, or `None` past the last segment's written bytes.
    fn next(&mut self) -> Result<Option<BatchHeader>, StorageError> {
        loop {
            let Some(seg) = self.segs.get(self.seg) else {
                return Ok(None);
            };
            let size = seg.size();
            if self.pos + BATCH_HEADER_LEN > size {
                self.seg += 1;
                self.pos = FILE_HEADER_LEN;
                self.file = None;
                continue;
            }
            let file = self.file()?;
            let header = match read_header(&file, self.pos)? {
                None => Err("file is shorter than its recorded size".to_string()),
                Some(h) => h,
            };
            let header = header
                .and_then(|h| {
                    (self.pos + h.total_len() <= size)
                        .then_some(h)
                        .ok_or_else(|| "batch runs past the end of the segment".to_string())
                })
                .map_err(|reason| seg.corrupt(self.pos, reason))?;
            return Ok(Some(header));
        }
    }

    fn records(&mut self, header: &BatchHeader) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let file = self.file()?;
        let batch = read_batch(&file, self.pos, header)?;
        format::decode_records(header, batch)
            .map_err(|reason| self.segs[self.seg].corrupt(self.pos, reason))
    }

    fn skip(&mut self, header: &BatchHeader) {
        self.pos += header.total_len();
    }
}

fn start_of(segs: &[Arc<Segment>]) -> u64 {
    segs.first().map_or(0, |s| s.base)
}

/// See [`crate::storage::log::ShardLog::read`]. `next_offset` never moves past `end`.
pub(crate) fn read(
    segs: &[Arc<Segment>],
    end: u64,
    last_ts: Option<i64>,
    from: u64,
    max_records: usize,
    max_bytes: usize,
) -> Result<ReadBatch, StorageError> {
    let from = from.max(start_of(segs));
    let empty = |next_offset| ReadBatch {
        records: Vec::new(),
        next_offset,
        end_offset: end,
        last_timestamp_ms: last_ts,
    };
    if from >= end {
        return Ok(empty(end));
    }
    if max_records == 0 {
        return Ok(empty(from));
    }
    let seg = segs.partition_point(|s| s.base <= from).saturating_sub(1);
    let pos = {
        let entries = segs[seg].index.read().unwrap_or_else(|e| e.into_inner());
        index::by_offset(&entries, segs[seg].base, from)
            .map_or(FILE_HEADER_LEN, |e| u64::from(e.position))
    };
    let mut cursor = Cursor {
        segs,
        seg,
        pos,
        file: None,
    };
    let mut records = Vec::new();
    let mut bytes = 0usize;
    'batches: while let Some(h) = cursor.next()? {
        if h.base_offset >= end {
            break;
        }
        if h.end_offset() <= from {
            cursor.skip(&h);
            continue;
        }
        for (i, (key, data)) in cursor.records(&h)?.into_iter().enumerate() {
            let offset = h.base_offset + i as u64;
            if offset < from {
                continue;
            }
            let size = key.len() + data.len();
            if records.len() >= max_records || (!records.is_empty() && bytes + size > max_bytes) {
                break 'batches;
            }
            bytes += size;
            records.push(StoredRecord {
                offset,
                timestamp_ms: h.timestamp_ms,
                key,
                data,
            });
        }
        cursor.skip(&h);
    }
    let next_offset = records.last().map_or(end, |r: &StoredRecord| r.offset + 1);
    Ok(ReadBatch {
        records,
        next_offset,
        end_offset: end,
        last_timestamp_ms: last_ts,
    })
}

/// See [`crate::storage::log::ShardLog::offset_at_time`].
pub(crate) fn offset_at_time(
    segs: &[Arc<Segment>],
    end: u64,
    last_ts: Option<i64>,
    ts: i64,
) -> Result<u64, StorageError> {
    if last_ts.is_none_or(|t| t < ts) {
        return Ok(end);
    }
    // Segments whose first batch is older than `ts`: the answer is in the last of them
    // or at the start of the one after.
    let older = segs.partition_point(|s| s.first_timestamp().is_some_and(|t| t < ts));
    let (seg, pos) = match older.checked_sub(1) {
        None => (0, FILE_HEADER_LEN),
        Some(i) => {
            let entries = segs[i].index.read().unwrap_or_else(|e| e.into_inner());
            (
                i,
                index::before_time(&entries, ts).map_or(FILE_HEADER_LEN, |e| u64::from(e.position)),
            )
        }
    };
    let mut cursor = Cursor {
        segs,
        seg,
        pos,
        file: None,
    };
    while let Some(h) = cursor.next()? {
        if h.base_offset >= end {
            break;
        }
        if h.timestamp_ms >= ts {
            return Ok(h.base_offset);
        }
        cursor.skip(&h);
    }
    Ok(end)
}
