//! Typed configuration: the commented defaults in `config/shoal.toml` (embedded in
//! the binary), then a TOML file, then `SHOAL_<SECTION>_<KEY>` environment variables
//! (`env`), then flags (handled by `cli`), then `validate()`.

mod env;
mod kms;

use std::path::PathBuf;

use serde::Deserialize;

use crate::storage::log::Durability;
pub use kms::KmsConfig;

/// The defaults file, embedded so `shoal serve` needs nothing on disk to start.
pub const DEFAULTS_TOML: &str = include_str!("../../config/shoal.toml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub streams: StreamsConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    pub metrics: MetricsConfig,
    pub kafka: KafkaConfig,
    pub kms: KmsConfig,
}

/// Where `storage.store = "kafka"` keeps streams (ADR 0005, docs/scaling.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    pub topic_prefix: String,
    /// 0 = 3, or the cluster's size when smaller.
    pub replication_factor: u32,
    /// 0 = 2, or the replication factor when smaller.
    pub min_insync_replicas: u32,
    pub request_timeout_ms: u64,
    /// librdkafka settings as `key=value` (TLS, SASL).
    pub client: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Emit `shoal_shard_*` series besides the per-stream ones.
    pub per_shard: bool,
    /// Per-shard series are left out while the server holds more shards than this.
    pub per_shard_max: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub max_clock_skew_secs: u64,
    pub credentials: Vec<CredentialConfig>,
    /// The regions a credential scope may name; empty: any without credentials,
    /// `streams.region` with them.
    pub regions: Vec<String>,
    /// Take console and `/metrics` logins (which carry a secret) in clear text from
    /// other machines.
    pub basic_login_over_cleartext: bool,
}

/// One access key the server verifies signatures with.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The account its requests act in; `streams.account_id` when absent.
    pub account_id: Option<String>,
}

/// Never print a secret, whoever debug-formats the configuration.
impl std::fmt::Debug for CredentialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialConfig")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .finish()
    }
}

impl CredentialConfig {
    /// `AKID:SECRET` or `AKID:SECRET:ACCOUNT` (the `--credentials` flag).
    pub fn parse(s: &str) -> Result<CredentialConfig, String> {
        let mut parts = s.trim().splitn(3, ':');
        let (id, secret) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if id.is_empty() || secret.is_empty() {
            return Err(format!(
                "--credentials takes AKID:SECRET or AKID:SECRET:ACCOUNT (got a value for {:?})",
                id
            ));
        }
        Ok(CredentialConfig {
            access_key_id: id.to_string(),
            secret_access_key: secret.to_string(),
            account_id: parts.next().map(str::to_string),
        })
    }

    /// The account this key acts in.
    pub fn account<'a>(&'a self, default: &'a str) -> &'a str {
        self.account_id.as_deref().unwrap_or(default)
    }
}

/// What a region name may be: it becomes part of ARNs and of the stream namespace.
pub fn is_region_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub max_request_bytes: usize,
    pub max_inflight_bytes: usize,
    pub overload_wait_ms: u64,
    /// None: no TLS listener. Some(0) picks a free port.
    #[serde(default)]
    pub tls_port: Option<u16>,
    #[serde(default)]
    pub tls_cert: PathBuf,
    #[serde(default)]
    pub tls_key: PathBuf,
    /// "text" (human) or "json" log lines.
    pub log_format: String,
    /// Serve the web console at /console.
    pub console: bool,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub max_header_bytes: usize,
    pub max_streams_per_connection: u32,
    pub body_read_grace_ms: u64,
    pub min_body_bytes_per_sec: u64,
    pub max_unauthenticated_bytes: usize,
    pub max_unauthenticated_bytes_per_client: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// "local" (the data dir, or memory) or "kafka".
    pub store: String,
    pub data_dir: PathBuf,
    pub in_memory: bool,
    pub durability: String,
    pub sync_interval_ms: u64,
    pub segment_max_bytes: u64,
    pub segment_max_age_ms: u64,
    pub index_interval_bytes: u32,
    pub max_open_files: usize,
    pub journal_file_bytes: u64,
    pub journal_direct_io: bool,
    /// Only system calls every supported Unix has, even on Linux (`storage::fs::os`).
    pub portable_io: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamsConfig {
    pub account_id: String,
    pub region: String,
    pub create_delay_ms: u64,
    pub delete_delay_ms: u64,
    pub update_delay_ms: u64,
    pub max_scalings_per_day: u32,
    pub max_shards_per_stream: u32,
    pub maintenance_interval_ms: u64,
    pub subscription_heartbeat_ms: u64,
    pub shard_limit: u32,
    pub on_demand_shard_count: u32,
    pub consumer_create_delay_ms: u64,
    pub consumer_delete_delay_ms: u64,
    pub max_consumers_per_stream: u32,
    /// Streams created at start when missing, as `NAME:SHARDS`.
    pub create: Vec<String>,
}

/// A stream the configuration declares: created at start unless it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredStream {
    pub name: String,
    pub shards: u32,
}

impl DeclaredStream {
    /// `NAME:SHARDS` (`--create-stream`, `SHOAL_CREATE_STREAMS`, `streams.create`).
    pub fn parse(s: &str) -> Result<DeclaredStream, String> {
        let bad = || format!("a stream to create is NAME:SHARDS, e.g. orders:4 (got {s:?})");
        let (name, shards) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        let shards: u32 = shards.trim().parse().map_err(|_| bad())?;
        let name = name.trim();
        let valid_name = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid_name {
            return Err(format!(
                "stream name {name:?} must be 1 to 128 characters of a-z, A-Z, 0-9, _ . -"
            ));
        }
        if shards == 0 {
            return Err(format!("stream {name} needs at least 1 shard"));
        }
        Ok(DeclaredStream {
            name: name.to_string(),
            shards,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub throttle: bool,
    pub shard_write_bytes_per_sec: u64,
    pub shard_write_records_per_sec: u64,
    pub shard_read_bytes_per_sec: u64,
    pub shard_read_calls_per_sec: u64,
    pub shard_iterator_calls_per_sec: u64,
    pub put_records_max_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str(DEFAULTS_TOML).expect("the embedded config/shoal.toml parses")
    }
}

impl Config {
    /// The defaults with a TOML file's keys laid over them; keys the file leaves out
    /// keep their defaults, unknown keys are an error.
    pub fn from_file_text(text: &str) -> Result<Config, String> {
        toml::Value::Table(Config::merged(text)?)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }

    /// The defaults, the file at `path` if any, then `SHOAL_<SECTION>_<KEY>` variables
    /// from `vars` (the process environment in the binary).
    pub fn load(
        path: Option<&std::path::Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, String> {
        let text = match path {
            None => String::new(),
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read config file {}: {e}", p.display()))?,
        };
        let mut table = Config::merged(&text).map_err(|e| match path {
            Some(p) => format!("config file {}: {e}", p.display()),
            None => e,
        })?;
        env::overlay(&mut table, vars)?;
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }

    fn merged(text: &str) -> Result<toml::Table, String> {
        let mut base: toml::Table = toml::from_str(DEFAULTS_TOML).map_err(|e| e.to_string())?;
        let overlay: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        merge(&mut base, overlay);
        Ok(base)
    }

    /// The streams declared for creation at start.
    pub fn declared_streams(&self) -> Result<Vec<DeclaredStream>, String> {
        let mut out: Vec<DeclaredStream> = Vec::new();
        for s in self.streams.create.iter().filter(|s| !s.trim().is_empty()) {
            let d = DeclaredStream::parse(s)?;
            if out.iter().any(|o| o.name == d.name) {
                return Err(format!("stream {} is declared twice", d.name));
            }
            out.push(d);
        }
        Ok(out)
    }

    pub fn durability(&self) -> Result<Durability, String> {
        match self.storage.durability.as_str() {
            "sync" => Ok(Durability::Sync),
            "interval" => Ok(Durability::Interval {
                ms: self.storage.sync_interval_ms.max(1),
            }),
            "none" => Ok(Durability::None),
            other => Err(format!(
                "storage.durability must be one of sync, interval, none (got {other:?})"
            )),
        }
    }

    /// Whether the Kafka store is chosen, and it can be.
    pub fn uses_kafka(&self) -> bool {
        self.storage.store == "kafka"
    }

    fn check_store(&self) -> Result<(), String> {
        match self.storage.store.as_str() {
            "local" => return Ok(()),
            "kafka" => {}
            other => {
                return Err(format!(
                    "storage.store must be \"local\" or \"kafka\" (got {other:?})"
                ))
            }
        }
        if !cfg!(feature = "kafka") {
            return Err("this shoal was built without the `kafka` feature".into());
        }
        if self.storage.in_memory {
            return Err(
                "storage.in_memory and storage.store = \"kafka\" exclude each other".into(),
            );
        }
        let k = &self.kafka;
        if k.bootstrap.trim().is_empty() {
            return Err(
                "storage.store = \"kafka\" needs kafka.bootstrap (--kafka-bootstrap)".into(),
            );
        }
        if let Some(bad) = k.client.iter().find(|kv| !kv.contains('=')) {
            return Err(format!("kafka.client entries are key=value (got {bad:?})"));
        }
        if k.topic_prefix.is_empty()
            || !k
                .topic_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!(
                "kafka.topic_prefix must be letters, digits, '.', '_' or '-' (got {:?})",
                k.topic_prefix
            ));
        }
        if k.request_timeout_ms == 0 {
            return Err("kafka.request_timeout_ms must be at least 1".into());
        }
        Ok(())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        self.durability()?;
        self.kms.keys()?;
        self.check_store()?;
        let s = &self.streams;
        if !is_account_id(&s.account_id) {
            return Err(format!(
                "streams.account_id must be 12 digits (got {:?})",
                s.account_id
            ));
        }
        if s.region.is_empty() {
            return Err("streams.region must not be empty".into());
        }
        if s.on_demand_shard_count == 0 {
            return Err("streams.on_demand_shard_count must be at least 1".into());
        }
        if self.storage.segment_max_bytes < 4096 {
            return Err("storage.segment_max_bytes must be at least 4096".into());
        }
        if self.storage.journal_file_bytes < 1 << 20 {
            return Err("storage.journal_file_bytes must be at least 1048576 (1 MiB)".into());
        }
        if self.storage.max_open_files < 8 {
            return Err("storage.max_open_files must be at least 8".into());
        }
        let v = &self.server;
        if v.max_connections == 0 || v.max_connections_per_client == 0 {
            return Err(
                "server.max_connections and max_connections_per_client must be at least 1".into(),
            );
        }
        if v.max_header_bytes < 8192 {
            return Err("server.max_header_bytes must be at least 8192".into());
        }
        if v.header_read_timeout_ms < 100 {
            return Err("server.header_read_timeout_ms must be at least 100".into());
        }
        if !(100..=86_400_000).contains(&v.body_read_grace_ms) || v.min_body_bytes_per_sec == 0 {
            return Err(
                "server.body_read_grace_ms must be 100 to 86400000 and min_body_bytes_per_sec \
                 at least 1"
                    .into(),
            );
        }
        if v.idle_timeout_ms != 0 && v.idle_timeout_ms <= self.streams.subscription_heartbeat_ms {
            return Err(format!(
                "server.idle_timeout_ms ({}) must be longer than \
                 streams.subscription_heartbeat_ms ({}), or SubscribeToShard streams would \
                 be cut between heartbeats (0 turns the idle timeout off)",
                v.idle_timeout_ms, self.streams.subscription_heartbeat_ms
            ));
        }
        if v.max_streams_per_connection == 0 {
            return Err("server.max_streams_per_connection must be at least 1".into());
        }
        if v.max_unauthenticated_bytes_per_client < v.max_request_bytes
            || v.max_unauthenticated_bytes < v.max_request_bytes
        {
            return Err(
                "server.max_unauthenticated_bytes and max_unauthenticated_bytes_per_client must \
                 be at least server.max_request_bytes, or the largest request could never be read"
                    .into(),
            );
        }
        if let Some(r) = self.auth.regions.iter().find(|r| !is_region_name(r)) {
            return Err(format!(
                "auth.regions: {r:?} is not a region name (letters, digits and dashes)"
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.auth.credentials {
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                return Err(
                    "auth.credentials: access_key_id and secret_access_key must not be empty"
                        .into(),
                );
            }
            if !seen.insert(c.access_key_id.as_str()) {
                return Err(format!(
                    "auth.credentials: access key {} is configured twice",
                    c.access_key_id
                ));
            }
            if !is_account_id(c.account(&s.account_id)) {
                return Err(format!(
                    "auth.credentials: account_id of {} must be 12 digits (got {:?})",
                    c.access_key_id,
                    c.account(&s.account_id)
                ));
            }
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            return Err(format!(
                "server.log_format must be text or json (got {:?})",
                self.server.log_format
            ));
        }
        self.declared_streams()?;
        if self.server.max_request_bytes < 1024 {
            return Err("server.max_request_bytes must be at least 1024".into());
        }
        Ok(())
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_validate() {
        let c = Config::default();
        assert_eq!(c.server.port, 4567);
        assert_eq!(c.storage.durability, "sync");
        c.validate().unwrap();
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let c = Config::from_file_text("[server]\nport = 9000\n[storage]\ndurability = \"none\"\n")
            .unwrap();
        assert_eq!(c.server.port, 9000);
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.durability().unwrap(), Durability::None);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(Config::from_file_text("[server]\nprot = 1\n").is_err());
        let mut c = Config::default();
        c.storage.durability = "sometimes".into();
        assert!(c.validate().unwrap_err().contains("durability"));
    }

    #[test]
    fn credentials_from_the_file_and_the_flag_syntax() {
        let c = Config::from_file_text(
            "[auth]\nmax_clock_skew_secs = 60\n[[auth.credentials]]\naccess_key_id = \"A\"\nsecret_access_key = \"s\"\n\
             [[auth.credentials]]\naccess_key_id = \"B\"\nsecret_access_key = \"t\"\naccount_id = \"111111111111\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.auth.max_clock_skew_secs, 60);
        assert_eq!(
            c.auth.credentials[0].account("000000000000"),
            "000000000000"
        );
        assert_eq!(
            c.auth.credentials[1].account("000000000000"),
            "111111111111"
        );
        assert!(!format!("{c:?}").contains("secret_access_key: \"s\""));
        let f = CredentialConfig::parse("AKID:se/cr+et:222222222222").unwrap();
        assert_eq!(f.secret_access_key, "se/cr+et");
        assert_eq!(f.account_id.as_deref(), Some("222222222222"));
        assert!(CredentialConfig::parse("AKID").is_err());
        let mut bad = Config::default();
        bad.auth.credentials = vec![CredentialConfig::parse("A:s:12").unwrap()];
        assert!(bad.validate().unwrap_err().contains("12 digits"));
        bad.auth.credentials = vec![
            CredentialConfig::parse("A:s").unwrap(),
            CredentialConfig::parse("A:t").unwrap(),
        ];
        assert!(bad.validate().unwrap_err().contains("twice"));
    }
}
