//! Kafka for the tests: one broker per test binary (`tests/kafka/kafka.sh`), and the
//! switch that runs the SDK suite over it. With `SHOAL_TEST_STORE=kafka`, every test
//! server is two nodes over a fresh topic prefix: the test's client talks to the first,
//! except for record reads (GetShardIterator, GetRecords, SubscribeToShard), which go
//! to the second, so every record a test reads back crossed Kafka.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use aws_sdk_kinesis::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_kinesis::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kinesis::error::BoxError;
use aws_sdk_kinesis::Client;
use shoal::config::Config;

pub const KAFKA_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka/kafka.sh");

/// Whether this run's servers keep their streams in Kafka.
pub fn kafka_store() -> bool {
    std::env::var("SHOAL_TEST_STORE").as_deref() == Ok("kafka")
}

/// The broker's bootstrap address: `SHOAL_TEST_KAFKA` when a parent test process
/// passes its own, else one started for this process and killed when it exits
/// (kafka.sh's KAFKA_WATCH_PID).
pub fn kafka() -> &'static str {
    static KAFKA: OnceLock<String> = OnceLock::new();
    KAFKA.get_or_init(|| {
        if let Ok(given) = std::env::var("SHOAL_TEST_KAFKA") {
            return given;
        }
        let dir = std::env::temp_dir().join(format!("shoal-kafka-{}", std::process::id()));
        start_kafka(&dir, 1)
    })
}

/// Starts `brokers` Kafka nodes with their data in `dir`; returns the bootstrap list.
pub fn start_kafka(dir: &std::path::Path, brokers: u32) -> String {
    let _ = std::fs::remove_dir_all(dir);
    let out = Command::new("bash")
        .arg(KAFKA_SH)
        .arg("start")
        .arg(dir)
        .arg(brokers.to_string())
        .env("KAFKA_WATCH_PID", std::process::id().to_string())
        .output()
        .expect("kafka.sh runs");
    assert!(
        out.status.success(),
        "Kafka did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout
        .lines()
        .last()
        .expect("a bootstrap line")
        .trim()
        .to_string()
}

/// Points `config` at the test Kafka under a prefix no other server of this process
/// has used, and returns that prefix.
pub fn fresh_prefix(config: &mut Config) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let prefix = format!(
        "p{}.s{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    config.storage.store = "kafka".into();
    config.kafka.bootstrap = kafka().into();
    config.kafka.topic_prefix = prefix.clone();
    prefix
}

/// `client` with its record reads sent to `reader` (an `http://host:port` endpoint).
pub fn reads_through(client: &Client, reader: &str) -> Client {
    let conf = client
        .config()
        .to_builder()
        .interceptor(ReadsElsewhere(reader.to_string()))
        .build();
    Client::from_conf(conf)
}

#[derive(Debug)]
struct ReadsElsewhere(String);

const READS: [&str; 3] = ["GetShardIterator", "GetRecords", "SubscribeToShard"];

impl Intercept for ReadsElsewhere {
    fn name(&self) -> &'static str {
        "ReadsElsewhere"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let op = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default();
        if READS.contains(&op) {
            let uri = request.uri().to_string();
            let path = uri.splitn(4, '/').nth(3).unwrap_or_default();
            request.set_uri(format!("{}/{path}", self.0))?;
        }
        Ok(())
    }
}
