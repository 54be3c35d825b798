//! Brings one log back at open: checks the active segment's tail batch by batch,
//! truncates a torn tail, refuses damage followed by valid data, and rebuilds indexes
//! that are missing or inconsistent. Sealed segments are only header-checked (their
//! batches are CRC-checked when read), so start-up does not scan gigabytes.

use std::path::Path;
use std::sync::Arc;

use super::floor;
use super::format::{self, BatchHeader, BATCH_HEADER_LEN, FILE_HEADER_LEN, SEGMENT_MAGIC};
use super::handles::{HandleCache, OpenFile};
use super::index::{self, IndexBuilder, IndexEntry};
use super::paths;
use super::segment::{read_batch, read_full, read_header, Segment};
use crate::storage::fs::{Fs, OpenMode};
use crate::storage::StorageError;

/// What a recovered log continues from.
pub(crate) struct Recovered {
    pub segments: Vec<Arc<Segment>>,
    /// One past the last record found on disk.
    pub end: u64,
    pub last_ts: Option<i64>,
    pub floor: u64,
    pub index_builder: IndexBuilder,
}

struct Scanned {
    pos: u64,
    header: BatchHeader,
}

/// Where and why a scan met a batch it could not accept.
struct Bad {
    pos: u64,
    reason: String,
}

/// `covered_from`: the journal holds every batch of this log after this offset (see
/// `journal::replay`), so damage past it is an unsynced write the journal restores.
pub(crate) fn recover_log(
    log_dir: &Path,
    cache: &Arc<HandleCache>,
    index_interval: u32,
    covered_from: Option<u64>,
) -> Result<Recovered, StorageError> {
    let fs = &*cache.fs;
    let floor = floor::read_floor(fs, log_dir)?;
    let mut bases = Vec::new();
    let names = fs
        .read_dir(log_dir)
        .map_err(|e| StorageError::io("list", log_dir, e))?;
    for name in names {
        if let Some(base) = paths::parse_segment_name(&name) {
            bases.push(base);
        } else if name.ends_with(".tmp") {
            // Left by a crash between write and rename; the old file is still in place.
            let _best_effort = fs.remove_file(&log_dir.join(&name));
        }
    }
    bases.sort_unstable();
    let Some((&last, sealed)) = bases.split_last() else {
        let seg = Segment::create(cache, log_dir, floor)?;
        paths::sync_dir(fs, log_dir)?;
        return Ok(Recovered {
            segments: vec![Arc::new(seg)],
            end: floor,
            last_ts: None,
            floor,
            index_builder: IndexBuilder::new(index_interval),
        });
    };
    let mut segments = Vec::with_capacity(bases.len());
    for &base in sealed {
        segments.push(Arc::new(recover_sealed(
            log_dir,
            cache,
            base,
            index_interval,
        )?));
    }
    let (seg, tail) = recover_active(log_dir, cache, last, index_interval, covered_from)?;
    let (mut end, mut last_ts) = (last, None);
    if let Some((e, ts)) = tail.last {
        (end, last_ts) = (e, Some(ts));
    } else if let Some(prev) = segments.last() {
        // The active segment is empty (a crash right after a roll): the previous one has
        // the newest records.
        let file = open(fs, &paths::segment_log(log_dir, prev.base))?;
        let start = index_start(
            &prev.index.read().unwrap_or_else(|e| e.into_inner()),
            prev.base,
        );
        let (batches, _) = scan(&file, start.0, prev.size(), start.1)?;
        if let Some(b) = batches.last() {
            end = end.max(b.header.end_offset());
            last_ts = Some(b.header.timestamp_ms);
        }
    }
    segments.push(Arc::new(seg));
    Ok(Recovered {
        segments,
        end,
        last_ts,
        floor,
        index_builder: tail.builder,
    })
}

fn open(fs: &dyn Fs, path: &Path) -> Result<OpenFile, StorageError> {
    let file = fs
        .open(path, OpenMode::ReadWrite)
        .map_err(|e| StorageError::io("open", path, e))?;
    Ok(OpenFile {
        file,
        path: path.to_path_buf(),
    })
}

fn file_len(f: &OpenFile) -> Result<u64, StorageError> {
    f.file
        .len()
        .map_err(|e| StorageError::io("stat", &f.path, e))
}

fn check_header(f: &OpenFile, base: u64) -> Result<Result<(), String>, StorageError> {
    let mut buf = [0u8; FILE_HEADER_LEN as usize];
    let n = read_full(f, &mut buf, 0)?;
    Ok(format::check_file_header(&buf[..n], SEGMENT_MAGIC, base))
}

/// (position, lowest acceptable base offset) to resume scanning from the last entry.
fn index_start(entries: &[IndexEntry], base: u64) -> (u64, u64) {
    entries.last().map_or((FILE_HEADER_LEN, base), |e| {
        (u64::from(e.position), base + u64::from(e.rel_offset))
    })
}

fn recover_sealed(
    log_dir: &Path,
    cache: &Arc<HandleCache>,
    base: u64,
    interval: u32,
) -> Result<Segment, StorageError> {
    let fs = &*cache.fs;
    let file = open(fs, &paths::segment_log(log_dir, base))?;
    if let Err(reason) = check_header(&file, base)? {
        return Err(StorageError::Corrupt {
            path: file.path,
            offset: 0,
            reason,
        });
    }
    let len = file_len(&file)?;
    let index_path = paths::segment_index(log_dir, base);
    let entries = match index::load(fs, &index_path, base, len)? {
        Ok(entries) => entries,
        Err(why) => {
            tracing::warn!(path = %index_path.display(), why, "rebuilding index");
            let (batches, bad) = scan(&file, FILE_HEADER_LEN, len, base)?;
            if let Some(bad) = bad {
                return Err(StorageError::Corrupt {
                    path: file.path,
                    offset: bad.pos,
                    reason: bad.reason,
                });
            }
            let entries = build_index(&batches, base, interval, false).0;
            index::write_all(fs, log_dir, base, &entries)?;
            entries
        }
    };
    Ok(Segment::existing(cache, log_dir, base, len, entries))
}

/// Index entries for scanned batches; `first_indexed` when the first one already has
/// an entry (the scan resumed from it).
fn build_index(
    batches: &[Scanned],
    base: u64,
    interval: u32,
    first_indexed: bool,
) -> (Vec<IndexEntry>, IndexBuilder) {
    let mut builder = IndexBuilder::new(interval);
    let mut out = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        if builder.observe(b.header.total_len()) && !(i == 0 && first_indexed) {
            out.push(IndexEntry {
                rel_offset: (b.header.base_offset - base) as u32,
                position: b.pos as u32,
                timestamp_ms: b.header.timestamp_ms,
            });
        }
    }
    (out, builder)
}

struct Tail {
    /// (end offset, timestamp) of the last valid batch of the segment.
    last: Option<(u64, i64)>,
    builder: IndexBuilder,
}

fn recover_active(
    log_dir: &Path,
    cache: &Arc<HandleCache>,
    base: u64,
    interval: u32,
    covered_from: Option<u64>,
) -> Result<(Segment, Tail), StorageError> {
    let covered = |end: u64| covered_from.is_some_and(|c| end >= c);
    let fs = &*cache.fs;
    let file = open(fs, &paths::segment_log(log_dir, base))?;
    let mut len = file_len(&file)?;
    if let Err(reason) = check_header(&file, base)? {
        let mut head = [0u8; FILE_HEADER_LEN as usize];
        let n = read_full(&file, &mut head, 0)?;
        let never_written = n < head.len()
            || covered(base)
            || (head.iter().all(|&b| b == 0) && !valid_batch_after(&file, 0, len, base)?);
        if !never_written {
            return Err(StorageError::Corrupt {
                path: file.path,
                offset: 0,
                reason,
            });
        }
        // A crash before the unsynced header reached the disk, with nothing valid after it.
        file.file
            .set_len(0)
            .map_err(|e| StorageError::io("truncate", &file.path, e))?;
        tracing::warn!(path = %file.path.display(), "rewriting an incomplete segment header");
        file.file
            .write_all_at(&format::encode_file_header(SEGMENT_MAGIC, base), 0)
            .and_then(|()| file.file.sync_data())
            .map_err(|e| StorageError::io("rewrite header", &file.path, e))?;
        len = FILE_HEADER_LEN;
    }
    let index_path = paths::segment_index(log_dir, base);
    let (mut entries, mut rewrite) = match index::load(fs, &index_path, base, len)? {
        Ok(entries) => (entries, false),
        Err(why) => {
            tracing::warn!(path = %index_path.display(), why, "rebuilding index");
            (Vec::new(), true)
        }
    };
    let (batches, bad) = loop {
        let (start, min_base) = index_start(&entries, base);
        let (batches, bad) = scan(&file, start, len, min_base)?;
        let matches = entries.last().is_none_or(|e| {
            batches.first().is_some_and(|b| {
                b.pos == start
                    && b.header.base_offset == min_base
                    && b.header.timestamp_ms == e.timestamp_ms
            })
        });
        if matches {
            break (batches, bad);
        }
        tracing::warn!(path = %index_path.display(), "index does not match the log; rebuilding");
        entries.clear();
        rewrite = true;
    };
    if let Some(bad) = bad {
        let next_base = batches.last().map_or(base, |b| b.header.end_offset());
        if !covered(next_base) && valid_batch_after(&file, bad.pos, len, next_base)? {
            return Err(StorageError::Corrupt {
                path: file.path,
                offset: bad.pos,
                reason: format!("{}, and valid batches follow", bad.reason),
            });
        }
        tracing::warn!(path = %file.path.display(), offset = bad.pos, reason = bad.reason, "truncating a torn tail");
        file.file
            .set_len(bad.pos)
            .and_then(|()| file.file.sync_data())
            .map_err(|e| StorageError::io("truncate", &file.path, e))?;
        len = bad.pos;
    }
    let (added, builder) = build_index(&batches, base, interval, !entries.is_empty());
    if rewrite || !added.is_empty() {
        entries.extend(added);
        index::write_all(fs, log_dir, base, &entries)?;
    }
    let tail = Tail {
        last: batches
            .last()
            .map(|b| (b.header.end_offset(), b.header.timestamp_ms)),
        builder,
    };
    Ok((Segment::existing(cache, log_dir, base, len, entries), tail))
}

/// Reads batches from `pos` to `len`, checking lengths, CRCs and offset order.
fn scan(
    file: &OpenFile,
    mut pos: u64,
    len: u64,
    mut min_base: u64,
) -> Result<(Vec<Scanned>, Option<Bad>), StorageError> {
    let mut out = Vec::new();
    let mut min_ts = i64::MIN;
    while pos < len {
        let bad = |reason: String| Bad { pos, reason };
        let header = match read_header(file, pos)? {
            None => return Ok((out, Some(bad("incomplete batch header".into())))),
            Some(Err(reason)) => return Ok((out, Some(bad(reason)))),
            Some(Ok(h)) => h,
        };
        if pos + header.total_len() > len {
            return Ok((out, Some(bad("batch runs past the end of the file".into()))));
        }
        if header.base_offset < min_base || header.timestamp_ms < min_ts {
            return Ok((out, Some(bad("offset or timestamp goes backwards".into()))));
        }
        let batch = read_batch(file, pos, &header)?;
        if let Err(reason) = format::check_crc(&header, &batch) {
            return Ok((out, Some(bad(reason))));
        }
        min_base = header.end_offset();
        min_ts = header.timestamp_ms;
        out.push(Scanned { pos, header });
        pos += header.total_len();
    }
    Ok((out, None))
}

/// Whether any complete, CRC-valid batch starts after the damage at `bad_pos`; only
/// then is the damage more than a torn write.
fn valid_batch_after(
    file: &OpenFile,
    bad_pos: u64,
    len: u64,
    min_base: u64,
) -> Result<bool, StorageError> {
    let mut rest = vec![0u8; (len - bad_pos) as usize];
    let n = read_full(file, &mut rest, bad_pos)?;
    rest.truncate(n);
    let hl = BATCH_HEADER_LEN as usize;
    for q in 1..rest.len().saturating_sub(hl - 1) {
        let Ok(h) = BatchHeader::parse(rest[q..q + hl].try_into().unwrap()) else {
            continue;
        };
        let end = q as u64 + h.total_len();
        if h.base_offset >= min_base
            && end <= rest.len() as u64
            && format::check_crc(&h, &rest[q..end as usize]).is_ok()
        {
            return Ok(true);
        }
    }
    Ok(false)
}
