//! The on-disk log store: per-log directories of segment files named by base offset,
//! a sparse index per segment, a durable offset floor per log, and in `Sync` mode one
//! commit journal shared by every log. The byte layout is in `docs/on-disk-format.md`.

#[cfg(test)]
mod explore;
mod floor;
mod format;
mod handles;
mod index;
mod journal;
mod number_file;
mod paths;
mod reader;
mod recovery;
mod segment;
mod shard;
mod syncer;
#[cfg(test)]
mod tests_crash;
#[cfg(test)]
mod tests_files;
#[cfg(test)]
mod tests_journal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use handles::{lock, HandleCache};
use shard::DiskShardLog;
use syncer::{Health, SyncMsg};

use super::table::LogTable;
use super::{Durability, LogId, LogStore, ShardLog};
use crate::storage::fs::{self, Fs};
use crate::storage::StorageError;

/// Tuning of a [`DiskLogStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskOptions {
    pub durability: Durability,
    /// A segment is sealed when the next batch would take it past this size.
    pub segment_max_bytes: u64,
    /// A segment is sealed on the first append after it is this old (counted from its
    /// creation, or from the store's open for a recovered segment).
    pub segment_max_age_ms: u64,
    /// An index entry is written for the first batch after every this many bytes.
    pub index_interval_bytes: u32,
    /// Descriptors the store keeps open at most (a few more may be briefly held by
    /// in-flight reads and syncs).
    pub max_open_files: usize,
    /// `Sync` mode's journal files are rotated, and a checkpoint syncs the segments,
    /// after this many bytes.
    pub journal_file_bytes: u64,
    /// `Sync` mode's journal writes bypass the page cache (`O_DIRECT | O_DSYNC`) where
    /// the filesystem allows it: one trip to the disk per round instead of two.
    pub journal_direct_io: bool,
    /// For deterministic tests: no background threads; the group commit, checkpoints
    /// and `Interval` syncs run only when [`DiskLogStore::step`] is called.
    #[doc(hidden)]
    pub by_hand: bool,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            durability: Durability::Sync,
            segment_max_bytes: 64 << 20,
            segment_max_age_ms: 60 * 60 * 1000,
            index_interval_bytes: 4096,
            max_open_files: 256,
            journal_file_bytes: 64 << 20,
            journal_direct_io: true,
            by_hand: false,
        }
    }
}

/// What every log of a store shares.
pub(crate) struct StoreShared {
    opts: DiskOptions,
    cache: Arc<HandleCache>,
    health: Arc<Health>,
    closed: AtomicBool,
    /// `Interval` mode's sync thread.
    syncer: Option<Sender<SyncMsg>>,
    /// What that thread would read, when the store is stepped by hand.
    syncer_by_hand: Option<Mutex<Receiver<SyncMsg>>>,
    /// `Sync` mode's group commit.
    journal: Option<Arc<journal::Journal>>,
}

impl Drop for StoreShared {
    fn drop(&mut self) {
        if let Some(j) = &self.journal {
            j.join();
        }
    }
}

/// Free space after which a store whose appends failed on a full disk counts as having
/// room again (a new journal file and a segment's worth).
const ROOM_AGAIN: u64 = 128 << 20;

/// The first zero-filled journal file; later ones double up to `journal_file_bytes`.
const FIRST_JOURNAL_FILE: u64 = 1 << 20;

impl StoreShared {
    fn fs(&self) -> &dyn Fs {
        &*self.cache.fs
    }

    fn commit(&self, c: journal::Commit) -> Result<(), StorageError> {
        let journal = self.journal.as_ref().expect("sync mode has a journal");
        journal.submit(c)
    }

    fn send(&self, msg: SyncMsg) -> Result<(), StorageError> {
        let tx = self.syncer.as_ref().expect("sync modes have a sync thread");
        tx.send(msg)
            .map_err(|_| StorageError::Poisoned("the sync thread has stopped".into()))
    }
}

/// A [`LogStore`] of segmented files under one directory.
pub struct DiskLogStore {
    dir: PathBuf,
    shared: Arc<StoreShared>,
    /// Taken by create/open/list/remove only; appends and reads go through the handle.
    logs: LogTable<DiskShardLog>,
    sync_thread: Mutex<Option<JoinHandle<()>>>,
}

impl DiskLogStore {
    /// Opens (creating if needed) the store in `dir` and recovers every log in it.
    pub fn open(dir: &Path, opts: DiskOptions) -> Result<Arc<DiskLogStore>, StorageError> {
        DiskLogStore::open_on(fs::os(), dir, opts)
    }

    /// [`DiskLogStore::open`] on the filesystem `fs` (a simulated disk in tests).
    pub fn open_on(
        fs: Arc<dyn Fs>,
        dir: &Path,
        opts: DiskOptions,
    ) -> Result<Arc<DiskLogStore>, StorageError> {
        let mut opts = opts;
        // Index entries hold 32-bit positions.
        opts.segment_max_bytes = opts.segment_max_bytes.clamp(1, u64::from(u32::MAX));
        let root = paths::logs_root(dir);
        fs::create_dir_all_durably(&*fs, &root)
            .map_err(|e| StorageError::io("create", &root, e))?;
        let health = Arc::new(Health::default());
        let (syncer, sync_thread, syncer_by_hand) = match opts.durability {
            Durability::None | Durability::Sync => (None, None, None),
            Durability::Interval { .. } if opts.by_hand => {
                let (tx, rx) = std::sync::mpsc::channel();
                (Some(tx), None, Some(Mutex::new(rx)))
            }
            Durability::Interval { ms } => {
                let interval = Some(Duration::from_millis(ms.max(1)));
                let (tx, rx) = std::sync::mpsc::channel();
                let h = health.clone();
                let thread = std::thread::Builder::new()
                    .name("shoal-log-sync".into())
                    .spawn(move || syncer::run(rx, h, interval))
                    .map_err(|e| StorageError::io("spawn sync thread", dir, e))?;
                (Some(tx), Some(thread), None)
            }
        };
        let cache = HandleCache::new(fs.clone(), opts.max_open_files);
        let journal_dir = paths::journal_dir(dir);
        // Read before the logs: it says how far each log's unsynced tail is covered.
        let mut replay = journal::replay::read(&fs, &journal_dir)?;
        let mut recovered_logs = Vec::new();
        let mut names = fs
            .read_dir(&root)
            .map_err(|e| StorageError::io("list", &root, e))?;
        names.sort_unstable();
        for name in names {
            let log_dir = root.join(&name);
            if name.ends_with(paths::REMOVED) {
                fs::remove_dir_all(&*fs, &log_dir)
                    .map_err(|e| StorageError::io("remove", &log_dir, e))?;
                paths::sync_dir(&*fs, &root)?;
                continue;
            }
            let Some(id) = paths::parse_log_dir_name(&name) else {
                tracing::warn!(path = %log_dir.display(), "ignoring an unknown entry");
                continue;
            };
            let mut recovered = recovery::recover_log(&log_dir, &cache, opts.index_interval_bytes)?;
            replay.apply(id, &mut recovered)?;
            recovered_logs.push((id, log_dir, recovered));
        }
        // Likewise the log directories' own names.
        paths::sync_dir(&*fs, &root)?;
        let next_seq = replay.next_seq;
        let spares = replay.finish()?;
        let journal = match opts.durability {
            Durability::Sync => {
                let jopts = journal::Options {
                    max_file: opts.journal_file_bytes.max(1),
                    first_file: FIRST_JOURNAL_FILE,
                    direct: opts.journal_direct_io,
                    by_hand: opts.by_hand,
                };
                let j = journal::Journal::start(
                    fs.clone(),
                    &journal_dir,
                    jopts,
                    health.clone(),
                    spares,
                    next_seq,
                )?;
                Some(j)
            }
            _ => None,
        };
        let shared = Arc::new(StoreShared {
            opts,
            cache,
            health,
            closed: AtomicBool::new(false),
            syncer,
            syncer_by_hand,
            journal,
        });
        let mut logs = HashMap::new();
        for (id, log_dir, recovered) in recovered_logs {
            // Offsets between the recovered end and the floor may have been handed out
            // for records lost in a crash: skip them, readers see a gap.
            let next = recovered.end.max(recovered.floor);
            let log = DiskShardLog::new(id, log_dir, shared.clone(), recovered, next);
            logs.insert(id, Arc::new(log));
        }
        Ok(Arc::new(DiskLogStore {
            dir: dir.to_path_buf(),
            shared,
            logs: LogTable::new(logs),
            sync_thread: Mutex::new(sync_thread),
        }))
    }

    /// When opened with `by_hand`: runs the background work due now (the group commit
    /// of every append so far and any checkpoint, or `Interval` mode's syncs).
    #[doc(hidden)]
    pub fn step(&self) {
        if let Some(j) = &self.shared.journal {
            j.step();
        }
        if let Some(rx) = &self.shared.syncer_by_hand {
            // A failure has poisoned the store, which the next append reports.
            let _reported_by_appends = syncer::sync_queued(&lock(rx), &self.shared.health);
        }
    }

    /// Makes the next fsync fail, to test poisoning.
    #[cfg(test)]
    #[allow(dead_code)] // a hook for fault-injection tests
    pub(crate) fn fail_next_sync(&self) {
        self.shared
            .health
            .fail_next_sync
            .store(true, Ordering::Release);
    }

    /// fdatasync calls so far.
    #[cfg(test)]
    pub(crate) fn sync_count(&self) -> u64 {
        self.shared.health.syncs.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    #[allow(dead_code)] // a hook for handle-cache tests
    pub(crate) fn cached_handles(&self) -> usize {
        self.shared.cache.open_count()
    }

    fn check_open(&self) -> Result<(), StorageError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StorageError::Poisoned("the store was shut down".into()));
        }
        self.shared.health.check()
    }
}

impl LogStore for DiskLogStore {
    fn fsync_latency(&self) -> Option<&crate::metrics::Histogram> {
        Some(&self.shared.health.fsync)
    }

    fn poisoned(&self) -> Option<String> {
        self.shared.health.check().err().map(|e| e.to_string())
    }

    fn full(&self) -> Option<String> {
        let why = self.shared.health.full()?;
        // Space freed since the last failed append counts: writes would work again.
        match self.shared.fs().available_space(&self.dir) {
            Ok(free) if free >= ROOM_AGAIN => {
                self.shared.health.clear_full();
                None
            }
            _ => Some(why),
        }
    }

    fn create(&self, id: LogId) -> Result<Arc<dyn ShardLog>, StorageError> {
        self.check_open()?;
        let dir = paths::log_dir(&self.dir, id);
        let fs = self.shared.fs();
        let log = self.logs.create(id, &dir, || {
            fs.create_dir(&dir)
                .map_err(|e| StorageError::io("create log", &dir, e))?;
            let seg = segment::Segment::create(&self.shared.cache, &dir, 0)?;
            // Syncs the log directory too, which makes the segment names durable.
            floor::write_floor(fs, &dir, floor::FLOOR_CHUNK)?;
            paths::sync_dir(fs, &paths::logs_root(&self.dir))?;
            let recovered = recovery::Recovered {
                segments: vec![Arc::new(seg)],
                start: 0,
                end: 0,
                last_ts: None,
                floor: floor::FLOOR_CHUNK,
                index_builder: index::IndexBuilder::new(self.shared.opts.index_interval_bytes),
            };
            Ok(Arc::new(DiskShardLog::new(
                id,
                dir.clone(),
                self.shared.clone(),
                recovered,
                0,
            )))
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
        let log = self.logs.take(id)?;
        log.mark_removed();
        let fs = self.shared.fs();
        let (dir, gone) = (
            paths::log_dir(&self.dir, id),
            paths::removed_log_dir(&self.dir, id),
        );
        let root = paths::logs_root(&self.dir);
        // Renamed first and the rename synced: from then on the log is gone for good,
        // and a crash while its files are deleted leaves a directory `open` finishes off.
        fs.rename(&dir, &gone)
            .map_err(|e| StorageError::io("rename", &dir, e))?;
        paths::sync_dir(fs, &root)?;
        fs::remove_dir_all(fs, &gone).map_err(|e| StorageError::io("remove", &gone, e))?;
        paths::sync_dir(fs, &root)
    }

    fn shutdown(&self) -> Result<(), StorageError> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(j) = &self.shared.journal {
            j.drain();
        }
        let logs = self.logs.all();
        let mut result = Ok(());
        for log in logs {
            if let Err(e) = log.close_for_shutdown() {
                tracing::error!(error = %e, "could not close a log cleanly");
                result = result.and(Err(e));
            }
        }
        if let Some(rx) = &self.shared.syncer_by_hand {
            if let Err(e) = syncer::sync_queued(&lock(rx), &self.shared.health) {
                result = result.and(Err(e));
            }
        } else if let Some(tx) = &self.shared.syncer {
            let (reply, rx) = std::sync::mpsc::channel();
            if tx.send(SyncMsg::Stop(reply)).is_ok() {
                if let Ok(Err(e)) = rx.recv() {
                    result = result.and(Err(e));
                }
            }
        }
        if let Some(j) = &self.shared.journal {
            let synced = result.is_ok();
            result = result.and(j.stop(synced));
        }
        if let Some(thread) = lock(&self.sync_thread).take() {
            if thread.join().is_err() {
                tracing::error!("the sync thread panicked");
            }
        }
        result
    }
}
