//! The write side of the data plane: PutRecord and PutRecords, routed per record, one
//! batch per shard, retried against the new shard set when a reshard sealed the target.

use std::sync::Arc;

use bytes::Bytes;

use super::kms::Sealer;
use super::{
    arn, routing, sequence, Broker, BrokerError, BrokerResult, Scope, Shard, ShardSet, Stream,
    StreamRef,
};
use crate::storage::log::RecordIn;
use crate::storage::StorageError;

/// One record a producer sends.
#[derive(Debug, Clone)]
pub struct PutEntry {
    pub partition_key: String,
    pub data: Bytes,
    /// Already parsed and range-checked by the caller, or None to hash the key.
    pub explicit_hash_key: Option<u128>,
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub shard_id: String,
    pub sequence_number: u128,
    /// The record was stored encrypted (the stream's encryption was on).
    pub encrypted: bool,
}

impl Broker {
    /// PutRecord's SequenceNumberForOrdering. Records of one shard get increasing
    /// sequence numbers anyway, so the value only has to be one this server could have
    /// issued: well-formed and not from the future.
    pub fn check_ordering_sequence(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
        seq: &str,
    ) -> BrokerResult<()> {
        let stream = self.writable_stream(scope, r)?;
        let now_secs = sequence::stream_secs(self.clock.now_ms());
        if sequence::decode(seq).is_ok_and(|p| p.stream_secs <= now_secs) {
            return Ok(());
        }
        Err(BrokerError::InvalidArgument(format!(
            "ExclusiveMinimumSequenceNumber {seq} used in PutRecord on stream {} under account {} is invalid.",
            stream.name, scope.account
        )))
    }

    /// Writes records; each entry gets its own outcome, in request order. Records for
    /// one shard are appended as one batch, in request order; the call returns once
    /// every batch is durable.
    pub async fn put_records(
        &self,
        scope: &Scope,
        r: StreamRef<'_>,
        entries: Vec<PutEntry>,
    ) -> BrokerResult<Vec<Result<Placed, BrokerError>>> {
        let stream = self.writable_stream(scope, r)?;
        let max = stream.max_record_bytes();
        for (i, e) in entries.iter().enumerate() {
            let size = e.data.len() + e.partition_key.len();
            if size > max {
                return Err(BrokerError::RecordTooLarge {
                    index: i,
                    size,
                    max,
                });
            }
        }
        let total: usize = entries
            .iter()
            .map(|e| e.data.len() + e.partition_key.len())
            .sum();
        let limit = self.config.put_records_max_bytes.max(max);
        if total > limit {
            return Err(BrokerError::InvalidArgument(format!(
                "Records size exceeds {} MB limit",
                limit / (1024 * 1024)
            )));
        }
        // Resolved once per call: a key that is gone or disabled fails the whole call,
        // as KMS's answer does on AWS.
        let sealer = match stream.encryption_key() {
            Some(k) => Some(self.kms.sealer(&k)?),
            None => None,
        };
        let sealer = sealer.as_deref();
        let mut out: Vec<Option<Result<Placed, BrokerError>>> =
            (0..entries.len()).map(|_| None).collect();
        let mut pending: Vec<usize> = (0..entries.len()).collect();
        let mut set = stream.shards.load_full();
        loop {
            let sealed = self
                .put_round(scope, &stream, &set, &entries, &pending, sealer, &mut out)
                .await?;
            if sealed.is_empty() {
                break;
            }
            if self.catalog.poisoned().is_some() {
                // A reshard whose record may or may not be on disk left its parents
                // sealed, and no new shard set is coming until a restart.
                for i in sealed {
                    out[i] = Some(Err(BrokerError::Unavailable(
                        "Shoal refuses writes to this shard until it restarts: a reshard \
                         could not be recorded."
                            .into(),
                    )));
                }
                break;
            }
            // A reshard sealed the target shard between routing and appending: wait for
            // the new shard set (published right after the seal) and route again.
            set = self.next_shard_set(&stream, &set).await?;
            pending = sealed;
        }
        Ok(out
            .into_iter()
            .map(|o| o.expect("every entry was placed or failed"))
            .collect())
    }

    /// Routes and appends `pending` entries against one shard set, sealed with
    /// `sealer` when the stream is encrypted; returns the entries whose shard turned
    /// out to be sealed.
    #[allow(clippy::too_many_arguments)]
    async fn put_round(
        &self,
        scope: &Scope,
        stream: &Stream,
        set: &ShardSet,
        entries: &[PutEntry],
        pending: &[usize],
        sealer: Option<&Sealer>,
        out: &mut [Option<Result<Placed, BrokerError>>],
    ) -> BrokerResult<Vec<usize>> {
        // Group entry positions by target shard, keeping request order inside a group.
        let mut groups: Vec<(Arc<Shard>, Vec<usize>)> = Vec::new();
        let now = self.clock.now_ms();
        // On-demand streams scale their shards instead of throttling them.
        let limits = &self.config.limits;
        let throttled = limits.enabled && !stream.is_on_demand();
        for &i in pending {
            let e = &entries[i];
            let key = e
                .explicit_hash_key
                .unwrap_or_else(|| routing::hash_key(&e.partition_key));
            let pos = routing::find_range(&set.open_starts, key).ok_or_else(|| {
                BrokerError::Internal(format!(
                    "no open shard holds hash key {key} in stream {}",
                    stream.name
                ))
            })?;
            let shard = &set.open[pos];
            let size = e.data.len() + e.partition_key.len();
            if throttled && !shard.meter.try_write(limits, now, size) {
                out[i] = Some(Err(self.rate_exceeded(scope, stream, shard)));
                continue;
            }
            match groups.iter_mut().find(|g| Arc::ptr_eq(&g.0, shard)) {
                Some(g) => g.1.push(i),
                None => groups.push((shard.clone(), vec![i])),
            }
        }
        let mut appended = Vec::with_capacity(groups.len());
        for (shard, idx) in &groups {
            let batch: Vec<RecordIn> = match sealer {
                None => idx
                    .iter()
                    .map(|&i| RecordIn {
                        key: Bytes::copy_from_slice(entries[i].partition_key.as_bytes()),
                        data: entries[i].data.clone(),
                    })
                    .collect(),
                Some(sealer) => {
                    let records: Vec<(&[u8], &[u8])> = idx
                        .iter()
                        .map(|&i| (entries[i].partition_key.as_bytes(), &entries[i].data[..]))
                        .collect();
                    self.kms
                        .seal(sealer, &stream.record_context(shard), &records)?
                }
                .into_iter()
                .map(|(key, data)| RecordIn {
                    key: key.into(),
                    data: data.into(),
                })
                .collect(),
            };
            let result = match shard.log.append_quick(now, &batch) {
                // A roll or a floor raise waits for the disk: not on this worker.
                Err(StorageError::WouldBlock) => {
                    let (log, batch) = (shard.log.clone(), batch.clone());
                    super::off_worker(move || log.append(now, &batch)).await
                }
                other => other,
            };
            appended.push(result);
        }
        let mut sealed = Vec::new();
        for ((shard, idx), appended) in groups.iter().zip(appended) {
            let result = match appended {
                Ok(a) => {
                    let durable = a.durable.wait().await;
                    // Readable now: wake subscriptions tailing this shard.
                    shard.meter.appended.notify_waiters();
                    match durable {
                        // A shared store found the append behind a seal another node
                        // wrote: it counts for nothing there and goes to the children.
                        Err(StorageError::Sealed(_)) => {
                            sealed.extend_from_slice(idx);
                            continue;
                        }
                        other => other.map(|placed| placed.map_or(a.first_offset, |p| p.0)),
                    }
                }
                Err(StorageError::Sealed(_)) => {
                    sealed.extend_from_slice(idx);
                    continue;
                }
                // The stream was deleted under us: the whole call fails as AWS's would.
                Err(StorageError::LogNotFound(_)) => {
                    return Err(self.not_found(scope, &stream.name))
                }
                Err(e) => Err(e),
            };
            match &result {
                // Counted once placed: an append re-routed after a late seal counts
                // in the child it went to, not also in the parent.
                Ok(_) => {
                    let bytes = idx
                        .iter()
                        .map(|&i| (entries[i].data.len() + entries[i].partition_key.len()) as u64)
                        .sum();
                    shard.meter.wrote(idx.len() as u64, bytes);
                }
                Err(e) => {
                    tracing::error!(stream = %stream.name, shard = shard.meta.index, error = %e, "append failed")
                }
            }
            for (k, &i) in idx.iter().enumerate() {
                out[i] = Some(match &result {
                    Ok(first) => Ok(Placed {
                        shard_id: arn::shard_id(shard.meta.index),
                        sequence_number: sequence::of_record(
                            stream.created_ms,
                            shard.meta.index,
                            first + k as u64,
                        ),
                        encrypted: sealer.is_some(),
                    }),
                    Err(e) => Err(BrokerError::of_storage(e)),
                });
            }
        }
        Ok(sealed)
    }

    /// Waits (briefly) until the stream publishes a shard set other than `seen`.
    async fn next_shard_set(
        &self,
        stream: &Stream,
        seen: &Arc<ShardSet>,
    ) -> BrokerResult<Arc<ShardSet>> {
        for _ in 0..5_000 {
            let now = stream.shards.load_full();
            if !Arc::ptr_eq(&now, seen) {
                return Ok(now);
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        Err(BrokerError::Internal(format!(
            "shard set of stream {} did not change after a shard was sealed",
            stream.name
        )))
    }
}
