//! Changes other Shoal nodes record in a catalog they share with this one (ADR 0005),
//! applied to the streams this node serves; and the retry a change needs when another
//! node's came first.

use std::sync::Arc;

use super::{settings, Broker, BrokerError, BrokerResult, Shard, ShardSet, Stream};
use crate::storage::catalog::{BillingCommitment, CatalogOp, ShardMeta, StreamMeta};
use crate::storage::log::ShardLog;
use crate::storage::StorageError;

/// How often a change that keeps losing to other nodes' is decided again.
pub const RETRIES: usize = 5;

impl Broker {
    /// Whether other nodes change this broker's streams too.
    pub fn shared(&self) -> bool {
        self.catalog.shared()
    }

    /// Waits until this node has applied every change recorded anywhere so far.
    pub fn catch_up(&self) -> BrokerResult<()> {
        Ok(self.catalog.catch_up()?)
    }

    /// Runs a control-plane step again, on the newer state, while it loses to changes
    /// other nodes made at the same time.
    pub(crate) fn retrying<T>(&self, mut step: impl FnMut() -> BrokerResult<T>) -> BrokerResult<T> {
        let mut tries = 0;
        loop {
            match step() {
                Err(BrokerError::Storage(StorageError::Conflict)) if tries < RETRIES => {
                    tries += 1;
                    self.catch_up()?;
                }
                other => return other,
            }
        }
    }

    /// Another node's recorded change, in catalog order.
    pub(super) fn apply_remote(&self, ops: &[CatalogOp]) {
        let _control = self.lock_control();
        for op in ops {
            let applied = match op {
                CatalogOp::PutStream(meta) => self.apply_stream(meta),
                CatalogOp::DeleteStream { key } => {
                    self.publish(|map| {
                        map.remove(key);
                    });
                    Ok(())
                }
                CatalogOp::ShardEnd {
                    key,
                    log_id,
                    end_offset,
                } => self.apply_end(key, *log_id, *end_offset),
                CatalogOp::PutSetting { name, value } => {
                    self.apply_setting(name, value);
                    Ok(())
                }
            };
            if let Err(e) = applied {
                tracing::error!(error = %e, "could not apply another node's catalog change");
            }
        }
    }

    /// Makes the stream this node serves match `meta`: new, changed or resharded.
    pub(super) fn apply_stream(&self, meta: &StreamMeta) -> BrokerResult<()> {
        let current = self.streams.load().get(&meta.key()).cloned();
        let Some(stream) = current.filter(|s| s.created_ms == meta.created_ms) else {
            let shards = meta
                .shards
                .iter()
                .map(|m| self.runtime_shard(m, None))
                .collect::<BrokerResult<Vec<_>>>()?;
            let stream = Arc::new(Stream::new(meta.clone(), shards));
            self.publish(|map| {
                map.insert(stream.key(), stream);
            });
            return Ok(());
        };
        let old = stream.shards.load_full();
        let same = old.all.len() == meta.shards.len()
            && old.all.iter().zip(&meta.shards).all(|(s, m)| s.meta == *m);
        if !same {
            let all = meta
                .shards
                .iter()
                .map(|m| self.runtime_shard(m, old.by_index(m.index)))
                .collect::<BrokerResult<Vec<_>>>()?;
            stream.shards.store(Arc::new(ShardSet::new(all)));
            // Subscriptions tailing a shard that closed wake up and find its end.
            for s in &old.all {
                s.meter.appended.notify_waiters();
            }
        }
        stream.mirror(meta.clone());
        Ok(())
    }

    /// The run-time shard for `meta`, keeping the log and meter of the one it was.
    fn runtime_shard(
        &self,
        meta: &ShardMeta,
        was: Option<&Arc<Shard>>,
    ) -> BrokerResult<Arc<Shard>> {
        if let Some(was) = was.filter(|w| w.meta == *meta) {
            return Ok(was.clone());
        }
        let (log, meter): (Arc<dyn ShardLog>, _) = match was {
            Some(w) => (w.log.clone(), w.meter.clone()),
            None => (self.logs.open(meta.log_id)?, self.new_meter()),
        };
        super::close_as_recorded(&*log, meta)?;
        Ok(Arc::new(Shard {
            meta: meta.clone(),
            log,
            meter,
        }))
    }

    fn apply_end(&self, key: &str, log_id: u64, end_offset: u64) -> BrokerResult<()> {
        let Some(stream) = self.streams.load().get(key).cloned() else {
            return Ok(());
        };
        let mut meta = stream.meta();
        let shard = meta.shards.iter_mut().find(|s| s.log_id == log_id);
        if let Some(closed) = shard.and_then(|s| s.closed.as_mut()) {
            closed.end_offset = end_offset;
        }
        self.apply_stream(&meta)
    }

    fn apply_setting(&self, name: &str, value: &[u8]) {
        let Some(account) = name.strip_prefix(settings::SETTING_ACCOUNT_PREFIX) else {
            return;
        };
        if let Some(c) = BillingCommitment::from_bytes(value) {
            let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
            accounts.insert(account.to_string(), c);
        }
    }
}
