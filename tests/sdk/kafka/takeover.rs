//! A status change whose node dies before its timer fires: another node finishes it
//! (`broker::takeover`), so clients carry on through the others.

use std::time::Duration;

use super::{node_with, wait_active};
use crate::common::kafka;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_left_creating_by_a_killed_node_becomes_active_through_another() {
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
}
