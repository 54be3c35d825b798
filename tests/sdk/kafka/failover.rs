//! Losing a Kafka broker under load: a three-broker cluster of its own, since the
//! shared one-broker cluster cannot lose one.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{node_on, read_stream, wait_active};
use crate::common::{self as data, start_kafka, KAFKA_SH};

/// Three brokers (replication factor 3, `min.insync.replicas` 2): the one leading the
/// catalog is killed while a node writes through another; nothing acknowledged is lost,
/// and writes go on once Kafka has moved its leaders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_one_of_three_brokers_under_load_loses_nothing_acknowledged() {
    use shoal::storage::kafka::{Cluster, KafkaOptions};
    const WRITING: Duration = Duration::from_secs(25);
    const KILL_AT: Duration = Duration::from_secs(3);
    let dir = std::env::temp_dir().join(format!("shoal-kafka3-{}", std::process::id()));
    let bootstrap = start_kafka(&dir, 3);
    let prefix = format!("t{}.brokers", std::process::id());
    let (a, b) = (node_on(&bootstrap, &prefix), node_on(&bootstrap, &prefix));
    a.client
        .create_stream()
        .stream_name("s")
        .shard_count(2)
        .send()
        .await
        .unwrap();
    wait_active(&a.client, "s", Duration::from_secs(10)).await;
    wait_active(&b.client, "s", Duration::from_secs(5)).await;
    let mut opts = KafkaOptions::new(bootstrap.clone());
    opts.topic_prefix = prefix.clone();
    let cluster = Cluster::connect(opts).unwrap();
    let victim = cluster.leader_of(&cluster.catalog_topic()).unwrap();
    let writer = {
        let c = b.client.clone();
        tokio::spawn(async move {
            let (mut acked, mut failed, mut last_ack) = (HashMap::new(), 0, Duration::ZERO);
            let start = Instant::now();
            let mut i = 0;
            while start.elapsed() < WRITING && i < 20_000 {
                let body = format!("b{i}").into_bytes();
                match data::try_put(&c, "s", &format!("k{i}"), &body).await {
                    Ok(out) => {
                        let seq = out.sequence_number().to_string();
                        acked.insert(seq, (out.shard_id().to_string(), body));
                        last_ack = start.elapsed();
                    }
                    Err(_) => failed += 1,
                }
                i += 1;
            }
            (acked, failed, last_ack)
        })
    };
    tokio::time::sleep(KILL_AT).await;
    let killed = Command::new("bash")
        .arg(KAFKA_SH)
        .arg("kill")
        .arg(&dir)
        .arg(victim.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let (mut acked, failed, last_ack) = writer.await.unwrap();
    eprintln!(
        "broker {victim} killed: {} writes acknowledged, {failed} failed, the last at {last_ack:?}",
        acked.len()
    );
    // Kafka notices a dead broker within its session timeout (9 s) and moves leaders;
    // writes were taken again well before the window closed.
    assert!(
        last_ack > KILL_AT + Duration::from_secs(12),
        "no write acknowledged after {last_ack:?}"
    );
    let (shard, seq) = data::put(&b.client, "s", "after", b"after").await;
    acked.insert(seq, (shard, b"after".to_vec()));
    let read = read_stream(&a.client, "s").await;
    let lost: Vec<_> = acked
        .iter()
        .filter(|(seq, rec)| read.get(*seq) != Some(rec))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not read back: {lost:?}");
    // A put answered with an error (or retried by the SDK after one) may still have
    // landed, as on AWS: such records are extra copies of what was sent, never other data.
    let extra: Vec<_> = read
        .keys()
        .filter(|seq| !acked.contains_key(*seq))
        .collect();
    eprintln!("{} unacknowledged copies read", extra.len());
    for seq in extra {
        let body = String::from_utf8_lossy(&read[seq].1);
        assert!(body.starts_with('b'), "{seq} holds {body:?}, never written");
    }
    let _ = Command::new("bash")
        .arg(KAFKA_SH)
        .arg("stop")
        .arg(&dir)
        .status();
}
