//! SplitShard, MergeShards and UpdateShardCount. Each is recorded as pending while the
//! stream shows UPDATING, then planned on a copy ([`super::reshape`]) and applied as one
//! catalog transaction: parents closed with their final offsets, children opened with
//! fresh hash ranges, the stream ACTIVE again.

use std::sync::Arc;
use std::time::Duration;

use super::reshape::{Planned, Reshape};
use super::{
    arn, routing, Broker, BrokerError, BrokerResult, ControlState, Scope, Shard, ShardSet, Stream,
    StreamRef,
};
use crate::storage::catalog::{CatalogOp, ReshardStep, StreamMeta, StreamState};
use crate::storage::log::ShardLog;
use crate::storage::StorageError;

const DAY_MS: i64 = 86_400_000;
/// How soon, and at most how long after, a failed end of UPDATING is tried again.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MOST: Duration = Duration::from_secs(60);

/// The open shards a stream will have once its pending reshard takes effect (0 with
/// none pending).
fn pending_open(stream: &Stream) -> usize {
    let meta = stream.meta.lock().unwrap_or_else(|p| p.into_inner());
    if meta.pending_reshard.is_empty() {
        return 0;
    }
    let mut plan = Reshape::new(&meta.shards, meta.next_shard_index, 0, 0);
    for step in &meta.pending_reshard {
        plan.step(*step);
    }
    plan.open_shards().count()
}

impl Broker {
    /// Open shards of every stream in the scope (the account's shard quota counts
    /// these); a stream with a pending reshard counts what it will have, if more.
    pub(crate) fn open_shards_in(&self, scope: &Scope) -> usize {
        self.streams
            .load()
            .values()
            .filter(|s| s.account == scope.account && s.region == scope.region)
            .map(|s| s.shards().open.len().max(pending_open(s)))
            .sum()
    }

    pub(crate) fn check_quota(&self, scope: &Scope, adding: usize) -> BrokerResult<()> {
        let open = self.open_shards_in(scope);
        let limit = self.config.shard_limit as usize;
        if open + adding > limit {
            return Err(BrokerError::LimitExceeded(format!(
                "This request would exceed the shard limit for the account {} in {}. Current \
                 shard count for the account: {open}. Limit: {limit}. Number of additional \
                 shards that would have resulted from this request: {adding}. Refer to the AWS \
                 Service Limits page (https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) \
                 for current limits and how to request higher limits.",
                scope.account, scope.region
            )));
        }
        Ok(())
    }

    /// Resharding needs an ACTIVE, provisioned stream.
    fn reshardable(&self, scope: &Scope, r: StreamRef<'_>, op: &str) -> BrokerResult<Arc<Stream>> {
        let stream = self.stream(scope, r)?;
        if stream
            .meta
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_demand
        {
            return Err(BrokerError::Validation(format!(
                "{op} is not supported for stream {} under account {} because it is in ON_DEMAND mode.",
                stream.name, scope.account
            )));
        }
        stream.require_status(scope, &[StreamState::Active])?;
        Ok(stream)
    }

    fn open_shard(
        &self,
        scope: &Scope,
        stream: &Stream,
        shard_id: &str,
    ) -> BrokerResult<Arc<Shard>> {
        let shard = arn::parse_shard_id(shard_id)
            .and_then(|i| stream.shards().by_index(i).cloned())
            .ok_or_else(|| {
                BrokerError::ResourceNotFound(format!(
                    "Could not find shard {shard_id} in stream {} under account {}.",
                    stream.name, scope.account
                ))
            })?;
        if shard.meta.closed.is_some() {
            return Err(BrokerError::InvalidArgument(format!(
                "Shard {} in stream {} under account {} has already been merged or split, and \
                 thus is not eligible for merging or splitting.",
                arn::shard_id(shard.meta.index),
                stream.name,
                scope.account
            )));
        }
        Ok(shard)
    }

    pub fn split_shard(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        shard_id: &str,
        new_starting_hash_key: &str,
    ) -> BrokerResult<()> {
        let mut control = self.lock_control();
        let stream = self.reshardable(scope, r, "SplitShard")?;
        let shard = self.open_shard(scope, &stream, shard_id)?;
        let (start, end) = (shard.meta.start_hash, shard.meta.end_hash);
        let at = routing::parse_hash_key(new_starting_hash_key)
            .filter(|k| *k > start.saturating_add(1) && *k < end)
            .ok_or_else(|| {
                BrokerError::InvalidArgument(format!(
                    "NewStartingHashKey {new_starting_hash_key} used in SplitShard() on shard {} in \
                     stream {} under account {} is not both greater than one plus the shard's \
                     StartingHashKey {start} and less than the shard's EndingHashKey {end}.",
                    arn::shard_id(shard.meta.index),
                    stream.name,
                    scope.account
                ))
            })?;
        self.check_quota(scope, 1)?;
        let step = ReshardStep::Split {
            shard: shard.meta.index,
            at,
        };
        self.reshard(&mut control, &stream, vec![step], |_| {})
    }

    pub fn merge_shards(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        shard_to_merge: &str,
        adjacent_shard_to_merge: &str,
    ) -> BrokerResult<()> {
        let mut control = self.lock_control();
        let stream = self.reshardable(scope, r, "MergeShards")?;
        let a = self.open_shard(scope, &stream, shard_to_merge)?;
        let b = self.open_shard(scope, &stream, adjacent_shard_to_merge)?;
        let adjacent = a.meta.end_hash.checked_add(1) == Some(b.meta.start_hash)
            || b.meta.end_hash.checked_add(1) == Some(a.meta.start_hash);
        if !adjacent {
            return Err(BrokerError::InvalidArgument(format!(
                "Shards {} and {} in stream {} under account {} are not an adjacent pair of shards eligible for merging",
                arn::shard_id(a.meta.index),
                arn::shard_id(b.meta.index),
                stream.name,
                scope.account
            )));
        }
        let step = ReshardStep::Merge {
            shard: a.meta.index,
            adjacent: b.meta.index,
        };
        self.reshard(&mut control, &stream, vec![step], |_| {})
    }

    /// Returns (current, target) open shard counts.
    pub fn update_shard_count(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        target: u32,
    ) -> BrokerResult<(u32, u32)> {
        let mut control = self.lock_control();
        let stream = self.reshardable(scope, r, "UpdateShardCount")?;
        let current = stream.shards().open.len() as u32;
        let (name, acct) = (&stream.name, &scope.account);
        if target > current.saturating_mul(2) {
            return Err(BrokerError::InvalidArgument(format!(
                "UpdateShardCount failed for stream {name} under account {acct}: TargetShardCount \
                 {target} is more than double the current open shard count {current}."
            )));
        }
        if target < current.div_ceil(2) {
            return Err(BrokerError::InvalidArgument(format!(
                "UpdateShardCount failed for stream {name} under account {acct}: TargetShardCount \
                 {target} is less than half the current open shard count {current}."
            )));
        }
        if target > self.config.max_shards_per_stream {
            return Err(BrokerError::LimitExceeded(format!(
                "UpdateShardCount failed for stream {name} under account {acct}: a stream may have \
                 at most {} shards.",
                self.config.max_shards_per_stream
            )));
        }
        let now = self.clock.now_ms();
        let mut recent: Vec<i64> = stream
            .meta
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .scalings_ms
            .iter()
            .copied()
            .filter(|t| now - t < DAY_MS)
            .collect();
        if recent.len() >= self.config.max_scalings_per_day as usize {
            return Err(BrokerError::LimitExceeded(format!(
                "UpdateShardCount failed for stream {name} under account {acct}: the stream was \
                 scaled {} times in the last 24 hours, the most allowed.",
                recent.len()
            )));
        }
        self.check_quota(scope, target.saturating_sub(current) as usize)?;
        recent.push(now);
        let step = ReshardStep::Uniform { target };
        self.reshard(&mut control, &stream, vec![step], |m| {
            m.scalings_ms = recent
        })?;
        Ok((current, target))
    }

    /// Starts a reshard. As on AWS, the parents stay open and take writes while the
    /// stream shows UPDATING: the steps are recorded with that status and take effect
    /// together (parents closed, children opened) when it returns to ACTIVE. With no
    /// update delay they take effect at once. `change` edits the rest of the stream's
    /// metadata in the same commit.
    pub(super) fn reshard(
        self: &Arc<Self>,
        control: &mut ControlState,
        stream: &Arc<Stream>,
        steps: Vec<ReshardStep>,
        change: impl FnOnce(&mut StreamMeta),
    ) -> BrokerResult<()> {
        let mut meta = stream.meta();
        change(&mut meta);
        let delay = self.config.update_delay_ms;
        if delay == 0 {
            return self.take_effect(control, stream, meta, &steps);
        }
        meta.state = StreamState::Updating;
        meta.pending_reshard = steps;
        self.commit_meta(stream, meta)?;
        self.finish_updating_later(stream, delay);
        Ok(())
    }

    /// Plans `steps` on the stream's shards now and applies them, committing `meta`
    /// with the new shard list.
    pub(super) fn take_effect(
        &self,
        control: &mut ControlState,
        stream: &Arc<Stream>,
        meta: StreamMeta,
        steps: &[ReshardStep],
    ) -> BrokerResult<()> {
        let mut plan = self.plan(control, stream);
        for step in steps {
            if !plan.step(*step) {
                tracing::warn!(stream = %stream.key(), ?step, "skipping a reshard step that no longer fits the shards");
            }
        }
        self.apply(control, stream, plan.finish(), meta)
    }

    fn plan(&self, control: &ControlState, stream: &Stream) -> Reshape {
        let meta = stream.meta.lock().unwrap_or_else(|p| p.into_inner());
        Reshape::new(
            &meta.shards,
            meta.next_shard_index,
            control.next_log_id,
            self.clock.now_ms(),
        )
    }

    /// Creates the children's logs, seals the parents' (recording where each ended),
    /// commits `meta` with the new shard list in one transaction and publishes it.
    fn apply(
        &self,
        control: &mut ControlState,
        stream: &Arc<Stream>,
        planned: Planned,
        mut meta: StreamMeta,
    ) -> BrokerResult<()> {
        let old = stream.shards();
        let mut logs: Vec<(u32, Arc<dyn ShardLog>)> = Vec::new();
        for index in &planned.created {
            let meta = planned
                .shards
                .iter()
                .find(|s| s.index == *index)
                .expect("created shard is planned");
            match self.logs.create(meta.log_id) {
                Ok(log) => logs.push((meta.index, log)),
                Err(e) => {
                    let made = planned
                        .shards
                        .iter()
                        .filter(|s| logs.iter().any(|(i, _)| *i == s.index))
                        .map(|s| s.log_id);
                    self.remove_logs(made);
                    return Err(e.into());
                }
            }
        }
        let new_log = |index: u32| {
            logs.iter()
                .find(|(i, _)| *i == index)
                .map(|(_, l)| l.clone())
                .expect("a log was created for every new shard")
        };
        let mut shards = planned.shards;
        // Seal every shard the plan closed; from here on appends to them fail with
        // `Sealed` and the write path retries against the published children.
        let mut sealed: Vec<(u64, Arc<dyn ShardLog>)> = Vec::new();
        let created: Vec<u64> = shards
            .iter()
            .filter(|s| planned.created.contains(&s.index))
            .map(|s| s.log_id)
            .collect();
        for s in shards.iter_mut() {
            let Some(closed) = s.closed.as_mut() else {
                continue;
            };
            let log = match old.by_index(s.index) {
                Some(existing) if existing.meta.closed.is_none() => existing.log.clone(),
                Some(_) => continue,
                None => new_log(s.index),
            };
            match log.seal() {
                Ok(end) => closed.end_offset = end,
                Err(e) => return Err(self.undo_reshape(&sealed, &created, e.into())),
            }
            sealed.push((s.log_id, log));
        }
        meta.shards = shards.clone();
        meta.next_shard_index = planned.next_index;
        let recorded = self.commit_meta_with(
            stream,
            meta,
            vec![CatalogOp::PutSetting {
                name: super::SETTING_NEXT_LOG_ID.into(),
                value: planned.next_log_id.to_le_bytes().to_vec(),
            }],
        );
        if let Err(e) = recorded {
            return Err(self.undo_reshape(&sealed, &created, e));
        }
        control.next_log_id = planned.next_log_id;
        let all = shards
            .into_iter()
            .map(|m| {
                let (log, meter) = match old.by_index(m.index) {
                    Some(existing) => (existing.log.clone(), existing.meter.clone()),
                    None => (new_log(m.index), self.new_meter()),
                };
                Arc::new(Shard {
                    meta: m,
                    log,
                    meter,
                })
            })
            .collect();
        stream.shards.store(Arc::new(ShardSet::new(all)));
        // Subscriptions tailing a parent wake up and find its end.
        for s in old.all.iter().filter(|s| s.meta.closed.is_none()) {
            if stream
                .shards()
                .by_index(s.meta.index)
                .is_some_and(|n| n.meta.closed.is_some())
            {
                s.meter.appended.notify_waiters();
            }
        }
        self.settle_ends(stream, &sealed);
        Ok(())
    }

    /// A reshard that could not be recorded: its parents take writes again, and its
    /// children's logs go. Unless the catalog cannot tell whether it recorded the
    /// change: then the parents stay sealed (the change may be on disk, and they must
    /// take nothing past the ends it recorded) and the children's logs stay (the next
    /// start removes them if no stream refers to them). The catalog refuses further
    /// changes until that restart.
    fn undo_reshape(
        &self,
        sealed: &[(u64, Arc<dyn ShardLog>)],
        created: &[u64],
        e: BrokerError,
    ) -> BrokerError {
        if matches!(e, BrokerError::Storage(StorageError::Poisoned(_))) {
            return e;
        }
        for (_, log) in sealed {
            log.unseal();
        }
        self.remove_logs(created.iter().copied());
        e
    }

    /// Moves an UPDATING stream back to ACTIVE after `delay` ms, taking its pending
    /// reshard into effect. A reshard the store cannot take now (a full disk) is tried
    /// again, less and less often: the call that asked for it has been answered.
    pub(crate) fn finish_updating_later(self: &Arc<Self>, stream: &Stream, delay: u64) {
        // Weak: a stopped broker is not kept alive; a restart makes the stream ACTIVE.
        let me = Arc::downgrade(self);
        let (key, created) = (stream.key(), stream.created_ms);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(stream = %key, "no runtime to end UPDATING on: the next start ends it");
            return;
        };
        runtime.spawn(async move {
            let mut wait = Duration::from_millis(delay);
            loop {
                tokio::time::sleep(wait).await;
                let Some(me) = me.upgrade() else { return };
                // Creating logs, sealing and committing wait for the disk (or Kafka):
                // not on a worker the data path needs.
                let key2 = key.clone();
                let active = tokio::task::spawn_blocking(move || {
                    me.retrying(|| me.become_active(&key2, created, StreamState::Updating))
                })
                .await
                .unwrap_or_else(|e| Err(BrokerError::Internal(e.to_string())));
                let Err(e) = active else { return };
                wait = (wait * 2).clamp(RETRY_FIRST, RETRY_MOST);
                tracing::error!(stream = %key, error = %e, retry_in = ?wait, "could not make the stream ACTIVE again");
            }
        });
    }
}
