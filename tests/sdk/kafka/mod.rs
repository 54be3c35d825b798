//! Shoal over Kafka (issue 22, ADR 0005): two Shoal nodes over one Kafka broker that
//! these tests start (`tests/kafka/kafka.sh`), serving the same streams. Each test
//! gets its own topic prefix, so its nodes share a catalog no other test sees.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use aws_sdk_kinesis::Client;

use crate::common::{self as data, client, kafka, ShoalProcess};

mod failover;
mod limits;
mod seals;
mod suite;
mod takeover;

/// One Shoal node over the test's Kafka topics.
struct Node {
    process: ShoalProcess,
    client: Client,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    /// A failing test shows what the node logged last, since its errors stay there.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.process.log.lock().unwrap_or_else(|p| p.into_inner());
            let from = log.len().saturating_sub(30);
            eprintln!(
                "{} logged:\n{}",
                self.process.endpoint,
                log[from..].join("\n")
            );
        }
    }
}

fn node(prefix: &str) -> Node {
    node_on(kafka(), prefix)
}

fn node_on(bootstrap: &str, prefix: &str) -> Node {
    node_with(bootstrap, prefix, &[])
}

/// A node with more settings in its environment (they win over the defaults here).
fn node_with(bootstrap: &str, prefix: &str, more: &[(&str, &str)]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "serve",
        "--port",
        "0",
        "--storage",
        "kafka",
        "--kafka-bootstrap",
        bootstrap,
        "--no-throttle",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ];
    let mut env = vec![
        ("SHOAL_KAFKA_TOPIC_PREFIX", prefix),
        ("SHOAL_STREAMS_UPDATE_DELAY_MS", "1000"),
    ];
    env.extend_from_slice(more);
    let process = ShoalProcess::spawn(&args, &env);
    wait_healthy(&process);
    let client = client(&process.endpoint, "us-east-1");
    Node {
        process,
        client,
        _dir: dir,
    }
}

/// Waits (bounded) until `/health` answers 200: the node has read the catalog.
fn wait_healthy(process: &ShoalProcess) {
    use std::io::{Read, Write};
    let endpoint = &process.endpoint;
    let addr = endpoint.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut reply = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let _ = s.read_to_string(&mut reply);
        }
        if reply.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{endpoint} not healthy: {reply}\n{}",
            process.log.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two nodes and a stream `s` of `shards` shards, created through the first and ACTIVE
/// on both (the second hears of it from the catalog topic).
async fn two_nodes_with_stream(test: &str, shards: i32) -> (Node, Node) {
    let (a, b) = two_nodes(test);
    a.client
        .create_stream()
        .stream_name("s")
        .shard_count(shards)
        .send()
        .await
        .unwrap();
    wait_active(&a.client, "s", Duration::from_secs(10)).await;
    wait_active(&b.client, "s", Duration::from_secs(5)).await;
    (a, b)
}

/// Two nodes sharing a fresh prefix.
fn two_nodes(test: &str) -> (Node, Node) {
    let prefix = format!("t{}.{test}", std::process::id());
    (node(&prefix), node(&prefix))
}

async fn wait_active(c: &Client, stream: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let s = c.describe_stream_summary().stream_name(stream).send().await;
        if let Ok(s) = s {
            if *s.stream_description_summary().unwrap().stream_status() == StreamStatus::Active {
                return start.elapsed();
            }
        }
        assert!(
            start.elapsed() < within,
            "{stream} not ACTIVE within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every record of a shard from TRIM_HORIZON: to its end when closed, else until caught up.
async fn read_shard(c: &Client, stream: &str, shard: &str) -> Vec<(String, Vec<u8>)> {
    let mut it = Some(data::iterator(c, stream, shard, ShardIteratorType::TrimHorizon).await);
    let mut out = Vec::new();
    while let Some(i) = it {
        let got = c.get_records().shard_iterator(&i).send().await.unwrap();
        for r in got.records() {
            out.push((r.sequence_number().to_string(), r.data().as_ref().to_vec()));
        }
        if got.records().is_empty()
            && got.millis_behind_latest() == Some(0)
            && got.next_shard_iterator().is_some()
        {
            break;
        }
        it = got.next_shard_iterator().map(str::to_string);
    }
    out
}

/// Every record of every shard, by sequence number, each shard read through `c`.
async fn read_stream(c: &Client, stream: &str) -> HashMap<String, (String, Vec<u8>)> {
    let mut all = HashMap::new();
    for shard in data::all_shards(c, stream).await {
        for (seq, bytes) in read_shard(c, stream, shard.shard_id()).await {
            let again = all.insert(seq.clone(), (shard.shard_id().to_string(), bytes));
            assert!(again.is_none(), "sequence number {seq} read twice");
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_through_one_node_are_read_through_the_other() {
    let (a, b) = two_nodes_with_stream("rw", 3).await;
    let mut written = HashMap::new();
    for i in 0..60 {
        let body = format!("record {i}").into_bytes();
        let (shard, seq) = data::put(&a.client, "s", &format!("k{i}"), &body).await;
        written.insert(seq, (shard, body));
    }
    let entries: Vec<_> = (0..40)
        .map(|i| data::entry(format!("p{i}"), format!("batch {i}")))
        .collect();
    let out = b
        .client
        .put_records()
        .stream_name("s")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    for (i, r) in out.records().iter().enumerate() {
        let body = format!("batch {i}").into_bytes();
        let seq = r.sequence_number().unwrap().to_string();
        written.insert(seq, (r.shard_id().unwrap().to_string(), body));
    }
    // Each node reads every record, at the sequence number it was acknowledged with.
    assert_eq!(read_stream(&b.client, "s").await, written);
    assert_eq!(read_stream(&a.client, "s").await, written);

    // AT_SEQUENCE_NUMBER through the other node starts at that record.
    let (seq, (shard, body)) = written.iter().next().unwrap();
    let it = data::iterator_at(
        &b.client,
        "s",
        shard,
        ShardIteratorType::AtSequenceNumber,
        seq,
    )
    .await;
    let got = b
        .client
        .get_records()
        .shard_iterator(it)
        .send()
        .await
        .unwrap();
    assert_eq!(got.records()[0].data().as_ref(), &body[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_splits_of_one_shard_on_two_nodes_have_one_winner() {
    let (a, b) = two_nodes_with_stream("split", 2).await;
    let split = |c: &Client, at: &str| {
        c.split_shard()
            .stream_name("s")
            .shard_to_split("shardId-000000000000")
            .new_starting_hash_key(at)
            .send()
    };
    let (ra, rb) = tokio::join!(split(&a.client, "1000"), split(&b.client, "2000"));
    let wins = [ra.is_ok(), rb.is_ok()];
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{ra:?} {rb:?}");
    let loser = match (ra, rb) {
        (Err(e), _) | (_, Err(e)) => e,
        _ => unreachable!("one split failed"),
    };
    // While the winner's stream is UPDATING the loser hears ResourceInUseException;
    // a loser that took longer than that finds the shard already split, as on AWS.
    let code = loser.as_service_error().and_then(|e| e.meta().code());
    assert!(
        matches!(
            code,
            Some("ResourceInUseException" | "InvalidArgumentException")
        ),
        "{loser:?}"
    );
    // Both nodes end with the winner's shards.
    for c in [&a.client, &b.client] {
        wait_active(c, "s", Duration::from_secs(5)).await;
        let shards = data::all_shards(c, "s").await;
        assert_eq!(shards.len(), 4, "{shards:?}");
        let child = &shards[2];
        let expected = if wins[0] { "1000" } else { "2000" };
        assert_eq!(
            child.hash_key_range().unwrap().ending_hash_key(),
            &(expected.parse::<u128>().unwrap() - 1).to_string()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_one_node_during_a_split_on_the_other_are_kept_once() {
    let (a, b) = two_nodes_with_stream("seal", 1).await;
    // Node B writes without pause while node A splits the only shard, and goes on until
    // 20 of its writes have landed in the children (bounded: 5000 writes).
    let writer = {
        let c = b.client.clone();
        tokio::spawn(async move {
            let mut acked = HashMap::new();
            let mut in_children = 0;
            for i in 0..5000 {
                let body = format!("w{i}").into_bytes();
                let (shard, seq) = data::put(&c, "s", &format!("key{i}"), &body).await;
                in_children += usize::from(shard != "shardId-000000000000");
                acked.insert(seq, (shard, body));
                if in_children == 20 {
                    break;
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.client
        .split_shard()
        .stream_name("s")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((u128::MAX / 2).to_string())
        .send()
        .await
        .unwrap();
    let acked = writer.await.unwrap();
    let shards = data::all_shards(&a.client, "s").await;
    assert_eq!(shards.len(), 3);
    let parent_end: u128 = shards[0]
        .sequence_number_range()
        .unwrap()
        .ending_sequence_number()
        .expect("the parent is closed")
        .parse()
        .unwrap();
    // Every acknowledged record is read once, where and as it was acknowledged, and
    // nothing else is: no record appended after the seal is left in the parent.
    let read = read_stream(&a.client, "s").await;
    assert_eq!(read, acked);
    let in_children = acked
        .values()
        .filter(|(s, _)| s != "shardId-000000000000")
        .count();
    assert_eq!(in_children, 20, "the split never reached node B");
    for (seq, (shard, _)) in &acked {
        if shard == "shardId-000000000000" {
            assert!(seq.parse::<u128>().unwrap() <= parent_end);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_acknowledged_and_the_other_serves_on() {
    let (mut a, b) = two_nodes_with_stream("kill", 2).await;
    let mut acked = HashMap::new();
    for i in 0..50 {
        let body = vec![i as u8; 100];
        let (shard, seq) = data::put(&a.client, "s", &format!("k{i}"), &body).await;
        acked.insert(seq, (shard, body));
    }
    a.process.child.kill().unwrap();
    a.process.child.wait().unwrap();
    assert_eq!(read_stream(&b.client, "s").await, acked);
    // The survivor keeps taking writes, and a node started afresh sees them all.
    let (shard, seq) = data::put(&b.client, "s", "after", b"after").await;
    acked.insert(seq, (shard, b"after".to_vec()));
    let c = node(&format!("t{}.kill", std::process::id()));
    wait_active(&c.client, "s", Duration::from_secs(5)).await;
    assert_eq!(read_stream(&c.client, "s").await, acked);
    assert_eq!(acked.len(), 51, "a sequence number was given twice");
}

/// The seal protocol at the storage layer, with node B's catalog held back: B appends
/// to a shard after node A has recorded its seal and written the fence, but before B
/// has applied that change. The append lands behind the fence, so it must come back
/// `Sealed` (for the broker to re-route), never acknowledged in the parent.
#[test]
fn an_append_landing_behind_another_nodes_fence_is_refused() {
    use shoal::storage::catalog::{Catalog, CatalogOp};
    use shoal::storage::kafka::{Cluster, KafkaCatalog, KafkaLogStore, KafkaOptions};
    use shoal::storage::log::{LogStore, RecordIn};
    use shoal::storage::StorageError;
    use std::sync::{Arc, Condvar, Mutex};

    let prefix = format!("t{}.fence", std::process::id());
    let connect = || {
        let mut o = KafkaOptions::new(kafka());
        o.topic_prefix = prefix.clone();
        Cluster::connect(o).unwrap()
    };
    let (ca, cb) = (connect(), connect());
    let (cat_a, cat_b) = (
        KafkaCatalog::open(ca.clone()).unwrap(),
        KafkaCatalog::open(cb.clone()).unwrap(),
    );
    cat_a.load().unwrap();
    cat_b.load().unwrap();
    let logs_a = KafkaLogStore::new(ca, cat_a.barrier());
    let logs_b = KafkaLogStore::new(cb, cat_b.barrier());
    let (la, lb) = (logs_a.create(1).unwrap(), logs_b.open(1).unwrap());
    cat_a.follow(Box::new(|_| {}));
    // Node B applies changes the way the broker does, once the gate opens.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    {
        let (gate, lb) = (gate.clone(), lb.clone());
        cat_b.follow(Box::new(move |ops| {
            let (open, cv) = &*gate;
            let mut g = open.lock().unwrap();
            while !*g {
                g = cv.wait(g).unwrap();
            }
            for op in ops {
                match op {
                    CatalogOp::PutSetting { .. } => drop(lb.seal()),
                    CatalogOp::ShardEnd { end_offset, .. } => lb.ends_at(*end_offset),
                    _ => {}
                }
            }
        }));
    }
    let rec = |d: &str| RecordIn {
        key: bytes::Bytes::from_static(b"k"),
        data: bytes::Bytes::copy_from_slice(d.as_bytes()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let wait = |a: shoal::storage::log::Appended| runtime.block_on(a.durable.wait());
    let (before, _) = wait(la.append(1, &[rec("before")]).unwrap())
        .unwrap()
        .unwrap();
    // A seals: the change first, then the fence, then where the log ends.
    la.seal().unwrap();
    cat_a
        .commit(&[CatalogOp::PutSetting {
            name: "seal/1".into(),
            value: Vec::new(),
        }])
        .unwrap();
    let end = la
        .seal_recorded()
        .unwrap()
        .expect("a shared log settles its end");
    assert!(end > before);
    cat_a
        .commit(&[CatalogOp::ShardEnd {
            key: "s".into(),
            log_id: 1,
            end_offset: end,
        }])
        .unwrap();
    // B has not applied either change: it takes the append, which lands behind the fence.
    let late = lb.append(2, &[rec("late")]).unwrap();
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
        })
    };
    match wait(late) {
        Err(StorageError::Sealed(1)) => {}
        other => panic!("an append behind the fence was answered {other:?}"),
    }
    opener.join().unwrap();
    // Readers on either node stop at the fence: the late record is in no one's shard.
    for log in [&la, &lb] {
        let batch = log.read(0, 100, 1 << 20).unwrap();
        let data: Vec<_> = batch.records.iter().map(|r| r.data.to_vec()).collect();
        assert_eq!(data, vec![b"before".to_vec()]);
        assert_eq!(batch.end_offset, end);
    }
}
