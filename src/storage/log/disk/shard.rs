//! One log of the disk store: the append path (under the log's own mutex), segment
//! rolls, floor reservations, and the hand-off to the journal or the sync thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::floor::{self, FLOOR_CHUNK};
use super::format;
use super::handles::lock;
use super::index::{IndexBuilder, IndexEntry};
use super::journal::file::{ENTRY_HEADER_LEN, MARKER_LEN};
use super::journal::{self, Commit};
use super::reader;
use super::recovery::Recovered;
use super::segment::{Segment, SyncPoint};
use super::syncer::{SyncMsg, Visible};
use super::{paths, StoreShared};
use crate::storage::log::{
    Appended, Durability, DurableWait, LogBounds, LogId, ReadBatch, RecordIn, ShardLog,
};
use crate::storage::StorageError;

/// Unsynced segment bytes after which their writeback is started. A roll syncs the
/// whole segment under the writer lock: with all 64 MiB of it still in the page cache,
/// that stalled the shard's appends for 100 ms and more (`none`, PutRecords of 500 x 1
/// KiB: p99 138-156 ms; 19-39 ms with this).
const WRITEBACK_AHEAD: u64 = 4 << 20;

pub(crate) struct DiskShardLog {
    id: LogId,
    dir: PathBuf,
    store: Arc<StoreShared>,
    /// Oldest first; the last is the active one. Swapped whole on a roll, so readers
    /// take a snapshot without any lock.
    segments: ArcSwap<Vec<Arc<Segment>>>,
    writer: Mutex<Writer>,
    /// Shared with the sync thread, which advances it in `Sync` mode.
    visible: Arc<Visible>,
    removed: AtomicBool,
}

/// State only the appender touches.
struct Writer {
    next_offset: u64,
    last_ts: Option<i64>,
    /// Offsets below this may have been handed out before a crash.
    floor: u64,
    index: IndexBuilder,
    /// Set by `seal`: the shard was closed and takes no more appends.
    sealed: bool,
    /// One past the last record written (below `next_offset` after a restart's gap).
    written_end: u64,
    /// Active-segment bytes below this are synced, or their writeback has started.
    writeback_from: u64,
}

impl DiskShardLog {
    /// `next_offset` is where appends continue: a new log starts at 0, a recovered one
    /// at `max(end, floor)`.
    pub fn new(
        id: LogId,
        dir: PathBuf,
        store: Arc<StoreShared>,
        r: Recovered,
        next_offset: u64,
    ) -> DiskShardLog {
        let writeback_from = r.segments.last().map_or(0, |s| s.size());
        DiskShardLog {
            id,
            dir,
            store,
            segments: ArcSwap::from_pointee(r.segments),
            writer: Mutex::new(Writer {
                next_offset,
                last_ts: r.last_ts,
                floor: r.floor,
                index: r.index_builder,
                sealed: false,
                written_end: r.end,
                writeback_from,
            }),
            visible: Arc::new(Visible::new(next_offset, r.last_ts)),
            removed: AtomicBool::new(false),
        }
    }

    fn check_live(&self) -> Result<(), StorageError> {
        if self.removed.load(Ordering::Acquire) {
            return Err(StorageError::LogNotFound(self.id));
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<(), StorageError> {
        self.check_live()?;
        if self.store.closed.load(Ordering::Acquire) {
            return Err(StorageError::Poisoned("the store was shut down".into()));
        }
        self.store.health.check()
    }

    fn should_roll(&self, seg: &Segment, batch_len: u64, end: u64) -> bool {
        let opts = &self.store.opts;
        seg.has_batches()
            && (seg.size() + batch_len > opts.segment_max_bytes
                || seg.opened_at.elapsed() >= Duration::from_millis(opts.segment_max_age_ms)
                // Index entries hold 32-bit relative offsets.
                || end - seg.base > u64::from(u32::MAX))
    }

    /// Seals the active segment (synced, so only the active one can have a torn tail)
    /// and starts a new one at `base`.
    fn roll(&self, w: &mut Writer, base: u64) -> Result<Arc<Segment>, StorageError> {
        let old = self
            .segments
            .load()
            .last()
            .cloned()
            .expect("a log has a segment");
        old.sync(&self.store.health)?;
        let index = old.index_file.get()?;
        index
            .file
            .sync_data()
            .map_err(|e| StorageError::io("sync", &index.path, e))?;
        let seg = Arc::new(Segment::create(&self.store.cache, &self.dir, base)?);
        paths::sync_dir(self.store.fs(), &self.dir)?;
        self.segments.rcu(|segs| {
            let mut v = Vec::clone(segs);
            v.push(seg.clone());
            v
        });
        w.index = IndexBuilder::new(self.store.opts.index_interval_bytes);
        w.writeback_from = seg.size();
        Ok(seg)
    }

    /// Makes the log unusable and drops its descriptors; the caller deletes the files.
    pub fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
        let _writer = lock(&self.writer);
        for seg in self.segments.load().iter() {
            seg.log.close();
            seg.index_file.close();
        }
    }

    /// Syncs the active segment and lowers the floor to the exact next offset, so a
    /// clean restart leaves no gap; then drops the descriptors.
    pub fn close_for_shutdown(&self) -> Result<(), StorageError> {
        let w = lock(&self.writer);
        let segs = self.segments.load();
        let result = (|| {
            if self.removed.load(Ordering::Acquire) {
                return Ok(());
            }
            let active = segs.last().expect("a log has a segment");
            active.sync(&self.store.health)?;
            let index = active.index_file.get()?;
            index
                .file
                .sync_data()
                .map_err(|e| StorageError::io("sync", &index.path, e))?;
            floor::write_floor(self.store.fs(), &self.dir, w.next_offset)
        })();
        for seg in segs.iter() {
            seg.log.close();
            seg.index_file.close();
        }
        result
    }

    /// An append, noting in the store's health whether the disk was full.
    fn append_noting(
        &self,
        now_ms: i64,
        records: &[RecordIn],
        quick: bool,
    ) -> Result<Appended, StorageError> {
        let result = self.append_locked(now_ms, records, quick);
        match &result {
            Err(e) if e.is_full() => self.store.health.set_full(e.to_string()),
            Err(_) => {}
            Ok(_) => self.store.health.clear_full(),
        }
        result
    }

    /// [`ShardLog::append`] under the log's writer lock; `quick`: refuse instead of
    /// waiting for the disk.
    fn append_locked(
        &self,
        now_ms: i64,
        records: &[RecordIn],
        quick: bool,
    ) -> Result<Appended, StorageError> {
        let mut w = lock(&self.writer);
        self.check_writable()?;
        if w.sealed {
            return Err(StorageError::Sealed(self.id));
        }
        if quick && self.visible.is_fenced() {
            return Err(StorageError::WouldBlock);
        }
        if self.visible.take_fence() {
            // A round that held one of this log's batches failed on a full disk.
            let seg = self
                .segments
                .load()
                .last()
                .cloned()
                .expect("a log has a segment");
            if let Err(e) = seg.sync(&self.store.health) {
                self.visible.fence();
                return Err(e);
            }
        }

        let ts = w.last_ts.map_or(now_ms, |t| t.max(now_ms));
        let first = w.next_offset;
        if records.is_empty() {
            return Ok(Appended {
                first_offset: first,
                timestamp_ms: ts,
                durable: DurableWait::Ready,
            });
        }
        let end = first + records.len() as u64;
        if quick && end > w.floor {
            return Err(StorageError::WouldBlock);
        }
        if end > w.floor {
            let floor = end + FLOOR_CHUNK;
            floor::write_floor(self.store.fs(), &self.dir, floor)?;
            w.floor = floor;
        }
        let journaled = self.store.opts.durability == Durability::Sync;
        let prefix = if journaled { ENTRY_HEADER_LEN } else { 0 };
        let mut buf = format::encode_batch(prefix, first, ts, records);
        let batch = &buf[prefix..];
        let mut seg = self
            .segments
            .load()
            .last()
            .cloned()
            .expect("a log has a segment");
        if self.should_roll(&seg, batch.len() as u64, end) {
            if quick {
                return Err(StorageError::WouldBlock);
            }
            seg = self.roll(&mut w, first)?;
        }
        let file = seg.log.get()?;
        let pos = seg.size();
        if let Err(e) = file.file.write_all_at(batch, pos) {
            // Cut off whatever part landed, or the next batch could follow garbage.
            if let Err(cut) = file.file.set_len(pos) {
                self.store.health.poison(format!(
                    "could not undo a failed write to {}: {cut}",
                    file.path.display()
                ));
            }
            return Err(StorageError::io("write", &file.path, e));
        }
        let entry = IndexEntry {
            rel_offset: (first - seg.base) as u32,
            position: pos as u32,
            timestamp_ms: ts,
        };
        if w.index.observe(batch.len() as u64) {
            seg.push_index(entry);
        }
        let seg_end = pos + batch.len() as u64;
        seg.appended(entry, seg_end);
        // Synced in its segment by its commit round, with only a marker in the journal.
        let in_segment = journaled && journal::in_segment(batch.len());
        if in_segment {
            w.writeback_from = seg_end;
        } else if seg_end.saturating_sub(w.writeback_from) >= WRITEBACK_AHEAD {
            file.file.start_writeback(w.writeback_from, seg_end);
            w.writeback_from = seg_end;
        }
        w.next_offset = end;
        w.last_ts = Some(ts);
        let prev_end = std::mem::replace(&mut w.written_end, end);

        let durable = match self.store.opts.durability {
            Durability::None => {
                self.visible.advance(end, ts);
                DurableWait::Ready
            }
            Durability::Interval { .. } => {
                self.visible.advance(end, ts);
                self.store.send(SyncMsg::Dirty(seg.clone(), file))?;
                DurableWait::Ready
            }
            Durability::Sync => {
                if in_segment {
                    // Only its marker goes to the journal: the batch is freed here, on
                    // the thread that allocated it, instead of being held to the ack.
                    buf.truncate(MARKER_LEN);
                    buf.shrink_to_fit();
                }
                let (done, rx) = tokio::sync::oneshot::channel();
                // Submitted under the writer lock, so this log's commits queue in
                // offset order.
                self.store.commit(Commit {
                    entry: buf,
                    in_segment,
                    log_id: self.id,
                    prev_end,
                    point: SyncPoint {
                        len: seg_end,
                        last: Some(entry),
                    },
                    segment: seg.clone(),
                    file,
                    visible: self.visible.clone(),
                    end,
                    timestamp_ms: ts,
                    done,
                    synced: None,
                })?;
                DurableWait::Pending(rx)
            }
        };
        Ok(Appended {
            first_offset: first,
            timestamp_ms: ts,
            durable,
        })
    }
}

impl ShardLog for DiskShardLog {
    fn append(&self, now_ms: i64, records: &[RecordIn]) -> Result<Appended, StorageError> {
        self.append_noting(now_ms, records, false)
    }

    fn append_quick(&self, now_ms: i64, records: &[RecordIn]) -> Result<Appended, StorageError> {
        self.append_noting(now_ms, records, true)
    }

    fn read(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, StorageError> {
        self.check_live()?;
        let (end, last_ts) = self.visible.get();
        let segs = self.segments.load_full();
        reader::read(&segs, end, last_ts, from, max_records, max_bytes)
    }

    fn offset_at_time(&self, timestamp_ms: i64) -> Result<u64, StorageError> {
        self.check_live()?;
        let (end, last_ts) = self.visible.get();
        let segs = self.segments.load_full();
        reader::offset_at_time(&segs, end, last_ts, timestamp_ms)
    }

    fn seal(&self) -> Result<u64, StorageError> {
        let mut w = lock(&self.writer);
        self.check_live()?;
        w.sealed = true;
        Ok(w.next_offset)
    }

    fn unseal(&self) {
        lock(&self.writer).sealed = false;
    }

    fn trim_before(&self, cutoff_ms: i64) -> Result<u64, StorageError> {
        // The writer lock keeps a roll from swapping the segment list meanwhile.
        let _w = lock(&self.writer);
        self.check_live()?;
        let segs = self.segments.load_full();
        // Timestamps never decrease along the log, so a segment is wholly older than
        // the cutoff when the segment after it starts before the cutoff.
        let expired = segs
            .windows(2)
            .take_while(|pair| pair[1].first_timestamp().is_some_and(|t| t < cutoff_ms))
            .count();
        if expired == 0 {
            return Ok(0);
        }
        // Recorded first: a crash among the deletions below must not leave a newer
        // segment deleted and an older one kept. Recovery finishes the job.
        floor::write_start(self.store.fs(), &self.dir, segs[expired].base)?;
        self.segments.store(Arc::new(segs[expired..].to_vec()));
        let mut freed = 0;
        for seg in &segs[..expired] {
            seg.log.close();
            seg.index_file.close();
            freed += seg.size();
            for path in [
                paths::segment_log(&self.dir, seg.base),
                paths::segment_index(&self.dir, seg.base),
            ] {
                self.store
                    .fs()
                    .remove_file(&path)
                    .map_err(|e| StorageError::io("remove", &path, e))?;
            }
        }
        paths::sync_dir(self.store.fs(), &self.dir)?;
        Ok(freed)
    }

    fn stored_bytes(&self) -> u64 {
        self.segments.load().iter().map(|s| s.size()).sum()
    }

    fn segment_count(&self) -> u64 {
        self.segments.load().len() as u64
    }

    fn bounds(&self) -> LogBounds {
        let (end_offset, last_timestamp_ms) = self.visible.get();
        let start_offset = self.segments.load().first().map_or(end_offset, |s| s.base);
        LogBounds {
            start_offset: start_offset.min(end_offset),
            end_offset,
            last_timestamp_ms,
        }
    }
}
