//! The checkpoint thread: once a journal file is full it syncs every segment written
//! since the last checkpoint, records that the full files are redundant, and keeps them
//! as spares; it also zero-fills a new spare before the committer needs one.

use std::sync::Arc;

use super::file::{self, JournalFile, JOURNAL_HEADER_LEN};
use super::{lock, Journal, Slot, State};
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

enum Work {
    Checkpoint(Vec<JournalFile>, Vec<Arc<Slot>>),
    Prepare(u64, u64),
}

impl Journal {
    pub(super) fn checkpoint_loop(&self) {
        loop {
            let mut st = self.lock();
            let work = loop {
                if st.stopping {
                    return;
                }
                if !st.full.is_empty() {
                    let full = std::mem::take(&mut st.full);
                    let dirty = std::mem::take(&mut st.dirty).into_values().collect();
                    break Work::Checkpoint(full, dirty);
                }
                if wants_spare(&st) {
                    let number = st.next_number;
                    st.next_number += 1;
                    let size = st.next_zeroed;
                    st.next_zeroed = (size * 2).min(self.opts.max_file);
                    break Work::Prepare(number, size);
                }
                st = self
                    .checkpoint_wake
                    .wait(st)
                    .unwrap_or_else(|p| p.into_inner());
            };
            drop(st);
            let result = match work {
                Work::Checkpoint(full, dirty) => self.checkpoint(full, dirty),
                Work::Prepare(number, size) => {
                    JournalFile::create(&*self.fs, &self.dir, number, size)
                        .map(|f| lock(&self.state).spares.push(f))
                }
            };
            if let Err(e) = result {
                // The journal keeps working without spares or checkpoints (files pile
                // up); a failed segment sync has already poisoned the store.
                tracing::error!(error = %e, "journal checkpoint failed");
                return;
            }
        }
    }

    /// Syncs `dirty`, then records that every file of `full` is redundant.
    fn checkpoint(
        &self,
        full: Vec<JournalFile>,
        dirty: Vec<Arc<Slot>>,
    ) -> Result<(), StorageError> {
        let live_from = full.iter().map(|f| f.seq).max().unwrap_or(0) + 1;
        let chunk = dirty.len().div_ceil(SYNC_THREADS).max(1);
        std::thread::scope(|s| {
            let workers: Vec<_> = dirty
                .chunks(chunk)
                .map(|part| s.spawn(move || part.iter().try_for_each(|slot| self.sync(slot))))
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })?;
        file::write_checkpoint(&*self.fs, &self.dir, live_from)?;
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
        Ok(())
    }

    /// Syncs one segment; one deleted since (trimmed, or its log removed) needs none.
    fn sync(&self, slot: &Arc<Slot>) -> Result<(), StorageError> {
        match slot.get() {
            Ok(f) => self.health.sync(&f),
            Err(StorageError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
