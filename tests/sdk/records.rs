//! The data plane through the SDK: PutRecord routing and sequence numbers, PutRecords,
//! every GetShardIterator type, GetRecords paging, limits, expiry and errors.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use shoal::broker::ManualClock;

use crate::common::*;

const MAX_HASH: &str = "340282366920938463463374607431768211455";
const OVER_MAX_HASH: &str = "340282366920938463463374607431768211456";

/// Compares two decimal sequence numbers numerically (they may exceed u128 on AWS).
fn seq_cmp(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[tokio::test]
async fn put_record_routes_by_md5_of_the_partition_key() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "md5", 2).await;
    // MD5("b") = 92eb5ffe... >= 2^127; MD5("a") = 0cc175b9... < 2^127.
    assert_eq!(put(c, "md5", "b", b"1").await.0, shard(1));
    assert_eq!(put(c, "md5", "a", b"2").await.0, shard(0));
    assert_eq!(
        read_from(c, "md5", &shard(1), ShardIteratorType::TrimHorizon).await,
        [b"1"]
    );
    assert_eq!(
        read_from(c, "md5", &shard(0), ShardIteratorType::TrimHorizon).await,
        [b"2"]
    );
}

#[tokio::test]
async fn explicit_hash_key_routes_and_is_range_checked() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "ehk", 3).await;
    let put_ehk = |k: &'static str| {
        c.put_record()
            .stream_name("ehk")
            .partition_key("b")
            .explicit_hash_key(k)
            .data(Blob::new("x"))
            .send()
    };
    assert_eq!(put_ehk("0").await.unwrap().shard_id(), shard(0));
    assert_eq!(put_ehk(MAX_HASH).await.unwrap().shard_id(), shard(2));
    assert_eq!(
        put_ehk("113427455640312821154458202477256070484")
            .await
            .unwrap()
            .shard_id(),
        shard(0)
    );
    assert_eq!(
        put_ehk("113427455640312821154458202477256070485")
            .await
            .unwrap()
            .shard_id(),
        shard(1)
    );
    let err = put_ehk(OVER_MAX_HASH).await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    assert_eq!(
        message(&err),
        format!(
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {OVER_MAX_HASH}"
        )
    );
    // The same in PutRecords fails the whole call.
    let err = c
        .put_records()
        .stream_name("ehk")
        .records(
            PutRecordsRequestEntry::builder()
                .partition_key("k")
                .explicit_hash_key(OVER_MAX_HASH)
                .data(Blob::new("x"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn sequence_numbers_increase_strictly_per_shard() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "seq", 2).await;
    let mut last: [Option<String>; 2] = [None, None];
    for i in 0..40 {
        let (sh, seq) = put(c, "seq", &format!("key-{i}"), b"v").await;
        assert!(seq.bytes().all(|b| b.is_ascii_digit()), "{seq}");
        let idx = if sh == shard(0) { 0 } else { 1 };
        if let Some(prev) = &last[idx] {
            assert_eq!(seq_cmp(prev, &seq), Ordering::Less, "{prev} then {seq}");
        }
        last[idx] = Some(seq);
    }
    assert!(last.iter().all(Option::is_some), "both shards got records");
    // Sequence numbers are unique in the stream and at least the shard's starting one.
    let d = c.describe_stream().stream_name("seq").send().await.unwrap();
    for (i, sh) in d.stream_description().unwrap().shards().iter().enumerate() {
        let start = sh
            .sequence_number_range()
            .unwrap()
            .starting_sequence_number();
        assert_ne!(seq_cmp(start, last[i].as_ref().unwrap()), Ordering::Greater);
    }
    assert_ne!(last[0], last[1]);
}

#[tokio::test]
async fn sequence_number_for_ordering_is_accepted() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "order", 1).await;
    let (_, first) = put(c, "order", "k", b"1").await;
    let out = c
        .put_record()
        .stream_name("order")
        .partition_key("k")
        .sequence_number_for_ordering(&first)
        .data(Blob::new("2"))
        .send()
        .await
        .unwrap();
    assert_eq!(seq_cmp(&first, out.sequence_number()), Ordering::Less);
    // A number that is not a sequence number of this server is refused.
    let err = c
        .put_record()
        .stream_name("order")
        .partition_key("k")
        .sequence_number_for_ordering("12345")
        .data(Blob::new("3"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    assert_eq!(
        message(&err),
        "ExclusiveMinimumSequenceNumber 12345 used in PutRecord on stream order under account 000000000000 is invalid."
    );
    assert_eq!(
        read_from(c, "order", &shard(0), ShardIteratorType::TrimHorizon).await,
        [b"1", b"2"]
    );
}

#[tokio::test]
async fn put_records_500_in_order_and_read_back_exactly() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "bulk", 4).await;
    let payloads: Vec<Vec<u8>> = (0..500u32)
        .map(|i| {
            let mut v = format!("record-{i}-").into_bytes();
            v.extend((0..(i % 50)).map(|j| (i * 7 + j) as u8));
            v
        })
        .collect();
    let entries: Vec<PutRecordsRequestEntry> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| entry(format!("pk-{i}"), p.clone()))
        .collect();
    let out = c
        .put_records()
        .stream_name("bulk")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(out.records().len(), 500);
    // Results answer the entries in request order: what each says is where it is.
    let mut per_shard: std::collections::BTreeMap<String, Vec<(String, Vec<u8>)>> =
        Default::default();
    for (i, r) in out.records().iter().enumerate() {
        assert!(r.error_code().is_none());
        let sh = r.shard_id().unwrap().to_string();
        per_shard.entry(sh).or_default().push((
            r.sequence_number().unwrap().to_string(),
            payloads[i].clone(),
        ));
    }
    assert_eq!(per_shard.len(), 4, "500 keys spread over every shard");
    for (sh, expected) in &per_shard {
        for w in expected.windows(2) {
            assert_eq!(
                seq_cmp(&w[0].0, &w[1].0),
                Ordering::Less,
                "request order in {sh}"
            );
        }
        let it = iterator(c, "bulk", sh, ShardIteratorType::TrimHorizon).await;
        let got = read_all(c, it).await;
        assert_eq!(got.len(), expected.len(), "{sh}");
        for (rec, (seq, data)) in got.iter().zip(expected) {
            assert_eq!(rec.sequence_number(), seq);
            assert_eq!(rec.data().as_ref(), &data[..]);
        }
    }
}

#[tokio::test]
async fn put_records_over_500_is_validation_error() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "many", 1).await;
    let entries: Vec<PutRecordsRequestEntry> =
        (0..501).map(|i| entry(format!("k{i}"), "x")).collect();
    let err = c
        .put_records()
        .stream_name("many")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("records"), "{}", message(&err));
    // Nothing was written.
    assert!(
        read_from(c, "many", &shard(0), ShardIteratorType::TrimHorizon)
            .await
            .is_empty()
    );
    // And an empty list is refused as well.
    let err = c
        .put_records()
        .stream_name("many")
        .set_records(Some(Vec::new()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

#[tokio::test]
async fn empty_and_binary_data_round_trip() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "bin", 1).await;
    let all: Vec<u8> = (0..=255u8).collect();
    put(c, "bin", "k", b"").await;
    put(c, "bin", "k", &all).await;
    let got = read_from(c, "bin", &shard(0), ShardIteratorType::TrimHorizon).await;
    assert_eq!(got, [Vec::new(), all]);
}

#[tokio::test]
async fn partition_key_is_returned() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "pk", 1).await;
    put(c, "pk", "héllo wörld", b"x").await;
    let it = iterator(c, "pk", &shard(0), ShardIteratorType::TrimHorizon).await;
    let got = read_all(c, it).await;
    assert_eq!(got[0].partition_key(), Some("héllo wörld"));
}

#[tokio::test]
async fn record_over_one_mib_is_validation_error() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "big", 1).await;
    // Exactly 1 MiB of data plus key fits.
    let fits = vec![7u8; 1024 * 1024 - 1];
    put(c, "big", "k", &fits).await;
    let over = vec![7u8; 1024 * 1024];
    let err = try_put(c, "big", "k", &over).await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c
        .put_records()
        .stream_name("big")
        .records(entry("k", over))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let got = read_from(c, "big", &shard(0), ShardIteratorType::TrimHorizon).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0], fits);
}

#[tokio::test]
async fn latest_sees_only_later_records() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "latest", 1).await;
    put(c, "latest", "k", b"before").await;
    let it = iterator(c, "latest", &shard(0), ShardIteratorType::Latest).await;
    let got = c.get_records().shard_iterator(&it).send().await.unwrap();
    assert!(got.records().is_empty());
    assert_eq!(got.millis_behind_latest(), Some(0));
    put(c, "latest", "k", b"after").await;
    let got = read_all(c, it).await;
    let data: Vec<&[u8]> = got.iter().map(|r| r.data().as_ref()).collect();
    assert_eq!(data, [b"after"]);
}

#[tokio::test]
async fn at_and_after_sequence_number() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "atseq", 1).await;
    let mut seqs = Vec::new();
    for i in 0..5u8 {
        seqs.push(put(c, "atseq", "k", &[i]).await.1);
    }
    let sh = shard(0);
    let it = iterator_at(
        c,
        "atseq",
        &sh,
        ShardIteratorType::AtSequenceNumber,
        &seqs[2],
    )
    .await;
    let got = read_all(c, it).await;
    assert_eq!(
        got.iter().map(|r| r.data().as_ref()[0]).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(got[0].sequence_number(), seqs[2]);
    let it = iterator_at(
        c,
        "atseq",
        &sh,
        ShardIteratorType::AfterSequenceNumber,
        &seqs[2],
    )
    .await;
    let got = read_all(c, it).await;
    assert_eq!(
        got.iter().map(|r| r.data().as_ref()[0]).collect::<Vec<_>>(),
        [3, 4]
    );
    let it = iterator_at(
        c,
        "atseq",
        &sh,
        ShardIteratorType::AfterSequenceNumber,
        &seqs[4],
    )
    .await;
    assert!(read_all(c, it).await.is_empty());
    // A type that needs a sequence number without one is an argument error.
    let err = iterator_err(c, "atseq", &sh, ShardIteratorType::AtSequenceNumber).await;
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn at_timestamp_starts_at_the_first_record_at_or_after_it() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "atts", 1).await;
    for i in 0..3u8 {
        put(c, "atts", "k", &[i]).await;
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    for i in 3..6u8 {
        put(c, "atts", "k", &[i]).await;
    }
    let sh = shard(0);
    let all = read_all(
        c,
        iterator(c, "atts", &sh, ShardIteratorType::TrimHorizon).await,
    )
    .await;
    assert_eq!(all.len(), 6);
    let ts = *all[3].approximate_arrival_timestamp().unwrap();
    let expect: Vec<u8> = all
        .iter()
        .filter(|r| {
            r.approximate_arrival_timestamp()
                .unwrap()
                .to_millis()
                .unwrap()
                >= ts.to_millis().unwrap()
        })
        .map(|r| r.data().as_ref()[0])
        .collect();
    assert_eq!(expect, [3, 4, 5], "the sleep separates the batches");
    let it = iterator_at_time(c, "atts", &sh, ts).await;
    let got = read_all(c, it).await;
    assert_eq!(
        got.iter().map(|r| r.data().as_ref()[0]).collect::<Vec<_>>(),
        expect
    );
    // Long ago means from the start.
    let it = iterator_at_time(c, "atts", &sh, DateTime::from_secs(1_000_000_000)).await;
    assert_eq!(read_all(c, it).await.len(), 6);
    // In the future is refused.
    let future = DateTime::from_millis(ts.to_millis().unwrap() + 3_600_000);
    let err = iterator_request(c, "atts", &sh, ShardIteratorType::AtTimestamp)
        .timestamp(future)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    // And AT_TIMESTAMP needs a timestamp.
    let err = iterator_err(c, "atts", &sh, ShardIteratorType::AtTimestamp).await;
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn shard_iterator_argument_errors() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "itargs", 2).await;
    let (sh, seq) = put(c, "itargs", "b", b"x").await;
    assert_eq!(sh, shard(1));
    // A sequence number of another shard.
    let err = iterator_request(c, "itargs", &shard(0), ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&seq)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    assert_eq!(
        message(&err),
        "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used in a \
         call to a shard with shardId-000000000000"
    );
    // A sequence number that is not one of ours.
    let err = iterator_request(c, "itargs", &shard(1), ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number("12345")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    // LATEST (or TRIM_HORIZON) with a sequence number.
    for kind in [ShardIteratorType::Latest, ShardIteratorType::TrimHorizon] {
        let err = iterator_request(c, "itargs", &shard(1), kind)
            .starting_sequence_number(&seq)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidArgumentException");
        assert!(
            message(&err).starts_with("Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber."),
            "{}",
            message(&err)
        );
    }
    // An unknown shard.
    let err = iterator_err(c, "itargs", &shard(9), ShardIteratorType::TrimHorizon).await;
    assert_eq!(code(&err), "ResourceNotFoundException");
    assert_eq!(
        message(&err),
        "Shard shardId-000000000009 in stream itargs under account 000000000000 does not exist"
    );
    // An unknown stream.
    let err = iterator_err(c, "nosuch", &shard(0), ShardIteratorType::TrimHorizon).await;
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn get_records_limit() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "limit", 1).await;
    for i in 0..3u8 {
        put(c, "limit", "k", &[i]).await;
    }
    let it = iterator(c, "limit", &shard(0), ShardIteratorType::TrimHorizon).await;
    let one = c
        .get_records()
        .shard_iterator(&it)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(one.records().len(), 1);
    assert_eq!(one.records()[0].data().as_ref(), [0]);
    assert!(one.millis_behind_latest().is_some());
    let next = one.next_shard_iterator().unwrap();
    let rest = c
        .get_records()
        .shard_iterator(next)
        .limit(10_000)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.records().len(), 2);
    assert_eq!(rest.millis_behind_latest(), Some(0));
    for bad in [10_001, 0] {
        let err = c
            .get_records()
            .shard_iterator(&it)
            .limit(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException", "limit {bad}");
    }
}

#[tokio::test]
async fn next_shard_iterator_chaining_reads_everything_once() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "chain", 1).await;
    for i in 0..25u8 {
        put(c, "chain", "k", &[i]).await;
    }
    let mut it = iterator(c, "chain", &shard(0), ShardIteratorType::TrimHorizon).await;
    let mut seen = Vec::new();
    loop {
        let got = c
            .get_records()
            .shard_iterator(&it)
            .limit(4)
            .send()
            .await
            .unwrap();
        if got.records().is_empty() {
            assert_eq!(got.millis_behind_latest(), Some(0));
            break;
        }
        seen.extend(got.records().iter().map(|r| r.data().as_ref()[0]));
        it = got.next_shard_iterator().unwrap().to_string();
    }
    assert_eq!(seen, (0..25).collect::<Vec<u8>>());
    // The old iterator can be reused: iterators are positions, not cursors.
    let again = iterator(c, "chain", &shard(0), ShardIteratorType::TrimHorizon).await;
    let a = c
        .get_records()
        .shard_iterator(&again)
        .limit(2)
        .send()
        .await
        .unwrap();
    let b = c
        .get_records()
        .shard_iterator(&again)
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(a.records(), b.records());
    // Writing more after catching up: the last iterator picks them up.
    put(c, "chain", "k", &[99]).await;
    let got = c.get_records().shard_iterator(&it).send().await.unwrap();
    assert_eq!(got.records().len(), 1);
    assert_eq!(got.records()[0].data().as_ref(), [99]);
    assert_eq!(got.millis_behind_latest(), Some(0));
}

#[tokio::test]
async fn arrival_timestamps_have_millisecond_precision() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_123));
    let s = start_with_clock(true, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "arrive", 1).await;
    put(c, "arrive", "k", b"1").await;
    clock.advance_ms(1);
    put(c, "arrive", "k", b"2").await;
    let it = iterator(c, "arrive", &shard(0), ShardIteratorType::TrimHorizon).await;
    let got = read_all(c, it).await;
    // The SDK reads epoch seconds as an f64 and truncates, so round to the millisecond.
    let ms: Vec<i64> = got
        .iter()
        .map(|r| (r.approximate_arrival_timestamp().unwrap().as_secs_f64() * 1000.0).round() as i64)
        .collect();
    assert_eq!(ms, [1_700_000_000_123, 1_700_000_000_124]);
}

#[tokio::test]
async fn arrival_timestamps_do_not_decrease_within_a_shard() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "mono", 1).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for i in 0..20u8 {
        put(c, "mono", "k", &[i]).await;
    }
    let it = iterator(c, "mono", &shard(0), ShardIteratorType::TrimHorizon).await;
    let got = read_all(c, it).await;
    let ms: Vec<i64> = got
        .iter()
        .map(|r| {
            r.approximate_arrival_timestamp()
                .unwrap()
                .to_millis()
                .unwrap()
        })
        .collect();
    assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{ms:?}");
    assert!(ms[0] >= before - 1000, "{} vs {before}", ms[0]);
}

#[tokio::test]
async fn tampered_iterator_is_invalid_argument() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "tamper", 1).await;
    let it = iterator(c, "tamper", &shard(0), ShardIteratorType::TrimHorizon).await;
    let mut bytes = it.into_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(bytes).unwrap();
    let err = try_get_records(c, &forged).await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    assert_eq!(message(&err), "Invalid ShardIterator.");
    let err = try_get_records(c, "garbage").await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn iterator_older_than_five_minutes_expires() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let s = start_with_clock(true, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "old", 1).await;
    put(c, "old", "k", b"x").await;
    let it = iterator(c, "old", &shard(0), ShardIteratorType::TrimHorizon).await;
    clock.advance_ms(299_000);
    let got = c.get_records().shard_iterator(&it).send().await.unwrap();
    assert_eq!(got.records().len(), 1);
    // The fresh iterator from that call is good for another five minutes.
    let fresh = got.next_shard_iterator().unwrap().to_string();
    clock.advance_ms(2_000);
    let err = try_get_records(c, &it).await.unwrap_err();
    assert_eq!(code(&err), "ExpiredIteratorException");
    assert_eq!(
        message(&err),
        "Iterator expired. The iterator was created at time 2023-11-14T22:13:20.000Z while right \
         now it is 2023-11-14T22:18:21.000Z which is further in the future than the tolerated \
         delay of 300000 milliseconds."
    );
    c.get_records().shard_iterator(&fresh).send().await.unwrap();
}

#[tokio::test]
async fn get_records_after_delete_is_not_found() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "gone", 1).await;
    put(c, "gone", "k", b"x").await;
    let it = iterator(c, "gone", &shard(0), ShardIteratorType::TrimHorizon).await;
    c.delete_stream().stream_name("gone").send().await.unwrap();
    let err = try_get_records(c, &it).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // Recreating the name does not revive old iterators.
    create_active(c, "gone", 1).await;
    let err = try_get_records(c, &it).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = try_put(c, "nosuch", "k", b"x").await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn round_trip_in_memory() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "mem", 2).await;
    let (sh, seq) = put(c, "mem", "b", b"in memory").await;
    assert_eq!(sh, shard(1));
    let out = c
        .put_records()
        .stream_name("mem")
        .records(entry("b", "second"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    let it = iterator(c, "mem", &shard(1), ShardIteratorType::TrimHorizon).await;
    let got = read_all(c, it).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].sequence_number(), seq);
    assert_eq!(got[0].data().as_ref(), b"in memory");
    assert_eq!(got[1].data().as_ref(), b"second");
    let it = iterator_at(
        c,
        "mem",
        &shard(1),
        ShardIteratorType::AfterSequenceNumber,
        &seq,
    )
    .await;
    assert_eq!(read_all(c, it).await.len(), 1);
    c.delete_stream().stream_name("mem").send().await.unwrap();
    let err = c
        .describe_stream()
        .stream_name("mem")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn partition_keys_are_counted_in_characters_and_bytes() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "keys", 1).await;
    // 256 characters is the limit, however many bytes they take.
    let k256 = "é".repeat(256);
    put(c, "keys", &k256, b"x").await;
    let err = try_put(c, "keys", &"é".repeat(257), b"x")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = try_put(c, "keys", "", b"x").await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // The record size counts the key's UTF-8 bytes: 2 keys bytes over the limit.
    let err = try_put(c, "keys", "éé", &vec![0u8; 1024 * 1024 - 2])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    put(c, "keys", "é", &vec![0u8; 1024 * 1024 - 2]).await;
}

#[tokio::test]
async fn concurrent_puts_get_unique_ordered_sequence_numbers() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "conc", 1).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40u8 {
        let c = c.clone();
        tasks.spawn(async move { (i, put(&c, "conc", "k", &[i]).await.1) });
    }
    let mut by_seq = Vec::new();
    while let Some(r) = tasks.join_next().await {
        by_seq.push(r.unwrap());
    }
    by_seq.sort_by(|a, b| seq_cmp(&a.1, &b.1));
    by_seq.dedup_by(|a, b| a.1 == b.1);
    assert_eq!(by_seq.len(), 40, "sequence numbers are unique");
    let it = iterator(c, "conc", &shard(0), ShardIteratorType::TrimHorizon).await;
    let got = read_all(c, it).await;
    let read: Vec<(u8, String)> = got
        .iter()
        .map(|r| (r.data().as_ref()[0], r.sequence_number().to_string()))
        .collect();
    assert_eq!(read, by_seq, "reads follow sequence-number order");
}

#[tokio::test]
async fn get_records_caps_a_response_at_10_mib() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "huge", 1).await;
    for i in 0..12u8 {
        put(c, "huge", "k", &vec![i; 1024 * 1024 - 1]).await;
    }
    let mut it = iterator(c, "huge", &shard(0), ShardIteratorType::TrimHorizon).await;
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let got = c.get_records().shard_iterator(&it).send().await.unwrap();
        calls += 1;
        let bytes: usize = got
            .records()
            .iter()
            .map(|r| r.data().as_ref().len() + 1)
            .sum();
        assert!(bytes <= 10 * 1024 * 1024, "{bytes} bytes in one response");
        if got.records().is_empty() {
            break;
        }
        seen.extend(got.records().iter().map(|r| r.data().as_ref()[0]));
        it = got.next_shard_iterator().unwrap().to_string();
        assert!(calls < 20);
    }
    assert!(calls >= 3, "12 MiB takes at least two full responses");
    assert_eq!(seen, (0..12).collect::<Vec<u8>>());
}

#[tokio::test]
async fn at_timestamp_is_inclusive_to_the_millisecond() {
    let clock = Arc::new(ManualClock::new(1_700_000_001_000));
    let s = start_with_clock(true, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "exact", 1).await;
    for i in 1..=3u8 {
        put(c, "exact", "k", &[i]).await;
        clock.advance_ms(1000);
    }
    // Records arrived at ...001.000, ...002.000, ...003.000; now is ...004.000.
    let read_at = |ms: i64| async move {
        let it = iterator_at_time(c, "exact", &shard(0), DateTime::from_millis(ms)).await;
        read_all(c, it)
            .await
            .iter()
            .map(|r| r.data().as_ref()[0])
            .collect::<Vec<u8>>()
    };
    assert_eq!(read_at(1_700_000_002_000).await, [2, 3]);
    assert_eq!(read_at(1_700_000_001_999).await, [2, 3]);
    assert_eq!(read_at(1_700_000_002_001).await, [3]);
    assert_eq!(read_at(1_700_000_003_500).await, Vec::<u8>::new());
    assert_eq!(read_at(1_700_000_004_000).await, Vec::<u8>::new());
    let err = iterator_request(c, "exact", &shard(0), ShardIteratorType::AtTimestamp)
        .timestamp(DateTime::from_millis(1_700_000_004_001))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn millis_behind_latest_when_behind() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let s = start_with_clock(true, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "behind", 1).await;
    put(c, "behind", "k", b"1").await;
    clock.advance_ms(10_000);
    put(c, "behind", "k", b"2").await;
    let it = iterator(c, "behind", &shard(0), ShardIteratorType::TrimHorizon).await;
    let got = c
        .get_records()
        .shard_iterator(&it)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.records().len(), 1);
    assert_eq!(got.millis_behind_latest(), Some(10_000));
    let got = try_get_records(c, got.next_shard_iterator().unwrap())
        .await
        .unwrap();
    assert_eq!(got.records().len(), 1);
    assert_eq!(got.millis_behind_latest(), Some(0));
}

#[tokio::test]
async fn records_past_retention_are_invisible() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let s = start_with_clock(true, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "ret", 1).await;
    let (_, old_seq) = put(c, "ret", "k", b"old").await;
    let old_it = iterator(c, "ret", &shard(0), ShardIteratorType::TrimHorizon).await;
    clock.advance_ms(23 * 3_600_000);
    put(c, "ret", "k", b"new").await;
    clock.advance_ms(2 * 3_600_000);
    // 25 h after the first record, 2 h after the second.
    assert_eq!(
        read_from(c, "ret", &shard(0), ShardIteratorType::TrimHorizon).await,
        [b"new"]
    );
    let it = iterator_at(
        c,
        "ret",
        &shard(0),
        ShardIteratorType::AtSequenceNumber,
        &old_seq,
    )
    .await;
    let got = read_all(c, it).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data().as_ref(), b"new");
    // An old iterator is expired anyway.
    let err = try_get_records(c, &old_it).await.unwrap_err();
    assert_eq!(code(&err), "ExpiredIteratorException");
}

#[tokio::test]
async fn reads_and_writes_continue_while_deleting() {
    let s = start_with(true, |c| c.streams.delete_delay_ms = 1500).await;
    let c = &s.client;
    create_active(c, "dying", 1).await;
    put(c, "dying", "k", b"1").await;
    let it = iterator(c, "dying", &shard(0), ShardIteratorType::TrimHorizon).await;
    c.delete_stream().stream_name("dying").send().await.unwrap();
    put(c, "dying", "k", b"2").await;
    let got = c.get_records().shard_iterator(&it).send().await.unwrap();
    assert_eq!(got.records().len(), 2);
}

#[tokio::test]
async fn iterators_and_sequence_numbers_survive_a_restart() {
    let s = start().await;
    let c = s.client.clone();
    create_active(&c, "keep", 2).await;
    let (sh, seq) = put(&c, "keep", "b", b"before").await;
    let it = iterator(&c, "keep", &sh, ShardIteratorType::TrimHorizon).await;
    let dir = s.dir.expect("on disk");
    s.running.stop().await.unwrap();
    let running = shoal::server::spawn(test_config(Some(&dir))).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    let got = c.get_records().shard_iterator(&it).send().await.unwrap();
    assert_eq!(got.records().len(), 1);
    assert_eq!(got.records()[0].sequence_number(), seq);
    assert_eq!(got.records()[0].data().as_ref(), b"before");
    let (sh2, seq2) = put(&c, "keep", "b", b"after").await;
    assert_eq!(sh2, sh);
    assert_eq!(seq_cmp(&seq, &seq2), Ordering::Less);
    let it = iterator_at(
        &c,
        "keep",
        &sh,
        ShardIteratorType::AfterSequenceNumber,
        &seq,
    )
    .await;
    let got = read_all(&c, it).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data().as_ref(), b"after");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn max_record_size_is_per_stream() {
    let s = start_in_memory().await;
    let c = &s.client;
    c.create_stream()
        .stream_name("wide")
        .shard_count(1)
        .max_record_size_in_kib(2048)
        .send()
        .await
        .unwrap();
    wait_active(c, "wide").await;
    let d = summary(c, "wide").await;
    assert_eq!(d.max_record_size_in_kib(), Some(2048));
    put(c, "wide", "k", &vec![1u8; 2 * 1024 * 1024 - 1]).await;
    let err = try_put(c, "wide", "k", &vec![1u8; 2 * 1024 * 1024])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c
        .create_stream()
        .stream_name("toowide")
        .shard_count(1)
        .max_record_size_in_kib(10241)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

#[tokio::test]
async fn sequence_numbers_of_a_recreated_stream_are_refused() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let s = start_with_clock(true, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "again", 1).await;
    let (_, seq) = put(c, "again", "k", b"x").await;
    c.delete_stream().stream_name("again").send().await.unwrap();
    clock.advance_ms(5_000);
    create_active(c, "again", 1).await;
    let err = iterator_request(c, "again", &shard(0), ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&seq)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn describe_stream_returns_at_most_100_shards() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "wide", 105).await;
    let d = c
        .describe_stream()
        .stream_name("wide")
        .limit(1000)
        .send()
        .await
        .unwrap();
    let d = d.stream_description().unwrap();
    assert_eq!(d.shards().len(), 100);
    assert!(d.has_more_shards());
    let rest = c
        .describe_stream()
        .stream_name("wide")
        .exclusive_start_shard_id(d.shards()[99].shard_id())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.stream_description().unwrap().shards().len(), 5);
    let l = c.list_shards().stream_name("wide").send().await.unwrap();
    assert_eq!(l.shards().len(), 105);
    // Routing over many shards still lands every key in the shard that owns its hash.
    let p = put(c, "wide", "b", b"x").await;
    let owner = l
        .shards()
        .iter()
        .find(|s| {
            let r = s.hash_key_range().unwrap();
            let h = u128::from_str_radix("92eb5ffee6ae2fec3ad71c777531578f", 16).unwrap();
            r.starting_hash_key().parse::<u128>().unwrap() <= h
                && h <= r.ending_hash_key().parse::<u128>().unwrap()
        })
        .unwrap();
    assert_eq!(p.0, owner.shard_id());
}

#[tokio::test]
async fn put_records_over_10_mib_in_total_fails_whole() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "total", 2).await;
    let entries = |n: usize| -> Vec<PutRecordsRequestEntry> {
        (0..n)
            .map(|i| {
                entry(
                    if i % 2 == 0 { "a" } else { "b" },
                    vec![i as u8; 1024 * 1024 - 1],
                )
            })
            .collect()
    };
    // 11 records of exactly 1 MiB each (data plus key): over the 10 MiB request limit,
    // AWS's current one.
    let err = c
        .put_records()
        .stream_name("total")
        .set_records(Some(entries(11)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    assert_eq!(message(&err), "Records size exceeds 10 MB limit");
    for sh in [shard(0), shard(1)] {
        assert!(read_from(c, "total", &sh, ShardIteratorType::TrimHorizon)
            .await
            .is_empty());
    }
    // Exactly 10 MiB is fine.
    let out = c
        .put_records()
        .stream_name("total")
        .set_records(Some(entries(10)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(out.records().len(), 10);
}

#[tokio::test]
async fn at_timestamp_after_a_restart_on_disk() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    // Small segments and a dense index, so timestamps span several files.
    let tweak = |c: &mut shoal::config::Config| {
        c.storage.segment_max_bytes = 4096;
        c.storage.index_interval_bytes = 64;
    };
    let s = start_with_clock(true, tweak, clock.clone()).await;
    let c = s.client.clone();
    create_active(&c, "tsdisk", 1).await;
    for i in 0..60u8 {
        put(&c, "tsdisk", "k", &vec![i; 300]).await;
        clock.advance_ms(1000);
    }
    let dir = s.dir.expect("on disk");
    s.running.stop().await.unwrap();
    let mut config = test_config(Some(&dir));
    tweak(&mut config);
    let running = shoal::server::spawn_with_clock(config, clock.clone())
        .await
        .unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    for k in [0u8, 1, 17, 33, 59] {
        let at = 1_700_000_000_000 + k as i64 * 1000;
        for (ms, first) in [(at, k), (at - 1, k), (at + 1, k + 1)] {
            let it = iterator_at_time(&c, "tsdisk", &shard(0), DateTime::from_millis(ms)).await;
            let got = c
                .get_records()
                .shard_iterator(&it)
                .limit(1)
                .send()
                .await
                .unwrap();
            let want: Vec<u8> = if first < 60 { vec![first] } else { vec![] };
            let have: Vec<u8> = got.records().iter().map(|r| r.data().as_ref()[0]).collect();
            assert_eq!(have, want, "AT_TIMESTAMP {ms}");
        }
    }
    // Everything is still readable in order after the restart.
    let all = read_from(&c, "tsdisk", &shard(0), ShardIteratorType::TrimHorizon).await;
    assert_eq!(all.len(), 60);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, d)| d == &vec![i as u8; 300]));
    // And past retention, the oldest records are gone from every read path.
    clock.advance_ms(24 * 3_600_000 - 30_500);
    let all = read_from(&c, "tsdisk", &shard(0), ShardIteratorType::TrimHorizon).await;
    assert_eq!(all.first().map(|d| d[0]), Some(30), "{} left", all.len());
    running.stop().await.unwrap();
}
