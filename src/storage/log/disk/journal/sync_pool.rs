//! The threads that fdatasync large batches' segments, each sync begun when its batch
//! is submitted, while the committer writes the journal. They live as long as the
//! journal: spawning a thread per segment per round cost the kernel a stack, a malloc
//! arena hand-off and a futex wake-up each time, about a tenth of `sync` PutRecords'
//! CPU (docs/performance-history.md).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::super::handles::{lock, OpenFile};
use super::super::syncer::Health;
use crate::storage::StorageError;

/// At most this many threads; more syncs queue behind them, and the
/// committer takes jobs from the queue too once its own write is done.
const MAX_THREADS: usize = 8;

pub(crate) struct SyncPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Without threads (a journal stepped by hand), `wait` runs every sync itself.
    spawn: bool,
}

struct Shared {
    state: Mutex<Queue>,
    work: Condvar,
    health: Arc<Health>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<(Arc<OpenFile>, Arc<Syncs>)>,
    /// Threads waiting for a job.
    idle: usize,
    stopping: bool,
}

/// A set of syncs: how many are left, and the first failure (several commits may
/// wait on one set, so each is told of it).
pub(crate) struct Syncs {
    left: Mutex<(usize, Option<String>)>,
    done: Condvar,
}

impl Syncs {
    fn finish(&self, result: Result<(), StorageError>) {
        let mut left = lock(&self.left);
        left.0 -= 1;
        if let Err(e) = result {
            left.1.get_or_insert(e.to_string());
        }
        if left.0 == 0 {
            self.done.notify_all();
        }
    }
}

impl SyncPool {
    pub fn new(health: Arc<Health>, spawn: bool) -> SyncPool {
        SyncPool {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                work: Condvar::new(),
                health,
            }),
            threads: Mutex::default(),
            spawn,
        }
    }

    /// A sync of `file` that begins after this call: a queued one that has not begun
    /// yet, or a new one.
    pub fn start_one(&self, file: Arc<OpenFile>) -> Arc<Syncs> {
        let q = lock(&self.shared.state);
        if let Some((_, syncs)) = q.jobs.iter().find(|(f, _)| Arc::ptr_eq(f, &file)) {
            return syncs.clone();
        }
        drop(q);
        self.start(vec![file])
    }

    /// Queues one sync per file and returns at once; [`SyncPool::wait`] collects them.
    fn start(&self, files: Vec<Arc<OpenFile>>) -> Arc<Syncs> {
        let syncs = Arc::new(Syncs {
            left: Mutex::new((files.len(), None)),
            done: Condvar::new(),
        });
        if files.is_empty() {
            return syncs;
        }
        let mut q = lock(&self.shared.state);
        q.jobs.extend(files.into_iter().map(|f| (f, syncs.clone())));
        let (jobs, idle) = (q.jobs.len(), q.idle);
        drop(q);
        for _ in 0..jobs.min(idle) {
            self.shared.work.notify_one();
        }
        let unserved = jobs.saturating_sub(idle);
        let mut threads = lock(&self.threads);
        let most = if self.spawn { MAX_THREADS } else { 0 };
        let room = most.saturating_sub(threads.len());
        for _ in 0..unserved.min(room) {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("shoal-segsync".into())
                .spawn(move || shared.serve());
            match spawned {
                Ok(t) => threads.push(t),
                // The jobs still run: on the threads there are, or in `wait`.
                Err(e) => {
                    tracing::warn!(error = %e, "could not start a segment sync thread");
                    break;
                }
            }
        }
        syncs
    }

    /// Runs the queued syncs of `syncs` on this thread, then waits for the rest of them.
    /// Syncs begun later for other batches are left to the threads: running them here
    /// would hold up this round's acknowledgements.
    pub fn wait(&self, syncs: &Syncs) -> Result<(), StorageError> {
        loop {
            let job = {
                let mut q = lock(&self.shared.state);
                let mine = q.jobs.iter().position(|(_, s)| std::ptr::eq(&**s, syncs));
                mine.and_then(|i| q.jobs.remove(i))
            };
            let Some((file, of)) = job else { break };
            of.finish(self.shared.health.sync(&file));
        }
        let mut left = lock(&syncs.left);
        while left.0 > 0 {
            left = syncs.done.wait(left).unwrap_or_else(|p| p.into_inner());
        }
        left.1
            .clone()
            .map_or(Ok(()), |why| Err(StorageError::Poisoned(why)))
    }

    /// Runs what is queued and stops the threads.
    pub fn stop(&self) {
        lock(&self.shared.state).stopping = true;
        self.shared.work.notify_all();
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        for t in threads {
            if t.join().is_err() {
                tracing::error!("a segment sync thread panicked");
            }
        }
    }
}

impl Drop for SyncPool {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn serve(&self) {
        loop {
            let mut q = lock(&self.state);
            let (file, syncs) = loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.stopping {
                    return;
                }
                q.idle += 1;
                q = self.work.wait(q).unwrap_or_else(|p| p.into_inner());
                q.idle -= 1;
            };
            drop(q);
            // A panic must still finish the job, or the committer would wait forever.
            let synced =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.health.sync(&file)))
                    .unwrap_or_else(|_| {
                        let why = format!("the sync of {} panicked", file.path.display());
                        self.health.poison(why.clone());
                        Err(StorageError::Poisoned(why))
                    });
            syncs.finish(synced);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn files(dir: &std::path::Path, n: usize) -> Vec<Arc<OpenFile>> {
        (0..n)
            .map(|i| {
                let path = dir.join(format!("f{i}"));
                let file = crate::storage::fs::Fs::open(
                    &crate::storage::fs::OsFs::native(),
                    &path,
                    crate::storage::fs::OpenMode::CreateTruncate,
                )
                .unwrap();
                Arc::new(OpenFile { file, path })
            })
            .collect()
    }

    fn setup() -> (tempfile::TempDir, Arc<Health>, SyncPool) {
        let health = Arc::new(Health::default());
        let pool = SyncPool::new(health.clone(), true);
        (tempfile::tempdir().unwrap(), health, pool)
    }

    #[test]
    fn every_file_of_a_round_is_synced_on_a_bounded_set_of_threads() {
        let (dir, health, pool) = setup();
        for round in 1..=3u64 {
            let r = pool.start(files(dir.path(), 3 * MAX_THREADS));
            pool.wait(&r).unwrap();
            let synced = health.syncs.load(Ordering::Relaxed);
            assert_eq!(synced, round * 3 * MAX_THREADS as u64);
            assert!(lock(&pool.threads).len() <= MAX_THREADS);
        }
        let empty = pool.start(Vec::new());
        pool.wait(&empty).unwrap();
    }

    #[test]
    fn a_failed_sync_fails_its_round_and_poisons_the_store() {
        let (dir, health, pool) = setup();
        health.fail_next_sync.store(true, Ordering::Release);
        let r = pool.start(files(dir.path(), 4));
        assert!(pool.wait(&r).is_err());
        // Every batch waiting on the round is told, not only the first to ask.
        assert!(pool.wait(&r).is_err());
        assert!(health.check().is_err());
        drop(pool);
    }

    #[test]
    fn a_batch_shares_a_sync_of_its_file_that_has_not_begun() {
        let (dir, health, pool) = setup();
        let fs = files(dir.path(), 2);
        // A job queued with no thread to take it yet.
        let queued = Arc::new(Syncs {
            left: Mutex::new((1, None)),
            done: Condvar::new(),
        });
        lock(&pool.shared.state)
            .jobs
            .push_back((fs[0].clone(), queued.clone()));
        assert!(Arc::ptr_eq(&pool.start_one(fs[0].clone()), &queued));
        let other = pool.start_one(fs[1].clone());
        assert!(!Arc::ptr_eq(&other, &queued));
        pool.wait(&queued).unwrap();
        pool.wait(&other).unwrap();
        assert_eq!(health.syncs.load(Ordering::Relaxed), 2);
    }
}
