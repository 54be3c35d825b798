//! Recovery from the journal at open: reads the entries of every live journal file and
//! writes each batch a segment lost in a crash back into it, then syncs it. After that
//! the whole journal is redundant and its files become spares.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::file::{self, Entry, JournalFile};
use crate::storage::fs::Fs;
use crate::storage::log::disk::index::IndexEntry;
use crate::storage::log::disk::recovery::Recovered;
use crate::storage::StorageError;

/// What the live journal holds.
pub(crate) struct Replay {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    /// Each log's entries in the order they were written.
    by_log: HashMap<u64, Vec<Entry>>,
    files: Vec<u64>,
    had_live: bool,
    /// Above every sequence number the files carry.
    pub next_seq: u64,
}

/// Reads the journal in `dir` (absent on a store that never ran in `Sync` mode).
pub(crate) fn read(fs: &Arc<dyn Fs>, dir: &Path) -> Result<Replay, StorageError> {
    let live_from = file::read_checkpoint(&**fs, dir)?;
    let mut next_seq = live_from.max(1);
    let mut live = Vec::new();
    let mut files = Vec::new();
    for (number, path) in file::list(&**fs, dir)? {
        files.push(number);
        if let Some(seq) = file::read_seq(&**fs, &path)? {
            next_seq = next_seq.max(seq + 1);
            if seq >= live_from && seq > 0 {
                live.push((seq, path));
            }
        }
    }
    live.sort_unstable();
    let mut by_log: HashMap<u64, Vec<Entry>> = HashMap::new();
    for (seq, path) in &live {
        for e in file::read_entries(&**fs, path, *seq)? {
            by_log.entry(e.log_id).or_default().push(e);
        }
    }
    Ok(Replay {
        fs: fs.clone(),
        dir: dir.to_path_buf(),
        by_log,
        files,
        had_live: !live.is_empty(),
        next_seq,
    })
}

impl Replay {
    /// Writes the batches `r` lacks into its newest segment and syncs it.
    pub fn apply(&mut self, log_id: u64, r: &mut Recovered) -> Result<(), StorageError> {
        let Some(entries) = self.by_log.remove(&log_id) else {
            return Ok(());
        };
        let seg = r.segments.last().expect("a log has a segment").clone();
        let f = seg.log.get()?;
        let mut replayed = 0;
        for e in entries {
            let h = e.header;
            // Already in the segment, or deleted by retention since.
            if h.end_offset() <= r.end.max(r.start) {
                continue;
            }
            if e.in_segment {
                return Err(StorageError::Corrupt {
                    path: f.path.clone(),
                    offset: seg.size(),
                    reason: format!(
                        "the batch at offset {} was synced to this segment and is missing",
                        h.base_offset
                    ),
                });
            }
            if e.prev_end > r.end {
                // The batches between were neither synced in the segment (the scan
                // would have found them) nor journaled: a round that never finished,
                // so neither they nor anything after them was acknowledged.
                tracing::warn!(path = %f.path.display(), from = e.prev_end, end = r.end, "dropping journal entries after a round the crash cut short");
                break;
            }
            if h.base_offset < r.end || h.base_offset < seg.base {
                return Err(StorageError::Corrupt {
                    path: f.path.clone(),
                    offset: seg.size(),
                    reason: format!(
                        "the journal's batch at offset {} overlaps the log, which ends at {}",
                        h.base_offset, r.end
                    ),
                });
            }
            let pos = seg.size();
            f.file
                .write_all_at(&e.batch, pos)
                .map_err(|err| StorageError::io("write", &f.path, err))?;
            let entry = IndexEntry {
                rel_offset: (h.base_offset - seg.base) as u32,
                position: pos as u32,
                timestamp_ms: h.timestamp_ms,
            };
            if r.index_builder.observe(e.batch.len() as u64) {
                seg.push_index(entry);
            }
            seg.appended(entry, pos + e.batch.len() as u64);
            r.end = h.end_offset();
            r.last_ts = Some(h.timestamp_ms);
            replayed += 1;
        }
        if replayed > 0 {
            let point = seg.sync_point();
            f.file
                .sync_data()
                .map_err(|err| StorageError::io("sync", &f.path, err))?;
            seg.synced(point);
            tracing::warn!(path = %f.path.display(), batches = replayed, "restored batches from the journal");
        }
        Ok(())
    }

    /// After every log was recovered and applied: marks the journal redundant and
    /// hands its files back as spares.
    pub fn finish(self) -> Result<Vec<JournalFile>, StorageError> {
        if self.had_live {
            file::write_checkpoint(&*self.fs, &self.dir, self.next_seq)?;
        }
        self.files
            .iter()
            .map(|&n| JournalFile::reopen(&*self.fs, &self.dir, n))
            .collect()
    }
}
