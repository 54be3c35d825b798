//! Group commit in `Sync` mode, one lane per log: a log's appends queue up while its
//! previous fdatasync runs and are all covered by the next one, and different logs sync
//! on different threads at once. An append therefore waits for its own log's sync, not
//! for a round over every dirty log (with 4 busy shards that halved put latency; see
//! docs/performance.md). Visibility still advances in offset order per log, because a
//! log is in at most one worker's hands at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::handles::OpenFile;
use super::syncer::{Done, Health, Visible};
use crate::storage::StorageError;

/// Worker threads: logs synced at once. 4 -> 32 doubled PutRecords over 1000 shards;
/// 128 gained nothing more on ext4 (docs/performance.md).
const WORKERS: usize = 32;

/// One append waiting to become durable and visible.
pub(crate) struct Commit {
    pub file: Arc<OpenFile>,
    pub visible: Arc<Visible>,
    pub end: u64,
    pub timestamp_ms: i64,
    pub done: Done,
}

#[derive(Default)]
struct LogQueue {
    pending: Vec<Commit>,
    in_flight: bool,
}

#[derive(Default)]
struct State {
    /// By the address of the log's `Visible`.
    queues: HashMap<usize, LogQueue>,
    /// Logs with pending commits that no worker holds, oldest first.
    ready: VecDeque<usize>,
    stopping: bool,
}

pub(crate) struct Lanes {
    state: Mutex<State>,
    /// A log became ready, or the store is stopping.
    wake: Condvar,
    /// Every queue drained.
    idle: Condvar,
    health: Arc<Health>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Lanes {
    pub fn start(health: Arc<Health>) -> std::io::Result<Arc<Lanes>> {
        let lanes = Arc::new(Lanes {
            state: Mutex::default(),
            wake: Condvar::new(),
            idle: Condvar::new(),
            health,
            workers: Mutex::default(),
        });
        for i in 0..WORKERS {
            let me = lanes.clone();
            let handle = std::thread::Builder::new()
                .name(format!("shoal-log-sync-{i}"))
                .spawn(move || me.work())?;
            lock(&lanes.workers).push(handle);
        }
        Ok(lanes)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues an append; called under the log's writer lock, so a log's commits queue
    /// in offset order.
    pub fn submit(&self, c: Commit) -> Result<(), StorageError> {
        let key = Arc::as_ptr(&c.visible) as usize;
        let mut st = self.lock();
        if st.stopping {
            return Err(StorageError::Poisoned("the store is closing".into()));
        }
        let q = st.queues.entry(key).or_default();
        q.pending.push(c);
        if !q.in_flight && q.pending.len() == 1 {
            st.ready.push_back(key);
            self.wake.notify_one();
        }
        Ok(())
    }

    fn work(&self) {
        let mut st = self.lock();
        loop {
            let Some(key) = st.ready.pop_front() else {
                if st.stopping {
                    return;
                }
                st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            };
            let q = st.queues.get_mut(&key).expect("a ready log has a queue");
            q.in_flight = true;
            let batch = std::mem::take(&mut q.pending);
            drop(st);
            complete(&self.health, batch);
            st = self.lock();
            let q = st
                .queues
                .get_mut(&key)
                .expect("an in-flight log has a queue");
            q.in_flight = false;
            if q.pending.is_empty() {
                st.queues.remove(&key);
                if st.queues.is_empty() {
                    self.idle.notify_all();
                }
            } else {
                st.ready.push_back(key);
            }
        }
    }

    /// Completes everything queued, then stops the workers.
    pub fn stop(&self) -> Result<(), StorageError> {
        let mut st = self.lock();
        while !st.queues.is_empty() {
            st = self.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.stopping = true;
        self.wake.notify_all();
        drop(st);
        for w in lock(&self.workers).drain(..) {
            if w.join().is_err() {
                tracing::error!("a sync thread panicked");
            }
        }
        self.health.check()
    }

    /// Tells the workers to finish what is queued and exit, without waiting (the
    /// store was dropped without a shutdown).
    pub fn release(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Syncs each file the batch wrote to (once), then makes the appends visible in order.
fn complete(health: &Health, batch: Vec<Commit>) {
    let mut synced: Vec<*const OpenFile> = Vec::with_capacity(1);
    let mut result = Ok(());
    for c in &batch {
        let p = Arc::as_ptr(&c.file);
        if !synced.contains(&p) {
            synced.push(p);
            result = health.sync(&c.file);
            if result.is_err() {
                break;
            }
        }
    }
    let failure = result.err().map(|e| e.to_string());
    for c in batch {
        match &failure {
            None => {
                c.visible.advance(c.end, c.timestamp_ms);
                let _ignored_if_caller_gone = c.done.send(Ok(()));
            }
            Some(why) => {
                let _ignored_if_caller_gone = c.done.send(Err(StorageError::Poisoned(why.clone())));
            }
        }
    }
}
