//! Shard logs as one-partition Kafka topics. An append is one message; its offset
//! becomes the records' positions. A seal is a fence message written after the
//! reshard is in the catalog, and an append that lands after the fence is handed back
//! as `Sealed`, so the broker re-routes it to the children (ADR 0005).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::catalog::Barrier;
use super::frame;
use super::read::Stop;
use super::{Cluster, LOG_TOPIC_CONFIG};
use crate::storage::log::table::LogTable;
use crate::storage::log::{
    Appended, DurableWait, LogBounds, LogId, LogStore, ReadBatch, RecordIn, ShardLog, PENDING_END,
};
use crate::storage::StorageError;

/// The logs of every shard, in the cluster's topics.
pub struct KafkaLogStore {
    cluster: Arc<Cluster>,
    barrier: Barrier,
    logs: LogTable<KafkaLog>,
    closed: Arc<AtomicBool>,
}

impl KafkaLogStore {
    /// `barrier` is the catalog's: an append is acknowledged only once this node has
    /// heard of every reshard recorded before it landed.
    pub fn new(cluster: Arc<Cluster>, barrier: Barrier) -> Arc<KafkaLogStore> {
        Arc::new(KafkaLogStore {
            cluster,
            barrier,
            logs: LogTable::new(HashMap::new()),
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    fn handle(&self, id: LogId) -> Arc<KafkaLog> {
        Arc::new(KafkaLog {
            id,
            topic: self.cluster.log_topic(id),
            cluster: self.cluster.clone(),
            barrier: self.barrier.clone(),
            seal: Arc::new(Mutex::new(Seal::default())),
            last_ts: Mutex::new(None),
            watermarks: Mutex::new((0, 0)),
            removed: AtomicBool::new(false),
            closed: self.closed.clone(),
        })
    }
}

/// What this node knows of a log's seal.
#[derive(Debug, Default, Clone, Copy)]
struct Seal {
    sealed: bool,
    /// The fence's Kafka offset, once settled.
    fence: Option<i64>,
}

struct KafkaLog {
    id: LogId,
    topic: String,
    cluster: Arc<Cluster>,
    barrier: Barrier,
    seal: Arc<Mutex<Seal>>,
    /// The stamp of the newest record this node has seen (written or read at the end).
    last_ts: Mutex<Option<i64>>,
    /// The (low, high) watermarks Kafka last gave, answered while it does not answer.
    watermarks: Mutex<(i64, i64)>,
    removed: AtomicBool,
    closed: Arc<AtomicBool>,
}

impl LogStore for KafkaLogStore {
    fn create(&self, id: LogId) -> Result<Arc<dyn ShardLog>, StorageError> {
        let log = self.logs.create(id, self.cluster.log_topic(id), || {
            self.cluster
                .create_topic(&self.cluster.log_topic(id), LOG_TOPIC_CONFIG, false)?;
            Ok(self.handle(id))
        })?;
        Ok(log)
    }

    /// Logs are topics other nodes create too: opening one this node has not seen
    /// makes its handle (a read finds out whether the topic exists).
    fn open(&self, id: LogId) -> Result<Arc<dyn ShardLog>, StorageError> {
        if let Ok(log) = self.logs.get(id) {
            return Ok(log);
        }
        match self
            .logs
            .create(id, self.cluster.log_topic(id), || Ok(self.handle(id)))
        {
            Ok(log) => Ok(log),
            Err(_) => Ok(self.logs.get(id)?),
        }
    }

    fn list(&self) -> Result<Vec<LogId>, StorageError> {
        self.cluster.log_topics()
    }

    fn remove(&self, id: LogId) -> Result<(), StorageError> {
        if let Ok(log) = self.logs.take(id) {
            log.removed.store(true, Ordering::Release);
        }
        self.cluster.delete_topic(&self.cluster.log_topic(id))
    }

    fn shutdown(&self) -> Result<(), StorageError> {
        self.closed.store(true, Ordering::Release);
        use rdkafka::producer::Producer;
        self.cluster
            .producer
            .flush(Duration::from_secs(10))
            .map_err(|e| super::kafka_err("flush the producer", e))
    }
}

impl KafkaLog {
    fn seal_state(&self) -> Seal {
        *self.seal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&self) -> Stop {
        match self.seal_state().fence {
            Some(f) => Stop::At(f),
            None => Stop::FirstFence,
        }
    }

    fn check_live(&self) -> Result<(), StorageError> {
        if self.removed.load(Ordering::Acquire) {
            return Err(StorageError::LogNotFound(self.id));
        }
        Ok(())
    }
}

/// How often a subscription following this log looks for other nodes' appends.
const TAIL_POLL: Duration = Duration::from_millis(50);

/// How far the resharding node's clock may be behind Kafka's: a seal's fences are
/// looked for from this long before its reshard was recorded.
const CLOCK_SKEW_MS: i64 = 60_000;

/// How long an append that landed in a sealed log waits for the seal's fence to be
/// recorded (the sealing node writes it right after its catalog change).
const FENCE_WAIT: Duration = Duration::from_secs(10);

/// Whether the message at `offset` is inside the log: it is, unless this node knows of
/// a seal whose fence came before it.
async fn inside(seal: &Mutex<Seal>, id: LogId, offset: i64) -> Result<(), StorageError> {
    let deadline = Instant::now() + FENCE_WAIT;
    loop {
        let s = *seal.lock().unwrap_or_else(|p| p.into_inner());
        match (s.sealed, s.fence) {
            (false, _) => return Ok(()),
            (true, Some(f)) if offset < f => return Ok(()),
            (true, Some(_)) => return Err(StorageError::Sealed(id)),
            (true, None) if Instant::now() > deadline => {
                return Err(StorageError::Kafka(format!(
                    "log {id} is sealed but its end was not recorded in time"
                )))
            }
            (true, None) => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

impl ShardLog for KafkaLog {
    fn append(&self, now_ms: i64, records: &[RecordIn]) -> Result<Appended, StorageError> {
        self.check_live()?;
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Poisoned("the store was shut down".into()));
        }
        if self.seal_state().sealed {
            return Err(StorageError::Sealed(self.id));
        }
        if records.is_empty() || records.len() > frame::MAX_BATCH {
            return Err(StorageError::Kafka(format!(
                "an append of {} records does not fit one message",
                records.len()
            )));
        }
        let sent = self.cluster.send(&self.topic, &frame::batch(records))?;
        let (topic, id) = (self.topic.clone(), self.id);
        let (seal, barrier) = (self.seal.clone(), self.barrier.clone());
        let placed = async move {
            let (offset, ts) = Cluster::delivered(&topic, sent, now_ms).await?;
            barrier.pass().await?;
            inside(&seal, id, offset).await?;
            Ok((frame::position(offset, 0), ts))
        };
        *self.last_ts.lock().unwrap_or_else(|p| p.into_inner()) = Some(now_ms);
        Ok(Appended {
            first_offset: 0,
            timestamp_ms: now_ms,
            durable: DurableWait::Placed(Box::pin(placed)),
        })
    }

    fn read(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, StorageError> {
        self.check_live()?;
        let slice =
            self.cluster
                .read_topic(&self.topic, from, max_records, max_bytes, self.stop())?;
        let mut last = self.last_ts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ts) = slice.last_ts_at_end {
            *last = Some(last.map_or(ts, |l| l.max(ts)));
        }
        Ok(ReadBatch {
            next_offset: slice.next,
            end_offset: frame::position(slice.end, 0),
            last_timestamp_ms: *last,
            records: slice.records,
        })
    }

    fn offset_at_time(&self, timestamp_ms: i64) -> Result<u64, StorageError> {
        self.check_live()?;
        match self.cluster.offset_for_time(&self.topic, timestamp_ms)? {
            Some(o) => Ok(frame::position(o, 0)),
            None => Ok(self.bounds().end_offset),
        }
    }

    /// Asks the cluster each time: another node may have appended a moment ago. While
    /// the cluster does not answer, the last answer stands (it only grows).
    fn bounds(&self) -> LogBounds {
        let last_timestamp_ms = *self.last_ts.lock().unwrap_or_else(|p| p.into_inner());
        let mut known = self.watermarks.lock().unwrap_or_else(|p| p.into_inner());
        match self.cluster.watermarks(&self.topic) {
            Ok(w) => *known = w,
            Err(e) => tracing::warn!(log = self.id, error = %e, "bounds from the last answer"),
        }
        let (low, high) = *known;
        drop(known);
        let end = match self.seal_state().fence {
            Some(f) => high.min(f),
            None => high,
        };
        LogBounds {
            start_offset: frame::position(low.min(end), 0),
            end_offset: frame::position(end, 0),
            last_timestamp_ms,
        }
    }

    /// Refuses this node's appends at once; the end is settled by
    /// [`ShardLog::seal_recorded`] once the reshard is in the catalog.
    fn seal(&self) -> Result<u64, StorageError> {
        self.check_live()?;
        let mut s = self.seal.lock().unwrap_or_else(|p| p.into_inner());
        s.sealed = true;
        Ok(s.fence.map_or(PENDING_END, |f| frame::position(f, 0)))
    }

    fn unseal(&self) {
        let mut s = self.seal.lock().unwrap_or_else(|p| p.into_inner());
        if s.fence.is_none() {
            s.sealed = false;
        }
    }

    fn seal_recorded(&self) -> Result<Option<u64>, StorageError> {
        if let Some(f) = self.seal_state().fence {
            return Ok(Some(frame::position(f, 0)));
        }
        let (offset, _) = self.cluster.send_wait(&self.topic, &frame::fence())?;
        self.ends_at(frame::position(offset, 0));
        Ok(Some(frame::position(offset, 0)))
    }

    fn complete_seal(&self, closed_ms: i64) -> Result<Option<u64>, StorageError> {
        if let Some(f) = self.seal_state().fence {
            return Ok(Some(frame::position(f, 0)));
        }
        self.seal.lock().unwrap_or_else(|p| p.into_inner()).sealed = true;
        // A fence of ours at least; an earlier one (the sealing node's, written before
        // it died) is the end, since appends behind it may have been refused as sealed.
        let (ours, _) = self.cluster.send_wait(&self.topic, &frame::fence())?;
        let from = self
            .cluster
            .offset_for_time(&self.topic, closed_ms - CLOCK_SKEW_MS)?
            .unwrap_or(ours);
        let first = self.cluster.first_fence(&self.topic, from, ours)?;
        Ok(Some(frame::position(first, 0)))
    }

    fn ends_at(&self, end: u64) {
        if end == PENDING_END {
            return;
        }
        let mut s = self.seal.lock().unwrap_or_else(|p| p.into_inner());
        s.sealed = true;
        s.fence.get_or_insert(frame::split(end).0);
    }

    /// Kafka's DeleteRecords removes whole messages older than the cutoff; the bytes
    /// freed are not reported back.
    fn trim_before(&self, cutoff_ms: i64) -> Result<u64, StorageError> {
        self.check_live()?;
        let (low, high) = self.cluster.watermarks(&self.topic)?;
        let keep_from = self
            .cluster
            .offset_for_time(&self.topic, cutoff_ms)?
            .unwrap_or(high);
        if keep_from > low {
            self.cluster.delete_before(&self.topic, keep_from)?;
        }
        Ok(0)
    }

    fn stored_bytes(&self) -> u64 {
        0
    }

    fn tail_poll(&self) -> Option<Duration> {
        Some(TAIL_POLL)
    }
}
