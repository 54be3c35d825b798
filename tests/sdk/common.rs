//! The harness: start a server (on disk or in memory), build SDK clients for it.

#![allow(dead_code)]

use std::sync::Arc;

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::Client;
use shoal::broker::{Clock, SystemClock};
use shoal::config::Config;
use shoal::server::Running;
use tempfile::TempDir;

pub struct TestServer {
    pub running: Running,
    /// Kept so the data dir lives as long as the server (None when in memory).
    pub dir: Option<TempDir>,
    pub client: Client,
    pub endpoint: String,
}

/// A config for tests: port 0, instant stream transitions, a temp data dir.
pub fn test_config(dir: Option<&TempDir>) -> Config {
    let mut c = Config::default();
    c.server.port = 0;
    c.streams.create_delay_ms = 0;
    c.streams.delete_delay_ms = 0;
    c.streams.update_delay_ms = 0;
    // Most tests move faster than AWS allows; the throttling tests turn limits back on.
    c.limits.throttle = false;
    match dir {
        Some(d) => c.storage.data_dir = d.path().to_path_buf(),
        None => c.storage.in_memory = true,
    }
    c
}

/// A server on disk with default test settings.
pub async fn start() -> TestServer {
    start_with(true, |_| {}).await
}

/// A server in memory with default test settings.
pub async fn start_in_memory() -> TestServer {
    start_with(false, |_| {}).await
}

/// A server on disk (or in memory), with the config adjusted by `tweak`.
pub async fn start_with(on_disk: bool, tweak: impl FnOnce(&mut Config)) -> TestServer {
    start_with_clock(on_disk, tweak, Arc::new(SystemClock)).await
}

pub async fn start_with_clock(
    on_disk: bool,
    tweak: impl FnOnce(&mut Config),
    clock: Arc<dyn Clock>,
) -> TestServer {
    let dir = on_disk.then(|| tempfile::tempdir().expect("temp dir"));
    let mut config = test_config(dir.as_ref());
    tweak(&mut config);
    let running = shoal::server::spawn_with_clock(config, clock)
        .await
        .expect("server starts");
    let endpoint = format!("http://{}", running.addr);
    let client = client(&endpoint, "us-east-1");
    TestServer {
        running,
        dir,
        client,
        endpoint,
    }
}

/// An SDK client for an endpoint and region, with throwaway credentials.
pub fn client(endpoint: &str, region: &str) -> Client {
    client_with_key(endpoint, region, "AKIDTEST")
}

/// An SDK client signing with the given access key id (tests map keys to accounts
/// through `Config::test.accounts_by_access_key`).
pub fn client_with_key(endpoint: &str, region: &str, access_key: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(access_key, "secret", None, None, "test"))
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

/// Creates a stream and waits until it is ACTIVE.
pub async fn create_active(client: &Client, name: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("create stream");
    wait_active(client, name).await;
}

pub async fn wait_active(client: &Client, name: &str) {
    for _ in 0..200 {
        let d = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .expect("describe");
        if d.stream_description_summary()
            .unwrap()
            .stream_status()
            .as_str()
            == "ACTIVE"
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("stream {name} never became ACTIVE");
}

/// The error code an SDK call failed with (the `__type`, as the SDK parsed it).
pub fn code<E, R>(err: &aws_sdk_kinesis::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kinesis::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("<no service error>")
        .to_string()
}

pub fn message<E, R>(err: &aws_sdk_kinesis::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kinesis::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or("")
        .to_string()
}
