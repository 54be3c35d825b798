//! The checkpoint thread: once a journal file is full it syncs every segment written
//! since the last checkpoint, records that the full files are redundant, and keeps them
//! as spares; it also zero-fills a new spare before the committer needs one.

use std::sync::Arc;
use std::time::Duration;

use super::file::{self, JournalFile, JOURNAL_HEADER_LEN};
use super::{lock, Journal, Segment, State};
use crate::storage::StorageError;

/// Spares kept for reuse; files freed beyond these are deleted.
const MAX_SPARES: usize = 2;
/// Segments synced at once in a checkpoint (ext4 overlaps that many fdatasyncs).
const SYNC_THREADS: usize = 8;

/// Whether a spare should be ready soon: the active file is half written and there is
/// none (a file without zeros ahead counts as full once it holds an entry).
pub(super) fn wants_spare(st: &State) -> bool {
    let (pos, len) = st.active_fill;
    let written = pos.saturating_sub(JOURNAL_HEADER_LEN);
    let room = len.saturating_sub(JOURNAL_HEADER_LEN);
    st.spares.is_empty() && !st.stopping && written > 0 && written * 2 >= room
}

pub(super) enum Work {
    Checkpoint(Vec<JournalFile>, Vec<Arc<Segment>>),
    Prepare(u64, u64),
}

/// How long the checkpointer waits before trying failed work again: a full disk or a
/// passing I/O error must not stop checkpoints for good, or journal files pile up.
const RETRY: Duration = Duration::from_secs(1);

impl Journal {
    pub(super) fn checkpoint_loop(&self) {
        let mut st = self.lock();
        loop {
            if st.stopping {
                return;
            }
            let Some(work) = self.checkpoint_work(&mut st) else {
                st = self
                    .checkpoint_wake
                    .wait(st)
                    .unwrap_or_else(|p| p.into_inner());
                continue;
            };
            drop(st);
            let failed = self.run_checkpoint_work(work).is_err();
            st = self.lock();
            if failed && !st.stopping {
                st = self
                    .checkpoint_wake
                    .wait_timeout(st, RETRY)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }

    /// What the checkpointer should do next, taken out of the state.
    pub(super) fn checkpoint_work(&self, st: &mut State) -> Option<Work> {
        if !st.full.is_empty() {
            let full = std::mem::take(&mut st.full);
            let mut dirty: Vec<Arc<Segment>> =
                std::mem::take(&mut st.dirty).into_values().collect();
            // In one order, so a journal stepped by hand makes the same I/O every run.
            dirty.sort_by(|a, b| a.log_path().cmp(b.log_path()));
            return Some(Work::Checkpoint(full, dirty));
        }
        if wants_spare(st) {
            let number = st.next_number;
            st.next_number += 1;
            let size = st.next_zeroed;
            st.next_zeroed = (size * 2).min(self.opts.max_file);
            return Some(Work::Prepare(number, size));
        }
        None
    }

    /// Runs `work`; a checkpoint that fails is put back to be tried again whole.
    pub(super) fn run_checkpoint_work(&self, work: Work) -> Result<(), StorageError> {
        let result = match work {
            Work::Checkpoint(full, dirty) => match self.checkpoint(&full, &dirty) {
                Ok(()) => {
                    self.recycle(full);
                    Ok(())
                }
                Err(e) => {
                    let mut st = self.lock();
                    st.full.splice(0..0, full);
                    for seg in dirty {
                        st.dirty.entry(Arc::as_ptr(&seg) as usize).or_insert(seg);
                    }
                    Err(e)
                }
            },
            Work::Prepare(number, size) => JournalFile::create(&*self.fs, &self.dir, number, size)
                .map(|f| lock(&self.state).spares.push(f)),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "journal checkpoint failed; it is tried again later");
        }
        result
    }

    /// Syncs `dirty`, then records that every file of `full` is redundant.
    fn checkpoint(&self, full: &[JournalFile], dirty: &[Arc<Segment>]) -> Result<(), StorageError> {
        let live_from = full.iter().map(|f| f.seq).max().unwrap_or(0) + 1;
        let threads = if self.opts.by_hand { 1 } else { SYNC_THREADS };
        let chunk = dirty.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let workers: Vec<_> = dirty
                .chunks(chunk)
                .map(|part| s.spawn(move || part.iter().try_for_each(|seg| self.sync(seg))))
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })?;
        file::write_checkpoint(&*self.fs, &self.dir, live_from)
    }

    /// Keeps checkpointed files as spares, up to [`MAX_SPARES`], and deletes the rest.
    fn recycle(&self, full: Vec<JournalFile>) {
        let mut st = self.lock();
        for mut f in full {
            // Files from before the sizes stopped doubling are dropped, so that a busy
            // journal ends up on full-size files.
            let current = f.len.saturating_mul(2) >= st.next_zeroed;
            if st.spares.len() < MAX_SPARES && current {
                f.seq = 0;
                st.spares.push(f);
            } else if let Err(e) = self.fs.remove_file(&f.file.path) {
                tracing::warn!(path = %f.file.path.display(), error = %e, "could not delete a spare journal file");
            }
        }
    }

    /// Syncs one segment; one deleted since (trimmed, or its log removed) needs none.
    fn sync(&self, seg: &Segment) -> Result<(), StorageError> {
        match seg.sync(&self.health) {
            Err(StorageError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(())
            }
            other => other,
        }
    }
}
