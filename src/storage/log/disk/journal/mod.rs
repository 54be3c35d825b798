//! `Sync` mode's commit journal: every append, whatever its shard, is also written to
//! one shared journal file, and one fdatasync of that file acknowledges every append
//! that arrived while the previous one ran. Segment files are then synced in the
//! background at checkpoints, many appends at a time. Per-shard fdatasyncs made a
//! round cost one sync per busy shard (1000 shards reached 36% of the 4-shard rate);
//! see docs/adr/0002-commit-journal.md for the measurements.
//!
//! Journal files are zero-filled when created and reused after a checkpoint, so an
//! append overwrites allocated blocks and its fdatasync has no file size to commit.

mod checkpoint;
pub(crate) mod file;
pub(crate) mod replay;
mod sched;
mod stage;
mod sync_pool;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use file::JournalFile;
use sync_pool::SyncPool;

use super::handles::{lock, OpenFile};
use super::segment::{Segment, SyncPoint};
use super::syncer::{Done, Health, Visible};
use crate::storage::fs::Fs;
use crate::storage::StorageError;

/// One append waiting to become durable and visible.
pub(crate) struct Commit {
    /// `format::encode_batch(file::ENTRY_HEADER_LEN, ..)`: the journal frames it. Cut
    /// to its first `file::MARKER_LEN` bytes when `in_segment`.
    pub entry: Vec<u8>,
    /// Synced in its segment, with only a marker in the journal ([`in_segment`]).
    pub in_segment: bool,
    pub log_id: u64,
    /// Where the log ended before this batch, so recovery knows what the journal covers.
    pub prev_end: u64,
    /// The segment the batch went to, synced at the next checkpoint.
    pub segment: Arc<Segment>,
    /// How far a sync of the segment begun after this batch reaches.
    pub point: SyncPoint,
    /// Its open file, synced before the ack when the batch is too large to journal.
    pub file: Arc<OpenFile>,
    pub visible: Arc<Visible>,
    pub end: u64,
    pub timestamp_ms: i64,
    pub done: Done,
    /// The segment sync begun when an `in_segment` batch was submitted.
    pub synced: Option<Arc<sync_pool::Syncs>>,
}

/// Batches above this are synced in their segment instead of written to the journal
/// too (a marker records them): for 500 x 1 KiB PutRecords, journaling every byte cost
/// a third of the throughput of `none`, against 8% for syncing the segments.
const IN_SEGMENT_MIN: usize = 64 << 10;

/// Whether a batch of `batch_len` encoded bytes is synced in its segment rather than
/// journaled whole.
pub(crate) fn in_segment(batch_len: usize) -> bool {
    batch_len > IN_SEGMENT_MIN
}

/// How the journal writes its files.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// A file is rotated out when the next entry would pass this.
    pub max_file: u64,
    /// The first zero-filled file; each new one doubles, up to `max_file`, so a server
    /// that writes little never writes large files of zeros.
    pub first_file: u64,
    /// Write with `O_DIRECT | O_DSYNC` where the filesystem takes it (see
    /// `JournalFile::direct`).
    pub direct: bool,
    /// No threads: rounds, checkpoints and segment syncs run when [`Journal::step`]
    /// is called, so a test's I/O happens in one order, replayable from a seed.
    pub by_hand: bool,
}

#[derive(Default)]
struct State {
    pending: Vec<Commit>,
    /// Segments written since the last checkpoint took this set, by address.
    dirty: HashMap<usize, Arc<Segment>>,
    /// Rotated out, waiting for a checkpoint to make their entries redundant.
    full: Vec<JournalFile>,
    /// Ready to be activated: zero-filled, or checkpointed.
    spares: Vec<JournalFile>,
    /// The committer's file: (length written, allocated length), for the checkpointer
    /// to decide when to prepare a spare.
    active_fill: (u64, u64),
    next_seq: u64,
    next_number: u64,
    /// The size of the next zero-filled file.
    next_zeroed: u64,
    /// The committer holds a round it has not acknowledged yet.
    busy: bool,
    stopping: bool,
}

pub(crate) struct Journal {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    opts: Options,
    state: Mutex<State>,
    /// Appends are pending, or the store is stopping.
    commit_wake: Condvar,
    /// A file is full, a spare is wanted, or the store is stopping.
    checkpoint_wake: Condvar,
    /// Nothing is pending.
    idle: Condvar,
    health: Arc<Health>,
    /// Syncs large batches' segments, each from the moment it is submitted.
    segment_syncs: SyncPool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The active file when stepped by hand (the committer thread owns it otherwise).
    by_hand: Mutex<Option<JournalFile>>,
}

impl Journal {
    /// Starts the journal in `dir` after recovery: `spares` are the files it found
    /// (their entries replayed), `next_seq` is above every sequence number used.
    pub fn start(
        fs: Arc<dyn Fs>,
        dir: &Path,
        opts: Options,
        health: Arc<Health>,
        spares: Vec<JournalFile>,
        next_seq: u64,
    ) -> Result<Arc<Journal>, StorageError> {
        crate::storage::fs::create_dir_all_durably(&*fs, dir)
            .map_err(|e| StorageError::io("create", dir, e))?;
        let next_number = spares.iter().map(|f| f.number + 1).max().unwrap_or(0);
        let journal = Arc::new(Journal {
            fs,
            dir: dir.to_path_buf(),
            opts,
            state: Mutex::new(State {
                spares,
                next_seq,
                next_number,
                next_zeroed: opts.first_file.min(opts.max_file),
                ..State::default()
            }),
            commit_wake: Condvar::new(),
            checkpoint_wake: Condvar::new(),
            idle: Condvar::new(),
            segment_syncs: SyncPool::new(health.clone(), !opts.by_hand),
            health,
            threads: Mutex::default(),
            by_hand: Mutex::default(),
        });
        if journal.lock().spares.is_empty() {
            // The first file is zero-filled here, so that appends overwrite from the
            // first one on. It delays readiness on an empty data dir, so it is small
            // (1 MiB, a few milliseconds) and the next ones double.
            let mut st = journal.lock();
            let (number, size) = (st.next_number, st.next_zeroed);
            st.next_number += 1;
            st.next_zeroed = (size * 2).min(opts.max_file);
            drop(st);
            let f = JournalFile::create(&*journal.fs, dir, number, size)?;
            journal.lock().spares.push(f);
        }
        let active = journal.next_file()?;
        if opts.by_hand {
            *lock(&journal.by_hand) = Some(active);
            return Ok(journal);
        }
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| StorageError::io("spawn journal thread", dir, e))
        };
        let me = journal.clone();
        let committer = spawn("shoal-journal", Box::new(move || me.commit_loop(active)))?;
        let me = journal.clone();
        let checkpointer = spawn("shoal-checkpoint", Box::new(move || me.checkpoint_loop()))?;
        lock(&journal.threads).extend([committer, checkpointer]);
        Ok(journal)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues an append; called under the log's writer lock, so a log's entries reach
    /// the journal in offset order.
    pub fn submit(&self, mut c: Commit) -> Result<(), StorageError> {
        let mut st = self.lock();
        if st.stopping {
            return Err(StorageError::Poisoned("the store is closing".into()));
        }
        if c.in_segment {
            // Begun now rather than with the round that takes it: a batch submitted
            // while a round runs would otherwise wait for that round, then for its sync.
            c.synced = Some(self.segment_syncs.start_one(c.file.clone()));
        }
        st.dirty
            .entry(Arc::as_ptr(&c.segment) as usize)
            .or_insert_with(|| c.segment.clone());
        st.pending.push(c);
        if st.pending.len() == 1 {
            self.commit_wake.notify_one();
        }
        Ok(())
    }

    /// A spare activated under the next sequence number, or a new file when there is
    /// none (header only: its name is synced into the directory before use).
    fn next_file(&self) -> Result<JournalFile, StorageError> {
        let mut st = self.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        let mut f = match st.spares.pop() {
            Some(f) => f,
            None => {
                let number = st.next_number;
                st.next_number += 1;
                drop(st);
                let f = JournalFile::create(&*self.fs, &self.dir, number, 0)?;
                st = self.lock();
                f
            }
        };
        st.active_fill = (0, f.len);
        drop(st);
        f.activate(&*self.fs, seq, self.opts.direct)?;
        Ok(f)
    }

    fn commit_loop(&self, mut active: JournalFile) {
        // Threads the committer starts (the segment sync pool) inherit it.
        self.fs.as_batch_thread();
        loop {
            let mut st = self.lock();
            while st.pending.is_empty() && !st.stopping {
                st = self.commit_wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.pending.is_empty() {
                drop(st);
                self.finish(&mut active);
                return;
            }
            let round = std::mem::take(&mut st.pending);
            st.busy = true;
            drop(st);
            self.run_round(&mut active, round);
        }
    }

    /// Writes, syncs and acknowledges one round; a failure poisons the store.
    fn run_round(&self, active: &mut JournalFile, round: Vec<Commit>) {
        match self.write_round(active, round) {
            Ok(()) => {}
            // The round's logs are fenced (see write_round); later rounds try again.
            Err(e) if e.is_full() => {
                tracing::warn!(error = %e, "the disk is full; a journal round failed");
            }
            Err(e) => {
                tracing::error!(error = %e, "journal write failed; the store refuses further writes");
                self.health.poison(e.to_string());
            }
        }
        let mut st = self.lock();
        st.busy = false;
        st.active_fill = (active.pos, active.len);
        if st.pending.is_empty() {
            self.idle.notify_all();
        }
        if checkpoint::wants_spare(&st) {
            self.checkpoint_wake.notify_one();
        }
    }

    /// The committer's last act: a direct file still stages the last round's markers.
    fn finish(&self, active: &mut JournalFile) {
        // A failure here has poisoned the store, which `stop` reports.
        let _reported_by_stop = active.commit(&self.health);
        self.segment_syncs.stop();
        self.idle.notify_all();
    }

    /// By hand: runs the round of everything submitted so far, then whatever
    /// checkpoint work is due. The threads do the same on their own otherwise.
    pub fn step(&self) {
        let mut guard = lock(&self.by_hand);
        let Some(active) = guard.as_mut() else {
            return;
        };
        let round = {
            let mut st = self.lock();
            st.busy = true;
            std::mem::take(&mut st.pending)
        };
        if round.is_empty() {
            self.lock().busy = false;
        } else {
            self.run_round(active, round);
        }
        drop(guard);
        loop {
            let Some(work) = self.checkpoint_work(&mut self.lock()) else {
                break;
            };
            if self.run_checkpoint_work(work).is_err() {
                break;
            }
        }
    }

    /// Writes and syncs a round, then acknowledges it in order. Large batches' segments
    /// are synced side by side with the journal, so a round costs one fdatasync's time
    /// at most.
    fn write_round(
        &self,
        active: &mut JournalFile,
        mut round: Vec<Commit>,
    ) -> Result<(), StorageError> {
        let written = (|| {
            self.health.check()?;
            let mut synced: Vec<Arc<sync_pool::Syncs>> = Vec::new();
            for r in round.iter().filter_map(|c| c.synced.as_ref()) {
                if !synced.iter().any(|s| Arc::ptr_eq(s, r)) {
                    synced.push(r.clone());
                }
            }
            let journaled = (|| {
                let mut small = round.iter_mut().filter(|c| !c.in_segment).peekable();
                if small.peek().is_none() {
                    return Ok(());
                }
                small.try_for_each(|c| self.append(active, c, false))?;
                active.commit(&self.health)
            })();
            journaled?;
            synced.iter().try_for_each(|r| self.segment_syncs.wait(r))?;
            for c in round.iter().filter(|c| c.in_segment) {
                c.segment.synced(c.point);
            }
            // A marker says its batch is durable, so it is written only now that the
            // segment is synced; the next round's commit makes it durable. Until then,
            // losing it costs only the check that a synced batch is present.
            round
                .iter_mut()
                .filter(|c| c.in_segment)
                .try_for_each(|c| self.append(active, c, true))?;
            active.flush()
        })();
        let failure = written.as_ref().err().map(|e| (e.is_full(), e.to_string()));
        for c in round {
            match &failure {
                None => {
                    c.visible.advance(c.end, c.timestamp_ms);
                    // The entry goes back to be freed where it was allocated.
                    let _ignored_if_caller_gone = c.done.send(Ok(c.entry));
                }
                Some((true, why)) => {
                    // Its batch is in its segment, unsynced and unjournaled: the log syncs
                    // that segment before it takes another append, so no later batch it
                    // acknowledges rests on this one.
                    c.visible.fence();
                    let _ignored_if_caller_gone = c.done.send(Err(StorageError::Full(why.clone())));
                }
                Some((false, why)) => {
                    let _ignored_if_caller_gone =
                        c.done.send(Err(StorageError::Poisoned(why.clone())));
                }
            }
        }
        written
    }

    /// Frames `c` and writes it (only its marker when `marker`) to the active file,
    /// rotating first when it does not fit.
    fn append(
        &self,
        active: &mut JournalFile,
        c: &mut Commit,
        marker: bool,
    ) -> Result<(), StorageError> {
        let len = if marker {
            file::MARKER_LEN
        } else {
            c.entry.len()
        };
        if active.pos + len as u64 > active.len && active.pos > file::JOURNAL_HEADER_LEN {
            let has_spare = !self.lock().spares.is_empty();
            if has_spare || active.pos + len as u64 > self.opts.max_file {
                self.rotate(active)?;
            }
        }
        file::frame(&mut c.entry, active.seq, c.log_id, c.prev_end, marker);
        active.write(&c.entry[..len], &self.health)
    }

    /// Syncs the active file, hands it to the checkpointer and moves to the next one.
    fn rotate(&self, active: &mut JournalFile) -> Result<(), StorageError> {
        active.commit(&self.health)?;
        let next = self.next_file()?;
        let full = std::mem::replace(active, next);
        self.lock().full.push(full);
        self.checkpoint_wake.notify_one();
        Ok(())
    }

    /// Completes everything queued and stops both threads; when `segments_synced` (the
    /// caller synced every segment since) marks the whole journal redundant.
    pub fn stop(&self, segments_synced: bool) -> Result<(), StorageError> {
        self.join();
        self.health.check()?;
        if !segments_synced {
            return Ok(());
        }
        let live_from = self.lock().next_seq;
        file::write_checkpoint(&*self.fs, &self.dir, live_from)
    }

    /// Waits until every queued append is acknowledged.
    pub fn drain(&self) {
        if lock(&self.by_hand).is_some() {
            self.step();
            return;
        }
        let mut st = self.lock();
        while !st.pending.is_empty() || st.busy {
            st = self.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Tells both threads to finish what is queued and exit, and waits for them: a
    /// store dropped without closing leaves nothing writing into its directory, which a
    /// store opened next on it would race with.
    pub fn join(&self) {
        if let Some(mut active) = lock(&self.by_hand).take() {
            let round = std::mem::take(&mut self.lock().pending);
            if !round.is_empty() {
                self.run_round(&mut active, round);
            }
            self.finish(&mut active);
        }
        self.lock().stopping = true;
        self.commit_wake.notify_all();
        self.checkpoint_wake.notify_all();
        for t in lock(&self.threads).drain(..) {
            if t.join().is_err() {
                tracing::error!("a journal thread panicked");
            }
        }
    }
}
