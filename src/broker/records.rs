//! The read side of the data plane: GetShardIterator and GetRecords, and what
//! SubscribeToShard shares with them (start offsets, trimming, record shapes).

use std::sync::Arc;

use bytes::Bytes;

use super::token::{Reader, Writer};
use super::{
    arn, kms, sequence, Broker, BrokerError, BrokerResult, Scope, Shard, Stream, StreamRef,
};
use crate::storage::catalog::StreamState;
use crate::storage::log::StoredRecord;
use crate::storage::StorageError;

/// GetShardIterator's starting point.
#[derive(Debug, Clone)]
pub enum IteratorStart {
    TrimHorizon,
    Latest,
    AtSequence(String),
    AfterSequence(String),
    AtTimestamp(i64),
}

/// A record as consumers see it.
#[derive(Debug, Clone)]
pub struct RecordOut {
    pub sequence_number: u128,
    pub arrival_ms: i64,
    pub partition_key: String,
    pub data: Bytes,
    /// Stored encrypted (EncryptionType KMS); records written while the stream was not
    /// encrypted report NONE, as on AWS.
    pub encrypted: bool,
}

/// A child shard named at the end of a closed parent.
#[derive(Debug, Clone)]
pub struct ChildShard {
    pub shard_id: String,
    pub parent_shard_ids: Vec<String>,
    pub starting_hash_key: u128,
    pub ending_hash_key: u128,
}

#[derive(Debug, Clone)]
pub struct GetRecordsOut {
    pub records: Vec<RecordOut>,
    /// None only past the end of a closed shard, and then `child_shards` is non-empty.
    pub next_iterator: Option<String>,
    pub millis_behind_latest: i64,
    pub child_shards: Vec<ChildShard>,
}

/// Iterators expire five minutes after they are issued, as on AWS.
pub const ITERATOR_TTL_MS: i64 = 300_000;
/// At most this much data per GetRecords response.
pub const MAX_GET_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_GET_RECORDS: usize = 10_000;
const ITERATOR_TOKEN: u8 = 1;

/// What an iterator names.
struct Position {
    issued_ms: i64,
    created_ms: i64,
    shard_index: u32,
    offset: u64,
    account: String,
    region: String,
    name: String,
}

impl Broker {
    /// Streams accept reads and writes once ACTIVE, and keep doing so while UPDATING
    /// or DELETING; while CREATING they are not there yet.
    pub(super) fn writable_stream(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
    ) -> BrokerResult<Arc<Stream>> {
        let stream = self.stream(scope, r)?;
        if stream.status() == StreamState::Creating {
            return Err(self.not_found(scope, &stream.name));
        }
        Ok(stream)
    }

    pub(super) fn rate_exceeded(
        &self,
        scope: &Scope,
        stream: &Stream,
        shard: &Shard,
    ) -> BrokerError {
        BrokerError::ProvisionedThroughputExceeded(format!(
            "Rate exceeded for shard {} in stream {} under account {}.",
            arn::shard_id(shard.meta.index),
            stream.name,
            scope.account
        ))
    }

    fn shard_of(&self, scope: &Scope, stream: &Stream, shard_id: &str) -> BrokerResult<Arc<Shard>> {
        arn::parse_shard_id(shard_id)
            .and_then(|i| stream.shards().by_index(i).cloned())
            .ok_or_else(|| {
                BrokerError::ResourceNotFound(format!(
                    "Shard {shard_id} in stream {} under account {} does not exist",
                    stream.name, scope.account
                ))
            })
    }

    /// The oldest offset a reader may see: records older than the retention period
    /// are never returned, whether or not their segment has been deleted yet.
    pub(crate) fn trim_offset(
        &self,
        stream: &Stream,
        shard: &Shard,
        now: i64,
    ) -> BrokerResult<u64> {
        Ok(readable_from(&*shard.log, stream.retention_cutoff(now))?)
    }

    pub fn get_shard_iterator(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
        shard_id: &str,
        start: IteratorStart,
    ) -> BrokerResult<String> {
        let stream = self.writable_stream(scope, r)?;
        let shard = self.shard_of(scope, &stream, shard_id)?;
        let now = self.clock.now_ms();
        if !shard.meter.try_iterator_call(&self.config.limits, now) {
            return Err(self.rate_exceeded(scope, &stream, &shard));
        }
        let offset = self.start_offset(scope, &stream, &shard, &start, "GetShardIterator", now)?;
        Ok(self.seal_iterator(&stream, shard.meta.index, offset, now))
    }

    /// Where a reader starting at `start` begins: shared by GetShardIterator and
    /// SubscribeToShard (`op` names the caller in messages).
    pub(crate) fn start_offset(
        &self,
        scope: &Scope,
        stream: &Stream,
        shard: &Shard,
        start: &IteratorStart,
        op: &str,
        now: i64,
    ) -> BrokerResult<u64> {
        Ok(match start {
            IteratorStart::TrimHorizon => self.trim_offset(stream, shard, now)?,
            IteratorStart::Latest => shard.log.bounds().end_offset,
            IteratorStart::AtSequence(s) | IteratorStart::AfterSequence(s) => {
                let parts = sequence::decode(s).map_err(|_| {
                    BrokerError::InvalidArgument(format!(
                        "StartingSequenceNumber {s} used in {op} on shard {} in stream {} under account {} is invalid.",
                        arn::shard_id(shard.meta.index), stream.name, scope.account
                    ))
                })?;
                if parts.shard_index != shard.meta.index
                    || parts.stream_secs != sequence::stream_secs(stream.created_ms)
                {
                    return Err(BrokerError::InvalidArgument(format!(
                        "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {}",
                        arn::shard_id(parts.shard_index),
                        arn::shard_id(shard.meta.index)
                    )));
                }
                // The number's low field is a position: record `offset` has position
                // offset + 1, and position 0 is the shard's starting number.
                let at = if matches!(start, IteratorStart::AfterSequence(_)) {
                    parts.offset
                } else {
                    parts.offset.saturating_sub(1)
                };
                at.max(self.trim_offset(stream, shard, now)?)
            }
            IteratorStart::AtTimestamp(ts) => {
                if *ts < 0 {
                    return Err(BrokerError::InvalidArgument(format!(
                        "The timestampInMillis parameter cannot be negative. timestampInMillis: {ts}"
                    )));
                }
                if *ts > now {
                    return Err(BrokerError::InvalidArgument(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {ts}, currentTimestampInMillis: {now}"
                    )));
                }
                shard
                    .log
                    .offset_at_time(*ts)?
                    .max(self.trim_offset(stream, shard, now)?)
            }
        })
    }

    fn seal_iterator(&self, stream: &Stream, shard_index: u32, offset: u64, now: i64) -> String {
        let w = Writer::default()
            .i64(now)
            .i64(stream.created_ms)
            .u32(shard_index)
            .u64(offset)
            .str(&stream.account)
            .str(&stream.region)
            .str(&stream.name);
        self.signer.seal(ITERATOR_TOKEN, &w.0)
    }

    /// The (account, region, stream name) a shard iterator names, if it is one of ours.
    pub fn iterator_stream(&self, token: &str) -> Option<(String, String, String)> {
        self.open_iterator(token)
            .ok()
            .map(|p| (p.account, p.region, p.name))
    }

    fn open_iterator(&self, token: &str) -> BrokerResult<Position> {
        let invalid = || BrokerError::InvalidArgument("Invalid ShardIterator.".into());
        let payload = self
            .signer
            .open(ITERATOR_TOKEN, token)
            .ok_or_else(invalid)?;
        let mut r = Reader(&payload);
        let p = Position {
            issued_ms: r.i64().ok_or_else(invalid)?,
            created_ms: r.i64().ok_or_else(invalid)?,
            shard_index: r.u32().ok_or_else(invalid)?,
            offset: r.u64().ok_or_else(invalid)?,
            account: r.str().ok_or_else(invalid)?,
            region: r.str().ok_or_else(invalid)?,
            name: r.str().ok_or_else(invalid)?,
        };
        if !r.done() {
            return Err(invalid());
        }
        Ok(p)
    }

    pub fn get_records(
        &self,
        scope: &Scope,
        iterator: &str,
        limit: Option<u32>,
    ) -> BrokerResult<GetRecordsOut> {
        let pos = self.open_iterator(iterator)?;
        let now = self.clock.now_ms();
        if now - pos.issued_ms > ITERATOR_TTL_MS {
            return Err(BrokerError::ExpiredIterator(format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ITERATOR_TTL_MS} milliseconds.",
                format_ms(pos.issued_ms),
                format_ms(now)
            )));
        }
        if pos.account != scope.account || pos.region != scope.region {
            return Err(BrokerError::InvalidArgument(
                "Invalid ShardIterator.".into(),
            ));
        }
        let stream = self
            .lookup(scope, &pos.name)
            .filter(|s| s.created_ms == pos.created_ms)
            .ok_or_else(|| self.not_found(scope, &pos.name))?;
        let shard = self.shard_of(scope, &stream, &arn::shard_id(pos.shard_index))?;
        if !shard.meter.try_read_call(&self.config.limits, now) {
            return Err(self.rate_exceeded(scope, &stream, &shard));
        }
        let from = pos.offset.max(self.trim_offset(&stream, &shard, now)?);
        let limit = limit.map_or(MAX_GET_RECORDS, |l| (l as usize).clamp(1, MAX_GET_RECORDS));
        let batch = shard
            .log
            .read(from, limit, MAX_GET_BYTES)
            .map_err(|e| match e {
                StorageError::LogNotFound(_) => self.not_found(scope, &stream.name),
                e => e.into(),
            })?;
        let records = self.records_out(&stream, &shard, batch.records)?;
        let bytes = out_bytes(&records);
        shard.meter.charge_read(&self.config.limits, bytes);
        let caught_up = batch.next_offset >= batch.end_offset;
        let millis_behind_latest = match records.last() {
            _ if caught_up => 0,
            Some(last) => (now - last.arrival_ms).max(0),
            None => 0,
        };
        shard
            .meter
            .read_out(records.len() as u64, bytes as u64, millis_behind_latest);
        let closed_end = shard.meta.closed.map(|c| c.end_offset);
        let (next_iterator, child_shards) = match closed_end {
            Some(end) if batch.next_offset >= end => {
                (None, self.children(&stream, pos.shard_index))
            }
            _ => (
                Some(self.seal_iterator(&stream, pos.shard_index, batch.next_offset, now)),
                Vec::new(),
            ),
        };
        Ok(GetRecordsOut {
            records,
            next_iterator,
            millis_behind_latest,
            child_shards,
        })
    }

    pub(crate) fn children(&self, stream: &Stream, parent: u32) -> Vec<ChildShard> {
        stream
            .shards()
            .all
            .iter()
            .filter(|s| s.meta.parent == Some(parent) || s.meta.adjacent_parent == Some(parent))
            .map(|s| ChildShard {
                shard_id: arn::shard_id(s.meta.index),
                parent_shard_ids: [s.meta.parent, s.meta.adjacent_parent]
                    .iter()
                    .flatten()
                    .map(|p| arn::shard_id(*p))
                    .collect(),
                starting_hash_key: s.meta.start_hash,
                ending_hash_key: s.meta.end_hash,
            })
            .collect()
    }
}

impl Broker {
    /// Stored records of `shard` as consumers see them, opened when they were stored
    /// encrypted.
    pub(crate) fn records_out(
        &self,
        stream: &Stream,
        shard: &Shard,
        records: Vec<StoredRecord>,
    ) -> BrokerResult<Vec<RecordOut>> {
        let mut context = None;
        records
            .into_iter()
            .map(|r| {
                let sequence_number =
                    sequence::of_record(stream.created_ms, shard.meta.index, r.offset);
                let (key, data, encrypted) = if kms::envelope::is_sealed(&r.key) {
                    let context = context.get_or_insert_with(|| stream.record_context(shard));
                    let (key, data) = self.kms.open(context, &r.key, &r.data)?;
                    (key, data, true)
                } else {
                    (r.key.to_vec(), r.data, false)
                };
                Ok(RecordOut {
                    sequence_number,
                    arrival_ms: r.timestamp_ms,
                    // Keys are stored from a Rust `String`, so they are valid UTF-8.
                    partition_key: String::from_utf8(key)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                    data,
                    encrypted,
                })
            })
            .collect()
    }
}

/// Data plus partition keys of records as a reader gets them (what read limits count).
pub(crate) fn out_bytes(records: &[RecordOut]) -> usize {
    records
        .iter()
        .map(|r| r.data.len() + r.partition_key.len())
        .sum()
}

/// Renders epoch milliseconds as `2024-01-02T03:04:05.678Z` for messages.
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The oldest offset of `log` a reader may see, given the retention cutoff.
pub(crate) fn readable_from(
    log: &dyn crate::storage::log::ShardLog,
    cutoff_ms: i64,
) -> Result<u64, crate::storage::StorageError> {
    Ok(log
        .offset_at_time(cutoff_ms)?
        .max(log.bounds().start_offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_704_164_645_678), "2024-01-02T03:04:05.678Z");
    }
}
