//! Retention: Increase/DecreaseStreamRetentionPeriod, and the pass that deletes expired
//! segments and removes closed shards whose data has all expired.

use std::sync::Arc;

use super::{Broker, BrokerError, BrokerResult, Scope, Shard, ShardSet, Stream, StreamRef};
use crate::storage::catalog::StreamState;

pub const MIN_RETENTION_HOURS: u32 = 24;
pub const MAX_RETENTION_HOURS: u32 = 8760;

/// What one retention pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPass {
    pub bytes_freed: u64,
    pub shards_removed: usize,
}

impl Broker {
    pub fn increase_retention(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
        hours: i64,
    ) -> BrokerResult<()> {
        self.change_retention(scope, r, hours, true)
    }

    pub fn decrease_retention(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
        hours: i64,
    ) -> BrokerResult<()> {
        self.change_retention(scope, r, hours, false)
    }

    fn change_retention(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
        hours: i64,
        increase: bool,
    ) -> BrokerResult<()> {
        let _control = self.lock_control();
        let stream = self.stream(scope, r)?;
        if hours < MIN_RETENTION_HOURS as i64 {
            return Err(BrokerError::InvalidArgument(format!(
                "Minimum allowed retention period is {MIN_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too short."
            )));
        }
        if hours > MAX_RETENTION_HOURS as i64 {
            return Err(BrokerError::InvalidArgument(format!(
                "Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too long."
            )));
        }
        stream.require_status(scope, &[StreamState::Active])?;
        let mut meta = stream.meta();
        let current = meta.retention_hours as i64;
        if increase && hours < current {
            return Err(BrokerError::InvalidArgument(format!(
                "Requested retention period ({hours} hours) for stream {} can not be shorter than existing retention period ({current} hours). Use DecreaseRetentionPeriod API.",
                stream.name
            )));
        }
        if !increase && hours > current {
            return Err(BrokerError::InvalidArgument(format!(
                "Requested retention period ({hours} hours) for stream {} can not be longer than existing retention period ({current} hours). Use IncreaseRetentionPeriod API.",
                stream.name
            )));
        }
        // What has expired under the old period stays expired under the new one.
        meta.expired_before_ms = stream.retention_cutoff(self.clock.now_ms());
        meta.retention_hours = hours as u32;
        self.commit_meta(&stream, meta)
    }

    /// Background maintenance: one retention pass, then on-demand scaling.
    pub fn maintain(self: &Arc<Self>) -> BrokerResult<()> {
        self.complete_pending_seals();
        self.finish_overdue_changes();
        self.scale_on_demand()?;
        let pass = self.enforce_retention()?;
        if pass.bytes_freed > 0 || pass.shards_removed > 0 {
            tracing::info!(
                bytes = pass.bytes_freed,
                shards = pass.shards_removed,
                "retention pass"
            );
        }
        Ok(())
    }

    /// One pass over every stream: deletes whole segments past retention and removes
    /// closed shards whose newest record has passed it. Runs in the background every
    /// `retention_check_ms`, and directly from tests with a moved clock.
    pub fn enforce_retention(&self) -> BrokerResult<RetentionPass> {
        let mut pass = RetentionPass::default();
        // In name order, so that the I/O of a pass is the same every time.
        let streams = self.all_streams();
        let now = self.clock.now_ms();
        for stream in streams {
            let cutoff = stream.retention_cutoff(now);
            for shard in stream.shards().all.iter() {
                match shard.log.trim_before(cutoff) {
                    Ok(freed) => pass.bytes_freed += freed,
                    // Deleted meanwhile: nothing left to trim.
                    Err(crate::storage::StorageError::LogNotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            pass.shards_removed += self.remove_expired_shards(&stream, cutoff)?;
        }
        Ok(pass)
    }

    fn remove_expired_shards(&self, stream: &Stream, cutoff: i64) -> BrokerResult<usize> {
        let expired = |s: &Shard| s.meta.closed.is_some_and(|c| c.closed_ms < cutoff);
        if !stream.shards().all.iter().any(|s| expired(s)) {
            return Ok(0);
        }
        let _control = self.lock_control();
        let Some(current) = self.streams.load().get(&stream.key()).cloned() else {
            return Ok(0);
        };
        if current.created_ms != stream.created_ms || current.status() == StreamState::Deleting {
            return Ok(0);
        }
        let set = current.shards();
        let (gone, kept): (Vec<Arc<Shard>>, Vec<Arc<Shard>>) =
            set.all.iter().cloned().partition(|s| expired(s));
        let mut meta = current.meta();
        meta.shards
            .retain(|m| !gone.iter().any(|g| g.meta.index == m.index));
        self.commit_meta(&current, meta)?;
        current.shards.store(Arc::new(ShardSet::new(kept)));
        self.remove_logs(gone.iter().map(|s| s.meta.log_id));
        tracing::info!(stream = %current.name, shards = gone.len(), "removed closed shards past retention");
        Ok(gone.len())
    }
}
