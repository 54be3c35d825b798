//! Data-plane call sequences the tests share: PutRecord, shard iterators, GetRecords.

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_kinesis::operation::get_shard_iterator::builders::GetShardIteratorFluentBuilder;
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::operation::put_record::{PutRecordError, PutRecordOutput};
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, Record, ShardIteratorType};
use aws_sdk_kinesis::Client;

/// The id Kinesis gives the `i`th shard of a stream (`shardId-000000000003`).
pub fn shard(i: u32) -> String {
    format!("shardId-{i:012}")
}

/// PutRecord of `data` under `key`, success or error left to the caller.
pub async fn try_put(
    c: &Client,
    stream: &str,
    key: &str,
    data: &[u8],
) -> Result<PutRecordOutput, SdkError<PutRecordError, HttpResponse>> {
    c.put_record()
        .stream_name(stream)
        .partition_key(key)
        .data(Blob::new(data))
        .send()
        .await
}

/// PutRecord of `data` under `key`; answers (shard id, sequence number).
pub async fn put(c: &Client, stream: &str, key: &str, data: &[u8]) -> (String, String) {
    let out = try_put(c, stream, key, data).await.unwrap();
    (
        out.shard_id().to_string(),
        out.sequence_number().to_string(),
    )
}

/// A GetShardIterator request for one shard, ready for more fields or `send`.
pub fn iterator_request(
    c: &Client,
    stream: &str,
    shard_id: &str,
    kind: ShardIteratorType,
) -> GetShardIteratorFluentBuilder {
    c.get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard_id)
        .shard_iterator_type(kind)
}

/// The iterator a successful GetShardIterator request answers.
async fn iterator_of(request: GetShardIteratorFluentBuilder) -> String {
    request
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_string()
}

/// A PutRecords entry of `data` under partition key `key`.
pub fn entry(key: impl Into<String>, data: impl Into<Vec<u8>>) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .partition_key(key)
        .data(Blob::new(data))
        .build()
        .unwrap()
}

/// A shard iterator of type `kind` (TRIM_HORIZON, LATEST) for one shard.
pub async fn iterator(c: &Client, stream: &str, shard_id: &str, kind: ShardIteratorType) -> String {
    iterator_of(iterator_request(c, stream, shard_id, kind)).await
}

/// A GetShardIterator call that must fail: its error, for the caller to check.
pub async fn iterator_err(
    c: &Client,
    stream: &str,
    shard_id: &str,
    kind: ShardIteratorType,
) -> SdkError<GetShardIteratorError, HttpResponse> {
    iterator_request(c, stream, shard_id, kind)
        .send()
        .await
        .unwrap_err()
}

/// A shard iterator of type `kind` (AT_/AFTER_SEQUENCE_NUMBER) at sequence number `seq`.
pub async fn iterator_at(
    c: &Client,
    stream: &str,
    shard_id: &str,
    kind: ShardIteratorType,
    seq: &str,
) -> String {
    iterator_of(iterator_request(c, stream, shard_id, kind).starting_sequence_number(seq)).await
}

/// An AT_TIMESTAMP shard iterator for the first record at or after `ts`.
pub async fn iterator_at_time(c: &Client, stream: &str, shard_id: &str, ts: DateTime) -> String {
    let request = iterator_request(c, stream, shard_id, ShardIteratorType::AtTimestamp);
    iterator_of(request.timestamp(ts)).await
}

/// One GetRecords call with shard iterator `it`, success or error left to the caller.
pub async fn try_get_records(
    c: &Client,
    it: &str,
) -> Result<GetRecordsOutput, SdkError<GetRecordsError, HttpResponse>> {
    c.get_records().shard_iterator(it).send().await
}

/// One GetRecords call from the TRIM_HORIZON of a shard.
pub async fn first_batch(c: &Client, stream: &str, shard_id: &str) -> GetRecordsOutput {
    let it = iterator(c, stream, shard_id, ShardIteratorType::TrimHorizon).await;
    c.get_records().shard_iterator(it).send().await.unwrap()
}

/// Follows NextShardIterator until a call returns nothing and reports caught up.
pub async fn read_all(c: &Client, mut it: String) -> Vec<Record> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let got = c.get_records().shard_iterator(&it).send().await.unwrap();
        let n = got.records().len();
        out.extend(got.records().iter().cloned());
        it = got
            .next_shard_iterator()
            .expect("open shard has a next iterator")
            .to_string();
        if n == 0 && got.millis_behind_latest() == Some(0) {
            return out;
        }
    }
    panic!("reading never caught up");
}

/// Reads an open shard from an iterator of type `kind` to its end: the records' data.
pub async fn read_from(
    c: &Client,
    stream: &str,
    shard_id: &str,
    kind: ShardIteratorType,
) -> Vec<Vec<u8>> {
    let it = iterator(c, stream, shard_id, kind).await;
    read_all(c, it)
        .await
        .into_iter()
        .map(|r| r.data().as_ref().to_vec())
        .collect()
}
