//! Bounds open file descriptors: thousands of logs share `max_open_files` descriptors.
//!
//! Each file has its own [`Slot`]; a hit only touches that slot's mutex. Only opening a
//! file takes the shared eviction queue, and eviction uses `try_lock` so it never waits
//! on a slot in use. Evicting only drops the cache's `Arc`: a sync request or reader
//! holding its own `Arc<OpenFile>` keeps the descriptor alive until it is done, so a
//! dirty file is still synced through the descriptor that wrote it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::storage::fs::{Fs, FsFile, OpenMode};
use crate::storage::StorageError;

/// A mutex whose poisoning we ignore: every critical section leaves the data consistent
/// or returns before changing it, so a panic elsewhere must not wedge the store.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An open file and the path it came from, so errors can name it.
#[derive(Debug)]
pub(crate) struct OpenFile {
    pub file: Box<dyn FsFile>,
    pub path: PathBuf,
}

#[derive(Debug)]
pub(crate) struct HandleCache {
    /// Where the files are: the machine's filesystem, or a simulated disk in tests.
    pub fs: Arc<dyn Fs>,
    max_open: usize,
    open: AtomicUsize,
    /// Clock order of slots that were opened; entries may be stale (closed or dropped).
    queue: Mutex<VecDeque<Weak<Slot>>>,
}

impl HandleCache {
    pub fn new(fs: Arc<dyn Fs>, max_open: usize) -> Arc<HandleCache> {
        Arc::new(HandleCache {
            fs,
            max_open: max_open.max(2),
            open: AtomicUsize::new(0),
            queue: Mutex::new(VecDeque::new()),
        })
    }

    /// Descriptors currently held by slots (not counting `Arc`s others still hold).
    #[cfg(test)]
    #[allow(dead_code)] // a hook for handle-cache tests
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn opened(&self, slot: Weak<Slot>) {
        let n = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        let mut q = lock(&self.queue);
        q.push_back(slot);
        if n > self.max_open {
            self.evict(&mut q);
        } else if q.len() > 2 * self.max_open + 16 {
            // Closed and dropped slots leave entries behind; drop them now and then so
            // the queue stays proportional to the open files.
            q.retain(|w| {
                w.upgrade()
                    .is_some_and(|s| s.file.try_lock().map_or(true, |f| f.is_some()))
            });
        }
    }

    fn evict(&self, q: &mut VecDeque<Weak<Slot>>) {
        // Second-chance clock; bounded so a queue full of busy slots cannot spin.
        let mut budget = q.len() * 2 + 1;
        while self.open.load(Ordering::Acquire) > self.max_open && budget > 0 {
            budget -= 1;
            let Some(weak) = q.pop_front() else { break };
            let Some(slot) = weak.upgrade() else { continue };
            let Ok(mut file) = slot.file.try_lock() else {
                q.push_back(weak);
                continue;
            };
            if file.is_none() {
                continue;
            }
            if slot.referenced.swap(false, Ordering::AcqRel) {
                drop(file);
                q.push_back(weak);
                continue;
            }
            *file = None;
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The cached descriptor of one file.
#[derive(Debug)]
pub(crate) struct Slot {
    path: PathBuf,
    writable: bool,
    file: Mutex<Option<Arc<OpenFile>>>,
    referenced: AtomicBool,
    cache: Arc<HandleCache>,
}

impl Slot {
    pub fn new(cache: &Arc<HandleCache>, path: PathBuf, writable: bool) -> Arc<Slot> {
        Arc::new(Slot {
            path,
            writable,
            file: Mutex::new(None),
            referenced: AtomicBool::new(false),
            cache: cache.clone(),
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The open file, opening it (and maybe evicting another) on a miss.
    pub fn get(self: &Arc<Self>) -> Result<Arc<OpenFile>, StorageError> {
        let mut guard = lock(&self.file);
        if let Some(f) = guard.as_ref() {
            self.referenced.store(true, Ordering::Relaxed);
            return Ok(f.clone());
        }
        let mode = if self.writable {
            OpenMode::ReadWrite
        } else {
            OpenMode::Read
        };
        let file = self
            .cache
            .fs
            .open(&self.path, mode)
            .map_err(|e| StorageError::io("open", &self.path, e))?;
        let f = Arc::new(OpenFile {
            file,
            path: self.path.clone(),
        });
        *guard = Some(f.clone());
        self.referenced.store(true, Ordering::Relaxed);
        drop(guard);
        self.cache.opened(Arc::downgrade(self));
        Ok(f)
    }

    /// Drops the cached descriptor (used when a log is removed or the store shuts down).
    pub fn close(&self) {
        if lock(&self.file).take().is_some() {
            self.cache.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let file = self.file.get_mut().unwrap_or_else(|e| e.into_inner());
        if file.take().is_some() {
            self.cache.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
