//! The write scenarios: PutRecord and PutRecords from N connections, optionally at a
//! fixed total rate. Bodies are built once per worker (several, with different keys,
//! so records spread over every shard) and resent; each request is still signed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use super::stats::{micros_since, Stats};
use super::{is_throttle, BenchArgs, Connect, Outcome, Scenario, XorShift};
use crate::client::{error_from_body, Prepared};

/// Distinct bodies each worker cycles through.
const BODIES_PER_WORKER: usize = 8;

fn bodies(args: &BenchArgs, worker: usize) -> Vec<Prepared> {
    let mut rng = XorShift::new(worker as u64 + 1);
    let data = STANDARD.encode(vec![b'x'; args.record_size()]);
    (0..BODIES_PER_WORKER)
        .map(|_| {
            let body = if args.scenario == Scenario::PutRecord {
                json!({
                    "StreamName": args.stream,
                    "PartitionKey": format!("k{}", rng.next()),
                    "Data": data,
                })
            } else {
                let records: Vec<_> = (0..args.batch.clamp(1, 500))
                    .map(|_| json!({ "PartitionKey": format!("k{}", rng.next()), "Data": data }))
                    .collect();
                json!({ "StreamName": args.stream, "Records": records })
            };
            Prepared::new(serde_json::to_vec(&body).expect("serializes"))
        })
        .collect()
}

/// `"FailedRecordCount":N` of a PutRecords answer, without parsing the whole answer.
fn failed_count(body: &[u8]) -> u64 {
    const KEY: &[u8] = b"\"FailedRecordCount\":";
    body.windows(KEY.len())
        .position(|w| w == KEY)
        .map(|i| {
            body[i + KEY.len()..]
                .iter()
                .skip_while(|b| b.is_ascii_whitespace())
                .take_while(|b| b.is_ascii_digit())
                .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'))
        })
        .unwrap_or(0)
}

/// Runs the workers for `duration` (or until `args.records` records are put).
pub async fn run(
    args: &BenchArgs,
    connect: Connect<'_>,
    stats: &Arc<Stats>,
    duration: Duration,
) -> Result<Outcome, String> {
    let put = put_for(args, connect, stats, duration, args.max_records).await?;
    Ok(Outcome {
        elapsed: put,
        latency: stats.percentiles(),
        extra: json!({}),
    })
}

/// The put phase shared with get-records' preload: returns how long it ran.
pub async fn put_for(
    args: &BenchArgs,
    connect: Connect<'_>,
    stats: &Arc<Stats>,
    duration: Duration,
    max_records: u64,
) -> Result<Duration, String> {
    let connections = args.connections();
    let per_request = if args.scenario == Scenario::PutRecord {
        1
    } else {
        args.batch.clamp(1, 500) as u64
    };
    let op = if args.scenario == Scenario::PutRecord {
        "PutRecord"
    } else {
        "PutRecords"
    };
    // Requests per second per worker, when a rate is asked for.
    let interval = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(connections as f64 * per_request as f64 / r));
    let budget = Arc::new(AtomicU64::new(max_records));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for w in 0..connections {
        let client = connect()?;
        let bodies = bodies(args, w);
        let (stats, budget) = (stats.clone(), budget.clone());
        let record_size = args.record_size() as u64;
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(4096);
            let mut next = Instant::now();
            let mut i = 0usize;
            while Instant::now() < deadline {
                let took = budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    b.checked_sub(per_request)
                });
                if took.is_err() {
                    break;
                }
                if let Some(iv) = interval {
                    next += iv;
                    tokio::time::sleep_until(next.into()).await;
                }
                let body = &bodies[i % bodies.len()];
                i += 1;
                let t = Instant::now();
                match client.call_raw(op, body).await {
                    Ok((200, answer)) => {
                        samples.push(micros_since(t));
                        let failed = if op == "PutRecords" {
                            failed_count(&answer)
                        } else {
                            0
                        };
                        let ok = per_request - failed;
                        stats.ok(ok, ok * record_size);
                        stats.throttled.fetch_add(failed, Ordering::Relaxed);
                    }
                    Ok((status, answer)) => {
                        let e = error_from_body(status, &answer);
                        stats.error(is_throttle(&e), || e.to_string());
                    }
                    Err(e) => {
                        stats.error(false, || e.to_string());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                if samples.len() == samples.capacity() {
                    stats.latencies(&samples);
                    samples.clear();
                }
            }
            stats.latencies(&samples);
        }));
    }
    for w in workers {
        w.await.map_err(|e| format!("a worker failed: {e}"))?;
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_counts_are_read_off_the_answer() {
        assert_eq!(
            failed_count(br#"{"FailedRecordCount":12,"Records":[]}"#),
            12
        );
        assert_eq!(failed_count(br#"{"Records":[],"FailedRecordCount": 0}"#), 0);
        assert_eq!(failed_count(b"{}"), 0);
    }
}
