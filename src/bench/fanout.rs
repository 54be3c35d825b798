//! Put-to-receive latency: producers stamp each record with the time it was sent and put
//! at a fixed rate; receivers (SubscribeToShard per consumer and shard, or GetRecords
//! polling per shard) subtract that stamp from the time it arrived. `e2e` runs one
//! receiver per shard; `fanout` runs `--consumers` enhanced fan-out consumers per shard.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::stats::{micros_since, percentiles, Stats};
use super::{
    is_throttle, now_micros, wait_for, BenchArgs, Connect, Outcome, Scenario, Via, XorShift,
};
use crate::api::eventstream;
use crate::client::{error_from_body, Client, Prepared};

/// Latencies of received records, in microseconds, from every receiver.
type Received = Arc<std::sync::Mutex<Vec<u32>>>;

pub async fn run(
    args: &BenchArgs,
    connect: Connect<'_>,
    control: &Client,
    stats: &Arc<Stats>,
    duration: Duration,
) -> Result<Outcome, String> {
    let shards: Vec<String> = crate::cli::list_shards(control, &args.stream)
        .await?
        .iter()
        .filter(|s| !s["SequenceNumberRange"]["EndingSequenceNumber"].is_string())
        .filter_map(|s| s["ShardId"].as_str().map(str::to_string))
        .collect();
    let via = if args.scenario == Scenario::Fanout {
        Via::Subscribe
    } else {
        args.via
    };
    let consumers = if args.scenario == Scenario::Fanout {
        args.consumers.max(1)
    } else {
        1
    };
    let arn = stream_arn(control, &args.stream).await?;
    let mut consumer_arns = Vec::new();
    if via == Via::Subscribe {
        for i in 0..consumers {
            consumer_arns.push(register(control, &arn, &format!("shoal-bench-{i}")).await?);
        }
    }
    let received: Received = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let mut receivers = Vec::new();
    let expected = match via {
        Via::Subscribe => consumer_arns.len() * shards.len(),
        Via::Polling => shards.len(),
    };
    for shard in &shards {
        match via {
            Via::Subscribe => {
                for arn in &consumer_arns {
                    let (c, arn, shard) = (connect()?, arn.clone(), shard.clone());
                    let (received, stop, ready) = (received.clone(), stop.clone(), ready.clone());
                    receivers.push(tokio::spawn(async move {
                        subscribe(&c, &arn, &shard, &received, &stop, &ready).await
                    }));
                }
            }
            Via::Polling => {
                let (c, stream, shard) = (connect()?, args.stream.clone(), shard.clone());
                let (received, stop, ready) = (received.clone(), stop.clone(), ready.clone());
                receivers.push(tokio::spawn(async move {
                    poll(&c, &stream, &shard, &received, &stop, &ready).await
                }));
            }
        }
    }
    let wait_start = Instant::now();
    while ready.load(Ordering::Acquire) < expected {
        if wait_start.elapsed() > Duration::from_secs(30) {
            return Err("receivers did not start within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    produce(args, connect, stats, duration).await?;
    let elapsed = started.elapsed();
    // Let the last records arrive (not counted in the run's time).
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Release);
    for r in receivers {
        let _ = r.await;
    }
    let mut lat = std::mem::take(&mut *received.lock().unwrap_or_else(|p| p.into_inner()));
    let delivered = lat.len();
    let latency = percentiles(&mut lat);
    for (i, _) in consumer_arns.iter().enumerate() {
        let input = json!({ "StreamARN": arn, "ConsumerName": format!("shoal-bench-{i}") });
        let _ = control.call("DeregisterStreamConsumer", &input).await;
    }
    let put_latency = stats.percentiles();
    Ok(Outcome {
        elapsed,
        latency,
        extra: json!({
            "via": format!("{via:?}").to_lowercase(),
            "consumers_per_shard": consumers,
            "delivered_records": delivered,
            "put_latency_ms": { "p50": put_latency.p50, "p99": put_latency.p99, "max": put_latency.max },
        }),
    })
}

async fn stream_arn(c: &Client, stream: &str) -> Result<String, String> {
    let v = c
        .call("DescribeStreamSummary", &json!({ "StreamName": stream }))
        .await
        .map_err(|e| e.to_string())?;
    Ok(v["StreamDescriptionSummary"]["StreamARN"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Registers (or finds) a consumer and waits until it is ACTIVE.
async fn register(c: &Client, stream_arn: &str, name: &str) -> Result<String, String> {
    let input = json!({ "StreamARN": stream_arn, "ConsumerName": name });
    match c.call("RegisterStreamConsumer", &input).await {
        Ok(_) => {}
        Err(e) if e.code == "ResourceInUseException" => {}
        Err(e) => return Err(e.to_string()),
    }
    let v = wait_for(c, "DescribeStreamConsumer", &input, |v| {
        v["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE"
    })
    .await?;
    Ok(v["ConsumerDescription"]["ConsumerARN"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Puts stamped records at `--rate` (default 1000/s) from `--connections` workers.
async fn produce(
    args: &BenchArgs,
    connect: Connect<'_>,
    stats: &Arc<Stats>,
    duration: Duration,
) -> Result<(), String> {
    let connections = args.connections();
    let rate = args.rate.filter(|r| *r > 0.0).unwrap_or(1000.0);
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let deadline = Instant::now() + duration;
    let max_per_worker = args.max_records / connections as u64 + 1;
    let mut workers = Vec::new();
    for w in 0..connections {
        let (client, stats) = (connect()?, stats.clone());
        let (stream, size) = (args.stream.clone(), args.record_size());
        workers.push(tokio::spawn(async move {
            let mut rng = XorShift::new(w as u64 + 7);
            let mut next = Instant::now();
            let mut samples = Vec::new();
            for _ in 0..max_per_worker {
                if Instant::now() >= deadline {
                    break;
                }
                next += interval;
                tokio::time::sleep_until(next.into()).await;
                let mut data = now_micros().to_be_bytes().to_vec();
                data.resize(size, b'x');
                let body = json!({ "StreamName": stream, "PartitionKey": format!("k{}", rng.next()), "Data": STANDARD.encode(&data) });
                let body = Prepared::new(serde_json::to_vec(&body).expect("serializes"));
                let t = Instant::now();
                match client.call_raw("PutRecord", &body).await {
                    Ok((200, _)) => {
                        samples.push(micros_since(t));
                        stats.ok(1, size as u64);
                    }
                    Ok((status, answer)) => {
                        let e = error_from_body(status, &answer);
                        stats.error(is_throttle(&e), || e.to_string());
                    }
                    Err(e) => stats.error(false, || e.to_string()),
                }
            }
            stats.latencies(&samples);
        }));
    }
    for w in workers {
        w.await.map_err(|e| format!("a producer failed: {e}"))?;
    }
    Ok(())
}

/// The latencies of the records in a Records array (JSON values with base64 Data).
fn stamp_latencies(records: &Value, now: u64, out: &mut Vec<u32>) {
    for r in records.as_array().into_iter().flatten() {
        let Some(data) = r["Data"].as_str().and_then(|d| STANDARD.decode(d).ok()) else {
            continue;
        };
        if let Some(stamp) = data
            .get(..8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap()))
        {
            out.push(now.saturating_sub(stamp).min(u32::MAX as u64) as u32);
        }
    }
}

async fn subscribe(
    c: &Client,
    consumer: &str,
    shard: &str,
    received: &Received,
    stop: &AtomicBool,
    ready: &AtomicUsize,
) {
    let mut position = json!({ "Type": "LATEST" });
    let mut counted = false;
    while !stop.load(Ordering::Acquire) {
        let input =
            json!({ "ConsumerARN": consumer, "ShardId": shard, "StartingPosition": position });
        let body = Prepared::new(serde_json::to_vec(&input).expect("serializes"));
        let Ok((200, mut events)) = c.call_streaming("SubscribeToShard", &body).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut buf = BytesMut::new();
        loop {
            let next = tokio::time::timeout(Duration::from_millis(200), events.frame()).await;
            if stop.load(Ordering::Acquire) {
                return;
            }
            let frame = match next {
                Err(_) => continue,
                Ok(Some(Ok(f))) => f,
                Ok(_) => break,
            };
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
            }
            while let Ok(Some((msg, used))) = eventstream::decode(&buf) {
                buf.advance(used);
                if msg.header(":event-type") == Some("initial-response") && !counted {
                    counted = true;
                    ready.fetch_add(1, Ordering::AcqRel);
                }
                if msg.header(":event-type") != Some("SubscribeToShardEvent") {
                    continue;
                }
                let now = now_micros();
                let Ok(event) = serde_json::from_slice::<Value>(&msg.payload) else {
                    continue;
                };
                let mut lat = Vec::new();
                stamp_latencies(&event["Records"], now, &mut lat);
                received
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(lat);
                if let Some(seq) = event["ContinuationSequenceNumber"].as_str() {
                    position = json!({ "Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq });
                }
            }
        }
    }
}

async fn poll(
    c: &Client,
    stream: &str,
    shard: &str,
    received: &Received,
    stop: &AtomicBool,
    ready: &AtomicUsize,
) {
    let start = json!({ "StreamName": stream, "ShardId": shard, "ShardIteratorType": "LATEST" });
    let Ok(v) = c.call("GetShardIterator", &start).await else {
        return;
    };
    let mut iterator = v["ShardIterator"].as_str().unwrap_or_default().to_string();
    ready.fetch_add(1, Ordering::AcqRel);
    while !stop.load(Ordering::Acquire) {
        match c
            .call("GetRecords", &json!({ "ShardIterator": iterator }))
            .await
        {
            Ok(page) => {
                let mut lat = Vec::new();
                stamp_latencies(&page["Records"], now_micros(), &mut lat);
                let empty = lat.is_empty();
                received
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(lat);
                match page["NextShardIterator"].as_str() {
                    Some(next) => iterator = next.to_string(),
                    None => return,
                }
                if empty {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
