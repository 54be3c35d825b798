//! `shoal stream ...`: the operator's view of streams through the Kinesis API. Commands
//! that change a stream wait until it is ACTIVE again, so a script's next command sees
//! the change.

use std::time::Duration;

use clap::Subcommand;
use serde_json::{json, Value};

use super::output::{self, s, Progress};
use crate::client::{Client, ClientError};

#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Create a stream and wait until it is ACTIVE.
    Create {
        /// The new stream's name.
        name: String,
        /// Number of shards (provisioned mode); required unless --on-demand.
        #[arg(long)]
        shards: Option<u32>,
        /// On-demand capacity mode instead of a shard count.
        #[arg(long, conflicts_with = "shards")]
        on_demand: bool,
        /// Return as soon as the server accepted the request.
        #[arg(long)]
        no_wait: bool,
    },
    /// List streams.
    List,
    /// A stream's settings and its shards: hash ranges, states, lineage.
    Describe {
        /// The stream's name.
        name: String,
    },
    /// Delete a stream (and its consumers with --force).
    Delete {
        /// The stream's name.
        name: String,
        /// Also deregister its enhanced fan-out consumers.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        no_wait: bool,
    },
    /// Split a shard in two, at the middle of its hash-key range unless --at is given.
    Split {
        /// The stream's name.
        name: String,
        /// The shard to split (shardId-...).
        shard_id: String,
        /// The first hash key of the upper child (decimal).
        #[arg(long)]
        at: Option<String>,
    },
    /// Merge two adjacent shards.
    Merge {
        /// The stream's name.
        name: String,
        /// One shard (shardId-...).
        shard_a: String,
        /// The shard whose hash-key range adjoins it.
        shard_b: String,
    },
    /// Reshape the stream to N uniform open shards.
    Scale {
        /// The stream's name.
        name: String,
        /// The open shard count to reach.
        #[arg(long)]
        shards: u32,
    },
    /// Set the retention period.
    Retention {
        /// The stream's name.
        name: String,
        /// Hours records are kept (24 to 8760).
        #[arg(long)]
        hours: u32,
    },
    /// Write every record the stream holds now to stdout, one JSON line each, in
    /// per-shard order (to move a stream to another server: `import`).
    Export {
        /// The stream's name.
        name: String,
    },
    /// Write the records of an `export` (read from stdin) into an existing stream, in
    /// order, with their partition keys; they get new sequence numbers and arrival times.
    Import {
        /// The stream's name.
        name: String,
    },
}

pub async fn run(c: &Client, as_json: bool, cmd: StreamCommand) -> Result<(), String> {
    match cmd {
        StreamCommand::Create {
            name,
            shards,
            on_demand,
            no_wait,
        } => {
            let mut input = json!({ "StreamName": name });
            match (on_demand, shards) {
                (true, _) => input["StreamModeDetails"] = json!({ "StreamMode": "ON_DEMAND" }),
                (false, Some(n)) => input["ShardCount"] = json!(n),
                (false, None) => {
                    return Err(
                        "give --shards N for a provisioned stream, or --on-demand".to_string()
                    )
                }
            }
            call(c, "CreateStream", input).await?;
            if !no_wait {
                wait_active(c, &name).await?;
            }
            show_summary(c, &name, as_json).await
        }
        StreamCommand::List => list(c, as_json).await,
        StreamCommand::Describe { name } => describe(c, &name, as_json).await,
        StreamCommand::Delete {
            name,
            force,
            no_wait,
        } => {
            let input = json!({ "StreamName": name, "EnforceConsumerDeletion": force });
            call(c, "DeleteStream", input).await?;
            if !no_wait {
                wait_gone(c, &name).await?;
            }
            if as_json {
                output::json(&json!({ "StreamName": name, "Deleted": true }));
            } else {
                output::line(&format!("deleted stream {name}"));
            }
            Ok(())
        }
        StreamCommand::Split { name, shard_id, at } => {
            let shards = list_shards(c, &name).await?;
            let shard = shards
                .iter()
                .find(|sh| s(sh, "ShardId") == shard_id)
                .ok_or_else(|| format!("stream {name} has no shard {shard_id}"))?;
            let at = match at {
                Some(a) => a,
                None => midpoint(shard)?,
            };
            let input =
                json!({ "StreamName": name, "ShardToSplit": shard_id, "NewStartingHashKey": at });
            call(c, "SplitShard", input).await?;
            wait_active(c, &name).await?;
            show_children(c, &name, &[shard_id.as_str()], as_json).await
        }
        StreamCommand::Merge {
            name,
            shard_a,
            shard_b,
        } => {
            let input = json!({ "StreamName": name, "ShardToMerge": shard_a, "AdjacentShardToMerge": shard_b });
            call(c, "MergeShards", input).await?;
            wait_active(c, &name).await?;
            show_children(c, &name, &[shard_a.as_str(), shard_b.as_str()], as_json).await
        }
        StreamCommand::Scale { name, shards } => {
            let input = json!({ "StreamName": name, "TargetShardCount": shards, "ScalingType": "UNIFORM_SCALING" });
            call(c, "UpdateShardCount", input).await?;
            wait_active(c, &name).await?;
            describe(c, &name, as_json).await
        }
        StreamCommand::Retention { name, hours } => {
            let current = summary(c, &name).await?["RetentionPeriodHours"]
                .as_u64()
                .unwrap_or(24);
            if u64::from(hours) != current {
                let op = if u64::from(hours) > current {
                    "IncreaseStreamRetentionPeriod"
                } else {
                    "DecreaseStreamRetentionPeriod"
                };
                call(
                    c,
                    op,
                    json!({ "StreamName": name, "RetentionPeriodHours": hours }),
                )
                .await?;
                wait_active(c, &name).await?;
            }
            show_summary(c, &name, as_json).await
        }
        StreamCommand::Export { name } => super::records::export(c, name).await,
        StreamCommand::Import { name } => super::records::import(c, as_json, name).await,
    }
}

/// One call, its error turned into the CLI's message.
pub(super) async fn call(c: &Client, op: &str, input: Value) -> Result<Value, String> {
    c.call(op, &input).await.map_err(|e| e.to_string())
}

async fn summary(c: &Client, name: &str) -> Result<Value, String> {
    let out = call(c, "DescribeStreamSummary", json!({ "StreamName": name })).await?;
    Ok(out["StreamDescriptionSummary"].clone())
}

/// Every shard of the stream, open and closed, through ListShards' pages.
pub(crate) async fn list_shards(c: &Client, name: &str) -> Result<Vec<Value>, String> {
    let mut shards = Vec::new();
    let mut input = json!({ "StreamName": name });
    loop {
        let out = call(c, "ListShards", input).await?;
        shards.extend(out["Shards"].as_array().cloned().unwrap_or_default());
        match out["NextToken"].as_str() {
            Some(t) => input = json!({ "NextToken": t }),
            None => return Ok(shards),
        }
    }
}

/// The first hash key of the upper half of `shard`'s range.
fn midpoint(shard: &Value) -> Result<String, String> {
    let range = &shard["HashKeyRange"];
    let parse = |k: &str| -> Result<u128, String> {
        s(range, k)
            .parse()
            .map_err(|_| format!("the server sent a bad {k}"))
    };
    let (start, end) = (parse("StartingHashKey")?, parse("EndingHashKey")?);
    if end <= start {
        return Err(format!(
            "shard {} covers a single hash key and cannot be split",
            s(shard, "ShardId")
        ));
    }
    Ok((start + (end - start) / 2 + 1).to_string())
}

/// Polls until the stream is ACTIVE, showing progress on stderr.
async fn wait_active(c: &Client, name: &str) -> Result<(), String> {
    let mut progress = Progress::new(format!("waiting for stream {name} to become ACTIVE"));
    for _ in 0..2400 {
        let status = summary(c, name).await?["StreamStatus"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if status == "ACTIVE" {
            progress.done("ACTIVE");
            return Ok(());
        }
        progress.tick(&status);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!(
        "stream {name} did not become ACTIVE within 10 minutes"
    ))
}

/// Polls until the stream no longer exists.
async fn wait_gone(c: &Client, name: &str) -> Result<(), String> {
    let mut progress = Progress::new(format!("waiting for stream {name} to be deleted"));
    for _ in 0..2400 {
        match c
            .call("DescribeStreamSummary", &json!({ "StreamName": name }))
            .await
        {
            Err(ClientError { code, .. }) if code == "ResourceNotFoundException" => {
                progress.done("deleted");
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
            Ok(v) => progress.tick(s(&v["StreamDescriptionSummary"], "StreamStatus")),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!("stream {name} was not deleted within 10 minutes"))
}

async fn show_summary(c: &Client, name: &str, as_json: bool) -> Result<(), String> {
    let v = summary(c, name).await?;
    if as_json {
        output::json(&v);
        return Ok(());
    }
    show_summary_of(&v);
    Ok(())
}

async fn list(c: &Client, as_json: bool) -> Result<(), String> {
    let mut summaries = Vec::new();
    let mut input = json!({});
    loop {
        let out = call(c, "ListStreams", input).await?;
        let page = out["StreamSummaries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let last = page.last().map(|v| s(v, "StreamName").to_string());
        summaries.extend(page);
        match (
            out["NextToken"].as_str(),
            out["HasMoreStreams"].as_bool(),
            last,
        ) {
            (Some(t), _, _) => input = json!({ "NextToken": t }),
            (None, Some(true), Some(l)) => input = json!({ "ExclusiveStartStreamName": l }),
            _ => break,
        }
    }
    if as_json {
        output::json(&json!({ "Streams": summaries }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|v| {
            vec![
                s(v, "StreamName").to_string(),
                s(v, "StreamStatus").to_string(),
                s(&v["StreamModeDetails"], "StreamMode").to_string(),
                s(v, "StreamARN").to_string(),
            ]
        })
        .collect();
    output::line(output::table(&["NAME", "STATUS", "MODE", "ARN"], &rows).trim_end());
    Ok(())
}

fn shard_rows(shards: &[Value]) -> Vec<Vec<String>> {
    shards
        .iter()
        .map(|sh| {
            let range = &sh["HashKeyRange"];
            let closed = sh["SequenceNumberRange"]["EndingSequenceNumber"].is_string();
            vec![
                s(sh, "ShardId").to_string(),
                if closed { "CLOSED" } else { "OPEN" }.to_string(),
                s(sh, "ParentShardId").to_string(),
                s(sh, "AdjacentParentShardId").to_string(),
                s(range, "StartingHashKey").to_string(),
                s(range, "EndingHashKey").to_string(),
            ]
        })
        .collect()
}

const SHARD_HEADERS: [&str; 6] = [
    "SHARD",
    "STATE",
    "PARENT",
    "ADJACENT PARENT",
    "START HASH",
    "END HASH",
];

async fn describe(c: &Client, name: &str, as_json: bool) -> Result<(), String> {
    let v = summary(c, name).await?;
    let shards = list_shards(c, name).await?;
    if as_json {
        output::json(&json!({ "Stream": v, "Shards": shards }));
        return Ok(());
    }
    show_summary_of(&v);
    output::line(output::table(&SHARD_HEADERS, &shard_rows(&shards)).trim_end());
    Ok(())
}

fn show_summary_of(v: &Value) {
    output::line(&format!(
        "stream      {}\narn         {}\nstatus      {}\nmode        {}\nretention   {} hours\nopen shards {}\nencryption  {}\nconsumers   {}\n",
        s(v, "StreamName"),
        s(v, "StreamARN"),
        s(v, "StreamStatus"),
        s(&v["StreamModeDetails"], "StreamMode"),
        v["RetentionPeriodHours"],
        v["OpenShardCount"],
        s(v, "EncryptionType"),
        v["ConsumerCount"].as_u64().unwrap_or(0),
    ));
}

/// After a split or merge: the shards whose parents are `parents`.
async fn show_children(
    c: &Client,
    name: &str,
    parents: &[&str],
    as_json: bool,
) -> Result<(), String> {
    let children: Vec<Value> = list_shards(c, name)
        .await?
        .into_iter()
        .filter(|sh| parents.contains(&s(sh, "ParentShardId")))
        .collect();
    if as_json {
        output::json(&json!({ "StreamName": name, "Shards": children }));
    } else {
        output::line(output::table(&SHARD_HEADERS, &shard_rows(&children)).trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_midpoint_halves_the_range() {
        let whole = json!({ "ShardId": "s", "HashKeyRange": {
            "StartingHashKey": "0", "EndingHashKey": u128::MAX.to_string() } });
        assert_eq!(midpoint(&whole).unwrap(), (1u128 << 127).to_string());
        let two = json!({ "ShardId": "s", "HashKeyRange": { "StartingHashKey": "10", "EndingHashKey": "11" } });
        assert_eq!(midpoint(&two).unwrap(), "11");
        let one = json!({ "ShardId": "s", "HashKeyRange": { "StartingHashKey": "10", "EndingHashKey": "10" } });
        assert!(midpoint(&one).is_err());
    }
}
