//! A shard's limits hold for the stream, not per node: two nodes over one catalog tell
//! each other what they took (`broker::usage`). The clock is injected and shared, so
//! buckets refill only when the test moves it; the only waits are for a report to
//! cross Kafka.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use shoal::broker::{Clock, ManualClock, SystemClock};

use super::wait_active;
use crate::common::{self as data, kafka, start_with_clock, TestServer};

/// Long enough for a report (sent every 100 ms) to reach the other node.
const HEARD: Duration = Duration::from_millis(1500);

async fn throttled_node(prefix: &str, clock: Arc<ManualClock>) -> (TestServer, Client) {
    let s = start_with_clock(
        true,
        |c| {
            c.limits.throttle = true;
            c.storage.store = "kafka".into();
            c.kafka.bootstrap = kafka().into();
            c.kafka.topic_prefix = prefix.into();
        },
        clock,
    )
    .await;
    // A refused call is the answer under test, not something to try again.
    let conf = s
        .client
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    let client = Client::from_conf(conf);
    (s, client)
}

/// Records written, of `n` sent in one PutRecords.
async fn written(c: &Client, n: usize) -> usize {
    let entries = (0..n).map(|i| data::entry(format!("k{i}"), "x")).collect();
    let out = c
        .put_records()
        .stream_name("s")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    n - out.failed_record_count().unwrap_or(0) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_hold_a_shard_to_one_budget() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let prefix = format!("t{}.limits", std::process::id());
    let (_a, a) = throttled_node(&prefix, clock.clone()).await;
    let (_b, b) = throttled_node(&prefix, clock.clone()).await;
    data::create_stream(&a, "s", 1).await;
    wait_active(&a, "s", Duration::from_secs(10)).await;
    wait_active(&b, "s", Duration::from_secs(5)).await;

    // Node A takes the whole second's 1000 records; once B has heard, it takes none.
    assert_eq!(written(&a, 500).await + written(&a, 500).await, 1000);
    tokio::time::sleep(HEARD).await;
    assert_eq!(
        written(&b, 500).await,
        0,
        "B wrote past A's use of the budget"
    );

    // A second later both buckets refill; what B takes first is A's no longer.
    clock.advance_ms(1000);
    assert_eq!(written(&b, 500).await + written(&b, 100).await, 600);
    tokio::time::sleep(HEARD).await;
    assert_eq!(written(&a, 500).await, 400);

    // Reads: five GetRecords calls per second, whichever node serves them.
    let it = data::iterator(
        &a,
        "s",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await;
    for _ in 0..5 {
        a.get_records()
            .shard_iterator(&it)
            .limit(1)
            .send()
            .await
            .unwrap();
    }
    let it = data::iterator(
        &b,
        "s",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await;
    tokio::time::sleep(HEARD).await;
    let refused = b
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("ProvisionedThroughputExceededException")
    );
}
