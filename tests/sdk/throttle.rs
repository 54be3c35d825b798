//! AWS's throughput limits on an injected clock, so no assertion depends on timing
//! luck: per-shard write and read budgets, the after-effect of a 10 MiB read, per-record
//! failures in PutRecords, and control-plane rate quotas.

use std::sync::Arc;

use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use aws_sdk_kinesis::Client;
use shoal::broker::{Clock, ManualClock, SystemClock};

use crate::common::*;

async fn throttled_server(clock: Arc<ManualClock>) -> TestServer {
    start_with_clock(true, |c| c.limits.throttle = true, clock).await
}

fn entries(n: usize, size: usize) -> Vec<PutRecordsRequestEntry> {
    (0..n)
        .map(|i| entry(format!("k{i}"), vec![b'x'; size]))
        .collect()
}

async fn put_many(c: &Client, stream: &str, n: usize, size: usize) -> (i32, Vec<Option<String>>) {
    let r = c
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries(n, size)))
        .send()
        .await
        .unwrap();
    let codes = r
        .records()
        .iter()
        .map(|e| e.error_code().map(str::to_string))
        .collect();
    (r.failed_record_count().unwrap_or(0), codes)
}

#[tokio::test]
async fn writes_over_a_shards_rate_fail_per_record_and_recover_with_time() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = throttled_server(clock.clone()).await;
    let c = &s.client;
    create_active(c, "w", 1).await;
    // 1000 records per second fit.
    assert_eq!(put_many(c, "w", 500, 10).await.0, 0);
    assert_eq!(put_many(c, "w", 500, 10).await.0, 0);
    // The next ones in the same second do not.
    let r = c
        .put_records()
        .stream_name("w")
        .set_records(Some(entries(3, 10)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.failed_record_count(), Some(3));
    let e = &r.records()[0];
    assert_eq!(
        e.error_code(),
        Some("ProvisionedThroughputExceededException")
    );
    assert_eq!(
        e.error_message(),
        Some(
            "Rate exceeded for shard shardId-000000000000 in stream w under account 000000000000."
        )
    );
    assert!(e.sequence_number().is_none());
    // 300 ms refill 300 records: of 500 the first 300 are written, the rest refused.
    clock.advance_ms(300);
    let (failed, codes) = put_many(c, "w", 500, 10).await;
    assert_eq!(failed, 200);
    assert!(codes[..300].iter().all(Option::is_none));
    assert!(codes[300..]
        .iter()
        .all(|c| c.as_deref() == Some("ProvisionedThroughputExceededException")));

    // Bytes: 1 MiB per second. A full-size record empties the budget.
    clock.advance_ms(1000);
    put(c, "w", "k", &vec![0u8; 1024 * 1024 - 1]).await;
    let e = try_put(c, "w", "k", b"one more").await.unwrap_err();
    assert_eq!(code(&e), "ProvisionedThroughputExceededException");
    clock.advance_ms(1000);
    put(c, "w", "k", b"one more").await;
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn reads_get_five_calls_a_second_and_a_10_mib_read_blocks_the_shard() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let s = throttled_server(clock.clone()).await;
    let c = &s.client;
    create_active(c, "r", 1).await;
    let it = iterator(c, "r", &shard(0), ShardIteratorType::TrimHorizon).await;
    for _ in 0..5 {
        c.get_records().shard_iterator(&it).send().await.unwrap();
    }
    let e = try_get_records(c, &it).await.unwrap_err();
    assert_eq!(code(&e), "ProvisionedThroughputExceededException");
    clock.advance_ms(200);
    c.get_records().shard_iterator(&it).send().await.unwrap();

    // Ten records of ~1 MiB, written one second apart (the write limit).
    for _ in 0..10 {
        clock.advance_ms(1000);
        put(c, "r", "k", &vec![7u8; 1024 * 1024 - 1]).await;
    }
    clock.advance_ms(1000);
    let got = try_get_records(
        c,
        &iterator(c, "r", &shard(0), ShardIteratorType::TrimHorizon).await,
    )
    .await
    .unwrap();
    assert_eq!(got.records().len(), 10, "one call may return up to 10 MiB");
    let next = got.next_shard_iterator().unwrap().to_string();
    // 10 MiB against a 2 MiB/s budget (full at 2 MiB): reads wait about four seconds.
    for wait in [1000, 1000, 1000] {
        clock.advance_ms(wait);
        let e = try_get_records(c, &next).await.unwrap_err();
        assert_eq!(code(&e), "ProvisionedThroughputExceededException");
    }
    clock.advance_ms(1100);
    c.get_records().shard_iterator(&next).send().await.unwrap();

    // GetShardIterator has its own 5 calls per second.
    clock.advance_ms(1000);
    for _ in 0..5 {
        iterator(c, "r", &shard(0), ShardIteratorType::TrimHorizon).await;
    }
    let e = iterator_err(c, "r", &shard(0), ShardIteratorType::Latest).await;
    assert_eq!(code(&e), "ProvisionedThroughputExceededException");
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn control_plane_rates_answer_limit_exceeded() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = throttled_server(clock.clone()).await;
    let c = &s.client;
    for i in 0..5 {
        create_stream(c, &format!("s{i}"), 1).await;
    }
    let e = c
        .create_stream()
        .stream_name("s5")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "LimitExceededException");
    assert!(
        message(&e).contains("Rate exceeded for CreateStream"),
        "{}",
        message(&e)
    );
    clock.advance_ms(200);
    create_stream(c, "s5", 1).await;
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn tag_and_account_operations_have_their_rates() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = throttled_server(clock.clone()).await;
    let c = &s.client;
    c.describe_limits().send().await.unwrap();
    let e = c.describe_limits().send().await.unwrap_err();
    assert_eq!(
        code(&e),
        "LimitExceededException",
        "DescribeLimits: 1 per second"
    );
    clock.advance_ms(1000);
    c.describe_limits().send().await.unwrap();
    for _ in 0..5 {
        c.describe_account_settings().send().await.unwrap();
    }
    let e = c.describe_account_settings().send().await.unwrap_err();
    assert_eq!(code(&e), "LimitExceededException");
    create_stream(c, "t", 1).await;
    for _ in 0..5 {
        c.list_tags_for_stream()
            .stream_name("t")
            .send()
            .await
            .unwrap();
    }
    let e = c
        .list_tags_for_stream()
        .stream_name("t")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "LimitExceededException");
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn no_throttle_turns_every_limit_off() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = start_with_clock(true, |c| c.limits.throttle = false, clock).await;
    let c = &s.client;
    create_active(c, "free", 1).await;
    for _ in 0..6 {
        assert_eq!(put_many(c, "free", 500, 10).await.0, 0);
    }
    let it = iterator(c, "free", &shard(0), ShardIteratorType::TrimHorizon).await;
    for _ in 0..20 {
        c.get_records().shard_iterator(&it).send().await.unwrap();
    }
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn at_most_five_streams_may_be_creating_at_once() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = start_with_clock(
        true,
        |c| {
            c.limits.throttle = true;
            c.streams.create_delay_ms = 60_000;
        },
        clock.clone(),
    )
    .await;
    let c = &s.client;
    for i in 0..5 {
        clock.advance_ms(1000);
        create_stream(c, &format!("c{i}"), 1).await;
    }
    clock.advance_ms(1000);
    let e = c
        .create_stream()
        .stream_name("c5")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "LimitExceededException");
    assert!(message(&e).contains("CREATING"), "{}", message(&e));
    s.running.stop().await.unwrap();
}
