//! The usage topic: how the nodes sharing a catalog hold each shard to one budget
//! (ADR 0005, "Limits"). Every node sends what it took from shards' buckets a few times
//! a second and charges what the others sent to its own buckets, so a shard's limit
//! holds for the stream rather than per node.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::{Message, Offset};
use serde::{Deserialize, Serialize};

use super::{assigned, kafka_err, new_consumer, Cluster};
use crate::storage::catalog::{ApplyUsage, Usage};
use crate::storage::log::LogId;
use crate::storage::StorageError;

/// One message of the usage topic.
#[derive(Serialize, Deserialize)]
struct Report {
    node: String,
    usage: Vec<(LogId, Usage)>,
}

/// Reports older than this are of no use to anyone: buckets hold one second.
const KEEP_MS: &str = "60000";

/// This node's end of the usage topic.
pub struct UsageTopic {
    cluster: Arc<Cluster>,
    topic: String,
    node: String,
    apply: Arc<Mutex<Option<ApplyUsage>>>,
    stop: Arc<AtomicBool>,
}

impl UsageTopic {
    /// Creates the topic unless it exists and follows it from its end: what other
    /// nodes took before this one started has refilled by the time it serves.
    pub fn open(cluster: Arc<Cluster>, node: String) -> Result<UsageTopic, StorageError> {
        let topic = format!("{}.usage", cluster.opts.topic_prefix);
        cluster.create_topic(
            &topic,
            &[("cleanup.policy", "delete"), ("retention.ms", KEEP_MS)],
            true,
        )?;
        let follower = assigned(new_consumer(&cluster.opts)?, &topic, Offset::End)?;
        let (apply, stop) = (Arc::default(), Arc::new(AtomicBool::new(false)));
        std::thread::Builder::new()
            .name("shoal-usage".into())
            .spawn({
                let (apply, stop, node) = (Arc::clone(&apply), stop.clone(), node.clone());
                move || follow_loop(follower, &apply, &stop, &node)
            })
            .map_err(|e| StorageError::io("start a thread", "shoal-usage", e))?;
        Ok(UsageTopic {
            cluster,
            topic,
            node,
            apply,
            stop,
        })
    }

    /// Sends a report without waiting for it: a lost one loosens the limits for a
    /// moment, and nothing waits on it.
    pub fn send(&self, usage: &[(LogId, Usage)]) {
        let report = Report {
            node: self.node.clone(),
            usage: usage.to_vec(),
        };
        let sent = serde_json::to_vec(&report)
            .map_err(|e| kafka_err("encode a usage report", e))
            .and_then(|bytes| self.cluster.send(&self.topic, &bytes));
        if let Err(e) = sent {
            tracing::debug!(error = %e, "a usage report was not sent");
        }
    }

    pub fn follow(&self, apply: ApplyUsage) {
        *self.apply.lock().unwrap_or_else(|p| p.into_inner()) = Some(apply);
    }
}

impl Drop for UsageTopic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn follow_loop(
    follower: BaseConsumer,
    apply: &Mutex<Option<ApplyUsage>>,
    stop: &AtomicBool,
    node: &str,
) {
    while !stop.load(Ordering::Acquire) {
        let m = match follower.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "reading the usage topic failed; retrying");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let Some(report) = m
            .payload()
            .and_then(|p| serde_json::from_slice::<Report>(p).ok())
        else {
            continue;
        };
        if report.node == node {
            continue;
        }
        if let Some(apply) = &*apply.lock().unwrap_or_else(|p| p.into_inner()) {
            apply(&report.usage);
        }
    }
}
