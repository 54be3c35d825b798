//! What syncing shares: the store's health (the poisoning that follows a failed sync),
//! the visible end of each log, and the one sync thread of `Interval` mode (periodic
//! syncs of every dirty file). `Sync` mode's group commit is in `journal`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::handles::{lock, OpenFile};
use super::segment::Segment;
use crate::storage::StorageError;

/// Whether the store may still write; shared by appenders and the sync thread.
#[derive(Debug, Default)]
pub(crate) struct Health {
    poisoned: AtomicBool,
    reason: Mutex<Option<String>>,
    /// Every fdatasync's duration.
    pub fsync: crate::metrics::Histogram,
    /// Set while the last append failed on a full disk (and no append has succeeded
    /// since): why.
    full: Mutex<Option<String>>,
    full_flag: AtomicBool,
    /// Test hook: the next sync fails as if the disk had returned EIO.
    #[cfg(test)]
    pub fail_next_sync: AtomicBool,
    /// Test counter of fdatasync calls, to show that group commit shares them.
    #[cfg(test)]
    pub syncs: std::sync::atomic::AtomicU64,
}

impl Health {
    pub fn poison(&self, why: String) {
        let mut reason = lock(&self.reason);
        reason.get_or_insert(why);
        self.poisoned.store(true, Ordering::Release);
    }

    pub fn set_full(&self, why: String) {
        *lock(&self.full) = Some(why);
        self.full_flag.store(true, Ordering::Release);
    }

    pub fn clear_full(&self) {
        // A load first: every append calls this, and a swap would write the shared
        // cache line each time.
        if self.full_flag.load(Ordering::Acquire) && self.full_flag.swap(false, Ordering::AcqRel) {
            *lock(&self.full) = None;
        }
    }

    /// Why appends fail on a full disk, if the last one did.
    pub fn full(&self) -> Option<String> {
        if !self.full_flag.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.full).clone()
    }

    pub fn check(&self) -> Result<(), StorageError> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(StorageError::Poisoned(
            lock(&self.reason).clone().unwrap_or_default(),
        ))
    }

    /// Syncs one file (see [`Health::durably`]).
    pub fn sync(&self, file: &OpenFile) -> Result<(), StorageError> {
        self.durably(&file.path, || file.file.sync_data())
    }

    /// Runs `op`, which makes writes to `path` durable (an fdatasync, or a write that
    /// waits for the disk), and times it. A failure poisons the store, because after a
    /// failed fsync the kernel may have dropped the dirty pages and nothing written
    /// since can be trusted.
    pub fn durably(
        &self,
        path: &Path,
        op: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), StorageError> {
        self.timed(path, false, op)
    }

    /// [`Health::durably`] for a write that waits for the disk (`O_DSYNC`): one the
    /// disk has no room for fails with `Full` and poisons nothing.
    pub fn write_durably(
        &self,
        path: &Path,
        op: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), StorageError> {
        self.timed(path, true, op)
    }

    fn timed(
        &self,
        path: &Path,
        write: bool,
        op: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), StorageError> {
        self.check()?;
        #[cfg(test)]
        self.syncs.fetch_add(1, Ordering::Relaxed);
        #[cfg(test)]
        let injected = self.fail_next_sync.swap(false, Ordering::AcqRel);
        #[cfg(not(test))]
        let injected = false;
        let result = if injected {
            Err(std::io::Error::other("injected fsync failure"))
        } else {
            let started = Instant::now();
            let r = op();
            self.fsync.observe(started.elapsed());
            r
        };
        result.map_err(|e| {
            if write && e.kind() == std::io::ErrorKind::StorageFull {
                // A write the disk had no room for: nothing written before it is lost,
                // and it is tried again.
                return StorageError::Full(format!("writing {} failed: {e}", path.display()));
            }
            tracing::error!(path = %path.display(), error = %e, "a sync failed; the store refuses further writes");
            // Names both ways of making writes durable: an fdatasync, or a direct write.
            let why = format!("making writes to {} durable failed: {e}", path.display());
            self.poison(why);
            StorageError::io("sync", path, e)
        })
    }
}

/// The part of a log the sync thread makes visible once its bytes are durable.
#[derive(Debug, Default)]
pub(crate) struct Visible {
    state: Mutex<(u64, Option<i64>)>,
    /// A journal round that held one of the log's batches failed on a full disk: the
    /// log's segment must be synced before its next append.
    fenced: AtomicBool,
}

impl Visible {
    pub fn new(end: u64, last_ts: Option<i64>) -> Visible {
        Visible {
            state: Mutex::new((end, last_ts)),
            fenced: AtomicBool::new(false),
        }
    }

    pub fn fence(&self) {
        self.fenced.store(true, Ordering::Release);
    }

    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Acquire)
    }

    /// Whether the log was fenced; clears the fence.
    pub fn take_fence(&self) -> bool {
        self.fenced.swap(false, Ordering::AcqRel)
    }

    pub fn get(&self) -> (u64, Option<i64>) {
        *lock(&self.state)
    }

    /// Only moves forward, so visibility advances strictly in offset order.
    pub fn advance(&self, end: u64, ts: i64) {
        let mut s = lock(&self.state);
        if end > s.0 {
            *s = (end, Some(s.1.map_or(ts, |t| t.max(ts))));
        }
    }
}

pub(crate) type Done = tokio::sync::oneshot::Sender<crate::storage::log::Acked>;

pub(crate) enum SyncMsg {
    /// The segment has unsynced writes, made through this descriptor.
    Dirty(Arc<Segment>, Arc<OpenFile>),
    /// Sync everything queued so far, reply, and stop.
    Stop(std::sync::mpsc::Sender<Result<(), StorageError>>),
}

struct Round {
    /// By path, so that syncs run in one order (a store stepped by hand makes the
    /// same I/O every run).
    dirty: BTreeMap<PathBuf, (Arc<Segment>, Arc<OpenFile>)>,
    stop: Option<std::sync::mpsc::Sender<Result<(), StorageError>>>,
}

impl Round {
    fn take(&mut self, msg: SyncMsg) {
        match msg {
            SyncMsg::Dirty(seg, file) => {
                self.dirty.entry(file.path.clone()).or_insert((seg, file));
            }
            SyncMsg::Stop(reply) => self.stop = Some(reply),
        }
    }

    /// Syncs each dirty file once.
    fn complete(&mut self, health: &Health) -> Result<(), StorageError> {
        std::mem::take(&mut self.dirty)
            .into_values()
            .try_for_each(|(seg, file)| seg.sync_through(&file, health))
    }
}

/// By hand (no sync thread): syncs every file queued so far.
pub(crate) fn sync_queued(rx: &Receiver<SyncMsg>, health: &Health) -> Result<(), StorageError> {
    let mut round = Round {
        dirty: BTreeMap::new(),
        stop: None,
    };
    while let Ok(m) = rx.try_recv() {
        round.take(m);
    }
    round.complete(health)
}

/// `Interval` mode's thread: runs until told to stop or until every sender is gone (the
/// store was dropped).
pub(crate) fn run(rx: Receiver<SyncMsg>, health: Arc<Health>, interval: Option<Duration>) {
    let mut round = Round {
        dirty: BTreeMap::new(),
        stop: None,
    };
    let mut next_tick = interval.map(|d| Instant::now() + d);
    loop {
        let first = match next_tick {
            Some(t) => match rx.recv_timeout(t.saturating_duration_since(Instant::now())) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            },
        };
        if let Some(m) = first {
            round.take(m);
        }
        // Everything that arrived while the previous round synced joins this one.
        while let Ok(m) = rx.try_recv() {
            round.take(m);
        }
        let tick_due = next_tick.is_some_and(|t| Instant::now() >= t);
        if tick_due || round.stop.is_some() {
            let result = round.complete(&health);
            if let (Some(d), true) = (interval, tick_due) {
                next_tick = Some(Instant::now() + d);
            }
            if let Some(reply) = round.stop.take() {
                let _ignored_if_caller_gone = reply.send(result);
                return;
            }
        }
    }
    // Dropped without shutdown: still push out what was queued.
    let _already_logged = round.complete(&health);
}
