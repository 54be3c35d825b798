//! Retention with an injected clock: expired records are never returned (TRIM_HORIZON
//! and AT_TIMESTAMP move forward), a retention pass deletes whole segments and the
//! files are gone, raising retention brings nothing back, and closed shards past
//! retention disappear from listings and from disk.

use std::path::Path;
use std::sync::Arc;

use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use shoal::broker::ManualClock;

use crate::common::*;

const HOUR_MS: i64 = 3_600_000;

fn files_under(dir: &Path, ext: &str) -> usize {
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                n += files_under(&p, ext);
            } else if p.extension().is_some_and(|x| x == ext) {
                n += 1;
            }
        }
    }
    n
}

async fn put_batch(c: &Client, stream: &str, tag: &str, n: usize) {
    for i in 0..n {
        put(
            c,
            stream,
            "k",
            format!("{tag}-{i}-{}", "x".repeat(200)).as_bytes(),
        )
        .await;
    }
}

async fn first_data(
    c: &Client,
    stream: &str,
    shard: &str,
    kind: ShardIteratorType,
    ts: Option<i64>,
) -> Option<String> {
    let mut req = iterator_request(c, stream, shard, kind);
    if let Some(ms) = ts {
        req = req.timestamp(DateTime::from_millis(ms));
    }
    let it = req.send().await.unwrap();
    let got = try_get_records(c, it.shard_iterator().unwrap())
        .await
        .unwrap();
    got.records().first().map(|r| {
        String::from_utf8_lossy(r.data().as_ref())
            .split('-')
            .take(2)
            .collect::<Vec<_>>()
            .join("-")
    })
}

async fn retention_error(c: &Client, increase: bool, hours: i32) -> (String, String) {
    let e = if increase {
        let r = c
            .increase_stream_retention_period()
            .stream_name("ret")
            .retention_period_hours(hours)
            .send()
            .await;
        let e = r.unwrap_err();
        (code(&e), message(&e))
    } else {
        let r = c
            .decrease_stream_retention_period()
            .stream_name("ret")
            .retention_period_hours(hours)
            .send()
            .await;
        let e = r.unwrap_err();
        (code(&e), message(&e))
    };
    e
}

#[tokio::test]
async fn expired_records_vanish_and_their_segments_are_deleted() {
    let t0 = 1_800_000_000_000;
    let clock = Arc::new(ManualClock::new(t0));
    let s = start_with_clock(
        true,
        |c| {
            c.storage.segment_max_bytes = 4096;
            c.streams.maintenance_interval_ms = 0;
        },
        clock.clone(),
    )
    .await;
    let c = &s.client;
    create_active(c, "ret", 1).await;
    let shard = "shardId-000000000000";
    put_batch(c, "ret", "old", 60).await;
    clock.advance_ms(23 * HOUR_MS);
    put_batch(c, "ret", "mid", 60).await;
    clock.advance_ms(2 * HOUR_MS);

    // "old" is 25 hours old now: invisible to every read path.
    assert_eq!(
        first_data(c, "ret", shard, ShardIteratorType::TrimHorizon, None)
            .await
            .as_deref(),
        Some("mid-0")
    );
    assert_eq!(
        first_data(c, "ret", shard, ShardIteratorType::AtTimestamp, Some(t0))
            .await
            .as_deref(),
        Some("mid-0")
    );

    // Raising retention does not bring it back.
    c.increase_stream_retention_period()
        .stream_name("ret")
        .retention_period_hours(48)
        .send()
        .await
        .unwrap();
    assert_eq!(
        first_data(c, "ret", shard, ShardIteratorType::TrimHorizon, None)
            .await
            .as_deref(),
        Some("mid-0")
    );
    let d = summary(c, "ret").await;
    assert_eq!(d.retention_period_hours(), 48);

    // The retention pass deletes the expired segments from disk.
    let logs = s.dir.as_ref().unwrap().path().join("logs");
    let before = files_under(&logs, "log");
    let pass = s.running.broker.enforce_retention().unwrap();
    // Whole 4 KiB segments of the ~12.6 KB of expired records go; the one shared with
    // newer records stays.
    assert!(pass.bytes_freed > 8000, "freed {} bytes", pass.bytes_freed);
    let after = files_under(&logs, "log");
    assert!(after < before, "segment files {before} -> {after}");
    assert_eq!(
        first_data(c, "ret", shard, ShardIteratorType::TrimHorizon, None)
            .await
            .as_deref(),
        Some("mid-0")
    );

    // AWS's errors for out-of-range values and for moving the wrong way.
    let (code_, msg) = retention_error(c, true, 8761).await;
    assert_eq!(code_, "InvalidArgumentException");
    assert!(
        msg.contains("Maximum allowed retention period is 8760 hours"),
        "{msg}"
    );
    let (_, msg) = retention_error(c, true, 30).await;
    assert!(
        msg.contains("can not be shorter than existing retention period (48 hours)"),
        "{msg}"
    );
    let (_, msg) = retention_error(c, false, 23).await;
    assert!(
        msg.contains("Minimum allowed retention period is 24 hours"),
        "{msg}"
    );
    let (_, msg) = retention_error(c, false, 100).await;
    assert!(
        msg.contains("can not be longer than existing retention period (48 hours)"),
        "{msg}"
    );
    c.decrease_stream_retention_period()
        .stream_name("ret")
        .retention_period_hours(24)
        .send()
        .await
        .unwrap();
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn closed_shards_past_retention_leave_listings_and_disk() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = start_with_clock(
        true,
        |c| c.streams.maintenance_interval_ms = 0,
        clock.clone(),
    )
    .await;
    let c = &s.client;
    create_active(c, "ret", 1).await;
    put_batch(c, "ret", "parent", 5).await;
    c.split_shard()
        .stream_name("ret")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let logs = s.dir.as_ref().unwrap().path().join("logs");
    let dirs = || std::fs::read_dir(&logs).unwrap().count();
    assert_eq!(dirs(), 3);
    clock.advance_ms(23 * HOUR_MS);
    assert_eq!(
        s.running.broker.enforce_retention().unwrap().shards_removed,
        0
    );
    clock.advance_ms(2 * HOUR_MS);
    assert_eq!(
        s.running.broker.enforce_retention().unwrap().shards_removed,
        1
    );
    let listed = c.list_shards().stream_name("ret").send().await.unwrap();
    let ids: Vec<&str> = listed.shards().iter().map(|s| s.shard_id()).collect();
    assert_eq!(ids, ["shardId-000000000001", "shardId-000000000002"]);
    let d = c.describe_stream().stream_name("ret").send().await.unwrap();
    assert_eq!(d.stream_description().unwrap().shards().len(), 2);
    assert_eq!(dirs(), 2, "the expired shard's log directory is removed");
    let e = iterator_err(c, "ret", &shard(0), ShardIteratorType::TrimHorizon).await;
    assert_eq!(code(&e), "ResourceNotFoundException");
    // Children whose parent expired are the oldest shards now.
    let at_trim = list_shards_filtered(
        c,
        "ret",
        aws_sdk_kinesis::types::ShardFilter::builder()
            .r#type(aws_sdk_kinesis::types::ShardFilterType::AtTrimHorizon)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(at_trim.shards().len(), 2);
    s.running.stop().await.unwrap();
}
