//! Where a shard closed by a reshard ends, on a store shared with other nodes (ADR
//! 0005, "Seals"): the resharding node records it right after the reshard, and if it
//! never does (it died, or Kafka failed it), any node completes it a minute later, so
//! appends to the parent are never refused for longer than that.

use std::sync::Arc;

use super::{Broker, Stream};
use crate::storage::catalog::CatalogOp;
use crate::storage::log::{ShardLog, PENDING_END};
use crate::storage::StorageError;

/// How long the resharding node has to record where its parents end before another
/// node does: longer than one produce may take (the producer's 30 s message timeout),
/// so a live resharding node always gets there first.
const COMPLETE_AFTER_MS: i64 = 60_000;

impl Broker {
    /// After a reshard is recorded, a shared store settles where each sealed parent
    /// ended (its fence); the ends are recorded and published here. A failure leaves
    /// the end pending: appends that landed after the seal then fail rather than
    /// being acknowledged twice, until [`Broker::complete_pending_seals`].
    pub(super) fn settle_ends(&self, stream: &Stream, sealed: &[(u64, Arc<dyn ShardLog>)]) {
        let ends = sealed.iter().map(|(id, log)| (*id, log.seal_recorded()));
        self.record_ends(stream, ends);
    }

    /// Records the ends of parents whose reshard is older than [`COMPLETE_AFTER_MS`]
    /// and still pending (the maintenance pass runs it on every node).
    pub fn complete_pending_seals(&self) {
        if !self.shared() {
            return;
        }
        let now = self.clock.now_ms();
        for stream in self.all_streams() {
            let pending: Vec<_> = stream
                .shards()
                .all
                .iter()
                .filter_map(|s| {
                    let c = s.meta.closed?;
                    let due = c.end_offset == PENDING_END && now - c.closed_ms >= COMPLETE_AFTER_MS;
                    due.then(|| (s.meta.log_id, s.log.clone(), c.closed_ms))
                })
                .collect();
            if pending.is_empty() {
                continue;
            }
            tracing::warn!(stream = %stream.name, shards = pending.len(), "recording where parent shards end, which their resharding node did not");
            let ends = pending
                .iter()
                .map(|(id, log, closed_ms)| (*id, log.complete_seal(*closed_ms)));
            self.record_ends(&stream, ends);
        }
    }

    fn record_ends(
        &self,
        stream: &Stream,
        ends: impl Iterator<Item = (u64, Result<Option<u64>, StorageError>)>,
    ) {
        let mut meta = stream.meta();
        let mut ops = Vec::new();
        for (log_id, end) in ends {
            match end {
                Ok(Some(end)) => {
                    let shard = meta.shards.iter_mut().find(|s| s.log_id == log_id);
                    if let Some(closed) = shard.and_then(|s| s.closed.as_mut()) {
                        closed.end_offset = end;
                    }
                    ops.push(CatalogOp::ShardEnd {
                        key: stream.key(),
                        log_id,
                        end_offset: end,
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(log = log_id, error = %e, "could not seal a parent shard")
                }
            }
        }
        if ops.is_empty() {
            return;
        }
        if let Err(e) = self.catalog.commit(&ops) {
            tracing::error!(stream = %stream.name, error = %e, "could not record where parent shards end");
            return;
        }
        if let Err(e) = self.apply_stream(&meta) {
            tracing::error!(stream = %stream.name, error = %e, "could not publish where parent shards end");
        }
    }
}
