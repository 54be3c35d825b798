//! Faults a running server meets, on a simulated disk: a full disk refuses writes with a
//! clear 503 while reads go on, `/health` and `/metrics` say why, and writes resume by
//! themselves once space is freed; a failed sync turns `/health` to 503, and a restart
//! after a power cut recovers every acknowledged record, of encrypted streams too.

use std::sync::Arc;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::ShardIteratorType;
use shoal::broker::SystemClock;
use shoal::server::Running;
use shoal::storage::fs::sim::{Fault, SimFs};

use crate::common::*;

/// A server with its data dir on `sim`.
async fn serve_on(sim: &Arc<SimFs>) -> (Running, aws_sdk_kinesis::Client) {
    serve_with(sim, |_| {}).await
}

async fn serve_with(
    sim: &Arc<SimFs>,
    tweak: impl FnOnce(&mut shoal::config::Config),
) -> (Running, aws_sdk_kinesis::Client) {
    let mut config = test_config(None);
    tweak(&mut config);
    config.storage.in_memory = false;
    config.storage.data_dir = "/data".into();
    let running = shoal::server::spawn_on(config, Arc::new(SystemClock), sim.clone())
        .await
        .expect("server starts");
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    (running, c)
}

async fn health(running: &Running) -> (u16, serde_json::Value) {
    let r = raw(running.addr, "GET /health HTTP/1.1\r\n", b"").await;
    (r.status, r.json())
}

async fn metric(running: &Running, name: &str) -> String {
    let r = raw(running.addr, "GET /metrics HTTP/1.1\r\n", b"").await;
    let text = String::from_utf8(r.body).unwrap();
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .to_string()
}

/// PutRecord over raw HTTP, so the SDK's retries do not hide the answer.
async fn put_raw(running: &Running, stream: &str, data: &[u8]) -> Resp {
    use base64::Engine;
    let body = serde_json::json!({
        "StreamName": stream,
        "PartitionKey": "k",
        "Data": base64::engine::general_purpose::STANDARD.encode(data),
    });
    kinesis_call(
        running.addr,
        "application/x-amz-json-1.1",
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        "PutRecord",
        body.to_string().as_bytes(),
    )
    .await
}

async fn all_records(c: &aws_sdk_kinesis::Client, stream: &str) -> Vec<Vec<u8>> {
    let it = iterator(c, stream, &shard(0), ShardIteratorType::TrimHorizon).await;
    read_all(c, it)
        .await
        .into_iter()
        .map(|r| r.data().as_ref().to_vec())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_and_writes_resume_once_space_is_freed() {
    let sim = SimFs::new();
    let (running, c) = serve_on(&sim).await;
    create_active(&c, "full", 1).await;
    let mut acked = Vec::new();
    // Room for a few of these records, then none.
    sim.set_capacity(Some(sim.used_bytes() + (1 << 20)));
    let refused = loop {
        let data = vec![acked.len() as u8; 100 << 10];
        let r = put_raw(&running, "full", &data).await;
        if r.status != 200 {
            break r;
        }
        acked.push(data);
        assert!(acked.len() < 100, "the disk never filled");
    };
    assert_eq!(
        refused.status,
        503,
        "{:?}",
        String::from_utf8_lossy(&refused.body)
    );
    let body = refused.json();
    assert_eq!(body["__type"], "ServiceUnavailableException");
    assert!(
        body["message"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
    let (status, h) = health(&running).await;
    assert_eq!(
        (status, h["status"].as_str()),
        (503, Some("degraded")),
        "{h}"
    );
    assert!(
        h["reason"].as_str().unwrap().contains("disk is full"),
        "{h}"
    );
    assert_eq!(
        metric(&running, "shoal_storage_disk_full").await,
        "shoal_storage_disk_full 1"
    );
    assert_eq!(
        metric(&running, "shoal_storage_writable").await,
        "shoal_storage_writable 0"
    );
    // Reads go on.
    assert_eq!(all_records(&c, "full").await, acked);

    sim.set_capacity(None);
    let (status, h) = health(&running).await;
    assert_eq!(status, 200, "{h}");
    let again = b"after the space came back".to_vec();
    let r = put_raw(&running, "full", &again).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    acked.push(again);
    assert_eq!(
        metric(&running, "shoal_storage_disk_full").await,
        "shoal_storage_disk_full 0"
    );

    // Nothing acknowledged was lost, across a power cut too.
    running.stop().await.unwrap();
    let image = sim.crash(7);
    let (running, c) = serve_on(&image).await;
    assert_eq!(all_records(&c, "full").await, acked);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_turns_health_to_503_and_a_restart_recovers_everything_acknowledged() {
    let sim = SimFs::new();
    let (running, c) = serve_on(&sim).await;
    create_active(&c, "sick", 1).await;
    let mut acked = Vec::new();
    for i in 0..20u8 {
        let data = vec![i; 300];
        c.put_record()
            .stream_name("sick")
            .partition_key("k")
            .data(Blob::new(data.clone()))
            .send()
            .await
            .unwrap();
        acked.push(data);
    }
    sim.fail_syncs(Some(Fault::Eio));
    let r = put_raw(&running, "sick", b"never acknowledged").await;
    assert_eq!(r.status, 503, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["__type"], "ServiceUnavailableException");
    let (status, h) = health(&running).await;
    assert_eq!((status, h["status"].as_str()), (503, Some("failed")), "{h}");
    assert!(h["reason"].as_str().unwrap().contains("failed"), "{h}");
    // The disk stays bad through the stop; then the machine loses power.
    let _stop_reports_the_failure = running.stop().await;
    sim.fail_syncs(None);
    let image = sim.crash(11);
    let (running, c) = serve_on(&image).await;
    assert_eq!(health(&running).await.0, 200);
    let got = all_records(&c, "sick").await;
    assert_eq!(
        got[..acked.len()],
        acked[..],
        "every acknowledged record, in order"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reshard_the_catalog_could_not_record_leaves_the_parent_writable() {
    let sim = SimFs::new();
    let (running, c) = serve_on(&sim).await;
    create_active(&c, "whole", 1).await;
    put(&c, "whole", "k", b"before").await;
    sim.fail_path(Some(("catalog.tmp", Fault::Enospc)));
    let split = c
        .split_shard()
        .stream_name("whole")
        .shard_to_split(shard(0))
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await;
    assert!(
        split.is_err(),
        "the split was not recorded, so it must fail"
    );
    let shards = all_shards(&c, "whole").await;
    assert_eq!(shards.len(), 1, "no child shard appeared");
    // The parent was sealed for the split, and takes writes again.
    put(&c, "whole", "k", b"after a failed split").await;
    let data = all_records(&c, "whole").await;
    assert_eq!(
        data,
        vec![b"before".to_vec(), b"after a failed split".to_vec()]
    );
    sim.fail_path(None);
    c.split_shard()
        .stream_name("whole")
        .shard_to_split(shard(0))
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .expect("a split once the disk has room");
    assert_eq!(all_shards(&c, "whole").await.len(), 3);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reshard_the_disk_cannot_take_at_the_end_of_updating_takes_effect_when_it_can() {
    let sim = SimFs::new();
    let (running, c) = serve_with(&sim, |c| c.streams.update_delay_ms = 200).await;
    create_active(&c, "later", 1).await;
    c.split_shard()
        .stream_name("later")
        .shard_to_split(shard(0))
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .expect("the split is accepted");
    sim.fail_path(Some(("catalog.tmp", Fault::Enospc)));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        summary(&c, "later").await.stream_status().as_str(),
        "UPDATING"
    );
    assert_eq!(all_shards(&c, "later").await.len(), 1);
    let (in_parent, _) = put(&c, "later", "k", b"still open").await;
    assert_eq!(in_parent, shard(0));
    sim.fail_path(None);
    wait_active(&c, "later").await;
    assert_eq!(all_shards(&c, "later").await.len(), 3);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_log_the_disk_cannot_make_at_the_end_of_updating_is_made_later() {
    let sim = SimFs::new();
    let (running, c) = serve_with(&sim, |c| c.streams.update_delay_ms = 200).await;
    create_active(&c, "kids", 1).await;
    c.split_shard()
        .stream_name("kids")
        .shard_to_split(shard(0))
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .expect("the split is accepted");
    // The stream's log is 1 and its children's are 2 and 3: 2 is made, 3 is refused,
    // so the attempt must take 2 away again before the next one makes both.
    sim.fail_path(Some(("00000000000000000003", Fault::Enospc)));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        summary(&c, "kids").await.stream_status().as_str(),
        "UPDATING"
    );
    assert_eq!(all_shards(&c, "kids").await.len(), 1);
    put(&c, "kids", "k", b"in the parent").await;
    sim.fail_path(None);
    wait_active(&c, "kids").await;
    assert_eq!(all_shards(&c, "kids").await.len(), 3);
    let (child, _) = put(&c, "kids", "k", b"in a child").await;
    let it = iterator(&c, "kids", &child, ShardIteratorType::TrimHorizon).await;
    assert_eq!(read_all(&c, it).await[0].data().as_ref(), b"in a child");
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_keeps_every_acknowledged_record_of_an_encrypted_stream() {
    let sim = SimFs::new();
    let (running, c) = serve_on(&sim).await;
    create_active(&c, "sealed", 1).await;
    start_encryption(&c, "sealed", "alias/aws/kinesis")
        .await
        .unwrap();
    let mut acked = Vec::new();
    for i in 0..30u8 {
        let data = vec![i; 200];
        c.put_record()
            .stream_name("sealed")
            .partition_key(format!("k{i}"))
            .data(Blob::new(data.clone()))
            .send()
            .await
            .unwrap();
        acked.push(data);
    }
    // The power goes while the server runs: only what was synced is on the image.
    let image = sim.crash(5);
    running.stop().await.unwrap();
    let (running, c) = serve_on(&image).await;
    let it = iterator(&c, "sealed", &shard(0), ShardIteratorType::TrimHorizon).await;
    let got = read_all(&c, it).await;
    let data: Vec<Vec<u8>> = got.iter().map(|r| r.data().as_ref().to_vec()).collect();
    assert_eq!(
        data, acked,
        "every acknowledged record, decrypted, in order"
    );
    assert!(got
        .iter()
        .all(|r| r.encryption_type() == Some(&aws_sdk_kinesis::types::EncryptionType::Kms)));
    running.stop().await.unwrap();
}
