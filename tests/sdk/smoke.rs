//! The shortest round trip: create, put, get, delete.

use crate::common::*;

#[tokio::test]
async fn create_put_get_delete() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "smoke", 2).await;
    let put = try_put(c, "smoke", "b", b"hello").await.unwrap();
    // MD5("b") is above 2^127: the second of two shards.
    assert_eq!(put.shard_id(), "shardId-000000000001");
    let got = first_batch(c, "smoke", &shard(1)).await;
    assert_eq!(got.records().len(), 1);
    assert_eq!(got.records()[0].data().as_ref(), b"hello");
    assert_eq!(got.records()[0].sequence_number(), put.sequence_number());
    assert!(got.next_shard_iterator().is_some());
    c.delete_stream().stream_name("smoke").send().await.unwrap();
    let err = c
        .describe_stream()
        .stream_name("smoke")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    s.running.stop().await.unwrap();
}
