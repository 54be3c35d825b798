//! On-demand capacity: UpdateStreamMode, UpdateMaxRecordSize, and the scaler that
//! splits an on-demand stream's hot shards instead of throttling them.
//!
//! The rule (also in `docs/on-demand.md`): on every maintenance pass, each open shard of
//! an ON_DEMAND stream whose write rate since the previous pass reached
//! `SCALE_UP_AT` of a shard's capacity (1 MiB/s or 1000 records/s) is split at the
//! middle of its hash range. On-demand streams never have fewer than
//! `on_demand_shard_count` (4) open shards, and are not scaled down.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::{Broker, BrokerError, BrokerResult, Scope, Stream, StreamRef};
use crate::storage::catalog::{ReshardStep, StreamState};

/// A shard is hot when its sustained write rate reaches this share of its capacity.
pub const SCALE_UP_AT: f64 = 0.8;

/// A shard's write counters as the scaler last saw them.
#[derive(Debug, Clone, Copy)]
struct Seen {
    bytes: u64,
    records: u64,
    at_ms: i64,
}

/// What the scaler saw of each shard (by stream key and index) at the previous pass.
#[derive(Debug, Default)]
pub struct ScalerState {
    seen: Mutex<HashMap<(String, u32), Seen>>,
}

impl Broker {
    fn active_stream(&self, scope: &Scope, r: StreamRef<'_>) -> BrokerResult<Arc<Stream>> {
        let stream = self.stream(scope, r)?;
        stream.require_status(scope, &[StreamState::Active])?;
        Ok(stream)
    }

    pub fn update_max_record_size(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        kib: u32,
    ) -> BrokerResult<()> {
        let _control = self.lock_control();
        let stream = self.active_stream(scope, r)?;
        if !(1024..=10240).contains(&kib) {
            return Err(BrokerError::Validation(format!(
                "MaxRecordSizeInKiB must be between 1024 and 10240, got {kib}."
            )));
        }
        let mut meta = stream.meta();
        meta.max_record_size_kib = kib;
        self.commit_updating(&stream, meta)
    }

    pub fn update_stream_mode(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        on_demand: bool,
    ) -> BrokerResult<()> {
        let mut control = self.lock_control();
        let stream = self.active_stream(scope, r)?;
        if stream.is_on_demand() == on_demand {
            return Err(BrokerError::InvalidArgument(format!(
                "Stream {} under account {} is already in {} mode.",
                stream.name,
                scope.account,
                if on_demand {
                    "ON_DEMAND"
                } else {
                    "PROVISIONED"
                }
            )));
        }
        if on_demand {
            self.check_on_demand_quota(scope)?;
        }
        let open = stream.shards().open.len() as u32;
        let floor = self.config.on_demand_shard_count;
        if on_demand && open < floor {
            // On-demand streams start with (and never drop below) the on-demand floor.
            self.check_quota(scope, (floor - open) as usize)?;
            let step = ReshardStep::Uniform { target: floor };
            return self.reshard(&mut control, &stream, vec![step], |m| {
                m.on_demand = on_demand
            });
        }
        let mut meta = stream.meta();
        meta.on_demand = on_demand;
        self.commit_updating(&stream, meta)
    }

    /// Commits a setting change, showing UPDATING for `update_delay_ms`.
    pub(super) fn commit_updating(
        self: &Arc<Self>,
        stream: &Stream,
        mut meta: crate::storage::catalog::StreamMeta,
    ) -> BrokerResult<()> {
        let delay = self.config.update_delay_ms;
        if delay > 0 {
            meta.state = StreamState::Updating;
        }
        self.commit_meta(stream, meta)?;
        if delay > 0 {
            self.finish_updating_later(stream, delay);
        }
        Ok(())
    }

    /// One scaler pass: splits every hot shard of every ACTIVE on-demand stream.
    /// Returns how many shards were split.
    pub fn scale_on_demand(self: &Arc<Self>) -> BrokerResult<usize> {
        let now = self.clock.now_ms();
        let limits = &self.config.limits;
        let mut split = 0;
        let streams: Vec<Arc<Stream>> = self.streams.load().values().cloned().collect();
        // Measure every on-demand shard against the previous pass; shards that are gone
        // (closed, expired, deleted) drop out of the state.
        let mut hot_by_stream: Vec<(Arc<Stream>, Vec<u32>)> = Vec::new();
        {
            let mut seen = self.scaler.seen.lock().unwrap_or_else(|p| p.into_inner());
            let mut next = HashMap::new();
            for stream in streams.iter().filter(|s| s.is_on_demand()) {
                let mut hot = Vec::new();
                for shard in stream.shards().open.iter() {
                    let now_seen = Seen {
                        bytes: shard.meter.bytes_written.load(Ordering::Relaxed),
                        records: shard.meter.records_written.load(Ordering::Relaxed),
                        at_ms: now,
                    };
                    let key = (stream.key(), shard.meta.index);
                    if let Some(prev) = seen.get(&key) {
                        let secs = (now - prev.at_ms) as f64 / 1000.0;
                        if secs > 0.0 {
                            let byte_rate = (now_seen.bytes - prev.bytes) as f64 / secs;
                            let record_rate = (now_seen.records - prev.records) as f64 / secs;
                            if byte_rate >= SCALE_UP_AT * limits.write_bytes_per_sec
                                || record_rate >= SCALE_UP_AT * limits.write_records_per_sec
                            {
                                hot.push(shard.meta.index);
                            }
                        }
                    }
                    next.insert(key, now_seen);
                }
                hot_by_stream.push((stream.clone(), hot));
            }
            *seen = next;
        }
        for (stream, hot) in hot_by_stream {
            let stream = &stream;
            if hot.is_empty() {
                continue;
            }
            let scope = Scope {
                account: stream.account.clone(),
                region: stream.region.clone(),
            };
            let mut control = self.lock_control();
            // Checked under the control lock: no other reshard or delete is under way.
            if stream.status() != StreamState::Active {
                continue;
            }
            let shards = stream.shards();
            let mut steps = Vec::new();
            for index in hot {
                let Some(s) = shards.by_index(index).map(|s| &s.meta) else {
                    continue;
                };
                if s.closed.is_some() || s.end_hash - s.start_hash < 2 {
                    continue;
                }
                if self.check_quota(&scope, steps.len() + 1).is_err() {
                    tracing::warn!(stream = %stream.name, "on-demand scaling stopped by the shard quota");
                    break;
                }
                let at = s.start_hash + (s.end_hash - s.start_hash) / 2 + 1;
                steps.push(ReshardStep::Split { shard: index, at });
            }
            let n = steps.len();
            if n > 0 {
                self.reshard(&mut control, stream, steps, |_| {})?;
                tracing::info!(stream = %stream.name, shards = n, "on-demand scaling split hot shards");
                split += n;
            }
        }
        Ok(split)
    }
}
