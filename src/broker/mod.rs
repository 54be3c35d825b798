//! Kinesis semantics in plain Rust types: streams, shards, routing, sequence numbers,
//! iterators and status transitions. No HTTP and no wire formats here.

pub mod arn;
pub mod browse;
pub mod clock;
pub mod consumer_resources;
pub mod consumers;
pub mod error;
#[cfg(test)]
mod explore;
pub mod follow;
pub mod kms;
pub mod on_demand;
pub mod policy;
pub mod put;
pub mod records;
pub mod reshape;
pub mod reshard;
pub mod retention;
pub mod routing;
pub mod seals;
pub mod sequence;
pub mod settings;
pub mod shards;
pub mod stats;
pub mod streams;
pub mod subscribe;
pub mod tags;
pub mod takeover;
pub mod throttle;
pub mod token;
pub mod usage;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::storage::catalog::{
    BillingCommitment, Catalog, CatalogOp, PolicyStatement, ShardMeta, StreamMeta, StreamState,
};
use crate::storage::log::{LogStore, ShardLog};
use crate::storage::StorageError;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BrokerError, BrokerResult};
use throttle::{ControlQuotas, Limits, ShardMeter};

/// Runs storage work that may wait for the disk on the runtime's blocking pool, so a
/// slow disk stalls no worker thread.
pub(crate) async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StorageError::io(
            "run storage work",
            "",
            std::io::Error::other(e.to_string()),
        ))
    })
}

/// The broker's own section of the configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Account id used in ARNs and messages (a single-account broker for now).
    pub account_id: String,
    /// How long a new stream stays CREATING; 0 makes it ACTIVE at once.
    pub create_delay_ms: u64,
    /// How long a deleted stream stays DELETING before it is gone.
    pub delete_delay_ms: u64,
    /// How long a stream shows UPDATING after a reshard or a setting change.
    pub update_delay_ms: u64,
    /// UpdateShardCount calls allowed per stream in a rolling 24 hours (AWS: 10).
    pub max_scalings_per_day: u32,
    /// Most open shards one stream may have (AWS: 10000 through UpdateShardCount).
    pub max_shards_per_stream: u32,
    /// Open shards allowed per account and region, as AWS's shard quota.
    pub shard_limit: u32,
    /// Shards an ON_DEMAND stream starts with (AWS: 4 MiB/s of write capacity).
    pub on_demand_shard_count: u32,
    /// How long a new consumer stays CREATING; 0 makes it ACTIVE at once.
    pub consumer_create_delay_ms: u64,
    /// How long a deregistered consumer stays DELETING before it is gone.
    pub consumer_delete_delay_ms: u64,
    /// Most consumers one stream may have registered (AWS: 20).
    pub max_consumers_per_stream: u32,
    /// Per-shard throughput limits and whether they apply.
    pub limits: Limits,
    /// An idle SubscribeToShard subscription still gets an (empty) event this often.
    pub subscription_heartbeat_ms: u64,
    /// Data plus partition keys allowed in one PutRecords call (raised to a stream's
    /// maximum record size when that is larger).
    pub put_records_max_bytes: usize,
    /// Customer keys StartStreamEncryption may name, besides `alias/aws/kinesis`.
    pub kms_keys: Vec<kms::KeySpec>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            account_id: "000000000000".into(),
            create_delay_ms: 0,
            delete_delay_ms: 500,
            update_delay_ms: 500,
            max_scalings_per_day: 10,
            max_shards_per_stream: 10_000,
            shard_limit: 500,
            on_demand_shard_count: 4,
            consumer_create_delay_ms: 0,
            consumer_delete_delay_ms: 500,
            max_consumers_per_stream: 20,
            limits: Limits::default(),
            subscription_heartbeat_ms: 5000,
            put_records_max_bytes: 10 * 1024 * 1024,
            kms_keys: Vec::new(),
        }
    }
}

/// Who is asking, and where: streams are namespaced by account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

/// How a request names its stream: by name, by ARN, or both (which must agree).
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamRef<'a> {
    pub name: Option<&'a str>,
    pub arn: Option<&'a str>,
}

/// One shard at run time: its metadata and its open log.
pub struct Shard {
    pub meta: ShardMeta,
    pub log: Arc<dyn ShardLog>,
    /// Throughput buckets and write counters; carried over when resharding rebuilds
    /// the shard set, so closing a neighbour does not refill this shard's budget.
    pub meter: Arc<ShardMeter>,
}

/// A consistent view of a stream's shards, swapped whole when resharding changes it.
pub struct ShardSet {
    /// Every shard still kept, by ascending index.
    pub all: Vec<Arc<Shard>>,
    /// Open shards by ascending starting hash key; they tile the hash-key space.
    pub open: Vec<Arc<Shard>>,
    /// `open[i].meta.start_hash`, for binary search on the write path.
    pub open_starts: Vec<u128>,
}

impl ShardSet {
    fn new(all: Vec<Arc<Shard>>) -> ShardSet {
        let mut all = all;
        all.sort_by_key(|s| s.meta.index);
        let mut open: Vec<Arc<Shard>> = all
            .iter()
            .filter(|s| s.meta.closed.is_none())
            .cloned()
            .collect();
        open.sort_by_key(|s| s.meta.start_hash);
        let open_starts = open.iter().map(|s| s.meta.start_hash).collect();
        ShardSet {
            all,
            open,
            open_starts,
        }
    }

    pub fn by_index(&self, index: u32) -> Option<&Arc<Shard>> {
        self.all
            .binary_search_by_key(&index, |s| s.meta.index)
            .ok()
            .map(|i| &self.all[i])
    }
}

/// One stream at run time.
pub struct Stream {
    pub account: String,
    pub region: String,
    pub name: String,
    pub created_ms: i64,
    /// Mirrors `meta.state` so the data path reads it without taking `meta`'s lock.
    status: AtomicU8,
    /// Mirrors `meta.retention_hours`, read by every GetRecords.
    retention_hours: AtomicU32,
    /// Mirrors `meta.expired_before_ms`.
    expired_before_ms: AtomicI64,
    /// Mirrors `meta.on_demand`: on-demand streams are not throttled per shard.
    on_demand: AtomicBool,
    /// Mirrors `meta.max_record_size_kib` in bytes, read by every put.
    max_record_bytes: AtomicUsize,
    /// Mirrors `meta.encryption_key_id`: the key new records are sealed with.
    encryption_key: arc_swap::ArcSwapOption<String>,
    /// Mirrors `meta.policy`'s statements, read by policy enforcement on every call.
    policy: arc_swap::ArcSwapOption<Vec<PolicyStatement>>,
    /// The persisted metadata; changed only by control-plane calls, under
    /// `Broker::control`.
    meta: Mutex<StreamMeta>,
    shards: ArcSwap<ShardSet>,
}

fn state_code(s: StreamState) -> u8 {
    match s {
        StreamState::Creating => 0,
        StreamState::Active => 1,
        StreamState::Updating => 2,
        StreamState::Deleting => 3,
    }
}

fn state_from_code(c: u8) -> StreamState {
    match c {
        0 => StreamState::Creating,
        1 => StreamState::Active,
        2 => StreamState::Updating,
        _ => StreamState::Deleting,
    }
}

impl Stream {
    fn new(meta: StreamMeta, shards: Vec<Arc<Shard>>) -> Stream {
        Stream {
            account: meta.account.clone(),
            region: meta.region.clone(),
            name: meta.name.clone(),
            created_ms: meta.created_ms,
            status: AtomicU8::new(state_code(meta.state)),
            retention_hours: AtomicU32::new(meta.retention_hours),
            expired_before_ms: AtomicI64::new(meta.expired_before_ms),
            on_demand: AtomicBool::new(meta.on_demand),
            max_record_bytes: AtomicUsize::new(meta.max_record_size_kib as usize * 1024),
            encryption_key: arc_swap::ArcSwapOption::new(
                meta.encryption_key_id.clone().map(Arc::new),
            ),
            policy: arc_swap::ArcSwapOption::new(
                meta.policy.as_ref().map(|p| Arc::new(p.statements.clone())),
            ),
            shards: ArcSwap::from_pointee(ShardSet::new(shards)),
            meta: Mutex::new(meta),
        }
    }

    pub fn status(&self) -> StreamState {
        state_from_code(self.status.load(Ordering::Acquire))
    }

    pub fn shards(&self) -> arc_swap::Guard<Arc<ShardSet>> {
        self.shards.load()
    }

    pub fn retention_ms(&self) -> i64 {
        self.retention_hours.load(Ordering::Acquire) as i64 * 3_600_000
    }

    /// Records stamped before this are past retention and never returned.
    pub fn retention_cutoff(&self, now_ms: i64) -> i64 {
        (now_ms - self.retention_ms()).max(self.expired_before_ms.load(Ordering::Acquire))
    }

    /// The ResourceInUseException AWS answers when the stream's status forbids a call.
    pub(crate) fn not_active(&self, scope: &Scope) -> BrokerError {
        BrokerError::ResourceInUse(format!(
            "Stream {} under account {} not ACTIVE, instead in state {}",
            self.name,
            scope.account,
            streams::status_word(self.status())
        ))
    }

    /// Ok when the stream's status is one of `allowed`, else [`Stream::not_active`].
    pub(crate) fn require_status(
        &self,
        scope: &Scope,
        allowed: &[StreamState],
    ) -> BrokerResult<()> {
        if allowed.contains(&self.status()) {
            Ok(())
        } else {
            Err(self.not_active(scope))
        }
    }

    pub fn is_on_demand(&self) -> bool {
        self.on_demand.load(Ordering::Acquire)
    }

    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes.load(Ordering::Acquire)
    }

    /// The KMS key records written now are sealed with, if the stream is encrypted.
    pub fn encryption_key(&self) -> Option<Arc<String>> {
        self.encryption_key.load_full()
    }

    /// The statements of the stream's resource policy, if it has one.
    pub fn policy_statements(&self) -> Option<Arc<Vec<PolicyStatement>>> {
        self.policy.load_full()
    }

    pub fn meta(&self) -> StreamMeta {
        self.meta.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn arn(&self) -> String {
        arn::stream_arn(&self.region, &self.account, &self.name)
    }

    pub(crate) fn key(&self) -> String {
        crate::storage::catalog::stream_key(&self.account, &self.region, &self.name)
    }

    /// Where `shard`'s records are stored, as bound into each sealed one.
    pub(crate) fn record_context(&self, shard: &Shard) -> Vec<u8> {
        kms::envelope::context(&self.key(), self.created_ms, shard.meta.log_id)
    }
}

/// The broker: every stream of every account and region this server holds.
pub struct Broker {
    config: BrokerConfig,
    /// Streams by catalog key. Read lock-free on every request; replaced whole (copy on
    /// write) by the rare control-plane calls that add or remove a stream.
    streams: ArcSwap<HashMap<String, Arc<Stream>>>,
    /// Serializes control-plane changes so catalog writes and the stream map agree.
    control: Mutex<ControlState>,
    logs: Arc<dyn LogStore>,
    catalog: Arc<dyn Catalog>,
    clock: Arc<dyn Clock>,
    signer: token::Signer,
    /// The keys of encrypted streams.
    kms: kms::Keyring,
    quotas: ControlQuotas,
    /// What the on-demand scaler saw at its previous pass.
    scaler: on_demand::ScalerState,
    /// Live SubscribeToShard subscriptions, for the takeover rule.
    pub subscriptions: subscribe::Subscriptions,
    /// Account settings (the billing commitment) by account id, as persisted.
    accounts: Mutex<HashMap<String, BillingCommitment>>,
    /// Streams seen waiting in a status change, and since when (`takeover`).
    waiting: takeover::Waiting,
}

/// State only control-plane calls touch.
struct ControlState {
    next_log_id: u64,
}

/// Seals a closed shard's log at the end its metadata records (an open shard's log is
/// left as it is): at start, and when another node's change closed the shard.
fn close_as_recorded(log: &dyn ShardLog, meta: &ShardMeta) -> Result<(), StorageError> {
    if let Some(closed) = meta.closed {
        log.seal()?;
        log.ends_at(closed.end_offset);
    }
    Ok(())
}

const SETTING_NEXT_LOG_ID: &str = "next-log-id";
const SETTING_TOKEN_KEY: &str = "token-key";

impl Broker {
    /// Loads the catalog, opens every shard log, removes logs no stream refers to
    /// (left by a crash between creating a log and committing its stream), and finishes
    /// status transitions that were under way when the server stopped (a pending
    /// reshard takes effect: the call that asked for it was answered).
    pub fn open(
        config: BrokerConfig,
        logs: Arc<dyn LogStore>,
        catalog: Arc<dyn Catalog>,
        clock: Arc<dyn Clock>,
    ) -> BrokerResult<Arc<Broker>> {
        let mut tries = 0;
        loop {
            let opened = Self::open_once(&config, &logs, &catalog, &clock);
            match opened {
                // Another node changed what this one settles at start: load again.
                Err(BrokerError::Storage(StorageError::Conflict)) if tries < follow::RETRIES => {
                    tries += 1
                }
                other => return other,
            }
        }
    }

    fn open_once(
        config: &BrokerConfig,
        logs: &Arc<dyn LogStore>,
        catalog: &Arc<dyn Catalog>,
        clock: &Arc<dyn Clock>,
    ) -> BrokerResult<Arc<Broker>> {
        let (config, logs, catalog, clock) =
            (config.clone(), logs.clone(), catalog.clone(), clock.clone());
        let state = catalog.load()?;
        let mut ops = Vec::new();
        let key = match state.settings.get(SETTING_TOKEN_KEY) {
            Some(k) => k.clone(),
            None => {
                let k: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
                    .iter()
                    .flat_map(|u| u.as_bytes().to_vec())
                    .collect();
                ops.push(CatalogOp::PutSetting {
                    name: SETTING_TOKEN_KEY.into(),
                    value: k.clone(),
                });
                k
            }
        };
        // The managed KMS key is derived from the same catalog secret (`kms::keyring`).
        let kms = kms::Keyring::new(&config.kms_keys, &key).map_err(BrokerError::Internal)?;
        let mut next_log_id = state
            .settings
            .get(SETTING_NEXT_LOG_ID)
            .and_then(|v| v.as_slice().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(1);

        let accounts: HashMap<String, BillingCommitment> = state
            .settings
            .iter()
            .filter_map(|(k, v)| {
                let account = k.strip_prefix(settings::SETTING_ACCOUNT_PREFIX)?;
                Some((account.to_string(), BillingCommitment::from_bytes(v)?))
            })
            .collect();
        let mut referenced = HashSet::new();
        let mut streams = HashMap::new();
        let mut resharding = Vec::new();
        let mut gone = Vec::new();
        for mut meta in state.streams {
            if meta.state == StreamState::Deleting {
                gone.push(meta);
                continue;
            }
            let mut changed = consumers::settle_at_start(&mut meta);
            if meta.state == StreamState::Updating && !meta.pending_reshard.is_empty() {
                // Its reshard takes effect once the broker is up, as at a timer's end.
                resharding.push((meta.key(), meta.created_ms));
            } else if matches!(meta.state, StreamState::Creating | StreamState::Updating) {
                meta.state = StreamState::Active;
                changed = true;
            }
            if changed {
                ops.push(CatalogOp::PutStream(meta.clone()));
            }
            let mut shards = Vec::with_capacity(meta.shards.len());
            for s in &meta.shards {
                referenced.insert(s.log_id);
                next_log_id = next_log_id.max(s.log_id + 1);
                let log = logs.open(s.log_id)?;
                close_as_recorded(&*log, s)?;
                shards.push(Arc::new(Shard {
                    meta: s.clone(),
                    log,
                    meter: Arc::new(ShardMeter::new(&config.limits, clock.now_ms())),
                }));
            }
            let stream = Stream::new(meta, shards);
            streams.insert(stream.key(), Arc::new(stream));
        }
        let mut gone_logs = Vec::new();
        for meta in gone {
            ops.push(CatalogOp::DeleteStream { key: meta.key() });
            gone_logs.extend(meta.shards.iter().map(|s| s.log_id));
        }
        if !ops.is_empty() {
            catalog.commit(&ops)?;
        }
        // Another node may have made a log for a stream it has not recorded yet: only a
        // store this process owns alone is swept.
        if !catalog.shared() {
            for id in logs.list()? {
                next_log_id = next_log_id.max(id + 1);
                if !referenced.contains(&id) {
                    tracing::info!(log = id, "removing a log no stream refers to");
                    logs.remove(id)?;
                }
            }
        }
        let broker = Arc::new(Broker {
            config,
            streams: ArcSwap::from_pointee(streams),
            control: Mutex::new(ControlState { next_log_id }),
            logs,
            catalog,
            clock,
            kms,
            signer: token::Signer::new(key),
            quotas: ControlQuotas::default(),
            scaler: on_demand::ScalerState::default(),
            subscriptions: subscribe::Subscriptions::default(),
            accounts: Mutex::new(accounts),
            waiting: takeover::Waiting::default(),
        });
        if broker.catalog.shared() {
            // Unswept, the logs of a stream deleted before this start go here.
            broker.remove_logs(gone_logs.into_iter());
            broker.follow_usage();
            let me = Arc::downgrade(&broker);
            broker.catalog.follow(Box::new(move |ops| {
                if let Some(me) = me.upgrade() {
                    me.apply_remote(ops);
                }
            }));
        }
        broker.warn_of_missing_keys();
        // On a shared catalog the node that accepted a reshard may still be running its
        // timer: a reshard it left behind is taken over later (`takeover`).
        if !broker.catalog.shared() {
            for (key, created) in resharding {
                let done = broker.become_active(&key, created, StreamState::Updating);
                if let Err(e) = done {
                    tracing::error!(stream = %key, error = %e, "a pending reshard could not take effect at start; trying again");
                    if let Some(stream) = broker.streams.load().get(&key) {
                        broker.finish_updating_later(stream, 1000);
                    }
                }
            }
        }
        Ok(broker)
    }

    /// Says at start which encrypted streams name a key this server does not have
    /// (removed from the key file, or recorded by a version that only kept the
    /// setting): their puts answer KMSNotFoundException until it is configured or
    /// StopStreamEncryption is called.
    fn warn_of_missing_keys(&self) {
        for stream in self.streams.load().values() {
            let Some(key) = stream.encryption_key() else {
                continue;
            };
            if let Err(e) = self.kms.sealer(&key) {
                tracing::warn!(
                    stream = %stream.key(),
                    key = %key,
                    problem = ?e,
                    "an encrypted stream's key is not usable: its puts fail until the key is configured ([kms] in the config) or StopStreamEncryption is called"
                );
            }
        }
    }

    /// Takes the control-plane lock. With a catalog shared by several nodes, log ids
    /// are drawn at random (52 bits) rather than counted, so nodes never hand out the
    /// same one.
    fn lock_control(&self) -> std::sync::MutexGuard<'_, ControlState> {
        let mut control = self.control.lock().unwrap_or_else(|p| p.into_inner());
        if self.catalog.shared() {
            control.next_log_id = (uuid::Uuid::new_v4().as_u128() as u64) >> 12;
        }
        control
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Every stream of every account and region, by name (for metrics and the console).
    pub fn all_streams(&self) -> Vec<Arc<Stream>> {
        let mut all: Vec<Arc<Stream>> = self.streams.load().values().cloned().collect();
        all.sort_by(|a, b| (&a.name, &a.account, &a.region).cmp(&(&b.name, &b.account, &b.region)));
        all
    }

    /// The store's fdatasync latencies, where it syncs.
    pub fn fsync_latency(&self) -> Option<&crate::metrics::Histogram> {
        self.logs.fsync_latency()
    }

    /// Why the broker cannot take writes now, if it cannot: `(fatal, reason)`, fatal
    /// when only a restart brings it back (a failed sync), not when the disk is full.
    /// The reason names no file: `/health` shows it to anyone; the log has the details.
    pub fn storage_problem(&self) -> Option<(bool, &'static str)> {
        if self.logs.poisoned().is_some() {
            return Some((true, "a disk sync failed: writes are refused until a restart (the server log names the file)"));
        }
        if self.catalog.poisoned().is_some() {
            return Some((true, "a catalog change failed to reach the disk: changes are refused until a restart (the server log says why)"));
        }
        self.logs
            .full()
            .map(|_| (false, "the disk is full: writes resume once space is freed"))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Applies the per-account rate quota of a control-plane operation.
    pub fn admit_control(&self, scope: &Scope, operation: &'static str) -> BrokerResult<()> {
        if !self.config.limits.enabled
            || self
                .quotas
                .admit(&scope.account, operation, self.clock.now_ms())
        {
            return Ok(());
        }
        Err(BrokerError::LimitExceeded(format!(
            "Rate exceeded for {operation} under account {}.",
            scope.account
        )))
    }

    fn new_meter(&self) -> Arc<ShardMeter> {
        Arc::new(ShardMeter::new(&self.config.limits, self.clock.now_ms()))
    }

    /// Syncs and closes every log; called once at shutdown.
    pub fn shutdown(&self) -> BrokerResult<()> {
        Ok(self.logs.shutdown()?)
    }

    fn not_found(&self, scope: &Scope, name: &str) -> BrokerError {
        BrokerError::ResourceNotFound(format!(
            "Stream {name} under account {} not found.",
            scope.account
        ))
    }

    /// Finds the stream a request names, checking that name and ARN agree.
    pub fn stream(&self, scope: &Scope, r: StreamRef<'_>) -> BrokerResult<Arc<Stream>> {
        let name = match (r.name, r.arn) {
            (None, None) => {
                return Err(BrokerError::InvalidArgument(
                    "Either StreamName or StreamARN must be provided.".into(),
                ))
            }
            (Some(n), None) => n.to_string(),
            (name, Some(a)) => {
                let parsed = arn::parse_stream_arn(a).ok_or_else(|| {
                    BrokerError::InvalidArgument(format!(
                        "StreamARN {a} is not a valid stream ARN."
                    ))
                })?;
                if let Some(n) = name {
                    if n != parsed.name {
                        return Err(BrokerError::InvalidArgument(format!(
                            "StreamName {n} and StreamARN {a} do not name the same stream."
                        )));
                    }
                }
                if parsed.account != scope.account || parsed.region != scope.region {
                    return Err(self.not_found(scope, &parsed.name));
                }
                parsed.name
            }
        };
        self.lookup(scope, &name)
            .ok_or_else(|| self.not_found(scope, &name))
    }

    fn lookup(&self, scope: &Scope, name: &str) -> Option<Arc<Stream>> {
        let key = crate::storage::catalog::stream_key(&scope.account, &scope.region, name);
        self.streams.load().get(&key).cloned()
    }

    /// Persists a changed stream record and publishes the new status.
    fn commit_meta(&self, stream: &Stream, meta: StreamMeta) -> BrokerResult<()> {
        self.commit_meta_with(stream, meta, Vec::new())
    }

    /// Like `commit_meta`, with more changes in the same transaction.
    fn commit_meta_with(
        &self,
        stream: &Stream,
        meta: StreamMeta,
        mut more: Vec<CatalogOp>,
    ) -> BrokerResult<()> {
        more.insert(0, CatalogOp::PutStream(meta.clone()));
        self.catalog.commit(&more)?;
        stream.mirror(meta);
        Ok(())
    }
}

impl Stream {
    /// Publishes a recorded change of the stream's metadata to the data path.
    fn mirror(&self, meta: StreamMeta) {
        self.status.store(state_code(meta.state), Ordering::Release);
        self.retention_hours
            .store(meta.retention_hours, Ordering::Release);
        self.expired_before_ms
            .store(meta.expired_before_ms, Ordering::Release);
        self.on_demand.store(meta.on_demand, Ordering::Release);
        self.max_record_bytes
            .store(meta.max_record_size_kib as usize * 1024, Ordering::Release);
        self.encryption_key
            .store(meta.encryption_key_id.clone().map(Arc::new));
        self.policy
            .store(meta.policy.as_ref().map(|p| Arc::new(p.statements.clone())));
        *self.meta.lock().unwrap_or_else(|p| p.into_inner()) = meta;
    }
}
