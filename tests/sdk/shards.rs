//! ListShards through the SDK: paging with MaxResults and NextToken, the NextToken
//! exclusivity rule, ExclusiveStartShardId, every ShardFilter type, token expiry.

use std::sync::Arc;

use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{ShardFilter, ShardFilterType};
use shoal::broker::ManualClock;

use crate::common::*;

fn ids(shards: &[aws_sdk_kinesis::types::Shard]) -> Vec<String> {
    shards.iter().map(|s| s.shard_id().to_string()).collect()
}

fn expected(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("shardId-{i:012}")).collect()
}

fn filter(kind: ShardFilterType) -> aws_sdk_kinesis::types::builders::ShardFilterBuilder {
    ShardFilter::builder().r#type(kind)
}

#[tokio::test]
async fn list_shards_returns_every_shard_with_ranges() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "ls", 4).await;
    let out = c.list_shards().stream_name("ls").send().await.unwrap();
    assert_eq!(ids(out.shards()), expected(0..4));
    assert!(out.next_token().is_none());
    let first = out.shards()[0].hash_key_range().unwrap();
    assert_eq!(first.starting_hash_key(), "0");
    assert_eq!(
        out.shards()[3].hash_key_range().unwrap().ending_hash_key(),
        "340282366920938463463374607431768211455"
    );
    // ListShards and DescribeStream agree.
    let d = c.describe_stream().stream_name("ls").send().await.unwrap();
    assert_eq!(d.stream_description().unwrap().shards(), out.shards());
}

#[tokio::test]
async fn list_shards_pages_with_max_results_and_next_token() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "pages", 5).await;
    let first = c
        .list_shards()
        .stream_name("pages")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(ids(first.shards()), expected(0..2));
    let mut seen = ids(first.shards());
    let mut token = first.next_token().expect("more pages").to_string();
    let mut pages = 1;
    loop {
        let out = c
            .list_shards()
            .next_token(&token)
            .max_results(2)
            .send()
            .await
            .unwrap();
        pages += 1;
        seen.extend(ids(out.shards()));
        match out.next_token() {
            Some(t) => token = t.to_string(),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected(0..5));
}

#[tokio::test]
async fn next_token_with_stream_name_is_invalid_argument() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "tok", 3).await;
    let first = c
        .list_shards()
        .stream_name("tok")
        .max_results(1)
        .send()
        .await
        .unwrap();
    let token = first.next_token().unwrap().to_string();
    let err = c
        .list_shards()
        .stream_name("tok")
        .next_token(&token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    assert_eq!(
        message(&err),
        "NextToken and StreamName cannot be provided together."
    );
    let err = c
        .list_shards()
        .next_token(&token)
        .exclusive_start_shard_id("shardId-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    assert_eq!(
        message(&err),
        "NextToken and ExclusiveStartShardId cannot be provided together."
    );
    // A garbage token is refused, and so is a call with neither token nor stream.
    let err = c
        .list_shards()
        .next_token("Z2FyYmFnZQ==")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let err = c.list_shards().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn exclusive_start_shard_id_skips_up_to_it() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "ex", 4).await;
    let out = c
        .list_shards()
        .stream_name("ex")
        .exclusive_start_shard_id("shardId-000000000001")
        .send()
        .await
        .unwrap();
    assert_eq!(ids(out.shards()), expected(2..4));
    let out = c
        .list_shards()
        .stream_name("ex")
        .exclusive_start_shard_id("shardId-000000000003")
        .send()
        .await
        .unwrap();
    assert!(out.shards().is_empty());
    assert!(out.next_token().is_none());
}

#[tokio::test]
async fn shard_filters_on_a_fresh_stream() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "flt", 3).await;
    for kind in [
        ShardFilterType::AtLatest,
        ShardFilterType::FromTrimHorizon,
        ShardFilterType::AtTrimHorizon,
    ] {
        let out = list_shards_filtered(c, "flt", filter(kind.clone()).build().unwrap())
            .await
            .unwrap();
        assert_eq!(ids(out.shards()), expected(0..3), "{kind:?}");
    }
    let out = list_shards_filtered(
        c,
        "flt",
        filter(ShardFilterType::AfterShardId)
            .shard_id("shardId-000000000000")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(ids(out.shards()), expected(1..3));
    // AFTER_SHARD_ID without a ShardId is an argument error.
    let err = list_shards_filtered(
        c,
        "flt",
        filter(ShardFilterType::AfterShardId).build().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn timestamp_shard_filters() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "ts", 2).await;
    let now = DateTime::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    for kind in [ShardFilterType::AtTimestamp, ShardFilterType::FromTimestamp] {
        let out = list_shards_filtered(
            c,
            "ts",
            filter(kind.clone()).timestamp(now).build().unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(ids(out.shards()), expected(0..2), "{kind:?}");
    }
    // Before the stream existed no shard was open.
    let long_ago = DateTime::from_secs(1_000_000_000);
    let out = list_shards_filtered(
        c,
        "ts",
        filter(ShardFilterType::AtTimestamp)
            .timestamp(long_ago)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(out.shards().is_empty(), "{:?}", ids(out.shards()));
    // FROM_TIMESTAMP before the trim horizon behaves as FROM_TRIM_HORIZON.
    let out = list_shards_filtered(
        c,
        "ts",
        filter(ShardFilterType::FromTimestamp)
            .timestamp(long_ago)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(ids(out.shards()), expected(0..2));
    // The timestamp filters need a timestamp.
    let err = list_shards_filtered(
        c,
        "ts",
        filter(ShardFilterType::AtTimestamp).build().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn filter_is_carried_in_the_next_token() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "carry", 4).await;
    let first = c
        .list_shards()
        .stream_name("carry")
        .max_results(1)
        .shard_filter(
            filter(ShardFilterType::AfterShardId)
                .shard_id("shardId-000000000001")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ids(first.shards()), expected(2..3));
    let next = c
        .list_shards()
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ids(next.shards()), expected(3..4));
    assert!(next.next_token().is_none());
}

#[tokio::test]
async fn expired_next_token_on_a_manual_clock() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let s = start_with_clock(true, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "exp", 3).await;
    let first = c
        .list_shards()
        .stream_name("exp")
        .max_results(1)
        .send()
        .await
        .unwrap();
    let token = first.next_token().unwrap().to_string();
    // Still fine just before the limit.
    clock.advance_ms(299_000);
    c.list_shards().next_token(&token).send().await.unwrap();
    clock.advance_ms(2_000);
    let err = c.list_shards().next_token(&token).send().await.unwrap_err();
    assert_eq!(code(&err), "ExpiredNextTokenException");
    // ListStreams tokens expire the same way.
    create_active(c, "exp2", 1).await;
    let l = c.list_streams().limit(1).send().await.unwrap();
    let t = l.next_token().unwrap().to_string();
    clock.advance_ms(301_000);
    let err = c.list_streams().next_token(&t).send().await.unwrap_err();
    assert_eq!(code(&err), "ExpiredNextTokenException");
}

#[tokio::test]
async fn list_shards_while_creating_is_resource_in_use() {
    let s = start_with(true, |c| c.streams.create_delay_ms = 1000).await;
    let c = &s.client;
    create_stream(c, "notyet", 1).await;
    let err = c
        .list_shards()
        .stream_name("notyet")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    // The wording DeleteStream uses for the same state (kinesalite's, REFERENCE §5.1).
    assert_eq!(
        message(&err),
        "Stream notyet under account 000000000000 not ACTIVE, instead in state CREATING"
    );
    let err = c
        .list_shards()
        .stream_name("unknown")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn next_token_of_a_deleted_stream_is_not_found() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "short", 2).await;
    let first = c
        .list_shards()
        .stream_name("short")
        .max_results(1)
        .send()
        .await
        .unwrap();
    let token = first.next_token().unwrap().to_string();
    c.delete_stream().stream_name("short").send().await.unwrap();
    let err = c.list_shards().next_token(&token).send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // A token from one region means nothing in another.
    create_active(c, "short", 2).await;
    let first = c
        .list_shards()
        .stream_name("short")
        .max_results(1)
        .send()
        .await
        .unwrap();
    let west = client(&s.endpoint, "eu-west-1");
    let err = west
        .list_shards()
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}
