//! Shoal's records and catalog in an Apache Kafka cluster (ADR 0005), so that several
//! stateless Shoal nodes serve the same streams: a shard is a one-partition topic, the
//! catalog a one-partition topic every node folds.
//!
//! This module holds the connection every part shares ([`Cluster`]); `log` is the
//! record store and `catalog` the metadata store.

pub mod catalog;
mod frame;
pub mod log;
mod read;
mod usage;
mod wait;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Timestamp;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, TopicPartitionList};

pub use catalog::KafkaCatalog;
pub use log::KafkaLogStore;
pub(crate) use wait::block_on;

use super::StorageError;

/// How to reach the cluster and how to lay Shoal out in it.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// Every topic Shoal makes starts with this and a dot.
    pub topic_prefix: String,
    /// Copies of each topic; None = 3, or fewer when the cluster has fewer brokers.
    pub replication_factor: Option<i32>,
    /// None = 2, or the replication factor when that is smaller.
    pub min_insync_replicas: Option<i32>,
    /// librdkafka settings passed through as given (TLS, SASL, timeouts).
    pub client: BTreeMap<String, String>,
    /// How long one metadata or admin request may take.
    pub request_timeout_ms: u64,
}

impl KafkaOptions {
    pub fn new(bootstrap: impl Into<String>) -> KafkaOptions {
        KafkaOptions {
            bootstrap: bootstrap.into(),
            topic_prefix: "shoal".into(),
            replication_factor: None,
            min_insync_replicas: None,
            client: BTreeMap::new(),
            request_timeout_ms: 10_000,
        }
    }
}

/// The clients one node keeps: one producer for every topic, an admin client, and
/// consumers for metadata queries and reads.
pub struct Cluster {
    opts: KafkaOptions,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Watermark and timestamp queries (thread-safe in librdkafka).
    meta: BaseConsumer,
    /// Idle read consumers; a read takes one, assigns it the partition, returns it.
    readers: Mutex<Vec<BaseConsumer>>,
    replication: i32,
    min_isr: i32,
}

/// Topic configuration a shard's topic gets: Kafka's clock stamps arrival, and only
/// Shoal's retention (DeleteRecords) removes data, with a year and a day as a backstop.
const LOG_TOPIC_CONFIG: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("message.timestamp.type", "LogAppendTime"),
    ("retention.ms", "31622400000"),
    ("max.message.bytes", "16777216"),
];

/// How long a topic may stay unknown to a client after it was created.
const NEW_TOPIC_WAIT: Duration = Duration::from_secs(5);

/// How long one try of a query to a partition's leader may take (see `ask_leader`).
const LEADER_TRY: Duration = Duration::from_secs(2);

/// How long the metadata client trusts what it learnt of a partition's leader.
const META_MAX_AGE: &str = "3000";

/// The answers to a leader's query that a later try may not get.
fn leader_unsettled(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnknownPartition
            | RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::DestroyBroker
    )
}

fn kafka_err(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Kafka(format!("{what}: {e}"))
}

impl Cluster {
    /// Connects and learns the cluster's size; fails when no broker answers in time.
    pub fn connect(opts: KafkaOptions) -> Result<Arc<Cluster>, StorageError> {
        let base = base_config(&opts);
        let producer: FutureProducer = base
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("message.max.bytes", "16777216")
            .set("message.timeout.ms", "30000")
            .create()
            .map_err(|e| kafka_err("create the producer", e))?;
        let admin: AdminClient<DefaultClientContext> = base
            .clone()
            .create()
            .map_err(|e| kafka_err("create the admin client", e))?;
        // Without a fetch of its own, this client learns of a new leader only when its
        // metadata ages out; librdkafka's default age is 15 minutes.
        let meta: BaseConsumer = consumer_config(&opts)
            .set("metadata.max.age.ms", META_MAX_AGE)
            .create()
            .map_err(|e| kafka_err("create a consumer", e))?;
        let timeout = Duration::from_millis(opts.request_timeout_ms);
        let brokers = meta
            .fetch_metadata(None, timeout)
            .map_err(|e| kafka_err(&format!("reach Kafka at {}", opts.bootstrap), e))?
            .brokers()
            .len() as i32;
        let replication = opts.replication_factor.unwrap_or(3.min(brokers.max(1)));
        let min_isr = opts.min_insync_replicas.unwrap_or(2.min(replication));
        Ok(Arc::new(Cluster {
            opts,
            producer,
            admin,
            meta,
            readers: Mutex::new(Vec::new()),
            replication,
            min_isr,
        }))
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.opts.request_timeout_ms)
    }

    pub fn log_topic(&self, id: u64) -> String {
        format!("{}.log.{id}", self.opts.topic_prefix)
    }

    /// The log id a topic name carries, if it is one of this prefix's logs.
    fn log_of_topic(&self, topic: &str) -> Option<u64> {
        topic
            .strip_prefix(&self.opts.topic_prefix)?
            .strip_prefix(".log.")?
            .parse()
            .ok()
    }

    pub fn catalog_topic(&self) -> String {
        format!("{}.catalog", self.opts.topic_prefix)
    }

    /// The id of the broker that leads `topic`'s partition, as this client last learnt it
    /// (operators' diagnostics; the failover tests kill that broker).
    pub fn leader_of(&self, topic: &str) -> Result<i32, StorageError> {
        let md = self
            .ask_leader(|wait| self.meta.fetch_metadata(Some(topic), wait))
            .map_err(|e| kafka_err(&format!("read the metadata of {topic}"), e))?;
        md.topics()
            .first()
            .and_then(|t| t.partitions().first())
            .map(|p| p.leader())
            .filter(|l| *l >= 0)
            .ok_or_else(|| kafka_err("find a leader", format!("{topic} has none")))
    }

    /// Creates a one-partition topic; `exists_ok` makes an existing one a success.
    fn create_topic(
        &self,
        name: &str,
        extra: &[(&str, &str)],
        exists_ok: bool,
    ) -> Result<(), StorageError> {
        let isr = self.min_isr.to_string();
        let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(self.replication))
            .set("min.insync.replicas", &isr);
        for (k, v) in extra {
            topic = topic.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(self.timeout()));
        let results = block_on(self.admin.create_topics([&topic], &opts))
            .map_err(|e| kafka_err(&format!("create topic {name}"), e))?;
        for r in results {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) if exists_ok => {}
                Err((t, code)) => return Err(kafka_err(&format!("create topic {t}"), code)),
            }
        }
        // The controller has it; the brokers learn of it a moment later, and a query
        // before then fails as if it did not exist.
        self.watermarks(name).map(drop)
    }

    fn delete_topic(&self, name: &str) -> Result<(), StorageError> {
        let opts = AdminOptions::new().operation_timeout(Some(self.timeout()));
        let results = block_on(self.admin.delete_topics(&[name], &opts))
            .map_err(|e| kafka_err(&format!("delete topic {name}"), e))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((t, code)) => return Err(kafka_err(&format!("delete topic {t}"), code)),
            }
        }
        Ok(())
    }

    /// Log ids of every shard topic under the prefix.
    fn log_topics(&self) -> Result<Vec<u64>, StorageError> {
        let md = self
            .meta
            .fetch_metadata(None, self.timeout())
            .map_err(|e| kafka_err("list topics", e))?;
        let mut ids: Vec<u64> = md
            .topics()
            .iter()
            .filter_map(|t| self.log_of_topic(t.name()))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Sends one message to partition 0 of `topic`; the future resolves once every
    /// in-sync replica has it (`acks=all`).
    fn send(&self, topic: &str, payload: &[u8]) -> Result<DeliveryFuture, StorageError> {
        let record: FutureRecord<'_, (), [u8]> =
            FutureRecord::to(topic).partition(0).payload(payload);
        self.producer
            .send_result(record)
            .map_err(|(e, _)| kafka_err(&format!("produce to {topic}"), e))
    }

    /// The offset and broker timestamp a sent message got.
    async fn delivered(
        topic: &str,
        sent: DeliveryFuture,
        now_ms: i64,
    ) -> Result<(i64, i64), StorageError> {
        match sent.await {
            Ok(Ok(d)) => {
                let ts = match d.timestamp {
                    Timestamp::LogAppendTime(t) | Timestamp::CreateTime(t) => t,
                    Timestamp::NotAvailable => now_ms,
                };
                Ok((d.offset, ts))
            }
            Ok(Err((e, _))) => Err(kafka_err(&format!("produce to {topic}"), e)),
            Err(_) => Err(StorageError::Kafka(format!(
                "produce to {topic}: the producer stopped"
            ))),
        }
    }

    /// Sends and waits for the acknowledgement on this thread.
    fn send_wait(&self, topic: &str, payload: &[u8]) -> Result<(i64, i64), StorageError> {
        let sent = self.send(topic, payload)?;
        block_on(Self::delivered(topic, sent, 0))
    }

    /// (low, high): the first offset kept and one past the last written.
    fn watermarks(&self, topic: &str) -> Result<(i64, i64), StorageError> {
        self.ask_leader(|wait| self.meta.fetch_watermarks(topic, 0, wait))
            .map_err(|e| kafka_err(&format!("read the offsets of {topic}"), e))
    }

    /// The first offset whose timestamp is at least `ts`, or None when none is.
    fn offset_for_time(&self, topic: &str, ts: i64) -> Result<Option<i64>, StorageError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, rdkafka::Offset::Offset(ts))
            .map_err(|e| kafka_err("build a time query", e))?;
        let found = self
            .ask_leader(|wait| self.meta.offsets_for_times(tpl.clone(), wait))
            .map_err(|e| kafka_err(&format!("find a time in {topic}"), e))?;
        let offset = found
            .elements()
            .first()
            .map(|e| e.offset())
            .unwrap_or(rdkafka::Offset::End);
        Ok(match offset {
            rdkafka::Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        })
    }

    /// Runs a query that a partition's leader answers, again while the answer says the
    /// leader is unknown or unreachable, until the request timeout has passed.
    ///
    /// A topic just made (here or by another node) may be unknown to this client for a
    /// moment, and a leader that died stays in librdkafka's metadata cache until the
    /// entry ages out ([`META_MAX_AGE`]); each try is kept short ([`LEADER_TRY`]) so that
    /// the tries after the entry has aged out reach the new leader.
    fn ask_leader<T>(
        &self,
        query: impl Fn(Duration) -> Result<T, KafkaError>,
    ) -> Result<T, KafkaError> {
        let deadline = std::time::Instant::now() + self.timeout().max(NEW_TOPIC_WAIT);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match query(left.min(LEADER_TRY)) {
                Err(KafkaError::MetadataFetch(code))
                    if leader_unsettled(code) && !left.is_zero() =>
                {
                    std::thread::sleep(Duration::from_millis(50).min(left));
                }
                other => return other,
            }
        }
    }

    /// Drops every message of `topic` below `offset` (Kafka's DeleteRecords).
    fn delete_before(&self, topic: &str, offset: i64) -> Result<(), StorageError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, rdkafka::Offset::Offset(offset))
            .map_err(|e| kafka_err("build a deletion", e))?;
        let opts = AdminOptions::new().operation_timeout(Some(self.timeout()));
        block_on(self.admin.delete_records(&tpl, &opts))
            .map(drop)
            .map_err(|e| kafka_err(&format!("delete old records of {topic}"), e))
    }

    fn take_reader(&self) -> Result<BaseConsumer, StorageError> {
        let idle = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => new_consumer(&self.opts),
        }
    }

    fn give_back(&self, reader: BaseConsumer) {
        let _ = reader.unassign();
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        // Enough for the reads a node serves at once; more would only hold sockets.
        if idle.len() < 16 {
            idle.push(reader);
        }
    }
}

fn base_config(opts: &KafkaOptions) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &opts.bootstrap)
        .set("socket.timeout.ms", opts.request_timeout_ms.to_string())
        .set("log_level", "4");
    for (k, v) in &opts.client {
        c.set(k, v);
    }
    c
}

/// A consumer that is only ever assigned partitions (never joins a group) and keeps
/// little prefetched, since each read wants a bounded slice.
fn new_consumer(opts: &KafkaOptions) -> Result<BaseConsumer, StorageError> {
    consumer_config(opts)
        .create()
        .map_err(|e| kafka_err("create a consumer", e))
}

/// `consumer` reading partition 0 of `topic` from `from`.
fn assigned(
    consumer: BaseConsumer,
    topic: &str,
    from: rdkafka::Offset,
) -> Result<BaseConsumer, StorageError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, from)
        .map_err(|e| kafka_err(&format!("read {topic}"), e))?;
    consumer
        .assign(&tpl)
        .map_err(|e| kafka_err(&format!("read {topic}"), e))?;
    Ok(consumer)
}

fn consumer_config(opts: &KafkaOptions) -> ClientConfig {
    let mut c = base_config(opts);
    c.set("group.id", format!("{}.reader", opts.topic_prefix))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("queued.max.messages.kbytes", "16384")
        .set("fetch.message.max.bytes", "16777216");
    c
}
