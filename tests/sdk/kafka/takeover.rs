//! A status change whose node dies before its timer fires: another node finishes it
//! (`broker::takeover`), a pending reshard included, so clients carry on through the
//! others.

use std::time::Duration;

use super::{node_with, wait_active};
use crate::common::kafka;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_left_creating_or_updating_by_a_killed_node_become_active_through_another() {
    let prefix = format!("t{}.takeover", std::process::id());
    let env = [
        ("SHOAL_STREAMS_CREATE_DELAY_MS", "3000"),
        ("SHOAL_STREAMS_MAINTENANCE_INTERVAL_MS", "500"),
    ];
    let (mut a, b) = (
        node_with(kafka(), &prefix, &env),
        node_with(kafka(), &prefix, &env),
    );
    a.client
        .create_stream()
        .stream_name("s")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    // A dies with the stream CREATING and its timer pending.
    a.process.child.kill().unwrap();
    a.process.child.wait().unwrap();
    // B finishes it once it has waited past the delay (3 s) and the grace (10 s).
    let took = wait_active(&b.client, "s", Duration::from_secs(30)).await;
    assert!(took >= Duration::from_secs(3), "ACTIVE after {took:?}");
    crate::common::put(&b.client, "s", "k", b"after").await;

    // C accepts a split and dies with the stream UPDATING: B takes the split into
    // effect, so the parent C left open closes and the children open.
    let env = [
        ("SHOAL_STREAMS_UPDATE_DELAY_MS", "3000"),
        ("SHOAL_STREAMS_MAINTENANCE_INTERVAL_MS", "500"),
    ];
    let mut c = node_with(kafka(), &prefix, &env);
    c.client
        .split_shard()
        .stream_name("s")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    c.process.child.kill().unwrap();
    c.process.child.wait().unwrap();
    wait_active(&b.client, "s", Duration::from_secs(30)).await;
    let shards = crate::common::all_shards(&b.client, "s").await;
    assert_eq!(shards.len(), 3, "{shards:?}");
    let (child, _) = crate::common::put(&b.client, "s", "k", b"in a child").await;
    assert_ne!(child, "shardId-000000000000");
}
