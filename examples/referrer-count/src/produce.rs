//! `referrer-count produce`: synthetic access events at a bounded rate, in PutRecords
//! batches, retrying the entries a call reports as failed (throttled).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;

use crate::client::{code, connect, describe, ensure_stream};
use crate::events::{AccessEvent, Generator};
use crate::Common;

/// PutRecords takes at most 500 records per call.
const MAX_BATCH: usize = 500;

#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Records per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Stop after this many records (0: no limit, stop on --duration or Ctrl-C).
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Stop after this many seconds, even if --count is not reached.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Shards to create the stream with if it does not exist yet.
    #[arg(long, default_value_t = 2)]
    pub shards: i32,
}

pub async fn run(args: ProduceArgs) -> Result<(), String> {
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err("--rate must be a positive number".into());
    }
    let stream = args.common.stream.clone();
    let client = connect(&args.common.endpoint).await;
    let shards = ensure_stream(&client, &stream, args.shards).await?;
    eprintln!(
        "producing to stream {stream} ({shards} open shards) at {} records/s{}{}",
        args.rate,
        if args.count > 0 {
            format!(", {} records", args.count)
        } else {
            String::new()
        },
        args.duration
            .map(|d| format!(", for at most {d} s"))
            .unwrap_or_default(),
    );

    let mut producer = Producer::new(client, stream.clone());
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + Duration::from_secs(d));
    let limit = if args.count == 0 {
        u64::MAX
    } else {
        args.count
    };
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_report = Instant::now();
    let stop = crate::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut stop => {
                eprintln!("interrupted");
                break;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if producer.generated >= limit && producer.retry.is_empty() {
            break;
        }
        // Records due by now at the configured rate, never more than the limit.
        let due = ((started.elapsed().as_secs_f64() * args.rate) as u64).min(limit);
        producer.send_due(due).await?;
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "{} records acknowledged, {} retried after throttling",
                producer.acked, producer.retried
            );
            last_report = Instant::now();
        }
    }
    eprintln!(
        "done: {} records acknowledged by stream {stream} in {:.1} s ({} retried after throttling, {} not sent)",
        producer.acked,
        started.elapsed().as_secs_f64(),
        producer.retried,
        producer.retry.len(),
    );
    for (shard, n) in &producer.per_shard {
        eprintln!("  {shard}: {n}");
    }
    Ok(())
}

struct Producer {
    client: Client,
    stream: String,
    events: Generator,
    /// Events generated so far (sent, or waiting in `retry`).
    generated: u64,
    acked: u64,
    retried: u64,
    /// Entries a call refused (throttled), sent again first.
    retry: Vec<AccessEvent>,
    per_shard: BTreeMap<String, u64>,
}

impl Producer {
    fn new(client: Client, stream: String) -> Self {
        Producer {
            client,
            stream,
            events: Generator::new(),
            generated: 0,
            acked: 0,
            retried: 0,
            retry: Vec::new(),
            per_shard: BTreeMap::new(),
        }
    }

    /// Sends the retries, then new events until `due` were generated, in batches of up
    /// to 500.
    async fn send_due(&mut self, due: u64) -> Result<(), String> {
        loop {
            let mut batch = std::mem::take(&mut self.retry);
            if batch.len() > MAX_BATCH {
                self.retry = batch.split_off(MAX_BATCH);
            }
            while batch.len() < MAX_BATCH && self.generated < due {
                batch.push(self.events.event(now_ms()));
                self.generated += 1;
            }
            if batch.is_empty() {
                return Ok(());
            }
            let had_retries = !self.retry.is_empty();
            let full = batch.len() == MAX_BATCH;
            let refused = self.put(batch).await?;
            // Throttled: leave the rest for the next tick.
            if refused || (!full && !had_retries) {
                return Ok(());
            }
        }
    }

    /// One PutRecords call. Returns whether anything was refused (and queued again).
    async fn put(&mut self, batch: Vec<AccessEvent>) -> Result<bool, String> {
        let entries = batch
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&e.referrer)
                    .data(Blob::new(serde_json::to_vec(e).expect("events serialize")))
                    .build()
                    .expect("data and partition key are set")
            })
            .collect::<Vec<_>>();
        let out = match self
            .client
            .put_records()
            .stream_name(&self.stream)
            .set_records(Some(entries))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => match code(&e) {
                // Whole call throttled or the server briefly away: try again later.
                Some("ProvisionedThroughputExceededException")
                | Some("LimitExceededException")
                | None => {
                    eprintln!("PutRecords failed, will retry: {}", describe(&e));
                    self.retried += batch.len() as u64;
                    self.retry.extend(batch);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return Ok(true);
                }
                Some(_) => return Err(format!("PutRecords failed: {}", describe(&e))),
            },
        };
        let mut refused = false;
        for (event, result) in batch.into_iter().zip(out.records()) {
            match (result.error_code(), result.shard_id()) {
                (Some(_), _) => {
                    refused = true;
                    self.retried += 1;
                    self.retry.push(event);
                }
                (None, shard) => {
                    self.acked += 1;
                    *self
                        .per_shard
                        .entry(shard.unwrap_or("?").to_string())
                        .or_default() += 1;
                }
            }
        }
        Ok(refused)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
