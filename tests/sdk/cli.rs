//! The `shoal` client commands (`stream ...`, `put`, `tail`, `health`) run as the
//! binary against a server started here; every effect is checked through the API
//! with aws-sdk-rust, not through the CLI's own output.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;

use crate::common::*;

/// Runs `shoal <args>` against `endpoint`, feeding `stdin`.
async fn shoal(endpoint: &str, args: &[&str], stdin: &str) -> Output {
    shoal_with(endpoint, args, stdin, &[]).await
}

/// `shoal`, with variables set in its environment.
async fn shoal_with(endpoint: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let (endpoint, stdin) = (endpoint.to_string(), stdin.to_string());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(&args)
            .env("SHOAL_ENDPOINT", endpoint)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_SESSION_TOKEN")
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// Runs a command that must succeed and returns its stdout.
async fn ok(endpoint: &str, args: &[&str]) -> String {
    let out = shoal(endpoint, args, "").await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "shoal {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

async fn open_shards(c: &aws_sdk_kinesis::Client, stream: &str) -> Vec<String> {
    let mut ids: Vec<String> = all_shards(c, stream)
        .await
        .into_iter()
        .filter(|s| {
            s.sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .is_none()
        })
        .map(|s| s.shard_id().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_commands_change_what_the_api_shows() {
    let s = start_with(false, |c| {
        c.streams.create_delay_ms = 200;
        c.streams.update_delay_ms = 100;
    })
    .await;
    let (e, c) = (s.endpoint.as_str(), &s.client);

    let created = json(&ok(e, &["stream", "create", "cli", "--shards", "2", "--json"]).await);
    assert_eq!(created["StreamStatus"], "ACTIVE", "create waits for ACTIVE");
    assert_eq!(summary(c, "cli").await.open_shard_count(), 2);

    let listed = json(&ok(e, &["stream", "list", "--json"]).await);
    assert_eq!(listed["Streams"][0]["StreamName"], "cli");
    let table = ok(e, &["stream", "list"]).await;
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("cli ") && row.contains(" ACTIVE "),
        "{table}"
    );

    let split = json(&ok(e, &["stream", "split", "cli", &shard(0), "--json"]).await);
    assert_eq!(split["Shards"].as_array().unwrap().len(), 2);
    assert_eq!(open_shards(c, "cli").await, [shard(1), shard(2), shard(3)]);
    let lower = all_shards(c, "cli").await;
    let lower = lower.iter().find(|s| s.shard_id() == shard(2)).unwrap();
    assert_eq!(
        lower.hash_key_range().unwrap().ending_hash_key(),
        ((1u128 << 126) - 1).to_string(),
        "the default split point is the middle of the parent's range"
    );

    ok(e, &["stream", "merge", "cli", &shard(2), &shard(3)]).await;
    assert_eq!(open_shards(c, "cli").await, [shard(1), shard(4)]);

    ok(e, &["stream", "scale", "cli", "--shards", "4"]).await;
    assert_eq!(summary(c, "cli").await.open_shard_count(), 4);

    ok(e, &["stream", "retention", "cli", "--hours", "48"]).await;
    assert_eq!(summary(c, "cli").await.retention_period_hours(), 48);
    ok(e, &["stream", "retention", "cli", "--hours", "30"]).await;
    assert_eq!(summary(c, "cli").await.retention_period_hours(), 30);

    let described = ok(e, &["stream", "describe", "cli"]).await;
    assert!(described.contains("retention   30 hours"), "{described}");
    assert!(
        described.contains("CLOSED") && described.contains("OPEN"),
        "{described}"
    );
    let described = json(&ok(e, &["stream", "describe", "cli", "--json"]).await);
    assert_eq!(
        described["Shards"].as_array().unwrap().len(),
        all_shards(c, "cli").await.len()
    );

    ok(e, &["stream", "delete", "cli"]).await;
    let gone = c.describe_stream_summary().stream_name("cli").send().await;
    assert_eq!(code(&gone.unwrap_err()), "ResourceNotFoundException");
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_tail_through_a_split() {
    let s = start_in_memory().await;
    let (e, c) = (s.endpoint.as_str(), &s.client);
    create_active(c, "pt", 1).await;

    let one = json(&ok(e, &["put", "pt", "--key", "k", "first", "--json"]).await);
    let out = shoal(e, &["put", "pt", "--key", "k"], "second\nthird\n").await;
    assert!(out.status.success());
    let records = read_all(
        c,
        iterator(c, "pt", &shard(0), ShardIteratorType::TrimHorizon).await,
    )
    .await;
    let data: Vec<&[u8]> = records.iter().map(|r| r.data().as_ref()).collect();
    assert_eq!(data, [&b"first"[..], b"second", b"third"]);
    assert_eq!(
        records[0].sequence_number(),
        one["SequenceNumber"].as_str().unwrap()
    );

    ok(e, &["stream", "split", "pt", &shard(0)]).await;
    ok(e, &["put", "pt", "--key", "k", "fourth"]).await;
    // From the oldest record: the closed parent first, then its child.
    let lines = ok(
        e,
        &[
            "tail",
            "pt",
            "--from",
            "trim-horizon",
            "--max",
            "4",
            "--json",
        ],
    )
    .await;
    let texts: Vec<String> = lines
        .lines()
        .map(|l| json(l)["Text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["first", "second", "third", "fourth"]);
    let human = ok(e, &["tail", "pt", "--from", "trim-horizon", "--max", "1"]).await;
    assert!(
        human.starts_with(&format!("{}  ", shard(0))) && human.contains("  k  first"),
        "{human}"
    );
    // Without --max, --no-follow stops at the end of what the stream holds.
    let all = ok(e, &["tail", "pt", "--from", "trim-horizon", "--no-follow"]).await;
    assert_eq!(all.lines().count(), 4, "{all}");
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_exported_from_one_server_imports_into_another() {
    let (from, to) = (start_in_memory().await, start_in_memory().await);
    create_active(&from.client, "orders", 2).await;
    let lines: String = (0..30).map(|i| format!("k{}:{i}\n", i % 4)).collect();
    for key in 0..4 {
        let mine: String = lines
            .lines()
            .filter(|l| l.starts_with(&format!("k{key}:")))
            .map(|l| format!("{l}\n"))
            .collect();
        let out = shoal(
            &from.endpoint,
            &["put", "orders", "--key", &format!("k{key}")],
            &mine,
        )
        .await;
        assert!(out.status.success());
    }
    ok(&from.endpoint, &["stream", "split", "orders", &shard(0)]).await;
    ok(&from.endpoint, &["put", "orders", "--key", "k0", "k0:30"]).await;
    let exported = ok(&from.endpoint, &["stream", "export", "orders"]).await;
    assert_eq!(exported.lines().count(), 31);

    create_active(&to.client, "orders", 3).await;
    let out = shoal(&to.endpoint, &["stream", "import", "orders"], &exported).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every record arrived once, each key's records in their order.
    let mut got: Vec<String> = Vec::new();
    for i in 0..3 {
        let it = iterator(
            &to.client,
            "orders",
            &shard(i),
            ShardIteratorType::TrimHorizon,
        )
        .await;
        for r in read_all(&to.client, it).await {
            got.push(String::from_utf8(r.data().as_ref().to_vec()).unwrap());
        }
    }
    assert_eq!(got.len(), 31);
    for key in 0..4 {
        let order: Vec<u32> = got
            .iter()
            .filter_map(|t| t.strip_prefix(&format!("k{key}:")))
            .map(|n| n.parse().unwrap())
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "k{key} out of order");
    }
    let bad = shoal(&to.endpoint, &["stream", "import", "orders"], "not json\n").await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_go_to_stderr_with_a_failing_exit() {
    let s = start_in_memory().await;
    let out = shoal(&s.endpoint, &["stream", "create", "x"], "").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--on-demand"));
    let out = shoal(&s.endpoint, &["stream", "describe", "nope"], "").await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("shoal: ResourceNotFoundException: Stream nope"),
        "{err}"
    );

    let out = shoal(
        &s.endpoint,
        &["stream", "create", "bad name!", "--shards", "1"],
        "",
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("ValidationException"));

    let out = shoal("http://127.0.0.1:1", &["stream", "list"], "").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));

    assert!(shoal(&s.endpoint, &["health"], "").await.status.success());
    assert!(!shoal("http://127.0.0.1:1", &["health"], "")
        .await
        .status
        .success());
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_sign_as_a_verifying_server_expects() {
    let s = start_with(false, |c| {
        c.auth.credentials =
            vec![
                shoal::config::CredentialConfig::parse("AKIDCLI:cli/secret+:111111111111").unwrap(),
            ];
    })
    .await;
    let as_key = |secret: &'static str, token: Option<&'static str>| {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", "AKIDCLI"),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ];
        env.extend(token.map(|t| ("AWS_SESSION_TOKEN", t)));
        env
    };
    let create = ["stream", "create", "signed", "--shards", "1"];
    let out = shoal_with(&s.endpoint, &create, "", &as_key("cli/secret+", None)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = ["stream", "list"];
    let out = shoal_with(
        &s.endpoint,
        &list,
        "",
        &as_key("cli/secret+", Some("tok/en=")),
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed"));

    let out = shoal_with(&s.endpoint, &list, "", &as_key("wrong", None)).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("InvalidSignatureException"), "{err}");
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_back_to_back_and_says_when_it_measured_the_throttle() {
    let s = start_with(false, |c| {
        c.streams.delete_delay_ms = 500;
        c.limits.throttle = true;
    })
    .await;
    let args = ["bench", "put-records", "--duration", "2", "--shards", "1"];
    // The first run's stream is still DELETING when the second starts, without the wait.
    for _ in 0..2 {
        let out = shoal(&s.endpoint, &args, "").await;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}\n{stderr}");
        // A summary for a person, not a JSON line.
        assert!(stdout.starts_with("put-records: "), "{stdout}");
        assert!(stdout.contains("  records    "), "{stdout}");
        // One shard takes 1000 records a second: most of what the run sent was refused.
        assert!(stderr.contains("--no-throttle"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_what_it_put_and_received() {
    let s = start_in_memory().await;
    let (e, c) = (s.endpoint.as_str(), &s.client);
    let args = [
        "bench",
        "put-records",
        "--duration",
        "30",
        "--max-records",
        "2000",
        "--batch",
        "100",
        "--json",
    ];
    let out = ok(
        e,
        &[&args[..], &["--stream", "b", "--keep", "--label", "t"]].concat(),
    )
    .await;
    let report = json(out.lines().last().unwrap());
    assert_eq!(report["scenario"], "put-records");
    assert_eq!(report["label"], "t");
    assert_eq!(
        (report["records"].as_u64(), report["errors"].as_u64()),
        (Some(2000), Some(0))
    );
    assert!(report["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    let mut stored = 0;
    for sh in all_shards(c, "b").await {
        let it = iterator(c, "b", sh.shard_id(), ShardIteratorType::TrimHorizon).await;
        stored += read_all(c, it).await.len();
    }
    assert_eq!(
        stored, 2000,
        "every record the report counts is in the stream"
    );

    let args = [
        "bench",
        "e2e",
        "--duration",
        "1",
        "--rate",
        "200",
        "--shards",
        "1",
        "--stream",
        "e",
        "--json",
    ];
    let report = json(ok(e, &args).await.lines().last().unwrap());
    assert_eq!(report["via"], "subscribe");
    assert!(report["records"].as_u64().unwrap() > 50, "{report}");
    assert_eq!(
        report["delivered_records"], report["records"],
        "every put record arrived: {report}"
    );
    let gone = c.describe_stream_summary().stream_name("e").send().await;
    assert_eq!(
        code(&gone.unwrap_err()),
        "ResourceNotFoundException",
        "the run deleted the stream it made"
    );
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_waits_for_a_server_still_opening_its_store() {
    let server = Opening::start().await;
    let endpoint = format!("http://{}", server.addr);
    let args = "bench put-records --duration 30 --max-records 200 --batch 100 --shards 1 --json";
    let bench = tokio::spawn(async move {
        let args: Vec<&str> = args.split(' ').collect();
        shoal(&endpoint, &args, "").await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!bench.is_finished(), "the run waits while the store opens");
    server.open_store();
    let out = bench.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(stdout.lines().last().unwrap());
    assert_eq!(report["records"].as_u64(), Some(200), "{report}");
    server.stop().await;
}
