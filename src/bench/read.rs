//! The get-records scenario: preload the stream with PutRecords, then drain every shard
//! from TRIM_HORIZON with GetRecords (10000 records a call) until each is caught up.
//! Answers are parsed borrowing their strings, so the tool's own parsing stays cheap
//! next to the server's encoding.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::stats::{micros_since, Stats};
use super::{is_throttle, write, BenchArgs, Connect, Outcome};
use crate::api::validate::decoded_len;
use crate::client::{error_from_body, Client, Prepared};

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<Rec<'a>>,
    #[serde(rename = "NextShardIterator", borrow)]
    next: Option<Cow<'a, str>>,
    #[serde(rename = "MillisBehindLatest")]
    behind: Option<i64>,
}

#[derive(Deserialize)]
struct Rec<'a> {
    #[serde(rename = "Data", borrow)]
    data: Cow<'a, str>,
}

pub async fn run(
    args: &BenchArgs,
    connect: Connect<'_>,
    stats: &Arc<Stats>,
) -> Result<Outcome, String> {
    let preload = Arc::new(Stats::default());
    let took = write::put_for(
        args,
        connect,
        &preload,
        Duration::from_secs(600),
        args.records.min(args.max_records),
    )
    .await?;
    let loaded = preload.records.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "[get-records] preloaded {loaded} records of {} bytes in {:.1}s",
        args.record_size(),
        took.as_secs_f64()
    );
    let control = connect()?;
    let shards: Vec<String> = crate::cli::list_shards(&control, &args.stream)
        .await?
        .iter()
        .filter_map(|s| s["ShardId"].as_str().map(str::to_string))
        .collect();
    let workers = args.connections().min(shards.len()).max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mine: Vec<String> = shards.iter().skip(w).step_by(workers).cloned().collect();
        let (client, stats, stream) = (connect()?, stats.clone(), args.stream.clone());
        tasks.push(tokio::spawn(async move {
            for shard in mine {
                drain(&client, &stream, &shard, &stats).await;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("a reader failed: {e}"))?;
    }
    Ok(Outcome {
        elapsed: started.elapsed(),
        latency: stats.percentiles(),
        extra: json!({ "preloaded_records": loaded, "preload_s": took.as_secs_f64() }),
    })
}

async fn drain(c: &Client, stream: &str, shard: &str, stats: &Stats) {
    let start =
        json!({ "StreamName": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON" });
    let mut iterator = match c.call("GetShardIterator", &start).await {
        Ok(v) => v["ShardIterator"].as_str().unwrap_or_default().to_string(),
        Err(e) => return stats.error(false, || e.to_string()),
    };
    let mut samples = Vec::new();
    // Bounded: a shard that never catches up still stops after this many calls.
    for _ in 0..1_000_000 {
        let body = Prepared::new(
            serde_json::to_vec(&json!({ "ShardIterator": iterator, "Limit": 10000 }))
                .expect("serializes"),
        );
        let t = Instant::now();
        let (status, answer) = match c.call_raw("GetRecords", &body).await {
            Ok(r) => r,
            Err(e) => return stats.error(false, || e.to_string()),
        };
        if status != 200 {
            let e = error_from_body(status, &answer);
            let throttled = is_throttle(&e);
            stats.error(throttled, || e.to_string());
            if !throttled {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        samples.push(micros_since(t));
        let page: Page = match serde_json::from_slice(&answer) {
            Ok(p) => p,
            Err(e) => return stats.error(false, || format!("GetRecords answer: {e}")),
        };
        let bytes: u64 = page
            .records
            .iter()
            .map(|r| decoded_len(&r.data) as u64)
            .sum();
        stats.ok(page.records.len() as u64, bytes);
        let caught_up = page.records.is_empty() && page.behind.unwrap_or(0) == 0;
        match page.next {
            Some(next) if !caught_up => iterator = next.into_owned(),
            _ => break,
        }
    }
    stats.latencies(&samples);
}
