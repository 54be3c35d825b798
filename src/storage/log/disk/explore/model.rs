//! What the explorer's workload did to each log, as far as its callers could see, and
//! the checks a recovered store must pass against it.

use std::collections::BTreeMap;

use crate::storage::log::{LogId, LogStore, RecordIn, StoredRecord};

/// One record that was handed an offset, acknowledged or not.
#[derive(Debug, Clone)]
pub(super) struct Rec {
    pub ts: i64,
    pub data: Vec<u8>,
    /// The op count at which the record was known to be durable: acknowledged in
    /// `Sync`, synced by a step in `Interval`, or through a clean shutdown.
    pub durable_at: Option<u64>,
    /// Not there after a recovery: gone for good (its offset is still never reused).
    pub lost: bool,
}

/// One log's history.
#[derive(Debug, Clone, Default)]
pub(super) struct LogModel {
    /// `create` returned at this op count.
    pub created_at: Option<u64>,
    /// `remove` began (the log may be gone from then on) and returned at this op count.
    pub remove_started: bool,
    pub removed_at: Option<u64>,
    /// Every offset ever handed out, with what was written there.
    pub records: BTreeMap<u64, Rec>,
    /// The highest cutoff of a `trim_before` that began: older records may be gone.
    pub trim_cutoff: i64,
    /// Data of appends that failed when the power went: they may have reached the
    /// disk at offsets the workload never learnt.
    pub maybe: Vec<Vec<u8>>,
}

/// Every log's history.
#[derive(Debug, Clone, Default)]
pub(super) struct Model {
    pub logs: BTreeMap<LogId, LogModel>,
}

impl Model {
    /// Records appended as one batch at `first`.
    pub fn appended(&mut self, id: LogId, first: u64, ts: i64, records: &[RecordIn]) {
        let log = self.logs.entry(id).or_default();
        for (i, r) in records.iter().enumerate() {
            let rec = Rec {
                ts,
                data: r.data.to_vec(),
                durable_at: None,
                lost: false,
            };
            log.records.insert(first + i as u64, rec);
        }
    }

    /// An append that failed (the power went during it).
    pub fn failed(&mut self, id: LogId, records: &[RecordIn]) {
        let log = self.logs.entry(id).or_default();
        log.maybe.extend(records.iter().map(|r| r.data.to_vec()));
    }

    /// Marks offsets `first..end` of `id` durable as of op count `at`.
    pub fn durable(&mut self, id: LogId, first: u64, end: u64, at: u64) {
        if let Some(log) = self.logs.get_mut(&id) {
            for (_, r) in log.records.range_mut(first..end) {
                r.durable_at.get_or_insert(at);
            }
        }
    }

    /// Everything appended so far is durable as of `at` (a step of `Interval` mode
    /// synced it, or a clean shutdown did).
    pub fn all_durable(&mut self, at: u64) {
        for log in self.logs.values_mut() {
            for r in log.records.values_mut().filter(|r| !r.lost) {
                r.durable_at.get_or_insert(at);
            }
        }
    }

    /// After a recovery that passed [`Model::check`]: what the store holds is durable
    /// (recovery syncs what it accepts), what it lacks is gone for good.
    pub fn settle(&mut self, store: &dyn LogStore) -> Result<(), String> {
        let present = store.list().map_err(|e| format!("list failed: {e}"))?;
        for (id, log) in self.logs.iter_mut() {
            let got = match present.contains(id) {
                true => {
                    let l = store.open(*id).map_err(|e| format!("log {id}: {e}"))?;
                    read_all(&*l).map_err(|e| format!("log {id}: {e}"))?
                }
                false => Vec::new(),
            };
            for r in &got {
                // One of `maybe` (the check saw to it): now it has an offset.
                log.records.entry(r.offset).or_insert_with(|| Rec {
                    ts: r.timestamp_ms,
                    data: r.data.to_vec(),
                    durable_at: None,
                    lost: false,
                });
            }
            log.maybe.clear();
            let mut at = got.iter().map(|r| r.offset).peekable();
            for (&offset, r) in log.records.iter_mut() {
                while at.next_if(|&o| o < offset).is_some() {}
                if at.peek() == Some(&offset) {
                    r.durable_at = Some(0);
                } else {
                    r.lost = true;
                    r.durable_at = None;
                }
            }
        }
        Ok(())
    }

    /// Checks a store recovered from a power cut at op `cut` (ops before `cut` ran).
    /// `promised`: whether durable records must be there (not in `None` mode).
    pub fn check(&self, store: &dyn LogStore, cut: u64, promised: bool) -> Result<(), String> {
        let present = store.list().map_err(|e| format!("list failed: {e}"))?;
        for (&id, log) in &self.logs {
            let exists = present.contains(&id);
            let must_exist = log.created_at.is_some_and(|c| c <= cut) && !log.remove_started;
            if must_exist && !exists {
                return Err(format!("log {id} was created before the cut and is gone"));
            }
            if log.removed_at.is_some_and(|r| r <= cut) && exists {
                return Err(format!("log {id} was removed before the cut and is back"));
            }
            if exists {
                let l = store
                    .open(id)
                    .map_err(|e| format!("log {id}: open failed: {e}"))?;
                let got = read_all(&*l).map_err(|e| format!("log {id}: read failed: {e}"))?;
                log.check_records(id, &got, cut, promised)?;
            }
        }
        for id in present {
            if !self.logs.contains_key(&id) {
                return Err(format!("log {id} was never created"));
            }
        }
        Ok(())
    }
}

impl LogModel {
    fn check_records(
        &self,
        id: LogId,
        got: &[StoredRecord],
        cut: u64,
        promised: bool,
    ) -> Result<(), String> {
        let mut prev: Option<&StoredRecord> = None;
        for r in got {
            let Some(want) = self.records.get(&r.offset) else {
                if self.maybe.iter().any(|m| m[..] == r.data[..]) {
                    prev = Some(r);
                    continue;
                }
                return Err(format!(
                    "log {id}: offset {} was never handed out",
                    r.offset
                ));
            };
            if r.data != want.data || r.timestamp_ms != want.ts {
                return Err(format!(
                    "log {id}: offset {} holds another record than the one written there",
                    r.offset
                ));
            }
            if let Some(p) = prev {
                if r.offset <= p.offset || r.timestamp_ms < p.timestamp_ms {
                    return Err(format!("log {id}: offset {} is out of order", r.offset));
                }
            }
            prev = Some(r);
        }
        if !promised {
            return Ok(());
        }
        let mut at = got.iter().map(|r| r.offset).peekable();
        for (&offset, want) in &self.records {
            if want.lost || want.durable_at.is_none_or(|d| d > cut) || want.ts < self.trim_cutoff {
                continue;
            }
            while at.next_if(|&o| o < offset).is_some() {}
            if at.peek() != Some(&offset) {
                return Err(format!(
                    "log {id}: offset {offset}, durable since op {}, is lost",
                    want.durable_at.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    /// The offset after every one ever handed out: a new append must get at least this.
    pub fn next_fresh(&self) -> u64 {
        self.records.keys().next_back().map_or(0, |o| o + 1)
    }
}

/// Every readable record of a log, oldest first.
pub(super) fn read_all(
    log: &dyn crate::storage::log::ShardLog,
) -> Result<Vec<StoredRecord>, crate::storage::StorageError> {
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let batch = log.read(from, 1000, 1 << 24)?;
        if batch.records.is_empty() {
            return Ok(out);
        }
        from = batch.next_offset;
        out.extend(batch.records);
    }
}
