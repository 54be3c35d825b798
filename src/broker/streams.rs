//! The stream life cycle: CreateStream, DeleteStream, DescribeStream(Summary),
//! ListStreams, with status moving CREATING -> ACTIVE and DELETING -> gone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::token::{Reader, Writer};
use super::{
    arn, routing, sequence, Broker, BrokerError, BrokerResult, Scope, Shard, Stream, StreamRef,
};
use crate::storage::catalog::{CatalogOp, ConsumerState, ShardMeta, StreamMeta, StreamState};
use crate::storage::StorageError;

/// What CreateStream asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateStream {
    pub name: String,
    pub shard_count: Option<u32>,
    pub on_demand: bool,
    pub max_record_size_kib: Option<u32>,
    pub tags: BTreeMap<String, String>,
}

/// A shard as the describe and list calls show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardView {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
    pub adjacent_parent_shard_id: Option<String>,
    pub starting_hash_key: u128,
    pub ending_hash_key: u128,
    pub starting_sequence_number: u128,
    pub ending_sequence_number: Option<u128>,
}

/// A stream as DescribeStream, DescribeStreamSummary and ListStreams show it.
#[derive(Debug, Clone)]
pub struct StreamView {
    pub name: String,
    pub arn: String,
    pub status: StreamState,
    pub on_demand: bool,
    pub created_ms: i64,
    pub retention_hours: u32,
    pub max_record_size_kib: u32,
    pub open_shard_count: usize,
    /// The KMS key while encryption is on; None = EncryptionType NONE.
    pub encryption_key_id: Option<String>,
    pub shard_level_metrics: Vec<String>,
    /// Warm throughput target (MiB/s), on-demand streams only.
    pub warm_target_mibps: Option<u32>,
    /// Enhanced fan-out consumers registered with the stream.
    pub consumer_count: usize,
}

/// One page of DescribeStream.
#[derive(Debug, Clone)]
pub struct StreamDescription {
    pub stream: StreamView,
    pub shards: Vec<ShardView>,
    pub has_more_shards: bool,
}

/// One page of ListStreams.
#[derive(Debug, Clone)]
pub struct StreamPage {
    pub streams: Vec<StreamView>,
    pub has_more: bool,
    pub next_token: Option<String>,
}

/// Streams one account may have CREATING at once, as on AWS.
const MAX_CREATING: usize = 5;

/// A status as AWS spells it.
pub fn status_word(s: StreamState) -> &'static str {
    match s {
        StreamState::Creating => "CREATING",
        StreamState::Active => "ACTIVE",
        StreamState::Updating => "UPDATING",
        StreamState::Deleting => "DELETING",
    }
}

/// How long ListStreams and ListShards tokens stay valid, as on AWS.
pub const NEXT_TOKEN_TTL_MS: i64 = 300_000;
const LIST_STREAMS_TOKEN: u8 = 3;

impl Stream {
    pub fn view(&self) -> StreamView {
        let meta = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        StreamView {
            name: self.name.clone(),
            arn: self.arn(),
            status: self.status(),
            on_demand: meta.on_demand,
            created_ms: self.created_ms,
            retention_hours: meta.retention_hours,
            max_record_size_kib: meta.max_record_size_kib,
            open_shard_count: self.shards().open.len(),
            encryption_key_id: meta.encryption_key_id.clone(),
            shard_level_metrics: meta.shard_level_metrics.clone(),
            warm_target_mibps: meta.warm_throughput_mibps,
            consumer_count: meta.consumers.len(),
        }
    }

    pub fn shard_view(&self, shard: &Shard) -> ShardView {
        let m = &shard.meta;
        let seq = |position| sequence::of_position(self.created_ms, m.index, position);
        ShardView {
            shard_id: arn::shard_id(m.index),
            parent_shard_id: m.parent.map(arn::shard_id),
            adjacent_parent_shard_id: m.adjacent_parent.map(arn::shard_id),
            starting_hash_key: m.start_hash,
            ending_hash_key: m.end_hash,
            starting_sequence_number: seq(0),
            // The end offset is the position just after the last record: its number.
            ending_sequence_number: m.closed.map(|c| seq(c.end_offset)),
        }
    }
}

impl Broker {
    pub fn create_stream(self: &Arc<Self>, scope: &Scope, req: CreateStream) -> BrokerResult<()> {
        super::tags::check_tags(&req.tags, super::tags::TagRules::Resource)?;
        let count = if req.on_demand {
            if req.shard_count.is_some() {
                return Err(BrokerError::Validation(
                    "ShardCount must not be specified when the stream mode is ON_DEMAND.".into(),
                ));
            }
            self.config.on_demand_shard_count
        } else {
            req.shard_count.ok_or_else(|| {
                BrokerError::Validation(
                    "1 validation error detected: Value null at 'shardCount' failed to satisfy \
                     constraint: Member must not be null"
                        .into(),
                )
            })?
        };
        let mut control = self.lock_control();
        if self.lookup(scope, &req.name).is_some() {
            return Err(BrokerError::ResourceInUse(format!(
                "Stream {} under account {} already exists.",
                req.name, scope.account
            )));
        }
        self.check_quota(scope, count as usize)?;
        if req.on_demand {
            self.check_on_demand_quota(scope)?;
        }
        let creating = self
            .streams
            .load()
            .values()
            .filter(|s| s.account == scope.account && s.region == scope.region)
            .filter(|s| s.status() == StreamState::Creating)
            .count();
        if self.config.limits.enabled && creating >= MAX_CREATING {
            return Err(BrokerError::LimitExceeded(format!(
                "Account {} in {} already has {creating} streams in CREATING state; at most \
                 {MAX_CREATING} may be created at once.",
                scope.account, scope.region
            )));
        }

        let now = self.clock.now_ms();
        let mut shards = Vec::with_capacity(count as usize);
        let mut metas = Vec::with_capacity(count as usize);
        for (i, (start, end)) in routing::even_ranges(count).into_iter().enumerate() {
            let log_id = control.next_log_id + i as u64;
            let log = match self.logs.create(log_id) {
                Ok(log) => log,
                Err(e) => {
                    self.remove_logs(metas.iter().map(|m: &ShardMeta| m.log_id));
                    return Err(e.into());
                }
            };
            let meta = ShardMeta {
                index: i as u32,
                log_id,
                start_hash: start,
                end_hash: end,
                parent: None,
                adjacent_parent: None,
                created_ms: now,
                closed: None,
            };
            metas.push(meta.clone());
            shards.push(Arc::new(Shard {
                meta,
                log,
                meter: self.new_meter(),
            }));
        }
        let delay = self.config.create_delay_ms;
        let meta = StreamMeta {
            account: scope.account.clone(),
            region: scope.region.clone(),
            name: req.name.clone(),
            created_ms: now,
            state: if delay == 0 {
                StreamState::Active
            } else {
                StreamState::Creating
            },
            retention_hours: 24,
            on_demand: req.on_demand,
            max_record_size_kib: req.max_record_size_kib.unwrap_or(1024),
            next_shard_index: count,
            shards: metas,
            tags: req.tags,
            scalings_ms: Vec::new(),
            expired_before_ms: 0,
            encryption_key_id: None,
            encryption_changes_ms: Vec::new(),
            shard_level_metrics: Vec::new(),
            warm_throughput_mibps: None,
            policy: None,
            consumers: Vec::new(),
            pending_reshard: Vec::new(),
        };
        let next_log_id = control.next_log_id + count as u64;
        if let Err(e) = self.catalog.commit(&[
            CatalogOp::PutStream(meta.clone()),
            CatalogOp::PutSetting {
                name: super::SETTING_NEXT_LOG_ID.into(),
                value: next_log_id.to_le_bytes().to_vec(),
            },
        ]) {
            // Unless the catalog cannot tell whether it recorded the stream: then the
            // next start removes the logs if it did not.
            if !matches!(e, StorageError::Poisoned(_)) {
                self.remove_logs(meta.shards.iter().map(|m| m.log_id));
            }
            return Err(e.into());
        }
        control.next_log_id = next_log_id;
        let stream = Arc::new(Stream::new(meta, shards));
        self.publish(|map| {
            map.insert(stream.key(), stream.clone());
        });
        drop(control);
        if delay > 0 {
            // Weak: a pending transition must not keep a stopped broker (and its
            // catalog lock) alive; a restart finishes the transition instead.
            let me = Arc::downgrade(self);
            let key = stream.key();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let Some(me) = me.upgrade() else { return };
                if let Err(e) = me.retrying(|| me.become_active(&key, now, StreamState::Creating)) {
                    tracing::error!(stream = %key, error = %e, "could not make the stream ACTIVE");
                }
            });
        }
        Ok(())
    }

    /// Moves a stream waiting in `from` (CREATING or UPDATING) to ACTIVE, unless it has
    /// changed meanwhile, taking a pending reshard into effect. The lock is taken per
    /// try of `retrying`: a retry first waits for other nodes' changes, which are
    /// applied under it.
    pub(super) fn become_active(
        &self,
        key: &str,
        created_ms: i64,
        from: StreamState,
    ) -> BrokerResult<()> {
        let mut control = self.lock_control();
        let Some(stream) = self.streams.load().get(key).cloned() else {
            return Ok(());
        };
        if stream.created_ms != created_ms || stream.status() != from {
            return Ok(());
        }
        let mut meta = stream.meta();
        meta.state = StreamState::Active;
        let steps = std::mem::take(&mut meta.pending_reshard);
        if steps.is_empty() {
            return self.commit_meta(&stream, meta);
        }
        self.take_effect(&mut control, &stream, meta, &steps)
    }

    /// Deletes a stream. With consumers registered it is refused unless
    /// `enforce_consumer_deletion`, which deregisters them with the stream.
    pub fn delete_stream(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        enforce_consumer_deletion: bool,
    ) -> BrokerResult<()> {
        let control = self.lock_control();
        let stream = self.stream(scope, r)?;
        // AWS deletes a stream in any state, CREATING included.
        if stream.status() == StreamState::Deleting {
            return Ok(());
        }
        let mut meta = stream.meta();
        let live = meta
            .consumers
            .iter()
            .filter(|c| c.state != ConsumerState::Deleting)
            .count();
        if live > 0 && !enforce_consumer_deletion {
            // AWS's wording, as users report it.
            return Err(BrokerError::ResourceInUse(format!(
                "DeleteStream can't delete {}:{} because there are consumers associated with \
                 this data stream. To delete {} anyway, set the EnforceConsumerDeletion \
                 parameter to true to force the deletion of all the consumers that are \
                 associated with it.",
                scope.account, stream.name, stream.name
            )));
        }
        for c in &mut meta.consumers {
            c.state = ConsumerState::Deleting;
        }
        meta.state = StreamState::Deleting;
        self.commit_meta(&stream, meta)?;
        drop(control);
        let delay = self.config.delete_delay_ms;
        if delay == 0 {
            return self.finish_deleting(&stream.key(), stream.created_ms);
        }
        // Weak, as for creation: a restart finishes the deletion.
        let me = Arc::downgrade(self);
        let (key, created) = (stream.key(), stream.created_ms);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let Some(me) = me.upgrade() else { return };
            if let Err(e) = me.retrying(|| me.finish_deleting(&key, created)) {
                tracing::error!(stream = %key, error = %e, "could not finish deleting the stream");
            }
        });
        Ok(())
    }

    pub(super) fn finish_deleting(&self, key: &str, created_ms: i64) -> BrokerResult<()> {
        let _control = self.lock_control();
        let Some(stream) = self.streams.load().get(key).cloned() else {
            return Ok(());
        };
        if stream.created_ms != created_ms {
            return Ok(());
        }
        self.catalog.commit(&[CatalogOp::DeleteStream {
            key: key.to_string(),
        }])?;
        self.publish(|map| {
            map.remove(key);
        });
        self.remove_logs(stream.shards().all.iter().map(|s| s.meta.log_id));
        Ok(())
    }

    /// Removes logs whose stream is gone; a failure leaves an orphan that the next
    /// start-up removes, so it is logged rather than returned.
    pub(crate) fn remove_logs(&self, ids: impl Iterator<Item = u64>) {
        for id in ids {
            if let Err(e) = self.logs.remove(id) {
                tracing::warn!(log = id, error = %e, "could not remove a log; it is removed at the next start");
            }
        }
    }

    /// Replaces the stream map with a changed copy (control plane only, under `control`).
    pub(super) fn publish(&self, change: impl FnOnce(&mut HashMap<String, Arc<Stream>>)) {
        let mut map = HashMap::clone(&self.streams.load());
        change(&mut map);
        self.streams.store(Arc::new(map));
    }

    pub fn describe_stream(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
        limit: Option<u32>,
        exclusive_start_shard_id: Option<&str>,
    ) -> BrokerResult<StreamDescription> {
        let stream = self.stream(scope, r)?;
        let limit = limit.unwrap_or(100).clamp(1, 100) as usize;
        let after = exclusive_start_shard_id.and_then(arn::parse_shard_id);
        let set = stream.shards();
        let mut shards: Vec<ShardView> = Vec::new();
        let mut has_more = false;
        if stream.status() != StreamState::Creating {
            for s in set
                .all
                .iter()
                .filter(|s| after.is_none_or(|a| s.meta.index > a))
            {
                if shards.len() == limit {
                    has_more = true;
                    break;
                }
                shards.push(stream.shard_view(s));
            }
        }
        Ok(StreamDescription {
            stream: stream.view(),
            shards,
            has_more_shards: has_more,
        })
    }

    pub fn describe_stream_summary(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
    ) -> BrokerResult<StreamView> {
        Ok(self.stream(scope, r)?.view())
    }

    pub fn list_streams(
        &self,
        scope: &Scope,
        limit: Option<u32>,
        exclusive_start: Option<&str>,
        next_token: Option<&str>,
    ) -> BrokerResult<StreamPage> {
        let now = self.clock.now_ms();
        let after = match next_token {
            Some(t) => Some(self.open_list_streams_token(scope, t, now)?),
            None => exclusive_start.map(str::to_string),
        };
        let limit = limit.unwrap_or(100).clamp(1, 100) as usize;
        let mut mine: Vec<Arc<Stream>> = self
            .streams
            .load()
            .values()
            .filter(|s| s.account == scope.account && s.region == scope.region)
            .filter(|s| after.as_deref().is_none_or(|a| s.name.as_str() > a))
            .cloned()
            .collect();
        mine.sort_by(|a, b| a.name.cmp(&b.name));
        let has_more = mine.len() > limit;
        mine.truncate(limit);
        let next_token = match (has_more, mine.last()) {
            (true, Some(last)) => Some(
                self.signer.seal(
                    LIST_STREAMS_TOKEN,
                    &Writer::default()
                        .i64(now)
                        .str(&scope.account)
                        .str(&scope.region)
                        .str(&last.name)
                        .0,
                ),
            ),
            _ => None,
        };
        Ok(StreamPage {
            streams: mine.iter().map(|s| s.view()).collect(),
            has_more,
            next_token,
        })
    }

    /// The last name of the previous page. A token only continues a listing of the
    /// account and region it was issued for.
    fn open_list_streams_token(
        &self,
        scope: &Scope,
        token: &str,
        now: i64,
    ) -> BrokerResult<String> {
        let invalid = || BrokerError::InvalidArgument("Invalid NextToken.".into());
        let payload = self
            .signer
            .open(LIST_STREAMS_TOKEN, token)
            .ok_or_else(invalid)?;
        let mut r = Reader(&payload);
        let issued = r.i64().ok_or_else(invalid)?;
        let (account, region, last) = (
            r.str().ok_or_else(invalid)?,
            r.str().ok_or_else(invalid)?,
            r.str().ok_or_else(invalid)?,
        );
        if !r.done() {
            return Err(invalid());
        }
        check_token_age(issued, now)?;
        if account != scope.account || region != scope.region {
            return Err(invalid());
        }
        Ok(last)
    }
}

pub(crate) fn check_token_age(issued_ms: i64, now_ms: i64) -> BrokerResult<()> {
    if now_ms - issued_ms > NEXT_TOKEN_TTL_MS {
        return Err(BrokerError::ExpiredNextToken(format!(
            "The NextToken has expired: it was issued at {issued_ms} and is no longer valid at \
             {now_ms}; tokens are valid for 300 seconds."
        )));
    }
    Ok(())
}
