//! The other clients users have, each through a create / put / get / reshard / tag /
//! delete scenario against a server started here: boto3 (`tests/python`), the AWS CLI
//! (`tests/cli`) and the JS v3 client over HTTP/2 (`tests/js`). `.ci/run` installs them;
//! `SHOAL_PYTHON` and `AWS_CLI` name the interpreter and CLI it installed.

use std::process::{Command, Output};

use crate::common::*;

/// Runs a client program against a fresh server and returns its output.
async fn run_against_server(
    program: String,
    args: Vec<String>,
    install_hint: &'static str,
) -> Output {
    let s = start_with(true, |c| c.streams.create_delay_ms = 200).await;
    let endpoint = s.endpoint.clone();
    let shown = format!("{program} {}", args.join(" "));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .env("SHOAL_ENDPOINT", endpoint)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run {shown}: {e}; {install_hint}"));
    s.running.stop().await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{shown} failed ({install_hint}):\n{stdout}\n{stderr}"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_round_trip() {
    let python = std::env::var("SHOAL_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = run_against_server(
        python,
        vec!["tests/python/test_boto3.py".into()],
        "install boto3 with `pip install -r tests/python/requirements.txt`, or run .ci/run",
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("OK"),
        "boto3 suite printed no result"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_scenario() {
    let out = run_against_server(
        "bash".into(),
        vec!["tests/cli/scenario.sh".into()],
        "install the AWS CLI with `pip install -r tests/python/requirements.txt`, or run .ci/run",
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("CLI scenario OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_v3_client_over_http2() {
    let out = run_against_server(
        "node".into(),
        vec!["--test".into(), "tests/js/".into()],
        "install it with `npm ci --prefix tests/js`, or run .ci/run",
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("# fail 0") && stdout.contains("# pass 2"),
        "{stdout}"
    );
}
