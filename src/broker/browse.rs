//! Reading a shard for the web console: by offset, without iterators, throughput
//! limits or read counters, so watching a stream in a browser does not change what its
//! real consumers see. Retention still applies.

use super::records::RecordOut;
use super::{Broker, BrokerError, BrokerResult, Stream};

/// Where a browse starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowseFrom {
    /// The oldest record still retained.
    Oldest,
    /// The newest `limit` records.
    Newest,
    /// This offset (a cursor a previous browse returned).
    Offset(u64),
}

/// A page of records and the cursor that continues after it.
#[derive(Debug)]
pub struct BrowsePage {
    pub records: Vec<RecordOut>,
    pub next_offset: u64,
    /// The shard is closed and the page reached its end.
    pub ended: bool,
}

impl Broker {
    pub fn browse(
        &self,
        stream: &Stream,
        shard_index: u32,
        from: BrowseFrom,
        limit: usize,
    ) -> BrokerResult<BrowsePage> {
        let set = stream.shards();
        let shard = set.by_index(shard_index).ok_or_else(|| {
            BrokerError::ResourceNotFound(format!(
                "Shard {} in stream {} does not exist.",
                super::arn::shard_id(shard_index),
                stream.name
            ))
        })?;
        let oldest = self.trim_offset(stream, shard, self.clock.now_ms())?;
        let end = shard.log.bounds().end_offset;
        let start = match from {
            BrowseFrom::Oldest => oldest,
            BrowseFrom::Newest => end.saturating_sub(limit as u64).max(oldest),
            BrowseFrom::Offset(o) => o.max(oldest),
        };
        let batch = shard.log.read(start, limit.clamp(1, 1000), 1 << 20)?;
        let ended = shard
            .meta
            .closed
            .is_some_and(|c| batch.next_offset >= c.end_offset);
        Ok(BrowsePage {
            records: self.records_out(stream, shard, batch.records)?,
            next_offset: batch.next_offset,
            ended,
        })
    }
}
