//! `shoal put` and `shoal tail`: records in and out from a terminal or a pipe. `tail`
//! reads every shard of the stream, and when a shard closes (split, merge, scaling) it
//! carries on in the children once all their parents are read, so per-key order holds.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::output::{self, s};
use super::stream::{call, list_shards};
use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// The stream to write to.
    pub name: String,
    /// Partition key (default: a random key per record).
    #[arg(long)]
    pub key: Option<String>,
    /// The record's data; without it, every line of stdin is one record.
    pub data: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// The stream to read.
    pub name: String,
    /// Where to start: trim-horizon, latest, or a time (RFC 3339 or epoch seconds).
    #[arg(long, default_value = "latest")]
    pub from: String,
    /// Stop after this many records.
    #[arg(long)]
    pub max: Option<u64>,
    /// Stop at the end of what each shard holds now, instead of following new records.
    #[arg(long)]
    pub no_follow: bool,
}

/// PutRecords takes at most 500 records and 10 MiB (5 MiB on older Kinesis): batches
/// stay under both.
const BATCH_RECORDS: usize = 500;
const BATCH_BYTES: usize = 4 * 1024 * 1024;

fn partition_key(key: &Option<String>) -> String {
    key.clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

pub async fn put(c: &Client, as_json: bool, args: PutArgs) -> Result<(), String> {
    if let Some(data) = &args.data {
        let input = json!({
            "StreamName": args.name,
            "PartitionKey": partition_key(&args.key),
            "Data": STANDARD.encode(data.as_bytes()),
        });
        let out = call(c, "PutRecord", input).await?;
        if as_json {
            output::json(&out);
        } else {
            output::line(&format!(
                "{}  {}",
                s(&out, "ShardId"),
                s(&out, "SequenceNumber")
            ));
        }
        return Ok(());
    }
    let mut batch: Vec<Value> = Vec::new();
    let (mut bytes, mut sent) = (0usize, 0u64);
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let key = partition_key(&args.key);
        bytes += line.len() + key.len();
        batch.push(json!({ "PartitionKey": key, "Data": STANDARD.encode(line.as_bytes()) }));
        if batch.len() == BATCH_RECORDS || bytes >= BATCH_BYTES {
            sent += put_batch(c, &args.name, std::mem::take(&mut batch)).await?;
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        sent += put_batch(c, &args.name, batch).await?;
    }
    if as_json {
        output::json(&json!({ "StreamName": args.name, "Records": sent }));
    } else {
        output::line(&format!("put {sent} records into {}", args.name));
    }
    Ok(())
}

/// Sends one PutRecords batch, resending the records that failed (throttled) with a
/// growing pause, in their original order.
async fn put_batch(c: &Client, stream: &str, mut records: Vec<Value>) -> Result<u64, String> {
    let total = records.len() as u64;
    for attempt in 0..20u32 {
        let input = json!({ "StreamName": stream, "Records": records });
        let out = match c.call("PutRecords", &input).await {
            Err(e) if e.is_retryable() => {
                backoff(attempt).await;
                continue;
            }
            other => other.map_err(|e| e.to_string())?,
        };
        if out["FailedRecordCount"].as_u64().unwrap_or(0) == 0 {
            return Ok(total);
        }
        let results = out["Records"].as_array().cloned().unwrap_or_default();
        let mut failed = Vec::new();
        for (record, result) in records.into_iter().zip(&results) {
            match result["ErrorCode"].as_str() {
                None => {}
                Some("ProvisionedThroughputExceededException") | Some("InternalFailure") => {
                    failed.push(record)
                }
                Some(code) => return Err(format!("{code}: {}", s(result, "ErrorMessage"))),
            }
        }
        records = failed;
        backoff(attempt).await;
    }
    Err(format!(
        "{} records were still throttled after 20 attempts",
        records.len()
    ))
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(50 << attempt.min(5))).await;
}

/// Where `--from` starts each shard.
fn start_of(from: &str) -> Result<Value, String> {
    Ok(match from.to_ascii_lowercase().as_str() {
        "trim-horizon" | "trim_horizon" => json!({ "ShardIteratorType": "TRIM_HORIZON" }),
        "latest" => json!({ "ShardIteratorType": "LATEST" }),
        _ => json!({ "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": parse_time(from)? }),
    })
}

/// Epoch seconds (fractions allowed) or an RFC 3339 UTC time such as
/// `2026-12-01T10:00:00Z`, as epoch seconds.
fn parse_time(t: &str) -> Result<f64, String> {
    if let Ok(secs) = t.parse::<f64>() {
        return Ok(secs);
    }
    let bad = || {
        format!("--from takes trim-horizon, latest, epoch seconds or an RFC 3339 time (got {t:?})")
    };
    let basic = t.replace(['-', ':'], "");
    let (main, frac) = match basic.trim_end_matches('Z').split_once('.') {
        Some((m, f)) => (m.to_string(), format!("0.{f}")),
        None => (basic.trim_end_matches('Z').to_string(), "0".to_string()),
    };
    let secs = crate::api::sigv4::canonical::parse_amz_date(&format!("{main}Z")).ok_or_else(bad)?;
    Ok(secs as f64 + frac.parse::<f64>().map_err(|_| bad())?)
}

/// One shard being read.
struct Reader {
    shard: String,
    iterator: String,
    last_sequence: Option<String>,
}

pub async fn tail(c: &Client, as_json: bool, args: TailArgs) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    read_records(c, &args, &mut |shard, rec| {
        print_record(&mut out, shard, rec, as_json)
    })
    .await
}

/// Reads the stream as `args` asks, handing each record and its shard to `each`, in
/// per-shard order, a shard's children after it.
async fn read_records(
    c: &Client,
    args: &TailArgs,
    each: &mut dyn FnMut(&str, &Value) -> Result<(), String>,
) -> Result<(), String> {
    let start = start_of(&args.from)?;
    let shards = list_shards(c, &args.name).await?;
    let ids: HashSet<String> = shards
        .iter()
        .map(|sh| s(sh, "ShardId").to_string())
        .collect();
    let parents_of = |sh: &Value| -> Vec<String> {
        ["ParentShardId", "AdjacentParentShardId"]
            .iter()
            .map(|k| s(sh, k).to_string())
            .filter(|p| ids.contains(p))
            .collect()
    };
    // From LATEST only open shards matter; otherwise begin at the shards whose
    // parents are gone (past retention) and reach the rest through ChildShards.
    let first: Vec<&Value> = shards
        .iter()
        .filter(|sh| match start["ShardIteratorType"].as_str() {
            Some("LATEST") => !sh["SequenceNumberRange"]["EndingSequenceNumber"].is_string(),
            _ => parents_of(sh).is_empty(),
        })
        .collect();
    let mut finished: HashSet<String> = HashSet::new();
    let mut started: HashSet<String> = HashSet::new();
    let mut readers = Vec::new();
    for sh in first {
        let id = s(sh, "ShardId").to_string();
        started.insert(id.clone());
        readers.push(open_reader(c, &args.name, &id, &start).await?);
    }
    let mut printed = 0u64;
    while !readers.is_empty() {
        let mut got_any = false;
        let mut next = Vec::with_capacity(readers.len());
        for mut r in readers {
            let limit = args
                .max
                .map(|m| (m - printed).clamp(1, 10_000))
                .unwrap_or(10_000);
            let input = json!({ "ShardIterator": r.iterator, "Limit": limit });
            let page = match c.call("GetRecords", &input).await {
                Ok(p) => p,
                Err(e) if e.is_retryable() => {
                    next.push(r);
                    continue;
                }
                Err(e) if e.code == "ExpiredIteratorException" => {
                    let resume = match &r.last_sequence {
                        Some(seq) => {
                            json!({ "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": seq })
                        }
                        None => start.clone(),
                    };
                    next.push(open_reader(c, &args.name, &r.shard, &resume).await?);
                    continue;
                }
                Err(e) => return Err(e.to_string()),
            };
            let records: &[Value] = page["Records"].as_array().map_or(&[], |r| r.as_slice());
            for rec in records {
                got_any = true;
                each(&r.shard, rec)?;
                r.last_sequence = Some(s(rec, "SequenceNumber").to_string());
                printed += 1;
                if args.max.is_some_and(|m| printed >= m) {
                    return Ok(());
                }
            }
            let caught_up = records.is_empty() && page["MillisBehindLatest"].as_i64() == Some(0);
            match page["NextShardIterator"].as_str() {
                Some(_) if args.no_follow && caught_up => {}
                Some(it) => {
                    r.iterator = it.to_string();
                    next.push(r);
                }
                None => {
                    finished.insert(r.shard.clone());
                    for child in page["ChildShards"].as_array().into_iter().flatten() {
                        let id = s(child, "ShardId").to_string();
                        // A merged child waits for both parents, so per-key order holds.
                        let ready = child["ParentShards"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .all(|p| finished.contains(p));
                        if ready && started.insert(id.clone()) {
                            let from = json!({ "ShardIteratorType": "TRIM_HORIZON" });
                            next.push(open_reader(c, &args.name, &id, &from).await?);
                        }
                    }
                }
            }
        }
        readers = next;
        if !got_any {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// `shoal stream export`: every record the stream holds now, one JSON line each, in
/// per-shard order (parents before children).
pub async fn export(c: &Client, name: String) -> Result<(), String> {
    let args = TailArgs {
        name,
        from: "trim-horizon".into(),
        max: None,
        no_follow: true,
    };
    let mut out = std::io::stdout().lock();
    read_records(c, &args, &mut |shard, rec| {
        print_record(&mut out, shard, rec, true)
    })
    .await
}

/// `shoal stream import`: the lines `export` wrote, written to `name` in their order
/// with their partition keys (new sequence numbers and arrival times).
pub async fn import(c: &Client, as_json: bool, name: String) -> Result<(), String> {
    let mut batch: Vec<Value> = Vec::new();
    let (mut bytes, mut sent) = (0usize, 0u64);
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: Value = serde_json::from_str(&line)
            .map_err(|e| format!("line {}: not a record of `shoal stream export`: {e}", n + 1))?;
        let (Some(key), Some(data)) = (rec["PartitionKey"].as_str(), rec["Data"].as_str()) else {
            return Err(format!("line {}: no PartitionKey or Data", n + 1));
        };
        bytes += key.len() + data.len() * 3 / 4;
        batch.push(json!({ "PartitionKey": key, "Data": data }));
        if batch.len() == BATCH_RECORDS || bytes >= BATCH_BYTES {
            sent += put_batch(c, &name, std::mem::take(&mut batch)).await?;
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        sent += put_batch(c, &name, batch).await?;
    }
    if as_json {
        output::json(&json!({ "StreamName": name, "Records": sent }));
    } else {
        output::line(&format!("imported {sent} records into {name}"));
    }
    Ok(())
}

async fn open_reader(
    c: &Client,
    stream: &str,
    shard: &str,
    start: &Value,
) -> Result<Reader, String> {
    let mut input = start.clone();
    input["StreamName"] = json!(stream);
    input["ShardId"] = json!(shard);
    for attempt in 0..20 {
        match c.call("GetShardIterator", &input).await {
            Ok(out) => {
                return Ok(Reader {
                    shard: shard.to_string(),
                    iterator: s(&out, "ShardIterator").to_string(),
                    last_sequence: None,
                })
            }
            Err(e) if e.is_retryable() => backoff(attempt).await,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("GetShardIterator on {shard} stayed throttled"))
}

fn print_record(
    out: &mut impl Write,
    shard: &str,
    rec: &Value,
    as_json: bool,
) -> Result<(), String> {
    let data = STANDARD.decode(s(rec, "Data")).unwrap_or_default();
    let text = String::from_utf8_lossy(&data);
    let line = if as_json {
        let mut v = json!({
            "ShardId": shard,
            "SequenceNumber": rec["SequenceNumber"],
            "PartitionKey": rec["PartitionKey"],
            "ApproximateArrivalTimestamp": rec["ApproximateArrivalTimestamp"],
            "Data": rec["Data"],
        });
        if let Ok(t) = std::str::from_utf8(&data) {
            v["Text"] = json!(t);
        }
        v.to_string()
    } else {
        format!(
            "{shard}  {}  {}  {}",
            s(rec, "SequenceNumber"),
            s(rec, "PartitionKey"),
            text.trim_end_matches('\n')
        )
    };
    // A closed pipe (`| head`) ends the tail quietly.
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_epoch_seconds() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000.0);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000.0);
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5Z").unwrap(),
            1_700_000_000.5
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(
            start_of("trim-horizon").unwrap()["ShardIteratorType"],
            "TRIM_HORIZON"
        );
    }
}
