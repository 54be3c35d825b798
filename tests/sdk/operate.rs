//! Running Shoal as a service: the health check turns green only once the store is
//! open and the declared streams are ACTIVE (and stays idempotent across restarts),
//! `/metrics` moves with traffic, and the binary runs as the Dockerfile starts it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::ShardIteratorType;

use crate::common::*;

async fn get(addr: SocketAddr, path: &str) -> Resp {
    raw(addr, &format!("GET {path} HTTP/1.1\r\n"), b"").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_wait_behind_a_503_while_the_store_opens() {
    let server = Opening::start().await;
    let addr = server.addr;
    let health = get(addr, "/health").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["status"], "starting");
    let c = client(&format!("http://{addr}"), "us-east-1");
    let err = c.list_streams().send().await.unwrap_err();
    assert_eq!(code(&err), "ServiceUnavailableException");

    server.open_store();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(addr, "/health").await.status != 200 {
        assert!(Instant::now() < deadline, "never became healthy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.list_streams().send().await.unwrap();
    server.stop().await;
}

/// A data dir, declared streams that take a while to become ACTIVE, through the binary.
fn spawn_declaring(dir: &std::path::Path) -> ShoalProcess {
    let data = dir.join("data");
    let args = [
        "serve",
        "--port",
        "0",
        "--no-throttle",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    ShoalProcess::spawn(
        &args,
        &[
            ("SHOAL_CREATE_STREAMS", "orders:3,clicks:1"),
            ("SHOAL_STREAMS_CREATE_DELAY_MS", "600"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_green_once_declared_streams_are_active_and_restarts_keep_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_declaring(dir.path());
    let addr = addr_of(&server.endpoint);
    let c = client(&server.endpoint, "us-east-1");
    let first = get(addr, "/health").await;
    assert_eq!(first.status, 503, "declared streams are still CREATING");
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(addr, "/health").await.status != 200 {
        assert!(Instant::now() < deadline, "never became healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (name, shards) in [("orders", 3), ("clicks", 1)] {
        let s = summary(&c, name).await;
        assert_eq!(
            s.stream_status().as_str(),
            "ACTIVE",
            "{name} is ACTIVE when health is green"
        );
        assert_eq!(s.open_shard_count(), shards);
    }
    let put = put(&c, "orders", "k", b"kept").await;
    server.terminate();
    drop(server);

    // The same declaration again: the streams are found, not recreated.
    let again = spawn_declaring(dir.path());
    let addr = addr_of(&again.endpoint);
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(addr, "/health").await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "never became healthy after a restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = client(&again.endpoint, "us-east-1");
    let it = iterator(&c, "orders", &put.0, ShardIteratorType::TrimHorizon).await;
    let records = read_all(&c, it).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].sequence_number(), put.1);
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_traffic() {
    let s = start().await;
    let c = &s.client;
    let addr = addr_of(&s.endpoint);
    create_active(c, "m", 2).await;
    let entries: Vec<_> = (0..10)
        .map(|i| entry(format!("key-{i}"), vec![7u8; 100]))
        .collect();
    c.put_records()
        .stream_name("m")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    let mut read = 0;
    for i in 0..2 {
        let it = iterator(c, "m", &shard(i), ShardIteratorType::TrimHorizon).await;
        read += read_all(c, it).await.len();
    }
    assert_eq!(read, 10);
    let missing = c
        .describe_stream_summary()
        .stream_name("absent")
        .send()
        .await;
    assert!(missing.is_err());

    let resp = get(addr, "/metrics").await;
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = String::from_utf8(resp.body).unwrap();
    let stream = r#"account="000000000000",region="us-east-1",stream="m""#;
    let of = |name: &str| sample(&text, &format!("shoal_stream_{name}{{{stream}}}"));
    assert_eq!(of("incoming_records_total"), 10.0);
    assert_eq!(of("outgoing_records_total"), 10.0);
    assert!(of("incoming_bytes_total") >= 1000.0);
    assert!(of("storage_bytes") >= 1000.0);
    assert!(of("storage_segments") >= 2.0);
    let per_shard: f64 = (0..2)
        .map(|i| {
            sample(
                &text,
                &format!(
                    "shoal_shard_incoming_records_total{{{stream},shard=\"{}\"}}",
                    shard(i)
                ),
            )
        })
        .sum();
    assert_eq!(per_shard, 10.0);
    assert_eq!(
        sample(
            &text,
            r#"shoal_request_duration_seconds_count{operation="PutRecords"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"shoal_request_errors_total{operation="DescribeStreamSummary",code="ResourceNotFoundException"}"#
        ),
        1.0
    );
    assert!(sample(&text, "shoal_fsync_duration_seconds_count") >= 1.0);
    assert_eq!(sample(&text, r#"shoal_shards{state="open"}"#), 2.0);
    s.running.stop().await.unwrap();

    // Past per_shard_max shards only the per-stream series are written.
    let s = start_with(false, |c| c.metrics.per_shard_max = 1).await;
    create_active(&s.client, "m", 2).await;
    let text = String::from_utf8(get(addr_of(&s.endpoint), "/metrics").await.body).unwrap();
    assert!(!text.contains("shoal_shard_"), "{text}");
    assert!(text.contains("shoal_stream_incoming_records_total{"));
    s.running.stop().await.unwrap();
}

/// `ENV`, `ENTRYPOINT`, `CMD` and `HEALTHCHECK CMD` of the Dockerfile's final stage.
struct Image {
    env: Vec<(String, String)>,
    command: Vec<String>,
    healthcheck: Vec<String>,
}

fn json_array(s: &str) -> Vec<String> {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not a JSON array ({e}): {s}"))
}

fn final_stage() -> Image {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let stage = text.rsplit("\nFROM ").next().unwrap();
    let (mut env, mut entrypoint, mut cmd, mut healthcheck) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in stage.lines() {
        if let Some(rest) = line.strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                env.push((k.to_string(), v.to_string()));
            }
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            entrypoint = json_array(rest);
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            cmd = json_array(rest);
        } else if let Some(rest) = line.strip_prefix("HEALTHCHECK ") {
            let cmd = rest.split_once("CMD ").expect("HEALTHCHECK ... CMD").1;
            healthcheck = match cmd.trim_start().starts_with('[') {
                true => json_array(cmd),
                // The shell form runs through /bin/sh, as Docker runs it.
                false => ["sh", "-c", cmd].map(str::to_string).to_vec(),
            };
        }
    }
    entrypoint.extend(cmd);
    Image {
        env,
        command: entrypoint,
        healthcheck,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_as_the_dockerfile_starts_it() {
    let image = final_stage();
    assert_eq!(image.command[0], "shoal");
    assert!(image.healthcheck.join(" ").contains("shoal health"));
    let image_env = |k: &str| {
        image
            .env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        image_env("SHOAL_HOST"),
        Some("0.0.0.0"),
        "the container listens on every interface"
    );
    assert_eq!(
        image_env("SHOAL_DATA_DIR"),
        Some("/data"),
        "data lives in the volume"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Only what this machine forces changes: loopback only, /data is not writable
    // here, and a free port instead of 4567. The rest is the image's, plus what
    // docker-compose.yml adds.
    let mut env: Vec<(String, String)> = image
        .env
        .iter()
        .map(|(k, v)| {
            let v = match k.as_str() {
                "SHOAL_HOST" => "127.0.0.1".to_string(),
                "SHOAL_DATA_DIR" => data.to_str().unwrap().to_string(),
                "SHOAL_PORT" => "0".to_string(),
                _ => v.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    env.push(("SHOAL_CREATE_STREAMS".into(), "referrers:2".into()));
    env.push(("SHOAL_LOG_FORMAT".into(), "json".into()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = ShoalProcess::spawn(&image.command[1..], &env_refs);

    // The check runs with the container's environment: the port the server took, and
    // `shoal` on the PATH.
    let health = image.healthcheck.clone();
    let endpoint = server.endpoint.clone();
    let port = endpoint.rsplit(':').next().unwrap().to_string();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_shoal"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (h, port, path) = (health.clone(), port.clone(), path.clone());
        let ok = tokio::task::spawn_blocking(move || {
            std::process::Command::new(&h[0])
                .args(&h[1..])
                .env("SHOAL_PORT", port)
                .env("PATH", path)
                .env_remove("SHOAL_ENDPOINT")
                .output()
                .unwrap()
                .status
                .success()
        })
        .await
        .unwrap();
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "the HEALTHCHECK never passed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = client(&endpoint, "us-east-1");
    assert_eq!(summary(&c, "referrers").await.open_shard_count(), 2);
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).success());
    std::thread::sleep(Duration::from_millis(100));
    let log = server.log.lock().unwrap().clone();
    assert!(log.len() >= 3, "{log:?}");
    for line in &log {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
    assert!(log.iter().any(|l| l.contains("stopped cleanly")), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_budget_wait_then_get_a_503() {
    use tokio::io::AsyncWriteExt;
    let s = start_with(false, |c| {
        c.server.max_inflight_bytes = 4096;
        c.server.overload_wait_ms = 200;
    })
    .await;
    let addr = addr_of(&s.endpoint);
    // A request whose 4 KiB body has all but arrived holds the whole budget (bytes are
    // counted as they come, not as declared).
    let mut holder = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Length: 4096\r\n\r\n"
    );
    holder.write_all(head.as_bytes()).await.unwrap();
    holder.write_all(&[b' '; 4095]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let auth = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
    let started = Instant::now();
    let refused = kinesis_call(
        addr,
        "application/x-amz-json-1.1",
        auth,
        "ListStreams",
        b"{}",
    )
    .await;
    assert_eq!(refused.status, 503);
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "it waited for room first"
    );
    assert_eq!(refused.json()["__type"], "ServiceUnavailableException");
    assert!(refused.json()["message"]
        .as_str()
        .unwrap()
        .contains("overloaded"));

    // Once the held body is gone, requests pass again.
    drop(holder);
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.client.list_streams().send().await.unwrap();
    s.running.stop().await.unwrap();
}
