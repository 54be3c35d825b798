//! The explorer's workload on one log store: seeded, single-threaded and stepped by
//! hand, so the same seed makes the same I/O in the same order, and a crash point is
//! an operation index that one command replays.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::model::Model;
use crate::explore::Stop;
use crate::storage::fs::sim::{Rng, SimFs};
use crate::storage::log::disk::{DiskLogStore, DiskOptions};
use crate::storage::log::{Durability, DurableWait, LogId, LogStore, RecordIn};

/// The store's directory on the simulated disk.
pub(super) const DIR: &str = "/data";

/// Small files, so a short workload rolls segments and fills journal files. Half the
/// seeds (those with bit 1 set) get segments that hold several large batches, so a
/// round can carry a large batch (synced in its segment) and smaller ones after it.
pub(super) fn options(durability: Durability, seed: u64) -> DiskOptions {
    let segment_max_bytes = if seed & 2 == 0 { 6 << 10 } else { 192 << 10 };
    DiskOptions {
        durability,
        segment_max_bytes,
        index_interval_bytes: 512,
        journal_file_bytes: 24 << 10,
        by_hand: true,
        ..DiskOptions::default()
    }
}

pub(super) fn open(
    sim: &Arc<SimFs>,
    durability: Durability,
    seed: u64,
) -> Result<Arc<DiskLogStore>, String> {
    DiskLogStore::open_on(sim.clone(), Path::new(DIR), options(durability, seed))
        .map_err(|e| format!("the store does not open: {e}"))
}

/// Drives a store with a seeded mix of appends (small and large, several logs per
/// round), log creation and removal, retention trims and clean restarts.
pub(super) struct Workload {
    rng: Rng,
    seed: u64,
    /// Errors are expected: a fault was injected.
    pub tolerant: bool,
    sim: Arc<SimFs>,
    durability: Durability,
    pub store: Arc<DiskLogStore>,
    pub model: Model,
    /// The clock the appends are stamped with.
    now: i64,
    next_id: LogId,
    counter: u64,
}

type Step = Result<(), Stop>;

impl Workload {
    pub fn new(
        sim: Arc<SimFs>,
        store: Arc<DiskLogStore>,
        durability: Durability,
        seed: u64,
    ) -> Self {
        Workload {
            rng: Rng::new(seed ^ 0x5eed),
            seed,
            tolerant: false,
            sim,
            durability,
            store,
            model: Model::default(),
            now: 1_000_000,
            next_id: 1,
            counter: 0,
        }
    }

    /// Goes on from `model` on a store recovered from it.
    pub fn resume(
        sim: Arc<SimFs>,
        store: Arc<DiskLogStore>,
        durability: Durability,
        seed: u64,
        model: Model,
    ) -> Self {
        let mut w = Workload::new(sim, store, durability, seed);
        w.next_id = model.logs.keys().next_back().map_or(1, |id| id + 1);
        let newest = model
            .logs
            .values()
            .flat_map(|l| l.records.values().map(|r| r.ts))
            .max();
        w.now = w.now.max(newest.unwrap_or(0));
        w.counter = model
            .logs
            .values()
            .map(|l| l.records.len() as u64)
            .sum::<u64>()
            * 1000;
        w.model = model;
        w
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> Stop {
        Stop::after(&self.sim, self.tolerant, what, e)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    /// Logs that may take appends: created and not being removed.
    fn live(&self) -> Vec<LogId> {
        let m = &self.model.logs;
        m.iter()
            .filter(|(_, l)| l.created_at.is_some() && !l.remove_started)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Runs `steps` seeded steps (after creating three logs, on a new store).
    pub fn run(&mut self, steps: usize) -> Step {
        if self.model.logs.is_empty() {
            for _ in 0..3 {
                self.create()?;
            }
        }
        for _ in 0..steps {
            self.now += 1 + self.below(40) as i64;
            let step = match self.below(100) {
                0..=69 => self.round(),
                70..=77 => self.create(),
                78..=82 => self.remove(),
                83..=91 => self.trim(),
                _ => self.restart(),
            };
            Stop::shrug(step)?;
        }
        Ok(())
    }

    fn create(&mut self) -> Step {
        let id = self.next_id;
        self.next_id += 1;
        self.model.logs.entry(id).or_default();
        self.store
            .create(id)
            .map_err(|e| self.failed("create", e))?;
        self.model.logs.get_mut(&id).expect("just added").created_at = Some(self.sim.ops());
        Ok(())
    }

    fn remove(&mut self) -> Step {
        let live = self.live();
        if live.len() < 2 {
            return Ok(());
        }
        let id = live[self.below(live.len() as u64) as usize];
        self.model.logs.get_mut(&id).expect("live").remove_started = true;
        self.store
            .remove(id)
            .map_err(|e| self.failed("remove", e))?;
        self.model.logs.get_mut(&id).expect("live").removed_at = Some(self.sim.ops());
        Ok(())
    }

    fn trim(&mut self) -> Step {
        let live = self.live();
        let Some(&id) = live.get(self.below(live.len() as u64) as usize) else {
            return Ok(());
        };
        let cutoff = self.now - self.below(400) as i64;
        let log = self.model.logs.get_mut(&id).expect("live");
        log.trim_cutoff = log.trim_cutoff.max(cutoff);
        let l = self.store.open(id).map_err(|e| self.failed("open", e))?;
        l.trim_before(cutoff).map_err(|e| self.failed("trim", e))?;
        Ok(())
    }

    /// A clean shutdown and a reopen on the same disk.
    fn restart(&mut self) -> Step {
        self.store
            .shutdown()
            .map_err(|e| self.failed("shutdown", e))?;
        self.model.all_durable(self.sim.ops());
        self.store =
            open(&self.sim, self.durability, self.seed).map_err(|e| self.failed("reopen", e))?;
        Ok(())
    }

    /// A few appends to random logs (sometimes several to one), then one step of the
    /// store's background work, which acknowledges them together.
    fn round(&mut self) -> Step {
        let live = self.live();
        if live.is_empty() {
            return self.create();
        }
        let mut waits = Vec::new();
        for _ in 0..1 + self.below(4) {
            let id = live[self.below(live.len() as u64) as usize];
            let records = self.records(id);
            let l = self.store.open(id).map_err(|e| self.failed("open", e))?;
            let a = match l.append(self.now, &records) {
                Ok(a) => a,
                Err(e) => {
                    self.model.failed(id, &records);
                    return Err(self.failed("append", e));
                }
            };
            let end = a.first_offset + records.len() as u64;
            self.model
                .appended(id, a.first_offset, a.timestamp_ms, &records);
            waits.push((id, a.first_offset, end, a.durable));
        }
        self.store.step();
        let at = self.sim.ops();
        for (id, first, end, durable) in waits {
            match durable {
                DurableWait::Ready => {}
                DurableWait::Pending(mut rx) => match rx.try_recv() {
                    Ok(Ok(_)) => self.model.durable(id, first, end, at),
                    Ok(Err(e)) => return Err(self.failed("commit", e)),
                    Err(e) => {
                        return Err(Stop::Failed(format!("a step left an append pending: {e}")))
                    }
                },
                DurableWait::Placed(_) => {
                    return Err(Stop::Failed("the disk store placed an append late".into()))
                }
            }
        }
        // The step synced everything queued, unless a failed sync poisoned the store.
        if matches!(self.durability, Durability::Interval { .. }) && self.store.poisoned().is_none()
        {
            self.model.all_durable(at);
        }
        Ok(())
    }

    /// One batch: mostly small, sometimes over the journal's in-segment threshold.
    fn records(&mut self, id: LogId) -> Vec<RecordIn> {
        let large = self.below(12) == 0;
        let n = if large { 3 } else { 1 + self.below(4) };
        (0..n)
            .map(|_| {
                self.counter += 1;
                let len = if large {
                    24 << 10
                } else {
                    8 + self.below(300) as usize
                };
                let mut data = format!("{id}:{}:", self.counter).into_bytes();
                data.resize(len.max(data.len()), b'a' + (self.counter % 26) as u8);
                RecordIn {
                    key: Bytes::from_static(b"k"),
                    data: Bytes::from(data),
                }
            })
            .collect()
    }
}
