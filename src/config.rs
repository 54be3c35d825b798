//! Typed configuration: the commented defaults in `config/shoal.toml` (embedded in
//! the binary), then a TOML file, then `SHOAL_*` environment variables and flags (both
//! handled by `cli`), then `validate()`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::storage::log::Durability;

/// The defaults file, embedded so `shoal serve` needs nothing on disk to start.
pub const DEFAULTS_TOML: &str = include_str!("../config/shoal.toml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub streams: StreamsConfig,
    pub limits: LimitsConfig,
    /// Knobs only code sets (tests, embedding): never read from TOML, env or flags.
    #[serde(skip)]
    pub test: TestKnobs,
}

/// Settings reachable only from code, for tests of behaviour that production turns
/// on elsewhere (the SigV4 work wires real credentials and accounts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestKnobs {
    /// Evaluate resource policies on every request (`ApiConfig::enforce_policies`).
    pub enforce_policies: bool,
    /// The account a request acts as, by the access key id of its signature; keys
    /// not listed act as `streams.account_id`.
    pub accounts_by_access_key: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub max_request_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub in_memory: bool,
    pub durability: String,
    pub sync_interval_ms: u64,
    pub segment_max_bytes: u64,
    pub segment_max_age_ms: u64,
    pub index_interval_bytes: u32,
    pub max_open_files: usize,
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
    pub shard_limit: u32,
    pub on_demand_shard_count: u32,
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
        let mut base: toml::Table = toml::from_str(DEFAULTS_TOML).map_err(|e| e.to_string())?;
        let overlay: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        merge(&mut base, overlay);
        toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }

    pub fn load(path: Option<&std::path::Path>) -> Result<Config, String> {
        match path {
            None => Ok(Config::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read config file {}: {e}", p.display()))?;
                Config::from_file_text(&text)
                    .map_err(|e| format!("config file {}: {e}", p.display()))
            }
        }
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

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        self.durability()?;
        let s = &self.streams;
        if s.account_id.len() != 12 || !s.account_id.bytes().all(|b| b.is_ascii_digit()) {
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
        if self.storage.max_open_files < 8 {
            return Err("storage.max_open_files must be at least 8".into());
        }
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
}
