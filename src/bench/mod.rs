//! `shoal bench`: a load generator that is a client of the Kinesis API (any endpoint,
//! SigV4-signed), so Shoal and the emulators it is compared with are measured by the
//! same tool on the same machine. Every run is bounded in time and in count; it prints
//! a progress line each second on stderr and one JSON line with the figures on stdout.

mod fanout;
mod read;
mod stats;
mod write;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Client, ClientError};
pub use stats::{Percentiles, Stats};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Concurrent single PutRecord calls.
    PutRecord,
    /// PutRecords batches (500 records by default).
    PutRecords,
    /// Preload the stream, then drain it from TRIM_HORIZON across all shards.
    GetRecords,
    /// Put-to-receive latency at a fixed rate, through SubscribeToShard or polling.
    E2e,
    /// N enhanced fan-out consumers per shard, at a fixed rate.
    Fanout,
}

impl Scenario {
    /// The name it is given on the command line (`put-record`, ...).
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    Subscribe,
    Polling,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    pub scenario: Scenario,
    /// Stream to use; created with --shards if missing (and then deleted at the end).
    #[arg(long, default_value = "shoal-bench")]
    pub stream: String,
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    /// Concurrent connections (default: 16 for put-record, 4 otherwise).
    #[arg(long)]
    pub connections: Option<usize>,
    /// Bytes of data per record (default: 100 for put-record, 1024 otherwise).
    #[arg(long)]
    pub record_size: Option<usize>,
    /// Records per PutRecords call.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Seconds to run (the put, e2e and fanout scenarios); at most 3600.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Records per second in all (default: as fast as possible; 1000 for e2e and fanout).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Records to preload for get-records.
    #[arg(long, default_value_t = 200_000)]
    pub records: u64,
    /// The most records any scenario puts, whatever the duration.
    #[arg(long, default_value_t = 100_000_000)]
    pub max_records: u64,
    /// Enhanced fan-out consumers per shard (fanout).
    #[arg(long, default_value_t = 2)]
    pub consumers: usize,
    /// How e2e receives: SubscribeToShard or GetRecords polling.
    #[arg(long, value_enum, default_value_t = Via::Subscribe)]
    pub via: Via,
    /// Keep the stream at the end.
    #[arg(long)]
    pub keep: bool,
    /// Encrypt the stream with this KMS key first (e.g. alias/aws/kinesis), to
    /// measure what encryption at rest costs.
    #[arg(long, value_name = "KEY_ID")]
    pub encrypt: Option<String>,
    /// A name for the target in the JSON line (e.g. shoal, kinesalite).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// How a scenario reaches the server: one client per connection.
pub type Connect<'a> = &'a (dyn Fn() -> Result<Client, String> + Sync);

/// What every scenario reports.
pub struct Outcome {
    pub elapsed: Duration,
    pub latency: Percentiles,
    /// Scenario-specific figures for the JSON line.
    pub extra: Value,
}

impl BenchArgs {
    pub fn connections(&self) -> usize {
        self.connections
            .unwrap_or(if self.scenario == Scenario::PutRecord {
                16
            } else {
                4
            })
            .max(1)
    }

    pub fn record_size(&self) -> usize {
        self.record_size
            .unwrap_or(if self.scenario == Scenario::PutRecord {
                100
            } else {
                1024
            })
            .max(8)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.clamp(0.1, 3600.0))
    }
}

/// Runs a scenario and prints its figures: a summary, or one JSON line with `as_json`.
pub async fn run(args: BenchArgs, as_json: bool, connect: Connect<'_>) -> Result<(), String> {
    let control = connect()?;
    let created = ensure_stream(&control, &args.stream, args.shards).await?;
    if let Some(key) = &args.encrypt {
        encrypt(&control, &args.stream, key).await?;
    }
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let label = args.scenario.name();
    let progress = {
        let (stats, stop) = (stats.clone(), stop.clone());
        tokio::spawn(async move { stats::progress(&stats, Instant::now(), &stop, &label).await })
    };
    let result = match args.scenario {
        Scenario::PutRecord | Scenario::PutRecords => {
            write::run(&args, connect, &stats, args.duration()).await
        }
        Scenario::GetRecords => read::run(&args, connect, &stats).await,
        Scenario::E2e | Scenario::Fanout => {
            fanout::run(&args, connect, &control, &stats, args.duration()).await
        }
    };
    stop.store(true, Ordering::Relaxed);
    let _ = progress.await;
    if created && !args.keep {
        let input = json!({ "StreamName": args.stream, "EnforceConsumerDeletion": true });
        // Gone before this run ends, so a run started right after makes it afresh.
        let deleted = match control.call("DeleteStream", &input).await {
            Ok(_) => wait_gone(&control, &args.stream).await,
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = deleted {
            eprintln!("shoal bench: could not delete stream {}: {e}", args.stream);
        }
    }
    let outcome = result?;
    let report = report(&args, &stats, &outcome);
    if as_json {
        crate::cli::output::line(&report.to_string());
    } else {
        crate::cli::output::line(&summary(&report));
    }
    let (records, throttled) = (
        stats.records.load(Ordering::Relaxed),
        stats.throttled.load(Ordering::Relaxed),
    );
    if throttled > records {
        eprintln!(
            "shoal bench: {throttled} records or calls were throttled against {records} \
             written: these figures measure the server's throughput limits, not its speed \
             (start Shoal with --no-throttle to measure the server)"
        );
    }
    if let Some(e) = stats
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        eprintln!("shoal bench: first error: {e}");
    }
    Ok(())
}

fn report(args: &BenchArgs, stats: &Stats, o: &Outcome) -> Value {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let (requests, records, bytes) = (
        load(&stats.requests),
        load(&stats.records),
        load(&stats.bytes),
    );
    let mut v = json!({
        "label": args.label,
        "scenario": args.scenario.name(),
        "shards": args.shards,
        "connections": args.connections(),
        "record_size": args.record_size(),
        "elapsed_s": (secs * 1000.0).round() / 1000.0,
        "requests": requests,
        "records": records,
        "bytes": bytes,
        "requests_per_sec": (requests as f64 / secs).round(),
        "records_per_sec": (records as f64 / secs).round(),
        "mib_per_sec": ((bytes as f64 / secs / (1024.0 * 1024.0)) * 100.0).round() / 100.0,
        "latency_ms": {
            "p50": o.latency.p50, "p90": o.latency.p90, "p99": o.latency.p99,
            "max": o.latency.max, "samples": o.latency.count,
        },
        "throttled": load(&stats.throttled),
        "errors": load(&stats.errors),
    });
    if let Some(key) = &args.encrypt {
        v["encryption_key"] = json!(key);
    }
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), &o.extra) {
        obj.extend(extra.clone());
    }
    v
}

/// The report as a few lines for a person.
fn summary(r: &Value) -> String {
    let l = &r["latency_ms"];
    let mut out = format!(
        "{}: {} s, {} connections, {} shards, {}-byte records\n\
         \x20 requests   {} ({}/s)\n\
         \x20 records    {} ({}/s, {} MiB/s)\n\
         \x20 latency    p50 {} ms, p90 {} ms, p99 {} ms, max {} ms\n\
         \x20 throttled  {}, errors {}",
        r["scenario"].as_str().unwrap_or_default(),
        r["elapsed_s"],
        r["connections"],
        r["shards"],
        r["record_size"],
        r["requests"],
        r["requests_per_sec"],
        r["records"],
        r["records_per_sec"],
        r["mib_per_sec"],
        l["p50"],
        l["p90"],
        l["p99"],
        l["max"],
        r["throttled"],
        r["errors"],
    );
    const SHOWN: [&str; 13] = [
        "label",
        "scenario",
        "shards",
        "connections",
        "record_size",
        "elapsed_s",
        "requests",
        "records",
        "bytes",
        "requests_per_sec",
        "records_per_sec",
        "mib_per_sec",
        "latency_ms",
    ];
    for (k, v) in r.as_object().into_iter().flatten() {
        if !SHOWN.contains(&k.as_str()) && !matches!(k.as_str(), "throttled" | "errors") {
            out.push_str(&format!("\n  {k:<10} {v}"));
        }
    }
    out
}

/// Waits (at most two minutes) until the stream no longer exists.
async fn wait_gone(c: &Client, name: &str) -> Result<(), String> {
    let describe = json!({ "StreamName": name });
    for _ in 0..1200 {
        match c.call("DescribeStreamSummary", &describe).await {
            Err(e) if e.code == "ResourceNotFoundException" => return Ok(()),
            Err(e) if !e.is_retryable() => return Err(e.to_string()),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Err(format!("stream {name} was still there after 2 minutes"))
}

/// Creates the stream unless it exists, and waits until it is ACTIVE. True when this
/// run created it.
async fn ensure_stream(c: &Client, name: &str, shards: u32) -> Result<bool, String> {
    let describe = json!({ "StreamName": name });
    // A server that is still opening its store answers 503 to everything: started
    // together with it, a run waits for it (at most two minutes) instead of failing.
    let mut first = c.call("DescribeStreamSummary", &describe).await;
    for _ in 0..1200 {
        match &first {
            Err(e) if e.is_retryable() => {}
            _ => break,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        first = c.call("DescribeStreamSummary", &describe).await;
    }
    // A stream still DELETING (an earlier run's) is waited out and made afresh.
    if let Ok(v) = &first {
        if v["StreamDescriptionSummary"]["StreamStatus"] == "DELETING" {
            wait_gone(c, name).await?;
            first = c.call("DescribeStreamSummary", &describe).await;
        }
    }
    let created = match first {
        Ok(_) => false,
        Err(e) if e.code == "ResourceNotFoundException" => {
            let input = json!({ "StreamName": name, "ShardCount": shards });
            c.call("CreateStream", &input)
                .await
                .map_err(|e| e.to_string())?;
            true
        }
        Err(e) => return Err(e.to_string()),
    };
    wait_active(c, name).await?;
    Ok(created)
}

/// Waits (at most two minutes) until the stream is ACTIVE.
async fn wait_active(c: &Client, name: &str) -> Result<(), String> {
    let describe = json!({ "StreamName": name });
    wait_for(c, "DescribeStreamSummary", &describe, |v| {
        v["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
    })
    .await
    .map(|_| ())
}

/// Starts encryption with `key` (a no-op when the stream already has it) and waits
/// until the stream is ACTIVE again.
async fn encrypt(c: &Client, name: &str, key: &str) -> Result<(), String> {
    let input = json!({ "StreamName": name, "EncryptionType": "KMS", "KeyId": key });
    c.call("StartStreamEncryption", &input)
        .await
        .map_err(|e| e.to_string())?;
    wait_active(c, name).await
}

/// Polls `op` until `done` holds (at most two minutes).
pub(crate) async fn wait_for(
    c: &Client,
    op: &str,
    input: &Value,
    done: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    for _ in 0..1200 {
        match c.call(op, input).await {
            Ok(v) if done(&v) => return Ok(v),
            Ok(_) => {}
            Err(e) if e.is_retryable() => {}
            Err(e) => return Err(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "{op} did not reach the awaited state within 2 minutes"
    ))
}

/// Whether an error is a throughput refusal (counted as a throttle, not an error).
pub(crate) fn is_throttle(e: &ClientError) -> bool {
    e.code == "ProvisionedThroughputExceededException" || e.code == "LimitExceededException"
}

/// A small, fast, seedable generator for partition keys (no rand dependency).
pub(crate) struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Microseconds since the Unix epoch (the e2e scenarios stamp records with it).
pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
