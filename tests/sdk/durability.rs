//! Durability through the real binary: a clean restart keeps every record byte for
//! byte, and a SIGKILL under concurrent PutRecords load loses nothing acknowledged and
//! never hands out a sequence number twice.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;

use crate::common::*;

/// Every record of a stream, per shard, in order: (sequence number, key, data).
pub async fn read_all(
    c: &Client,
    stream: &str,
) -> BTreeMap<String, Vec<(String, String, Vec<u8>)>> {
    let mut out = BTreeMap::new();
    let shards = c.list_shards().stream_name(stream).send().await.unwrap();
    for shard in shards.shards() {
        let mut it = c
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_string);
        let mut records = Vec::new();
        while let Some(i) = it {
            let got = c.get_records().shard_iterator(i).send().await.unwrap();
            for r in got.records() {
                records.push((
                    r.sequence_number().to_string(),
                    r.partition_key().unwrap_or_default().to_string(),
                    r.data().as_ref().to_vec(),
                ));
            }
            if got.records().is_empty() {
                break;
            }
            it = got.next_shard_iterator().map(str::to_string);
        }
        out.insert(shard.shard_id().to_string(), records);
    }
    out
}

#[tokio::test]
async fn clean_restart_keeps_every_record_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(Some(&dir));
    config.storage.segment_max_bytes = 64 * 1024; // several segments per shard
    let running = shoal::server::spawn(config.clone()).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    create_active(&c, "keep", 3).await;
    for batch in 0..20 {
        let entries = (0..50)
            .map(|i| {
                let data: Vec<u8> = (0..(i * 37 + batch) % 3000)
                    .map(|b| (b * 7 + i) as u8)
                    .collect();
                entry(format!("key-{batch}-{i}"), data)
            })
            .collect::<Vec<_>>();
        let r = c
            .put_records()
            .stream_name("keep")
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(r.failed_record_count(), Some(0));
    }
    let before = read_all(&c, "keep").await;
    assert_eq!(before.values().map(Vec::len).sum::<usize>(), 1000);
    running.stop().await.unwrap();

    let running = shoal::server::spawn(config).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    let after = read_all(&c, "keep").await;
    assert_eq!(before, after);
    running.stop().await.unwrap();
}

fn spawn_shoal(dir: &Path, durability: &str) -> ShoalProcess {
    spawn_shoal_with(dir, durability, &[])
}

fn spawn_shoal_with(dir: &Path, durability: &str, env: &[(&str, &str)]) -> ShoalProcess {
    let config = dir.join("test.toml");
    std::fs::write(
        &config,
        "[streams]\ncreate_delay_ms = 0\ndelete_delay_ms = 0\n[server]\nport = 0\n",
    )
    .unwrap();
    let args = [
        "serve".as_ref(),
        "--no-throttle".as_ref(),
        "--durability".as_ref(),
        durability.as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--data-dir".as_ref(),
        dir.join("data").into_os_string().as_os_str(),
    ]
    .map(std::ffi::OsStr::to_os_string);
    let mut env = env.to_vec();
    env.push(("NO_COLOR", "1"));
    ShoalProcess::spawn(&args, &env)
}

/// Acknowledged records: sequence number -> (partition key, data).
type Acked = BTreeMap<String, (String, Vec<u8>)>;

/// How a crash test runs the server.
#[derive(Clone, Copy, Default)]
struct Crash {
    encrypted: bool,
    /// Without Linux's own system calls, as on macOS (`storage.portable_io`).
    portable: bool,
}

async fn crash_under_load(durability: &str, how: Crash) {
    let env: &[(&str, &str)] = match how.portable {
        true => &[("SHOAL_STORAGE_PORTABLE_IO", "true")],
        false => &[],
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_shoal_with(dir.path(), durability, env);
    let c = client(&server.endpoint, "us-east-1");
    create_active(&c, "crash", 4).await;
    if how.encrypted {
        start_encryption(&c, "crash", "alias/aws/kinesis")
            .await
            .unwrap();
    }

    // Producers record every acknowledged (sequence number -> data) pair.
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..4 {
        let (c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
        producers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 2000 {
                let batch: Vec<(String, Vec<u8>)> = (0..25)
                    .map(|i| {
                        (
                            format!("p{p}-{n}-{i}"),
                            format!("payload {p} {n} {i}").into_bytes(),
                        )
                    })
                    .collect();
                let entries = batch
                    .iter()
                    .map(|(k, d)| entry(k, d.clone()))
                    .collect::<Vec<_>>();
                n += 1;
                match c
                    .put_records()
                    .stream_name("crash")
                    .set_records(Some(entries))
                    .send()
                    .await
                {
                    Ok(r) => {
                        let mut a = acked.lock().unwrap();
                        for (res, (k, d)) in r.records().iter().zip(batch) {
                            if let Some(seq) = res.sequence_number() {
                                a.insert(seq.to_string(), (k, d));
                            }
                        }
                    }
                    // The server died mid-request: nothing of this batch was acknowledged.
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().expect("SIGKILL the server");
    server.child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in producers {
        p.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load ran (only {} acked)",
        acked.len()
    );

    let mut server = spawn_shoal_with(dir.path(), durability, env);
    let c = client(&server.endpoint, "us-east-1");
    let stored = read_all(&c, "crash").await;
    let mut seen = HashSet::new();
    for records in stored.values() {
        for (seq, key, data) in records {
            seen.insert(seq.clone());
            if let Some((k, d)) = acked.get(seq) {
                assert_eq!((k, d), (key, data), "record {seq} came back different");
            }
        }
    }
    let missing: Vec<_> = acked.keys().filter(|s| !seen.contains(*s)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );

    // New writes never reuse a number handed out before the crash.
    let fresh = c
        .put_records()
        .stream_name("crash")
        .set_records(Some(
            (0..100)
                .map(|i| entry(format!("after-{i}"), "after"))
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    for r in fresh.records() {
        let seq = r.sequence_number().unwrap();
        assert!(
            !acked.contains_key(seq) && !seen.contains(seq),
            "sequence number {seq} reused"
        );
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged_in_sync_mode() {
    crash_under_load("sync", Crash::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged_with_portable_io() {
    let how = Crash {
        portable: true,
        ..Crash::default()
    };
    crash_under_load("sync", how).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged_of_an_encrypted_stream() {
    let how = Crash {
        encrypted: true,
        ..Crash::default()
    };
    crash_under_load("sync", how).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_reuses_no_sequence_number_in_none_mode() {
    crash_under_load("none", Crash::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_a_data_dir_in_use_fails_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let first = spawn_shoal(dir.path(), "sync");
    // Its store is open (and the lock taken) once it serves a call.
    create_active(&client(&first.endpoint, "us-east-1"), "x", 1).await;
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path().join("data"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            second.kill().unwrap();
            panic!("the second server did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = second.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another shoal process"), "{err}");
    assert!(!err.contains("listening"), "{err}");
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_shoal(dir.path(), "interval");
    let c = client(&server.endpoint, "us-east-1");
    create_active(&c, "term", 1).await;
    let put = try_put(&c, "term", "k", b"kept").await.unwrap();
    server.terminate();
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "shoal exited with {exit:?}");
    // The reader thread may still be draining the last lines.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("stopped cleanly"))
    {
        assert!(
            Instant::now() < deadline,
            "no clean-stop line: {:?}",
            server.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut again = spawn_shoal(dir.path(), "interval");
    let c = client(&again.endpoint, "us-east-1");
    let all = read_all(&c, "term").await;
    let records = &all["shardId-000000000000"];
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].0, put.sequence_number());
    assert_eq!(records[0].2, b"kept");
    again.child.kill().unwrap();
    again.child.wait().unwrap();
}

#[tokio::test]
async fn a_restart_right_after_create_finishes_the_transition() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(Some(&dir));
    config.streams.create_delay_ms = 30_000;
    let running = shoal::server::spawn(config.clone()).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    create_stream(&c, "pending", 1).await;
    running.stop().await.unwrap();
    // The pending CREATING -> ACTIVE task must not hold the stopped broker (and its
    // catalog lock): the restart opens the same dir at once.
    let running = shoal::server::spawn(config)
        .await
        .expect("restart on the same dir");
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    let d = summary(&c, "pending").await;
    assert_eq!(d.stream_status().as_str(), "ACTIVE");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_reshard_accepted_before_a_restart_takes_effect_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(Some(&dir));
    config.streams.update_delay_ms = 60_000;
    let running = shoal::server::spawn(config.clone()).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    create_active(&c, "resharding", 1).await;
    c.split_shard()
        .stream_name("resharding")
        .shard_to_split(shard(0))
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let (_, seq) = put(&c, "resharding", "k", b"while updating").await;
    running.stop().await.unwrap();
    let running = shoal::server::spawn(config).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    assert_eq!(
        summary(&c, "resharding").await.stream_status().as_str(),
        "ACTIVE"
    );
    let shards = all_shards(&c, "resharding").await;
    assert_eq!(
        shards.len(),
        3,
        "the split the call was answered for took effect"
    );
    let ending: u128 = shards[0]
        .sequence_number_range()
        .and_then(|r| r.ending_sequence_number())
        .expect("the parent is closed")
        .parse()
        .unwrap();
    assert!(ending >= seq.parse::<u128>().unwrap());
    let records = read_all(&c, "resharding").await;
    assert_eq!(
        records[&shard(0)].len(),
        1,
        "the write made while UPDATING is kept"
    );
    running.stop().await.unwrap();
}
