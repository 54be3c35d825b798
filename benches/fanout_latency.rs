//! Put-to-event latency through SubscribeToShard: a producer puts records at a steady
//! rate through aws-sdk-kinesis while a subscription receives them; prints p50/p90/p99
//! and max. A plain `harness = false` bench (criterion reports means, not percentiles).
//! Run: `cargo bench --bench fanout_latency [-- RECORDS RATE_PER_SEC DURABILITY]`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StartingPosition, SubscribeToShardEventStream};
use aws_sdk_kinesis::Client;

fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDBENCH", "secret", None, None, "bench"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let records: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let durability = args.get(2).cloned().unwrap_or_else(|| "sync".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = shoal::config::Config::default();
        config.server.port = 0;
        config.storage.data_dir = dir.path().to_path_buf();
        config.storage.durability = durability.clone();
        config.streams.create_delay_ms = 0;
        config.streams.consumer_create_delay_ms = 0;
        config.limits.throttle = false;
        let running = shoal::server::spawn(config).await.unwrap();
        let c = client(&format!("http://{}", running.addr));
        c.create_stream().stream_name("lat").shard_count(1).send().await.unwrap();
        let arn = c
            .register_stream_consumer()
            .stream_arn("arn:aws:kinesis:us-east-1:000000000000:stream/lat")
            .consumer_name("bench")
            .send()
            .await
            .unwrap()
            .consumer()
            .unwrap()
            .consumer_arn()
            .to_string();
        let mut events = c
            .subscribe_to_shard()
            .consumer_arn(&arn)
            .shard_id("shardId-000000000000")
            .starting_position(StartingPosition::builder().r#type(ShardIteratorType::Latest).build().unwrap())
            .send()
            .await
            .unwrap()
            .event_stream;
        let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; records]));
        let producer = {
            let (c, sent) = (c.clone(), sent.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
                for i in 0..records {
                    tick.tick().await;
                    sent.lock().unwrap()[i] = Some(Instant::now());
                    c.put_record()
                        .stream_name("lat")
                        .partition_key("k")
                        .data(Blob::new((i as u64).to_le_bytes().to_vec()))
                        .send()
                        .await
                        .unwrap();
                }
            })
        };
        let mut latencies = Vec::with_capacity(records);
        let deadline = Instant::now() + Duration::from_secs(60 + records as u64 / rate.max(1));
        while latencies.len() < records && Instant::now() < deadline {
            let Ok(Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(e)))) =
                tokio::time::timeout(Duration::from_secs(10), events.recv()).await
            else {
                break;
            };
            let now = Instant::now();
            for r in e.records() {
                let i = u64::from_le_bytes(r.data().as_ref().try_into().unwrap()) as usize;
                if let Some(t) = sent.lock().unwrap()[i] {
                    latencies.push(now - t);
                }
            }
        }
        producer.await.unwrap();
        latencies.sort();
        println!(
            "SubscribeToShard put-to-event latency, {} records at {rate}/s, durability {durability}: \
             p50 {:?} p90 {:?} p99 {:?} max {:?}",
            latencies.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.90),
            percentile(&latencies, 0.99),
            latencies.last().unwrap()
        );
        running.stop().await.unwrap();
    });
}
