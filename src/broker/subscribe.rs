//! SubscribeToShard: a consumer's push subscription to one shard. Catches up from the
//! log, then tails it (woken by the shard's append signal, no polling), with an empty
//! event at least every heartbeat, its own 2 MiB/s budget, a five-minute lifetime, and
//! AWS's takeover rule for a second subscription of the same consumer and shard.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::consumers::ConsumerStatus;
use super::records::{ChildShard, IteratorStart, RecordOut, MAX_GET_BYTES, MAX_GET_RECORDS};
use super::throttle::RateBucket;
use super::{arn, sequence, Broker, BrokerError, BrokerResult, Scope, Stream};

/// A subscription within this many records of its shard's end reads on its worker:
/// records just written are still in the page cache.
const TAIL_READ: u64 = 1000;

/// A subscription ends normally after five minutes, as on AWS.
pub const LIFETIME_MS: i64 = 300_000;
/// A second subscription of the same consumer and shard within this long of the first
/// is refused; after it, the new one takes over.
pub const TAKEOVER_AFTER_MS: i64 = 5_000;
/// Each subscription reads at most this much per second.
pub const BYTES_PER_SEC: f64 = 2.0 * 1024.0 * 1024.0;

/// One event pushed to the subscriber.
#[derive(Debug, Clone)]
pub struct SubscribeEvent {
    pub records: Vec<RecordOut>,
    /// Where to resume (the number just after the last record delivered); None only in
    /// the final event of a closed shard, which carries its children instead.
    pub continuation: Option<u128>,
    pub millis_behind_latest: i64,
    pub child_shards: Vec<ChildShard>,
}

/// Who holds each (consumer, shard) subscription, so a newer one can take over.
#[derive(Debug, Default)]
pub struct Subscriptions {
    active: Mutex<HashMap<(String, u32), Holder>>,
    next_generation: std::sync::atomic::AtomicU64,
    /// Set at shutdown: every subscription ends at once, so a graceful stop does not
    /// wait out their five-minute lifetimes.
    closing: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

#[derive(Debug, Clone, Copy)]
struct Holder {
    generation: u64,
    started_ms: i64,
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Holder>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    /// Open subscriptions by stream ARN and shard index (for /metrics).
    pub fn open_by_shard(&self) -> HashMap<(String, u32), usize> {
        let mut out = HashMap::new();
        for (consumer_arn, shard) in self.lock().keys() {
            let stream = consumer_arn
                .split_once("/consumer/")
                .map_or(consumer_arn.as_str(), |(s, _)| s);
            *out.entry((stream.to_string(), *shard)).or_insert(0) += 1;
        }
        out
    }

    /// Ends every subscription (at its next step) and refuses new ones.
    pub fn close_all(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_waiters();
    }

    fn closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// A live subscription; [`Subscription::next_event`] yields its events in order.
pub struct Subscription {
    broker: Arc<Broker>,
    scope: Scope,
    stream: Arc<Stream>,
    consumer_arn: String,
    shard_index: u32,
    /// The next offset to deliver.
    position: u64,
    started_ms: i64,
    generation: u64,
    /// The subscription's own read budget; None with throttling off (`--no-throttle`).
    budget: Option<RateBucket>,
    heartbeat: Duration,
    done: bool,
}

impl Broker {
    /// Starts a subscription for an ACTIVE consumer. Failures here are ordinary error
    /// responses; failures later arrive as exception events.
    pub fn subscribe(
        self: &Arc<Self>,
        scope: &Scope,
        consumer_arn: &str,
        shard_id: &str,
        start: IteratorStart,
    ) -> BrokerResult<Subscription> {
        if self.subscriptions.closing() {
            return Err(BrokerError::Internal("the server is shutting down".into()));
        }
        let (stream, consumer) = self.consumer_by_arn(scope, consumer_arn)?;
        if consumer.status != ConsumerStatus::Active {
            return Err(BrokerError::ResourceInUse(format!(
                "Consumer {consumer_arn} under account {} is not ACTIVE.",
                scope.account
            )));
        }
        let shard = arn::parse_shard_id(shard_id)
            .and_then(|i| stream.shards().by_index(i).cloned())
            .ok_or_else(|| {
                BrokerError::ResourceNotFound(format!(
                    "Shard {shard_id} in stream {} under account {} does not exist",
                    stream.name, scope.account
                ))
            })?;
        let now = self.clock.now_ms();
        let position =
            self.start_offset(scope, &stream, &shard, &start, "SubscribeToShard", now)?;
        let key = (consumer.arn.clone(), shard.meta.index);
        let generation = {
            let mut active = self.subscriptions.lock();
            if let Some(h) = active.get(&key) {
                if now - h.started_ms < TAKEOVER_AFTER_MS {
                    return Err(BrokerError::ResourceInUse(format!(
                        "Another active subscription exists for consumer {} on shard {shard_id}; a new one may take over {} seconds after it started.",
                        consumer.arn,
                        TAKEOVER_AFTER_MS / 1000
                    )));
                }
            }
            let generation = self
                .subscriptions
                .next_generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            active.insert(
                key,
                Holder {
                    generation,
                    started_ms: now,
                },
            );
            generation
        };
        Ok(Subscription {
            broker: self.clone(),
            scope: scope.clone(),
            stream,
            consumer_arn: consumer.arn,
            shard_index: shard.meta.index,
            position,
            started_ms: now,
            generation,
            budget: self
                .config
                .limits
                .enabled
                .then(|| RateBucket::new(BYTES_PER_SEC, now)),
            heartbeat: Duration::from_millis(self.config.subscription_heartbeat_ms.max(1)),
            done: false,
        })
    }
}

impl Subscription {
    fn continuation(&self) -> u128 {
        sequence::of_position(self.stream.created_ms, self.shard_index, self.position)
    }

    fn superseded(&self) -> bool {
        let active = self.broker.subscriptions.lock();
        active
            .get(&(self.consumer_arn.clone(), self.shard_index))
            .is_none_or(|h| h.generation != self.generation)
    }

    fn end(&mut self, why: Option<BrokerError>) -> Option<BrokerResult<SubscribeEvent>> {
        self.done = true;
        why.map(Err)
    }

    /// The next event, or None once the subscription has ended (lifetime over, or the
    /// final event of a closed shard sent). Waits while there is nothing to send, up to
    /// the heartbeat, so an idle subscription still hears from the server.
    pub async fn next_event(&mut self) -> Option<BrokerResult<SubscribeEvent>> {
        if self.done {
            return None;
        }
        // One heartbeat per quiet period, however often a shared log is polled.
        let heartbeat_at = tokio::time::Instant::now() + self.heartbeat;
        loop {
            let b = self.broker.clone();
            // Registered before the flag is read, so a shutdown in between still wakes us.
            let closing = b.subscriptions.wake.notified();
            if b.subscriptions.closing() {
                return self.end(None);
            }
            let now = b.clock.now_ms();
            if self.superseded() {
                return self.end(Some(BrokerError::ResourceInUse(format!(
                    "Another subscription for consumer {} on shard {} took over.",
                    self.consumer_arn,
                    arn::shard_id(self.shard_index)
                ))));
            }
            if now - self.started_ms >= LIFETIME_MS {
                return self.end(None);
            }
            match b.consumer_by_arn(&self.scope, &self.consumer_arn) {
                Ok((_, c)) if c.status == ConsumerStatus::Active => {}
                _ => {
                    return self.end(Some(BrokerError::ResourceNotFound(format!(
                        "Consumer {} under account {} not found.",
                        self.consumer_arn, self.scope.account
                    ))))
                }
            }
            let Some(shard) = self.stream.shards().by_index(self.shard_index).cloned() else {
                return self.end(Some(BrokerError::ResourceNotFound(format!(
                    "Shard {} in stream {} under account {} does not exist",
                    arn::shard_id(self.shard_index),
                    self.stream.name,
                    self.scope.account
                ))));
            };
            let wait = self.budget.as_mut().map_or(0, |b| b.wait_ms(now));
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait).min(self.heartbeat)).await;
                continue;
            }
            // Registered before reading, so an append between the read and the wait
            // still wakes us.
            let appended = shard.meter.appended.notified();
            let budget = self
                .budget
                .as_mut()
                .map_or(MAX_GET_BYTES as f64, |b| b.available(now))
                .clamp(1.0, MAX_GET_BYTES as f64) as usize;
            let (position, cutoff) = (self.position, self.stream.retention_cutoff(now));
            // Appends other nodes make to a shared log wake no one here: it is polled,
            // and each of its calls is a round trip to the cluster, so none runs here.
            let poll = shard.log.tail_poll();
            let read = if poll.is_some() {
                let log = shard.log.clone();
                super::off_worker(move || {
                    let from = position.max(super::records::readable_from(&*log, cutoff)?);
                    log.read(from, MAX_GET_RECORDS, budget)
                })
                .await
            } else {
                let from = match super::records::readable_from(&*shard.log, cutoff) {
                    Ok(trim) => position.max(trim),
                    Err(e) => return self.end(Some(e.into())),
                };
                if from + TAIL_READ < shard.log.bounds().end_offset {
                    // Catching up, maybe from the disk: not on this worker.
                    let log = shard.log.clone();
                    super::off_worker(move || log.read(from, MAX_GET_RECORDS, budget)).await
                } else {
                    // Following the tail: a thread hop would cost more than the read
                    // (+0.09 ms at the median, docs/performance-history.md).
                    shard.log.read(from, MAX_GET_RECORDS, budget)
                }
            };
            let batch = match read {
                Ok(batch) => batch,
                Err(e) => return self.end(Some(e.into())),
            };
            let caught_up = batch.next_offset >= batch.end_offset;
            let records: Vec<RecordOut> =
                match self.broker.records_out(&self.stream, &shard, batch.records) {
                    Ok(records) => records,
                    Err(e) => return self.end(Some(e)),
                };
            let bytes = super::records::out_bytes(&records);
            if let Some(b) = self.budget.as_mut() {
                b.charge(bytes);
            }
            self.position = batch.next_offset;
            let millis_behind_latest = match records.last() {
                _ if caught_up => 0,
                Some(last) => (now - last.arrival_ms).max(0),
                None => 0,
            };
            shard
                .meter
                .read_out(records.len() as u64, bytes as u64, millis_behind_latest);
            if !records.is_empty() {
                return Some(Ok(SubscribeEvent {
                    records,
                    continuation: Some(self.continuation()),
                    millis_behind_latest,
                    child_shards: Vec::new(),
                }));
            }
            // Past the end of a closed shard: one final event naming the children,
            // without a continuation, then the subscription ends.
            if shard
                .meta
                .closed
                .is_some_and(|c| self.position >= c.end_offset)
            {
                self.done = true;
                return Some(Ok(SubscribeEvent {
                    records,
                    continuation: None,
                    millis_behind_latest: 0,
                    child_shards: b.children(&self.stream, self.shard_index),
                }));
            }
            tokio::select! {
                _ = appended => continue,
                _ = closing => continue,
                _ = async {
                    match poll {
                        Some(every) => tokio::time::sleep(every).await,
                        None => std::future::pending().await,
                    }
                } => continue,
                _ = tokio::time::sleep_until(heartbeat_at) => {
                    return Some(Ok(SubscribeEvent {
                        records: Vec::new(),
                        continuation: Some(self.continuation()),
                        millis_behind_latest,
                        child_shards: Vec::new(),
                    }));
                }
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut active = self.broker.subscriptions.lock();
        let key = (self.consumer_arn.clone(), self.shard_index);
        if active
            .get(&key)
            .is_some_and(|h| h.generation == self.generation)
        {
            active.remove(&key);
        }
    }
}
