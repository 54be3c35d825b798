//! Stream and shard metadata, kept apart from the record logs so that a change
//! touching several records (a split closing a parent and opening two children) lands
//! atomically or not at all. See `docs/adr/0004-catalog-file.md` for how it is stored.

mod file;
mod memory;
mod redb;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::log::LogId;
use super::StorageError;
pub use file::{dir_in_use, FileCatalog};
#[cfg(feature = "kafka")]
pub(crate) use memory::Maps;
pub use memory::MemoryCatalog;
pub use redb::RedbCatalog;

/// Life-cycle state of a stream as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamState {
    Creating,
    Active,
    Updating,
    Deleting,
}

/// One stream's metadata. The catalog stores it whole, so any change to a stream
/// (including to several of its shards) is one record written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    pub account: String,
    pub region: String,
    pub name: String,
    pub created_ms: i64,
    pub state: StreamState,
    pub retention_hours: u32,
    pub on_demand: bool,
    pub max_record_size_kib: u32,
    /// The index the next new shard gets; shard indexes are never reused in a stream.
    pub next_shard_index: u32,
    pub shards: Vec<ShardMeta>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// When UpdateShardCount last ran, for the per-day scaling quota.
    #[serde(default)]
    pub scalings_ms: Vec<i64>,
    /// Records older than this stay invisible even after retention is raised: data
    /// that expired once never comes back.
    #[serde(default)]
    pub expired_before_ms: i64,
    /// The KMS key of StartStreamEncryption while encryption is on (None = NONE).
    #[serde(default)]
    pub encryption_key_id: Option<String>,
    /// When encryption was last started or stopped, for the per-day change quota.
    #[serde(default)]
    pub encryption_changes_ms: Vec<i64>,
    /// Enabled enhanced monitoring metrics, in the model's order.
    #[serde(default)]
    pub shard_level_metrics: Vec<String>,
    /// UpdateStreamWarmThroughput's target, in MiB/s.
    #[serde(default)]
    pub warm_throughput_mibps: Option<u32>,
    /// The resource policy attached to the stream, as given and as parsed.
    #[serde(default)]
    pub policy: Option<ResourcePolicy>,
    /// Enhanced fan-out consumers registered with the stream, in registration order.
    #[serde(default)]
    pub consumers: Vec<ConsumerMeta>,
    /// A reshard accepted while the stream shows UPDATING: its parents stay open until
    /// these steps take effect together, when the stream returns to ACTIVE.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_reshard: Vec<ReshardStep>,
}

/// One step of a pending reshard, as the call that asked for it gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReshardStep {
    Split { shard: u32, at: u128 },
    Merge { shard: u32, adjacent: u32 },
    Uniform { target: u32 },
}

/// Life-cycle state of an enhanced fan-out consumer as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsumerState {
    Creating,
    Active,
    Deleting,
}

/// One enhanced fan-out consumer; it lives inside its stream's record, so it is
/// written (and deleted) with the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerMeta {
    pub name: String,
    /// Registration time; its second is part of the consumer ARN.
    pub created_ms: i64,
    pub state: ConsumerState,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub policy: Option<ResourcePolicy>,
}

/// A resource policy: the document as the caller sent it, and the statements the
/// broker evaluates (parsed once, when the policy is put).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePolicy {
    pub document: String,
    pub statements: Vec<PolicyStatement>,
}

/// One statement of a resource policy, reduced to what Shoal evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatement {
    /// true = Allow, false = Deny.
    pub allow: bool,
    /// Account ids, or `*` for anyone.
    pub principals: Vec<String>,
    /// Action patterns (`kinesis:PutRecord`, `kinesis:Get*`, `*`).
    pub actions: Vec<String>,
    /// Resource patterns; empty = any resource.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The statement has a Condition, which Shoal does not evaluate.
    #[serde(default)]
    pub conditional: bool,
}

/// An account's MinimumThroughputBillingCommitment, persisted in the settings table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BillingCommitment {
    pub enabled: bool,
    pub started_ms: Option<i64>,
    /// When it ends (or ended) once disabling was asked for.
    pub ended_ms: Option<i64>,
    pub earliest_end_ms: Option<i64>,
}

impl BillingCommitment {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(b: &[u8]) -> Option<BillingCommitment> {
        serde_json::from_slice(b).ok()
    }
}

impl StreamMeta {
    /// The catalog key: names are unique per account and region.
    pub fn key(&self) -> String {
        stream_key(&self.account, &self.region, &self.name)
    }
}

pub fn stream_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// One shard's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    pub index: u32,
    /// The record log holding this shard's data.
    pub log_id: LogId,
    /// Hash-key range, inclusive at both ends; decimal strings because JSON numbers
    /// cannot carry 128 bits portably.
    #[serde(with = "u128_string")]
    pub start_hash: u128,
    #[serde(with = "u128_string")]
    pub end_hash: u128,
    pub parent: Option<u32>,
    pub adjacent_parent: Option<u32>,
    pub created_ms: i64,
    /// Set once resharding closed the shard: the offset one past its last record, and when.
    pub closed: Option<ShardClosed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardClosed {
    pub end_offset: u64,
    pub closed_ms: i64,
}

mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Everything the catalog holds, as loaded at start-up.
#[derive(Debug, Clone, Default)]
pub struct CatalogState {
    pub streams: Vec<StreamMeta>,
    pub settings: BTreeMap<String, Vec<u8>>,
}

/// One change; a slice of them is applied in one transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
// Ops live only for the length of one commit, mostly one or two at a time: boxing the
// stream record would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum CatalogOp {
    PutStream(StreamMeta),
    DeleteStream {
        key: String,
    },
    PutSetting {
        name: String,
        value: Vec<u8>,
    },
    /// Records where a closed shard ended, once a shared store settled it
    /// (`ShardLog::seal_recorded`); ignored unless that shard still has this log.
    ShardEnd {
        key: String,
        log_id: LogId,
        end_offset: u64,
    },
}

/// What a shared catalog calls with each change another process committed.
pub type ApplyRemote = Box<dyn Fn(&[CatalogOp]) + Send + Sync>;

/// What one process took from a shard's throughput budget since it last told the
/// others sharing its catalog (the limits hold for a stream, not per process).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub write_bytes: u64,
    pub write_records: u64,
    pub read_bytes: u64,
    pub read_calls: u64,
    pub iterator_calls: u64,
}

impl Usage {
    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }
}

/// What a shared catalog calls with the usage another process reported, by shard log.
pub type ApplyUsage = Box<dyn Fn(&[(LogId, Usage)]) + Send + Sync>;

/// The metadata store.
pub trait Catalog: Send + Sync + 'static {
    fn load(&self) -> Result<CatalogState, StorageError>;
    /// Applies every op or none.
    fn commit(&self, ops: &[CatalogOp]) -> Result<(), StorageError>;
    /// Why the catalog refuses commits, when it does (until a restart).
    fn poisoned(&self) -> Option<String> {
        None
    }
    /// Whether other processes change this catalog too (ADR 0005). Its `commit` then
    /// fails with `StorageError::Conflict` when another change to the same stream came
    /// first, and the caller decides again on the state [`Catalog::catch_up`] brings.
    fn shared(&self) -> bool {
        false
    }
    /// Hands every change other processes commit after `load` to `apply`, in order.
    fn follow(&self, _apply: ApplyRemote) {}
    /// Returns once every change committed anywhere before the call has gone through
    /// `follow`'s callback.
    fn catch_up(&self) -> Result<(), StorageError> {
        Ok(())
    }
    /// Tells the other processes what this one took from shards' budgets; best effort
    /// (a report lost costs a moment of looser limits, never data).
    fn share_usage(&self, _usage: &[(LogId, Usage)]) {}
    /// Hands every report of the other processes' usage to `apply`.
    fn follow_usage(&self, _apply: ApplyUsage) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> StreamMeta {
        StreamMeta {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            name: name.into(),
            created_ms: 1,
            state: StreamState::Active,
            retention_hours: 24,
            on_demand: false,
            max_record_size_kib: 1024,
            next_shard_index: 1,
            shards: vec![ShardMeta {
                index: 0,
                log_id: 7,
                start_hash: 0,
                end_hash: u128::MAX,
                parent: None,
                adjacent_parent: None,
                created_ms: 1,
                closed: None,
            }],
            tags: BTreeMap::new(),
            scalings_ms: Vec::new(),
            expired_before_ms: 0,
            encryption_key_id: None,
            encryption_changes_ms: Vec::new(),
            shard_level_metrics: Vec::new(),
            warm_throughput_mibps: None,
            policy: None,
            consumers: Vec::new(),
            pending_reshard: Vec::new(),
        }
    }

    fn round_trip(cat: &dyn Catalog) {
        cat.commit(&[
            CatalogOp::PutStream(sample("a")),
            CatalogOp::PutStream(sample("b")),
            CatalogOp::PutSetting {
                name: "k".into(),
                value: vec![1, 2],
            },
        ])
        .unwrap();
        cat.commit(&[CatalogOp::DeleteStream {
            key: sample("a").key(),
        }])
        .unwrap();
        let state = cat.load().unwrap();
        assert_eq!(state.streams, vec![sample("b")]);
        assert_eq!(state.settings.get("k"), Some(&vec![1, 2]));
    }

    #[test]
    fn memory_catalog_round_trips() {
        round_trip(&MemoryCatalog::default());
    }

    #[test]
    fn file_catalog_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::storage::fs::os();
        round_trip(&FileCatalog::open_on(&fs, dir.path()).unwrap());
        let again = FileCatalog::open_on(&fs, dir.path())
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(again.streams, vec![sample("b")]);
        assert_eq!(again.streams[0].shards[0].end_hash, u128::MAX);
        assert_eq!(again.settings.get("k"), Some(&vec![1, 2]));
    }

    #[test]
    fn a_second_open_of_a_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::storage::fs::os();
        let first = FileCatalog::open_on(&fs, dir.path()).unwrap();
        match FileCatalog::open_on(&fs, dir.path()) {
            Err(StorageError::Catalog(why)) => assert!(why.contains("another process"), "{why}"),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("two catalogs open on one data dir"),
        }
        drop(first);
        FileCatalog::open_on(&fs, dir.path()).unwrap();
    }

    #[test]
    fn a_redb_catalog_of_an_earlier_version_is_imported_once() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::storage::fs::os();
        let old = dir.path().join("catalog.redb");
        let legacy = RedbCatalog::open_on(&fs, &old).unwrap();
        legacy
            .commit(&[
                CatalogOp::PutStream(sample("a")),
                CatalogOp::PutSetting {
                    name: "k".into(),
                    value: vec![9],
                },
            ])
            .unwrap();
        drop(legacy);
        let state = FileCatalog::open_on(&fs, dir.path())
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(state.streams, vec![sample("a")]);
        assert_eq!(state.settings.get("k"), Some(&vec![9]));
        assert!(!old.exists());
        assert!(dir.path().join("catalog.redb.imported").exists());
        // Read from the new file from now on.
        let again = FileCatalog::open_on(&fs, dir.path())
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(again.streams, vec![sample("a")]);
    }

    #[test]
    fn a_damaged_catalog_fails_open() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::storage::fs::os();
        round_trip(&FileCatalog::open_on(&fs, dir.path()).unwrap());
        let path = file::path(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
        match FileCatalog::open_on(&fs, dir.path()) {
            Err(StorageError::Corrupt { path: p, .. }) => assert_eq!(p, path),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("opened a damaged catalog"),
        }
    }
}
