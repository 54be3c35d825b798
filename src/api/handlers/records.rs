//! Data-plane handlers: PutRecord, PutRecords, GetShardIterator, GetRecords.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use super::streams::encryption_word;
use super::{decode, json, seconds, stream_ref, timestamp_ms, Ctx, Reply};
use crate::api::error::{record_failure, single_record_too_large, ApiError};
use crate::api::shapes::*;
use crate::broker::put::PutEntry;
use crate::broker::records::IteratorStart;
use crate::broker::routing::parse_hash_key;

fn blob(data: &str) -> Result<Bytes, ApiError> {
    STANDARD.decode(data).map(Bytes::from).map_err(|e| {
        ApiError::serialization(Some(format!(
            "'{data}' can not be converted to a Blob: {e}"
        )))
    })
}

fn explicit_hash_key(v: Option<&str>) -> Result<Option<u128>, ApiError> {
    v.map(|s| {
        parse_hash_key(s).ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {s}"
            ))
        })
    })
    .transpose()
}

pub async fn put_record(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: PutRecordInput = decode(input)?;
    let entry = PutEntry {
        data: blob(&req.data)?,
        explicit_hash_key: explicit_hash_key(req.explicit_hash_key.as_deref())?,
        partition_key: req.partition_key,
    };
    if let Some(seq) = &req.sequence_number_for_ordering {
        ctx.broker
            .check_ordering_sequence(&ctx.scope, stream_ref(&req.stream), seq)?;
    }
    let mut results = ctx
        .broker
        .put_records(&ctx.scope, stream_ref(&req.stream), vec![entry])
        .await
        .map_err(single_record_too_large)?;
    let placed = results.pop().expect("one entry in, one result out")?;
    json(&PutRecordOutput {
        shard_id: placed.shard_id,
        sequence_number: placed.sequence_number.to_string(),
        encryption_type: encryption_word(placed.encrypted),
    })
}

pub async fn put_records(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: PutRecordsInput = decode(input)?;
    let mut entries = Vec::with_capacity(req.records.len());
    for r in req.records {
        entries.push(PutEntry {
            data: blob(&r.data)?,
            explicit_hash_key: explicit_hash_key(r.explicit_hash_key.as_deref())?,
            partition_key: r.partition_key,
        });
    }
    let results = ctx
        .broker
        .put_records(&ctx.scope, stream_ref(&req.stream), entries)
        .await?;
    let mut failed = 0;
    let mut encrypted = false;
    let records = results
        .into_iter()
        .map(|r| match r {
            Ok(p) => {
                encrypted |= p.encrypted;
                PutRecordsResultEntry {
                    sequence_number: Some(p.sequence_number.to_string()),
                    shard_id: Some(p.shard_id),
                    error_code: None,
                    error_message: None,
                }
            }
            Err(e) => {
                failed += 1;
                let (code, message) = record_failure(&e);
                PutRecordsResultEntry {
                    sequence_number: None,
                    shard_id: None,
                    error_code: Some(code),
                    error_message: Some(message),
                }
            }
        })
        .collect();
    json(&PutRecordsOutput {
        failed_record_count: failed,
        records,
        encryption_type: encryption_word(encrypted),
    })
}

pub fn get_shard_iterator(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: GetShardIteratorInput = decode(input)?;
    let seq = req.starting_sequence_number.clone();
    let kind = req.shard_iterator_type.as_str();
    let start = match (kind, seq) {
        ("AT_SEQUENCE_NUMBER", Some(s)) => IteratorStart::AtSequence(s),
        ("AFTER_SEQUENCE_NUMBER", Some(s)) => IteratorStart::AfterSequence(s),
        ("TRIM_HORIZON", None) => IteratorStart::TrimHorizon,
        ("LATEST", None) => IteratorStart::Latest,
        ("AT_TIMESTAMP", _) => match &req.timestamp {
            Some(ts) => IteratorStart::AtTimestamp(timestamp_ms(ts, "Timestamp")?),
            None => {
                return Err(ApiError::invalid_argument(
                    "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.",
                ))
            }
        },
        _ => {
            return Err(ApiError::invalid_argument(format!(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {kind} and {}.",
                req.starting_sequence_number
                    .as_deref()
                    .map_or("no StartingSequenceNumber".to_string(), |s| format!("StartingSequenceNumber {s}"))
            )))
        }
    };
    let iterator =
        ctx.broker
            .get_shard_iterator(&ctx.scope, stream_ref(&req.stream), &req.shard_id, start)?;
    json(&GetShardIteratorOutput {
        shard_iterator: iterator,
    })
}

pub fn get_records(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: GetRecordsInput = decode(input)?;
    if let Some(named) = &req.stream_arn {
        let issued_for = ctx.broker.iterator_stream(&req.shard_iterator);
        let same = crate::broker::arn::parse_stream_arn(named)
            .is_some_and(|p| issued_for.as_ref() == Some(&(p.account, p.region, p.name)));
        if issued_for.is_some() && !same {
            return Err(ApiError::invalid_argument(format!(
                "Invalid ShardIterator: it was not issued for stream {named}."
            )));
        }
    }
    let out = ctx
        .broker
        .get_records(&ctx.scope, &req.shard_iterator, req.limit)?;
    Ok(Reply::Json(super::records_json::get_records(out)))
}

/// A record as GetRecords and SubscribeToShard events show it.
pub(crate) fn record_shape(r: crate::broker::records::RecordOut) -> Record {
    Record {
        sequence_number: r.sequence_number.to_string(),
        approximate_arrival_timestamp: seconds(r.arrival_ms),
        data: STANDARD.encode(&r.data),
        partition_key: r.partition_key,
        encryption_type: encryption_word(r.encrypted),
    }
}

pub(crate) fn child_shape(c: crate::broker::records::ChildShard) -> ChildShard {
    ChildShard {
        shard_id: c.shard_id,
        parent_shards: c.parent_shard_ids,
        hash_key_range: HashKeyRange {
            starting_hash_key: c.starting_hash_key.to_string(),
            ending_hash_key: c.ending_hash_key.to_string(),
        },
    }
}
