//! What each shard has done, read at once for `/metrics` and the console: the meter's
//! counters, the log's storage figures and the open subscriptions, as plain snapshots,
//! so readers above the broker never touch meters or logs themselves.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::streams::ShardView;
use super::{Broker, Shard, Stream};

/// One shard's figures at one moment. Counters run from the server's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStats {
    /// Id, hash-key range and lineage, as ListShards shows them.
    pub view: ShardView,
    pub incoming_bytes: u64,
    pub incoming_records: u64,
    pub outgoing_bytes: u64,
    pub outgoing_records: u64,
    /// Records refused by the write limit.
    pub write_throttled: u64,
    /// GetRecords calls refused by the read limit.
    pub read_throttled: u64,
    /// MillisBehindLatest as last reported to a reader.
    pub millis_behind: u64,
    pub subscriptions: u64,
    pub stored_bytes: u64,
    pub segments: u64,
}

/// A stream and its shards' figures, shards by index.
pub struct StreamStats {
    pub stream: Arc<Stream>,
    pub shards: Vec<ShardStats>,
}

impl ShardStats {
    pub fn is_open(&self) -> bool {
        self.view.ending_sequence_number.is_none()
    }
}

impl Shard {
    fn stats(&self, stream: &Stream, subscriptions: u64) -> ShardStats {
        let m = &self.meter;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        ShardStats {
            view: stream.shard_view(self),
            incoming_bytes: load(&m.bytes_written),
            incoming_records: load(&m.records_written),
            outgoing_bytes: load(&m.bytes_read),
            outgoing_records: load(&m.records_read),
            write_throttled: load(&m.write_throttled),
            read_throttled: load(&m.read_throttled),
            millis_behind: m.millis_behind.load(Ordering::Relaxed).max(0) as u64,
            subscriptions,
            stored_bytes: self.log.stored_bytes(),
            segments: self.log.segment_count(),
        }
    }
}

impl Broker {
    /// Every stream's figures, streams by name.
    pub fn stats(&self) -> Vec<StreamStats> {
        let subscribed = self.subscriptions.open_by_shard();
        self.all_streams()
            .into_iter()
            .map(|stream| {
                let arn = stream.arn();
                let shards = stream
                    .shards()
                    .all
                    .iter()
                    .map(|s| {
                        let key = (arn.clone(), s.meta.index);
                        s.stats(&stream, subscribed.get(&key).copied().unwrap_or(0) as u64)
                    })
                    .collect();
                StreamStats { stream, shards }
            })
            .collect()
    }
}
