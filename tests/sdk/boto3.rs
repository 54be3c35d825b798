//! boto3, the client most users have, through the same round trip: the Python suite in
//! `tests/python/test_boto3.py` runs against a server started here. `SHOAL_PYTHON`
//! names the interpreter (`.ci/run` points it at a venv with boto3 installed).

use std::process::Command;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_round_trip() {
    let s = start_with(true, |c| c.streams.create_delay_ms = 200).await;
    run_suite(s, &[]).await;
}

/// The same suite against a server that verifies signatures: botocore's signer
/// (`content-type;host;x-amz-date;x-amz-target`) must pass, in the key's account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_round_trip_with_verified_signatures() {
    let s = start_with(true, |c| {
        c.streams.create_delay_ms = 200;
        c.auth.credentials =
            vec![
                shoal::config::CredentialConfig::parse("AKIDBOTO3:b0t0/S3cret+:333333333333")
                    .unwrap(),
            ];
    })
    .await;
    run_suite(
        s,
        &[
            ("SHOAL_ACCESS_KEY", "AKIDBOTO3"),
            ("SHOAL_SECRET", "b0t0/S3cret+"),
            ("SHOAL_ACCOUNT", "333333333333"),
        ],
    )
    .await;
}

async fn run_suite(s: TestServer, env: &[(&'static str, &'static str)]) {
    let env = env.to_vec();
    let python = std::env::var("SHOAL_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/test_boto3.py");
    let endpoint = s.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(script)
            .env("SHOAL_ENDPOINT", endpoint)
            .envs(env)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}; install boto3 with `pip install -r tests/python/requirements.txt` or run .ci/run"))
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'boto3'"),
        "boto3 is not installed for this Python: run `pip install -r tests/python/requirements.txt` or .ci/run"
    );
    assert!(out.status.success(), "boto3 suite failed:\n{stderr}");
    assert!(
        stderr.contains("OK"),
        "boto3 suite printed no result:\n{stderr}"
    );
    s.running.stop().await.unwrap();
}
