//! The catalog as a one-partition Kafka topic that every node folds (ADR 0005). A
//! change is a record naming the versions of the keys it read; every node folds the
//! log in the same order, so all agree which of two conflicting changes won (the
//! first) without talking to each other. A key's version is the offset of the record
//! that last changed it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::{Message, Offset};
use serde::{Deserialize, Serialize};

use super::usage::UsageTopic;
use super::{assigned, new_consumer, Cluster};
use crate::storage::catalog::{
    ApplyRemote, ApplyUsage, Catalog, CatalogOp, CatalogState, Maps, Usage,
};
use crate::storage::log::LogId;
use crate::storage::StorageError;

/// Outcomes of this node's changes kept for their commits; far more than can wait.
const MAX_OUTCOMES: usize = 1024;

/// One record of the catalog topic.
#[derive(Serialize, Deserialize)]
struct Change {
    node: String,
    /// Each key the change read, with the version it saw (None: absent).
    expect: Vec<(String, Option<i64>)>,
    ops: Vec<CatalogOp>,
}

/// The key an op changes, as versions are kept.
fn key_of(op: &CatalogOp) -> String {
    match op {
        CatalogOp::PutStream(m) => format!("s/{}", m.key()),
        CatalogOp::DeleteStream { key } | CatalogOp::ShardEnd { key, .. } => format!("s/{key}"),
        CatalogOp::PutSetting { name, .. } => format!("k/{name}"),
    }
}

/// A folded record on its way to the broker.
struct Entry {
    offset: i64,
    /// Another node's winning change, for the broker to apply.
    remote: Option<Vec<CatalogOp>>,
    won_keys: Vec<String>,
}

type Apply = Arc<dyn Fn(&[CatalogOp]) + Send + Sync>;

#[derive(Default)]
struct State {
    /// The fold: every winning change up to `folded`.
    maps: Maps,
    versions: HashMap<String, i64>,
    folded: i64,
    /// This node's records: whether each won, by offset, until its committer looks.
    outcomes: HashMap<i64, bool>,
    queue: VecDeque<Entry>,
    /// What the broker holds: changes below `applied`, keys at these versions.
    applied: i64,
    applied_versions: HashMap<String, i64>,
    apply: Option<Apply>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits on the condition until `done` holds, or fails after `limit`.
    fn wait_until(
        &self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&mut State) -> bool,
    ) -> Result<MutexGuard<'_, State>, StorageError> {
        let deadline = Instant::now() + limit;
        let mut st = self.lock();
        while !done(&mut st) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StorageError::Kafka(format!("{what} took over {limit:?}")));
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(st)
    }
}

/// How long a commit waits to see its own record folded, and a load the log's end.
const FOLD_WAIT: Duration = Duration::from_secs(30);

pub struct KafkaCatalog {
    cluster: Arc<Cluster>,
    topic: String,
    /// Tells this node's records from others' in the fold.
    node: String,
    shared: Arc<Shared>,
    barrier: Barrier,
    usage: UsageTopic,
}

impl KafkaCatalog {
    /// Creates the catalog topic unless it exists and starts folding it.
    pub fn open(cluster: Arc<Cluster>) -> Result<KafkaCatalog, StorageError> {
        let topic = cluster.catalog_topic();
        cluster.create_topic(
            &topic,
            &[
                ("cleanup.policy", "delete"),
                ("retention.ms", "-1"),
                ("max.message.bytes", "16777216"),
            ],
            true,
        )?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let node = uuid::Uuid::new_v4().to_string();
        let follower = assigned(new_consumer(&cluster.opts)?, &topic, Offset::Beginning)?;
        spawn("shoal-catalog-fold", {
            let (shared, node) = (shared.clone(), node.clone());
            move || fold_loop(follower, &shared, &node)
        })?;
        spawn("shoal-catalog-apply", {
            let shared = shared.clone();
            move || apply_loop(&shared)
        })?;
        let barrier = Barrier::start(cluster.clone(), topic.clone(), shared.clone())?;
        let usage = UsageTopic::open(cluster.clone(), node.clone())?;
        Ok(KafkaCatalog {
            cluster,
            topic,
            node,
            shared,
            barrier,
            usage,
        })
    }

    /// What the log store waits on before acknowledging an append.
    pub fn barrier(&self) -> Barrier {
        self.barrier.clone()
    }
}

impl Drop for KafkaCatalog {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.changed.notify_all();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), StorageError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(|e| StorageError::io("start a thread", name, e))
}

fn fold_loop(follower: rdkafka::consumer::BaseConsumer, shared: &Shared, node: &str) {
    while !shared.stop.load(Ordering::Acquire) {
        let m = match follower.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "reading the catalog topic failed; retrying");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let change: Option<Change> = m.payload().and_then(|p| serde_json::from_slice(p).ok());
        let mut st = shared.lock();
        if m.offset() < st.folded {
            continue;
        }
        fold(&mut st, m.offset(), change, node);
        drop(st);
        shared.changed.notify_all();
    }
}

fn fold(st: &mut State, offset: i64, change: Option<Change>, node: &str) {
    let mut entry = Entry {
        offset,
        remote: None,
        won_keys: Vec::new(),
    };
    if let Some(c) = change {
        let won = c
            .expect
            .iter()
            .all(|(k, v)| st.versions.get(k).copied() == *v);
        let own = c.node == node;
        if won {
            st.maps.apply(&c.ops);
            entry.won_keys = c.ops.iter().map(key_of).collect();
            for k in &entry.won_keys {
                st.versions.insert(k.clone(), offset);
            }
            if !own {
                entry.remote = Some(c.ops);
            }
        }
        if own {
            // A commit that stopped waiting (timed out, or its send failed after the
            // record landed) never takes its outcome: forget outcomes long past.
            if st.outcomes.len() >= MAX_OUTCOMES {
                st.outcomes.retain(|o, _| *o + MAX_OUTCOMES as i64 > offset);
            }
            st.outcomes.insert(offset, won);
        }
    }
    st.folded = offset + 1;
    st.queue.push_back(entry);
}

/// Hands other nodes' changes to the broker in log order; a key's applied version
/// moves only after the broker has the change, so a change this node proposes meanwhile
/// names the older version and loses (then retries) rather than overwriting unseen.
fn apply_loop(shared: &Shared) {
    loop {
        let (entry, apply) = {
            let mut st = shared.lock();
            loop {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                if st.apply.is_some() && !st.queue.is_empty() {
                    break;
                }
                st = shared
                    .changed
                    .wait_timeout(st, Duration::from_millis(200))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            let entry = st.queue.pop_front().expect("checked non-empty");
            (entry, st.apply.clone().expect("checked set"))
        };
        if let Some(ops) = &entry.remote {
            apply(ops);
        }
        let mut st = shared.lock();
        st.applied = st.applied.max(entry.offset + 1);
        for k in entry.won_keys {
            let v = st.applied_versions.entry(k).or_insert(entry.offset);
            *v = (*v).max(entry.offset);
        }
        drop(st);
        shared.changed.notify_all();
    }
}

impl Catalog for KafkaCatalog {
    /// Folds the topic up to its end as of now; changes after that reach the broker
    /// through [`Catalog::follow`].
    fn load(&self) -> Result<CatalogState, StorageError> {
        let (_, high) = self.cluster.watermarks(&self.topic)?;
        let mut st = self
            .shared
            .wait_until(FOLD_WAIT, "reading the catalog", |st| st.folded >= high)?;
        st.applied = st.folded;
        st.applied_versions = st.versions.clone();
        st.queue.clear();
        Ok(st.maps.state())
    }

    fn commit(&self, ops: &[CatalogOp]) -> Result<(), StorageError> {
        let expect = {
            let st = self.shared.lock();
            let mut keys: Vec<String> = ops
                .iter()
                .filter(|op| !matches!(op, CatalogOp::ShardEnd { .. }))
                .map(key_of)
                .collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .map(|k| {
                    let v = st.applied_versions.get(&k).copied();
                    (k, v)
                })
                // A setting is last-writer-wins once it exists; only its first write
                // (the token key) must not race.
                .filter(|(k, v)| k.starts_with("s/") || v.is_none())
                .collect()
        };
        let change = Change {
            node: self.node.clone(),
            expect,
            ops: ops.to_vec(),
        };
        let payload = serde_json::to_vec(&change)
            .map_err(|e| StorageError::Catalog(format!("encode a change: {e}")))?;
        let (offset, _) = self.cluster.send_wait(&self.topic, &payload)?;
        let mut st = self
            .shared
            .wait_until(FOLD_WAIT, "folding a catalog change", |st| {
                st.outcomes.contains_key(&offset)
            })?;
        if st.outcomes.remove(&offset) != Some(true) {
            return Err(StorageError::Conflict);
        }
        for k in ops.iter().map(key_of) {
            let v = st.applied_versions.entry(k).or_insert(offset);
            *v = (*v).max(offset);
        }
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    fn follow(&self, apply: ApplyRemote) {
        self.shared.lock().apply = Some(Arc::from(apply));
        self.shared.changed.notify_all();
    }

    fn share_usage(&self, usage: &[(LogId, Usage)]) {
        self.usage.send(usage)
    }

    fn follow_usage(&self, apply: ApplyUsage) {
        self.usage.follow(apply)
    }

    fn catch_up(&self) -> Result<(), StorageError> {
        let (_, high) = self.cluster.watermarks(&self.topic)?;
        self.shared
            .wait_until(FOLD_WAIT, "catching up with the catalog", |st| {
                st.applied >= high
            })
            .map(drop)
    }
}

/// Coalesces the appends waiting to be acknowledged: one thread asks for the catalog's
/// end on behalf of every append that arrived meanwhile, then waits until the broker
/// has applied everything up to it. An append that has passed knows of every reshard
/// recorded before it landed.
#[derive(Clone)]
pub struct Barrier {
    tx: mpsc::Sender<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

impl Barrier {
    fn start(
        cluster: Arc<Cluster>,
        topic: String,
        shared: Arc<Shared>,
    ) -> Result<Barrier, StorageError> {
        let (tx, rx) = mpsc::channel::<tokio::sync::oneshot::Sender<Result<(), String>>>();
        spawn("shoal-catalog-barrier", move || {
            while let Ok(first) = rx.recv() {
                let mut waiting = vec![first];
                waiting.extend(rx.try_iter());
                let passed = cluster
                    .watermarks(&topic)
                    .and_then(|(_, high)| {
                        shared
                            .wait_until(FOLD_WAIT, "catching up with the catalog", |st| {
                                st.applied >= high
                            })
                            .map(drop)
                    })
                    .map_err(|e| e.to_string());
                for w in waiting {
                    let _ = w.send(passed.clone());
                }
            }
        })?;
        Ok(Barrier { tx })
    }

    pub async fn pass(&self) -> Result<(), StorageError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stopped = || StorageError::Kafka("the catalog barrier stopped".into());
        self.tx.send(tx).map_err(|_| stopped())?;
        rx.await
            .map_err(|_| stopped())?
            .map_err(StorageError::Kafka)
    }
}
