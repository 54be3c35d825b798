//! Putting the layers together: listen, open storage and the broker behind a 503,
//! create the declared streams, serve HTTP/1.1 and HTTP/2 (h2c) on one listener, and
//! shut down cleanly.

pub mod conn;
mod startup;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::api::auth::Authenticator;
use crate::api::budget::BudgetSizes;
use crate::api::http::{router, ApiConfig, ApiState};
use crate::api::metrics::MetricsOptions;
use crate::broker::throttle::Limits;
use crate::broker::{Broker, BrokerConfig, Clock, SystemClock};
use crate::config::Config;
use crate::storage::catalog::{Catalog, FileCatalog, MemoryCatalog};
use crate::storage::fs::{self, Fs};
use crate::storage::log::disk::{DiskLogStore, DiskOptions};
use crate::storage::log::memory::MemoryLogStore;
use crate::storage::log::LogStore;
use crate::tls;

/// Opens the stores the configuration names and the broker on top of them.
pub fn open_broker(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<Broker>, String> {
    open_broker_on(config, clock, os_fs(config))
}

/// The machine's filesystem, with or without Linux's own calls.
fn os_fs(config: &Config) -> Arc<dyn fs::Fs> {
    match config.storage.portable_io {
        true => fs::portable(),
        false => fs::os(),
    }
}

/// A log store and the catalog that goes with it.
type Stores = (Arc<dyn LogStore>, Arc<dyn Catalog>);

/// The stores of `storage.store = "kafka"`: the catalog first, since appends wait on
/// its barrier.
#[cfg(feature = "kafka")]
fn open_kafka(config: &Config) -> Result<Stores, String> {
    use crate::storage::kafka::{Cluster, KafkaCatalog, KafkaLogStore, KafkaOptions};
    let k = &config.kafka;
    let mut opts = KafkaOptions::new(k.bootstrap.clone());
    opts.topic_prefix = k.topic_prefix.clone();
    opts.replication_factor = (k.replication_factor > 0).then_some(k.replication_factor as i32);
    opts.min_insync_replicas = (k.min_insync_replicas > 0).then_some(k.min_insync_replicas as i32);
    opts.request_timeout_ms = k.request_timeout_ms;
    for kv in &k.client {
        let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
        opts.client.insert(key.trim().into(), value.trim().into());
    }
    let cluster = Cluster::connect(opts).map_err(|e| e.to_string())?;
    let catalog = KafkaCatalog::open(cluster.clone()).map_err(|e| e.to_string())?;
    let logs = KafkaLogStore::new(cluster, catalog.barrier());
    Ok((logs, Arc::new(catalog)))
}

#[cfg(not(feature = "kafka"))]
fn open_kafka(_: &Config) -> Result<Stores, String> {
    Err("this shoal was built without the `kafka` feature".into())
}

/// [`open_broker`] with the data dir on `fs` (a simulated disk in tests).
pub fn open_broker_on(
    config: &Config,
    clock: Arc<dyn Clock>,
    fs: Arc<dyn Fs>,
) -> Result<Arc<Broker>, String> {
    let (logs, catalog): Stores = if config.uses_kafka() {
        open_kafka(config)?
    } else if config.storage.in_memory {
        (MemoryLogStore::new(), Arc::new(MemoryCatalog::default()))
    } else {
        let dir = &config.storage.data_dir;
        fs::create_dir_all_durably(&*fs, dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
        let options = DiskOptions {
            durability: config.durability()?,
            segment_max_bytes: config.storage.segment_max_bytes,
            segment_max_age_ms: config.storage.segment_max_age_ms,
            index_interval_bytes: config.storage.index_interval_bytes,
            max_open_files: config.storage.max_open_files,
            journal_file_bytes: config.storage.journal_file_bytes,
            journal_direct_io: config.storage.journal_direct_io,
            by_hand: false,
        };
        // The catalog first: the data dir's lock keeps a second server off it before
        // log recovery could truncate tails the first one is still writing.
        let catalog = FileCatalog::open_on(&fs, dir).map_err(|e| {
            format!(
                "cannot open the catalog in {} (is another shoal using this data dir?): {e}",
                dir.display()
            )
        })?;
        let logs = DiskLogStore::open_on(fs, dir, options).map_err(|e| e.to_string())?;
        (logs, Arc::new(catalog))
    };
    let (s, l) = (&config.streams, &config.limits);
    let broker_config = BrokerConfig {
        account_id: s.account_id.clone(),
        create_delay_ms: s.create_delay_ms,
        delete_delay_ms: s.delete_delay_ms,
        update_delay_ms: s.update_delay_ms,
        max_scalings_per_day: s.max_scalings_per_day,
        max_shards_per_stream: s.max_shards_per_stream,
        shard_limit: s.shard_limit,
        on_demand_shard_count: s.on_demand_shard_count,
        consumer_create_delay_ms: s.consumer_create_delay_ms,
        consumer_delete_delay_ms: s.consumer_delete_delay_ms,
        max_consumers_per_stream: s.max_consumers_per_stream,
        limits: Limits {
            enabled: l.throttle,
            write_bytes_per_sec: l.shard_write_bytes_per_sec as f64,
            write_records_per_sec: l.shard_write_records_per_sec as f64,
            read_bytes_per_sec: l.shard_read_bytes_per_sec as f64,
            read_calls_per_sec: l.shard_read_calls_per_sec as f64,
            iterator_calls_per_sec: l.shard_iterator_calls_per_sec as f64,
        },
        put_records_max_bytes: l.put_records_max_bytes,
        subscription_heartbeat_ms: s.subscription_heartbeat_ms,
        kms_keys: config.kms.keys()?,
    };
    Broker::open(broker_config, logs, catalog, clock).map_err(|e| e.to_string())
}

/// The configured keys, each with its account.
fn authenticator(config: &Config) -> Authenticator {
    let default_account = &config.streams.account_id;
    let mut auth = Authenticator::accept_any(default_account);
    auth.max_clock_skew_secs = config.auth.max_clock_skew_secs;
    auth.regions = config.auth.regions.clone();
    auth.basic_login_over_cleartext = config.auth.basic_login_over_cleartext;
    if auth.regions.is_empty() && !config.auth.credentials.is_empty() {
        // A server that verifies callers does not let each made-up region open a
        // fresh namespace and shard quota.
        auth.regions.push(config.streams.region.clone());
    }
    for c in &config.auth.credentials {
        auth.keys.insert(
            &c.access_key_id,
            &c.secret_access_key,
            c.account(default_account),
        );
    }
    auth
}

/// The sockets a server answers on: the cleartext port (HTTP/1.1 and h2c) and, when
/// configured, the TLS port.
pub struct Listeners {
    pub plain: TcpListener,
    pub tls: Option<(TcpListener, TlsAcceptor)>,
}

impl Listeners {
    /// Binds `server.host:port` (and `tls_port`); port 0 picks a free one.
    pub async fn bind(config: &Config) -> Result<Listeners, String> {
        let host = config.server.host.as_str();
        let listen = |port: u16| async move {
            TcpListener::bind((host, port))
                .await
                .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))
        };
        let plain = listen(config.server.port).await?;
        let tls = match config.server.tls_port {
            None => None,
            Some(port) => {
                let id = tls::identity(config)?;
                if let Some(path) = &id.cert_path {
                    tracing::info!("TLS certificate: {}", path.display());
                }
                Some((listen(port).await?, tls::acceptor(&id)?))
            }
        };
        Ok(Listeners { plain, tls })
    }

    pub fn plain_addr(&self) -> std::io::Result<SocketAddr> {
        self.plain.local_addr()
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }
}

/// Where `serve` gets its broker: already open, or opened once the listeners answer.
pub enum BrokerSource {
    Ready(Arc<Broker>),
    Open(Box<dyn FnOnce() -> Result<Arc<Broker>, String> + Send>),
}

/// Serves until `shutdown` resolves. The listeners answer at once: `GET /health` says
/// 503 and Kinesis calls get ServiceUnavailableException while `open` runs (on the
/// blocking pool) and the declared streams are created; then the server is ready.
/// In-flight requests finish on every listener, then the broker syncs and closes its
/// logs.
pub async fn serve(
    listeners: Listeners,
    source: BrokerSource,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let auth = authenticator(config);
    if auth.verifies() {
        tracing::info!(
            keys = auth.keys.len(),
            "verifying SigV4 signatures against the configured credentials"
        );
    } else {
        tracing::warn!(
            "no credentials configured: signatures are not verified, any access key works, \
             and /console and /metrics are open to anyone who can reach the port \
             (configure --credentials or [[auth.credentials]] to verify them; docs/security.md)"
        );
    }
    let state = Arc::new(ApiState::starting(ApiConfig {
        max_request_bytes: config.server.max_request_bytes,
        budget: BudgetSizes {
            inflight_bytes: config.server.max_inflight_bytes,
            unauthenticated_bytes: config.server.max_unauthenticated_bytes,
            unauthenticated_bytes_per_client: config.server.max_unauthenticated_bytes_per_client,
            wait: Duration::from_millis(config.server.overload_wait_ms),
        },
        min_body_bytes_per_sec: config.server.min_body_bytes_per_sec,
        body_read_grace: Duration::from_millis(config.server.body_read_grace_ms),
        enforce_policies: auth.verifies(),
        auth,
        metrics: MetricsOptions {
            per_shard: config.metrics.per_shard,
            per_shard_max: config.metrics.per_shard_max,
        },
        console: config.server.console,
    }));
    if let BrokerSource::Ready(b) = &source {
        // Already open (tests, embedding): requests are served from the first one.
        state.set_broker(b.clone());
        if config.streams.create.is_empty() {
            state.readiness.ready();
        }
    }
    let app = router(state.clone());
    // One shutdown signal, fanned out to every listener; start-up failures use it too.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let closing = state.clone();
    let on_signal = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        // Long-lived subscriptions end first, so the listeners' graceful stop waits
        // only for ordinary requests.
        if let Ok(b) = closing.broker() {
            b.subscriptions.close_all();
        }
        let _receivers_may_be_gone = on_signal.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _sender_dropped_means_stop = rx.wait_for(|stop| *stop).await;
    };
    let limits = conn::ConnLimits::of(&config.server);
    let table = Arc::new(conn::Connections::default());
    let tls_task = listeners.tls.map(|(listener, acceptor)| {
        tokio::spawn(conn::serve(
            listener,
            Some(acceptor),
            app.clone(),
            limits.clone(),
            table.clone(),
            stopped(stop_rx.clone()),
        ))
    });
    let plain_task = tokio::spawn(conn::serve(
        listeners.plain,
        None,
        app,
        limits,
        table,
        stopped(stop_rx.clone()),
    ));

    let started = std::time::Instant::now();
    let broker = match source {
        BrokerSource::Ready(b) => Some(b),
        BrokerSource::Open(open) => match tokio::task::spawn_blocking(open).await {
            Ok(Ok(b)) => Some(b),
            Ok(Err(e)) => {
                tracing::error!("{e}");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "opening the store panicked");
                None
            }
        },
    };
    let mut failure = None;
    let mut background = Vec::new();
    match &broker {
        None => failure = Some("the store could not be opened".to_string()),
        Some(broker) => {
            state.set_broker(broker.clone());
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "store open"
            );
            if !config.streams.create.is_empty() {
                // Not otherwise: a broker handed over open is ready already, and a
                // health check must not see it flip back to starting.
                state.readiness.starting("creating the declared streams");
            }
            background.extend(spawn_maintenance(
                broker.clone(),
                config.streams.maintenance_interval_ms,
            ));
            background.extend(spawn_usage_sharing(broker.clone()));
            tokio::select! {
                r = startup::ensure_declared(broker, config) => match r {
                    Ok(()) => {
                        state.readiness.ready();
                        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        failure = Some(e);
                    }
                },
                _ = stopped(stop_rx.clone()) => {}
            }
        }
    }
    if failure.is_some() {
        let _ = stop_tx.send(true);
    }
    plain_task.await.map_err(std::io::Error::other)?;
    if let Some(task) = tls_task {
        task.await.map_err(std::io::Error::other)?;
    }
    for task in background {
        task.abort();
    }
    if let Some(broker) = broker {
        broker
            .shutdown()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    match failure {
        Some(e) => Err(std::io::Error::other(e)),
        None => Ok(()),
    }
}

/// The background work of a running broker, every `interval_ms` (0 = never): retention
/// (deleting expired segments and shards). It runs on the blocking pool because it
/// deletes files.
fn spawn_maintenance(broker: Arc<Broker>, interval_ms: u64) -> Option<JoinHandle<()>> {
    if interval_ms == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let b = broker.clone();
            match tokio::task::spawn_blocking(move || b.maintain()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "maintenance pass failed"),
                Err(e) => tracing::error!(error = %e, "maintenance pass panicked"),
            }
        }
    }))
}

/// With several nodes on one catalog, the reports that hold each shard to one budget
/// (`broker::usage`); the work is a walk over the shards, so it runs on the worker.
fn spawn_usage_sharing(broker: Arc<Broker>) -> Option<JoinHandle<()>> {
    if !broker.shares_usage() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::broker::usage::SHARE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            broker.share_usage();
        }
    }))
}

/// A server running in the background, for tests and embedding.
pub struct Running {
    pub addr: SocketAddr,
    /// The TLS listener's address, when one was configured.
    pub tls_addr: Option<SocketAddr>,
    pub broker: Arc<Broker>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, syncs and closes the logs.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ignored_if_already_gone = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

/// Binds `config.server.host:port` (port 0 picks a free one) and serves in a task.
pub async fn spawn(config: Config) -> Result<Running, String> {
    spawn_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn spawn_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Running, String> {
    let fs = os_fs(&config);
    spawn_on(config, clock, fs).await
}

/// [`spawn_with_clock`] with the data dir on `fs` (a simulated disk in tests).
pub async fn spawn_on(
    config: Config,
    clock: Arc<dyn Clock>,
    fs: Arc<dyn Fs>,
) -> Result<Running, String> {
    let broker = open_broker_on(&config, clock, fs)?;
    let listeners = Listeners::bind(&config).await?;
    let addr = listeners.plain_addr().map_err(|e| e.to_string())?;
    let tls_addr = listeners.tls_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let b = broker.clone();
    let task = tokio::spawn(async move {
        serve(listeners, BrokerSource::Ready(b), &config, async {
            let _sender_dropped_means_stop = rx.await;
        })
        .await
    });
    Ok(Running {
        addr,
        tls_addr,
        broker,
        stop: Some(tx),
        task: Some(task),
    })
}
