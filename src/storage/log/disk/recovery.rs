//! Brings one log back at open: checks the active segment's tail batch by batch,
//! truncates what a crash cut short after the synced part, refuses damage inside the
//! synced part, and rebuilds indexes that are missing or inconsistent. Sealed segments are only header-checked (their
//! batches are CRC-checked when read), so start-up does not scan gigabytes.

use std::path::Path;
use std::sync::Arc;

use super::floor;
use super::format::{self, BatchHeader, FILE_HEADER_LEN, SEGMENT_MAGIC};
use super::handles::{HandleCache, OpenFile};
use super::index::{self, IndexBuilder, IndexEntry};
use super::paths;
use super::segment::{read_batch, read_full, read_header, Segment};
use crate::storage::fs::{Fs, OpenMode};
use crate::storage::StorageError;

/// What a recovered log continues from.
pub(crate) struct Recovered {
    pub segments: Vec<Arc<Segment>>,
    /// Retention deleted everything below this.
    pub start: u64,
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

/// Recovers the segments of the log in `log_dir`; the journal's batches are applied
/// after (`journal::replay`).
pub(crate) fn recover_log(
    log_dir: &Path,
    cache: &Arc<HandleCache>,
    index_interval: u32,
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
    let start = floor::read_start(fs, log_dir)?;
    finish_trim(fs, log_dir, start, &mut bases)?;
    drop_empty_segments(fs, log_dir, &mut bases)?;
    let Some((&last, sealed)) = bases.split_last() else {
        let seg = Segment::create(cache, log_dir, floor)?;
        paths::sync_dir(fs, log_dir)?;
        return Ok(Recovered {
            segments: vec![Arc::new(seg)],
            start,
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
    let (seg, tail) = recover_active(log_dir, cache, last, index_interval)?;
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
    // The names read may be creations a crashed process left unsynced; appends are
    // about to go to the newest of them.
    paths::sync_dir(fs, log_dir)?;
    Ok(Recovered {
        segments,
        start,
        end,
        last_ts,
        floor,
        index_builder: tail.builder,
    })
}

/// Deletes what a retention pass cut short left below `start`.
fn finish_trim(
    fs: &dyn Fs,
    log_dir: &Path,
    start: u64,
    bases: &mut Vec<u64>,
) -> Result<(), StorageError> {
    let below: Vec<u64> = bases.iter().copied().filter(|&b| b < start).collect();
    if below.is_empty() {
        return Ok(());
    }
    for &base in &below {
        for p in [
            paths::segment_log(log_dir, base),
            paths::segment_index(log_dir, base),
        ] {
            match fs.remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("remove", &p, e)),
            }
        }
    }
    paths::sync_dir(fs, log_dir)?;
    bases.retain(|b| *b >= start);
    Ok(())
}

/// Removes segments without a batch when others exist: a roll that failed, or was cut
/// short, before any batch reached its new segment (rolls only leave a segment that
/// holds batches). Kept, such a file would claim offsets that the segment before it
/// went on to hold.
fn drop_empty_segments(
    fs: &dyn Fs,
    log_dir: &Path,
    bases: &mut Vec<u64>,
) -> Result<(), StorageError> {
    let mut empty = Vec::new();
    for &base in bases.iter() {
        let len = open(fs, &paths::segment_log(log_dir, base)).and_then(|f| file_len(&f))?;
        if len <= FILE_HEADER_LEN {
            empty.push(base);
        }
    }
    if empty.len() == bases.len() {
        // No batch anywhere: the newest stays as the log's one segment.
        empty.pop();
    }
    for &base in &empty {
        let path = paths::segment_log(log_dir, base);
        tracing::warn!(path = %path.display(), "removing a segment a failed roll left");
        for p in [path, paths::segment_index(log_dir, base)] {
            match fs.remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("remove", &p, e)),
            }
        }
    }
    if !empty.is_empty() {
        paths::sync_dir(fs, log_dir)?;
        bases.retain(|b| !empty.contains(b));
    }
    Ok(())
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
    let loaded = index::load(fs, &index_path, base, len)?;
    let entries = match loaded.rest {
        // A sealed segment's index was completed and synced when it was sealed.
        None => loaded.entries,
        Some(why) => {
            tracing::warn!(path = %index_path.display(), why, "rebuilding index");
            let (batches, bad) = scan(&file, FILE_HEADER_LEN, len, base)?;
            if let Some(bad) = bad {
                return Err(StorageError::Corrupt {
                    path: file.path,
                    offset: bad.pos,
                    reason: bad.reason,
                });
            }
            let mut entries = build_index(&batches, base, interval, false).0;
            // As sealing left it: the last batch marks how far the sync reached.
            if let Some(b) = batches.last() {
                if entries.last().is_none_or(|e| u64::from(e.position) < b.pos) {
                    entries.push(entry_of(b, base));
                }
            }
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
            out.push(entry_of(b, base));
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
) -> Result<(Segment, Tail), StorageError> {
    let fs = &*cache.fs;
    let file = open(fs, &paths::segment_log(log_dir, base))?;
    let mut len = file_len(&file)?;
    if let Err(reason) = check_header(&file, base)? {
        let mut head = [0u8; FILE_HEADER_LEN as usize];
        let n = read_full(&file, &mut head, 0)?;
        // A header of zeros never reached the disk, so the file was never synced (any
        // sync would have taken the header along) and nothing in it was promised, even
        // if some of its batches were written back before the crash.
        if n == head.len() && head.iter().any(|&b| b != 0) {
            return Err(StorageError::Corrupt {
                path: file.path,
                offset: 0,
                reason,
            });
        }
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
    let loaded = index::load(fs, &index_path, base, len)?;
    if let Some(why) = &loaded.rest {
        tracing::warn!(path = %index_path.display(), why, "index entries past a crash dropped");
    }
    let mut rewrite = loaded.rest.is_some();
    let mut entries = loaded.entries;
    // The batch the file's last entry points at, and every byte before it, were synced
    // before that entry was written (see segment.rs): damage up to there is real.
    let synced = entries.last().map(|e| u64::from(e.position));
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
        if synced.is_some_and(|s| bad.pos <= s) {
            return Err(StorageError::Corrupt {
                path: file.path,
                offset: bad.pos,
                reason: format!("{}, before the end of what was synced", bad.reason),
            });
        }
        // Past the synced part: a write the crash cut short or lost, with whatever
        // came after it, none of which was synced (so none acknowledged, or the
        // journal holds it).
        tracing::warn!(path = %file.path.display(), offset = bad.pos, reason = bad.reason, "truncating writes a crash cut short");
        file.file
            .set_len(bad.pos)
            .map_err(|e| StorageError::io("truncate", &file.path, e))?;
        len = bad.pos;
    }
    // What the scan accepted becomes readable, so it must be durable first. Past the
    // synced part it may be only in the page cache: after a process crash, or after a
    // failed sync, when the kernel keeps pages it marked clean without writing them.
    // Writing those bytes again makes them dirty, so the sync below really writes
    // them. After a clean stop nothing is past the synced part.
    let synced_to = match (entries.last(), batches.first()) {
        (Some(_), Some(b)) => b.pos + b.header.total_len(),
        _ => 0,
    };
    rewrite_range(&file, synced_to, len)?;
    file.file
        .sync_data()
        .map_err(|e| StorageError::io("sync", &file.path, e))?;
    let (added, builder) = build_index(&batches, base, interval, !entries.is_empty());
    rewrite |= !added.is_empty();
    entries.extend(added);
    // The last batch is synced now: its entry marks how far.
    if let Some(b) = batches.last() {
        if entries.last().is_none_or(|e| u64::from(e.position) < b.pos) {
            entries.push(entry_of(b, base));
            rewrite = true;
        }
    }
    if rewrite {
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

fn entry_of(b: &Scanned, base: u64) -> IndexEntry {
    IndexEntry {
        rel_offset: (b.header.base_offset - base) as u32,
        position: b.pos as u32,
        timestamp_ms: b.header.timestamp_ms,
    }
}

/// Writes `from..to` of `file` again with the bytes it holds.
fn rewrite_range(file: &OpenFile, from: u64, to: u64) -> Result<(), StorageError> {
    const CHUNK: u64 = 1 << 20;
    let mut buf = Vec::new();
    let mut at = from;
    while at < to {
        let n = (to - at).min(CHUNK) as usize;
        buf.resize(n, 0);
        let got = read_full(file, &mut buf, at)?;
        file.file
            .write_all_at(&buf[..got], at)
            .map_err(|e| StorageError::io("write", &file.path, e))?;
        if got < n {
            break;
        }
        at += n as u64;
    }
    Ok(())
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
