//! Per-shard limits for a stream that several nodes serve (ADR 0005, "Limits"). Each
//! node tells the others, through its shared catalog, what it took from each shard's
//! buckets every [`SHARE_EVERY`], and charges what they took to its own buckets; over a
//! few seconds the nodes together admit what one would. How exact that is:
//! `docs/scaling.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Broker;
use crate::storage::catalog::Usage;
use crate::storage::log::LogId;

/// How often a node reports; the others learn of its use this much later (plus a
/// produce and a fetch), which bounds how far past a limit the nodes together can go.
pub const SHARE_EVERY: Duration = Duration::from_millis(100);

impl Broker {
    /// Whether this node's limits need the other nodes' usage.
    pub fn shares_usage(&self) -> bool {
        self.catalog.shared() && self.config.limits.enabled
    }

    /// Reports what this node took from every shard since the last report.
    pub fn share_usage(&self) {
        let mut taken = Vec::new();
        for stream in self.streams.load().values() {
            for shard in &stream.shards().all {
                let u = shard.meter.take_unreported();
                if !u.is_zero() {
                    taken.push((shard.meta.log_id, u));
                }
            }
        }
        if !taken.is_empty() {
            self.catalog.share_usage(&taken);
        }
    }

    /// Charges another node's report to the shards it names that this node has.
    fn charge_usage(&self, usage: &[(LogId, Usage)]) {
        let by_log: HashMap<LogId, &Usage> = usage.iter().map(|(id, u)| (*id, u)).collect();
        let now = self.clock.now_ms();
        for stream in self.streams.load().values() {
            for shard in &stream.shards().all {
                if let Some(u) = by_log.get(&shard.meta.log_id) {
                    shard.meter.charge(&self.config.limits, now, u);
                }
            }
        }
    }

    /// Starts charging the other nodes' reports (at open, on a shared catalog).
    pub(super) fn follow_usage(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        self.catalog.follow_usage(Box::new(move |usage| {
            if let Some(me) = me.upgrade() {
                me.charge_usage(usage);
            }
        }));
    }
}
