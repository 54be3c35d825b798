//! The harness: start a server (on disk or in memory), build SDK clients for it, and
//! send raw HTTP/1.1 requests for what the SDK hides.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::Client;
use shoal::broker::{Clock, SystemClock};
use shoal::config::Config;
use shoal::server::Running;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod control;
mod data;
mod kafka;
mod opening;
mod process;
pub use control::*;
pub use data::*;
pub use kafka::*;
pub use opening::*;
pub use process::*;

pub struct TestServer {
    pub running: Running,
    /// Kept so the data dir lives as long as the server (None when in memory).
    pub dir: Option<TempDir>,
    pub client: Client,
    pub endpoint: String,
    /// With `SHOAL_TEST_STORE=kafka`, the second node the client reads records through.
    pub peer: Option<(Running, TempDir)>,
}

/// A config for tests: port 0, instant stream transitions, a temp data dir.
pub fn test_config(dir: Option<&TempDir>) -> Config {
    let mut c = Config::default();
    c.server.port = 0;
    c.streams.create_delay_ms = 0;
    c.streams.delete_delay_ms = 0;
    c.streams.update_delay_ms = 0;
    c.streams.consumer_create_delay_ms = 0;
    c.streams.consumer_delete_delay_ms = 0;
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
    let kafka = kafka_store();
    let dir = (on_disk || kafka).then(|| tempfile::tempdir().expect("temp dir"));
    let mut config = test_config(dir.as_ref());
    if kafka {
        fresh_prefix(&mut config);
    }
    tweak(&mut config);
    let peer = match kafka {
        true => {
            let peer_dir = tempfile::tempdir().expect("temp dir");
            let mut peer_config = config.clone();
            peer_config.storage.data_dir = peer_dir.path().to_path_buf();
            let running = shoal::server::spawn_with_clock(peer_config, clock.clone())
                .await
                .expect("the second node starts");
            Some((running, peer_dir))
        }
        false => None,
    };
    let running = shoal::server::spawn_with_clock(config, clock)
        .await
        .expect("server starts");
    let endpoint = format!("http://{}", running.addr);
    let mut client = client(&endpoint, "us-east-1");
    if let Some((p, _)) = &peer {
        client = reads_through(&client, &format!("http://{}", p.addr));
    }
    TestServer {
        running,
        dir,
        client,
        endpoint,
        peer,
    }
}

/// An SDK client for an endpoint and region, with throwaway credentials.
pub fn client(endpoint: &str, region: &str) -> Client {
    client_with(
        endpoint,
        region,
        Credentials::new("AKIDTEST", "secret", None, None, "test"),
    )
}

/// An SDK client signing with `access_key` and the secret `secret` (servers with
/// credentials configure their keys with that secret).
pub fn client_with_key(endpoint: &str, region: &str, access_key: &str) -> Client {
    client_with(
        endpoint,
        region,
        Credentials::new(access_key, "secret", None, None, "test"),
    )
}

/// An SDK client signing with the given credentials (key, secret, session token).
pub fn client_with(endpoint: &str, region: &str, credentials: Credentials) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

/// Creates a provisioned stream without waiting (it may stay CREATING).
pub async fn create_stream(client: &Client, name: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("create stream");
}

/// Creates a stream and waits until it is ACTIVE.
pub async fn create_active(client: &Client, name: &str, shards: i32) {
    create_stream(client, name, shards).await;
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

/// A raw HTTP/1.1 response.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body {:?} is not JSON: {e}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// The socket address of an `http://host:port` endpoint.
pub fn addr_of(endpoint: &str) -> SocketAddr {
    endpoint.trim_start_matches("http://").parse().unwrap()
}

/// Sends one HTTP/1.1 request on a fresh connection and reads the whole response.
pub async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> Resp {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut req = format!("{head}Host: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
        req.extend_from_slice(body);
        // The server may answer before reading everything; a failed write is not the test.
        let _ = s.write_all(&req).await;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("the server answers instead of hanging");
    parse(&buf)
}

/// A Kinesis `op` over raw HTTP/1.1: POST / with the target, a fixed date and `auth`.
pub async fn kinesis_call(
    addr: SocketAddr,
    content_type: &str,
    auth: &str,
    op: &str,
    body: &[u8],
) -> Resp {
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: {content_type}\r\nX-Amz-Target: Kinesis_20131202.{op}\r\nX-Amz-Date: 20240102T030405Z\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n",
        body.len()
    );
    raw(addr, &head, body).await
}

pub fn parse(buf: &[u8]) -> Resp {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}
