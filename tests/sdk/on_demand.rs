//! On-demand streams and stream settings: ON_DEMAND streams are not throttled by their
//! shard count and split their hot shards; UpdateStreamMode and UpdateMaxRecordSize.

use std::sync::Arc;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamMode};
use aws_sdk_kinesis::Client;
use shoal::broker::ManualClock;

use crate::common::*;

fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

async fn open_count(c: &Client, name: &str) -> i32 {
    summary(c, name).await.open_shard_count()
}

/// 500 records of ~4 KiB aimed at hash key 0 (the first shard): ~2 MiB.
async fn flood_first_shard(c: &Client, name: &str) -> i32 {
    let entries = (0..500)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("k{i}"))
                .explicit_hash_key("0")
                .data(Blob::new(vec![1u8; 4000]))
                .build()
                .unwrap()
        })
        .collect::<Vec<_>>();
    c.put_records()
        .stream_name(name)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap()
        .failed_record_count()
        .unwrap_or(0)
}

#[tokio::test]
async fn on_demand_streams_split_hot_shards_instead_of_throttling() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = start_with_clock(
        true,
        |c| {
            c.limits.throttle = true;
            c.streams.maintenance_interval_ms = 0;
        },
        clock.clone(),
    )
    .await;
    let c = &s.client;
    create_on_demand(c, "od").await;
    assert_eq!(open_count(c, "od").await, 4);
    let broker = s.running.broker.clone();
    // The first pass only takes a baseline.
    assert_eq!(broker.scale_on_demand().unwrap(), 0);
    // ~4 MiB into one shard in one second: four times a shard's write limit, accepted.
    clock.advance_ms(100);
    assert_eq!(flood_first_shard(c, "od").await, 0);
    assert_eq!(flood_first_shard(c, "od").await, 0);
    clock.advance_ms(900);
    assert_eq!(
        broker.scale_on_demand().unwrap(),
        1,
        "the hot shard is split"
    );
    assert_eq!(open_count(c, "od").await, 5);
    let shards = c.list_shards().stream_name("od").send().await.unwrap();
    let children: Vec<_> = shards
        .shards()
        .iter()
        .filter(|s| s.parent_shard_id() == Some("shardId-000000000000"))
        .collect();
    assert_eq!(children.len(), 2);
    // Quiet shards are left alone.
    clock.advance_ms(10_000);
    assert_eq!(broker.scale_on_demand().unwrap(), 0);
    assert_eq!(open_count(c, "od").await, 5);

    // Provisioned streams with the same load are throttled.
    create_active(c, "prov", 1).await;
    clock.advance_ms(1000);
    assert!(flood_first_shard(c, "prov").await > 0);
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn update_stream_mode_switches_and_keeps_four_shards_on_demand() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "mode", 1).await;
    let on_demand = mode_details(StreamMode::OnDemand);
    c.update_stream_mode()
        .stream_arn(arn("mode"))
        .stream_mode_details(on_demand.clone())
        .send()
        .await
        .unwrap();
    wait_active(c, "mode").await;
    let d = summary(c, "mode").await;
    assert_eq!(
        d.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::OnDemand
    );
    assert_eq!(d.open_shard_count(), 4);
    // Provisioned-only operations are refused now.
    let e = c
        .split_shard()
        .stream_name("mode")
        .shard_to_split("shardId-000000000001")
        .new_starting_hash_key("12345")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = c
        .update_stream_mode()
        .stream_arn(arn("mode"))
        .stream_mode_details(on_demand)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgumentException");
    c.update_stream_mode()
        .stream_arn(arn("mode"))
        .stream_mode_details(mode_details(StreamMode::Provisioned))
        .send()
        .await
        .unwrap();
    let d = summary(c, "mode").await;
    assert_eq!(
        d.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::Provisioned
    );
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn update_max_record_size_raises_the_record_limit() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "big", 1).await;
    let big = vec![9u8; 1536 * 1024];
    let e = try_put(c, "big", "k", &big).await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    c.update_max_record_size()
        .stream_arn(arn("big"))
        .max_record_size_in_kib(2048)
        .send()
        .await
        .unwrap();
    put(c, "big", "k", &big).await;
    let d = summary(c, "big").await;
    assert_eq!(d.max_record_size_in_kib(), Some(2048));
    let e = c
        .update_max_record_size()
        .stream_arn(arn("big"))
        .max_record_size_in_kib(10241)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    s.running.stop().await.unwrap();
}
