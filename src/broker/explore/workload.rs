//! The broker explorer's workload: streams created and deleted, records put (small and
//! large, several shards per call), splits, merges, scaling, retention passes and clean
//! restarts, on a broker whose store and catalog live on a simulated disk and whose
//! background work is stepped by hand, so one seed makes one sequence of I/O.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;

use super::model::{Model, Rec, Seen, ShardShape, StreamModel};
use crate::broker::put::PutEntry;
use crate::broker::records::IteratorStart;
use crate::broker::streams::CreateStream;
use crate::broker::throttle::Limits;
use crate::broker::{Broker, BrokerConfig, ManualClock, Scope, StreamRef};
use crate::explore::Stop;
use crate::storage::catalog::FileCatalog;
use crate::storage::fs::sim::{Rng, SimFs};
use crate::storage::fs::Fs;
use crate::storage::log::disk::{DiskLogStore, DiskOptions};
use crate::storage::log::Durability;

const DIR: &str = "/data";
const HOUR_MS: i64 = 3_600_000;

/// A broker on `sim`, and its store (to step by hand).
pub(super) struct Node {
    pub broker: Arc<Broker>,
    pub store: Arc<DiskLogStore>,
}

pub(super) fn open(sim: &Arc<SimFs>, d: Durability, now_ms: i64) -> Result<Node, String> {
    let fs: Arc<dyn Fs> = sim.clone();
    let dir = Path::new(DIR);
    crate::storage::fs::create_dir_all_durably(&*fs, dir).map_err(|e| format!("data dir: {e}"))?;
    let catalog =
        FileCatalog::open_on(&fs, dir).map_err(|e| format!("the catalog does not open: {e}"))?;
    let opts = DiskOptions {
        durability: d,
        segment_max_bytes: 8 << 10,
        index_interval_bytes: 512,
        journal_file_bytes: 32 << 10,
        by_hand: true,
        ..DiskOptions::default()
    };
    let store = DiskLogStore::open_on(fs, dir, opts)
        .map_err(|e| format!("the store does not open: {e}"))?;
    let config = BrokerConfig {
        create_delay_ms: 0,
        delete_delay_ms: 0,
        update_delay_ms: 0,
        consumer_create_delay_ms: 0,
        consumer_delete_delay_ms: 0,
        max_scalings_per_day: 1_000_000,
        limits: Limits {
            enabled: false,
            ..Limits::default()
        },
        ..BrokerConfig::default()
    };
    let clock = Arc::new(ManualClock::new(now_ms));
    let broker = Broker::open(config, store.clone(), Arc::new(catalog), clock)
        .map_err(|e| format!("the broker does not open: {e}"))?;
    Ok(Node { broker, store })
}

pub(super) fn scope() -> Scope {
    Scope {
        account: "000000000000".into(),
        region: "us-east-1".into(),
    }
}

fn named(name: &str) -> StreamRef<'_> {
    StreamRef {
        name: Some(name),
        arn: None,
    }
}

/// Runs `fut` on a runtime of its own, stepping the store whenever it waits: the put's
/// wait for its group commit, or a reshard's (a sealed shard's writes wait a few
/// milliseconds for the new shards).
pub(super) fn drive<T>(store: &DiskLogStore, fut: impl Future<Output = T>) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let mut fut = std::pin::pin!(fut);
        for _ in 0..20_000 {
            for _ in 0..2 {
                let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                if let Poll::Ready(v) = polled {
                    return v;
                }
                store.step();
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("a put did not finish");
    })
}

pub(super) struct Workload {
    rng: Rng,
    sim: Arc<SimFs>,
    d: Durability,
    /// None only while a restart swaps it.
    node: Option<Node>,
    pub model: Model,
    /// Errors are expected: a fault was injected.
    pub tolerant: bool,
}

type Step = Result<(), Stop>;

impl Workload {
    pub fn new(sim: Arc<SimFs>, node: Node, d: Durability, seed: u64, model: Model) -> Workload {
        Workload {
            rng: Rng::new(seed ^ 0xb20c),
            sim,
            d,
            node: Some(node),
            model,
            tolerant: false,
        }
    }

    fn node(&self) -> &Node {
        self.node.as_ref().expect("open between restarts")
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> Stop {
        Stop::after(&self.sim, self.tolerant, what, e)
    }

    fn live(&self) -> Vec<String> {
        self.model
            .streams
            .iter()
            .filter(|(_, s)| s.created_at.is_some() && !s.delete_started)
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn pick(&mut self) -> Option<String> {
        let live = self.live();
        let i = self.below(live.len() as u64) as usize;
        live.get(i).cloned()
    }

    pub fn run(&mut self, steps: usize) -> Step {
        if self.live().is_empty() {
            self.create()?;
        }
        for _ in 0..steps {
            let r = self.below(100);
            let now = self.node().broker.now_ms();
            self.model.now_ms = now;
            let step = match r {
                0..=54 => self.put(),
                55..=61 => self.create(),
                62..=65 => self.delete(),
                66..=73 => self.split(),
                74..=80 => self.merge(),
                81..=85 => self.scale(),
                86..=92 => self.retention(),
                _ => self.restart(),
            };
            Stop::shrug(step)?;
            if self.node.is_none() {
                // A restart failed on the fault: the process would exit here.
                return Ok(());
            }
        }
        Ok(())
    }

    /// The shard list of `name` now.
    fn shapes(&self, name: &str) -> Vec<ShardShape> {
        let Ok(stream) = self.node().broker.stream(&scope(), named(name)) else {
            return Vec::new();
        };
        shapes_of(&stream)
    }

    fn reshaped(&mut self, name: &str) {
        let shapes = self.shapes(name);
        let at = self.sim.ops();
        let s = self.model.streams.get_mut(name).expect("known stream");
        s.shapes.push((at, shapes));
        s.reshaping = false;
    }

    fn create(&mut self) -> Step {
        let name = format!("s{}", self.model.streams.len());
        self.model
            .streams
            .insert(name.clone(), StreamModel::default());
        let req = CreateStream {
            name: name.clone(),
            shard_count: Some(1 + self.below(3) as u32),
            on_demand: false,
            max_record_size_kib: None,
            tags: BTreeMap::new(),
        };
        self.node()
            .broker
            .create_stream(&scope(), req)
            .map_err(|e| self.failed("create", e))?;
        self.model.streams.get_mut(&name).expect("added").created_at = Some(self.sim.ops());
        self.reshaped(&name);
        Ok(())
    }

    fn delete(&mut self) -> Step {
        if self.live().len() < 2 {
            return Ok(());
        }
        let Some(name) = self.pick() else {
            return Ok(());
        };
        self.model
            .streams
            .get_mut(&name)
            .expect("live")
            .delete_started = true;
        self.node()
            .broker
            .delete_stream(&scope(), named(&name), true)
            .map_err(|e| self.failed("delete", e))?;
        self.model.streams.get_mut(&name).expect("live").deleted_at = Some(self.sim.ops());
        Ok(())
    }

    fn put(&mut self) -> Step {
        let Some(name) = self.pick() else {
            return Ok(());
        };
        let large = self.below(10) == 0;
        let n = if large { 3 } else { 1 + self.below(6) };
        let mut entries = Vec::new();
        for _ in 0..n {
            self.model.counter += 1;
            let len = if large {
                25 << 10
            } else {
                10 + self.below(200) as usize
            };
            let mut data = format!("{name}:{}:", self.model.counter).into_bytes();
            data.resize(len.max(data.len()), b'a' + (self.model.counter % 26) as u8);
            let key = if large { 0 } else { self.below(1000) };
            entries.push(PutEntry {
                partition_key: format!("k{key}"),
                data: Bytes::from(data),
                explicit_hash_key: None,
            });
        }
        let put_ms = self.node().broker.now_ms();
        let sent: Vec<Vec<u8>> = entries.iter().map(|e| e.data.to_vec()).collect();
        let out = drive(
            &self.node().store,
            self.node()
                .broker
                .put_records(&scope(), named(&name), entries),
        );
        let at = self.sim.ops();
        let sync = self.d == Durability::Sync;
        let s = self.model.streams.get_mut(&name).expect("live");
        let results = match out {
            Ok(r) => r,
            Err(e) => {
                s.maybe.extend(sent);
                return Err(self.failed("put", e));
            }
        };
        let mut failure = None;
        for (data, r) in sent.into_iter().zip(results) {
            match r {
                Ok(p) => {
                    let rec = Rec {
                        data,
                        put_ms,
                        durable_at: sync.then_some(at),
                        lost: false,
                    };
                    s.records.insert((p.shard_id, p.sequence_number), rec);
                }
                Err(e) => {
                    s.maybe.push(data);
                    failure.get_or_insert(e.to_string());
                }
            }
        }
        match failure {
            Some(e) => Err(self.failed("put", e)),
            None => Ok(()),
        }
    }

    /// Open shards of `name` by starting hash key: (id, start, end).
    fn open_shards(&self, name: &str) -> Vec<(String, u128, u128)> {
        let mut open: Vec<(String, u128, u128)> = self
            .shapes(name)
            .into_iter()
            .filter(|s| s.ending_seq.is_none())
            .map(|s| (s.id, s.start, s.end))
            .collect();
        open.sort_by_key(|s| s.1);
        open
    }

    fn split(&mut self) -> Step {
        let Some(name) = self.pick() else {
            return Ok(());
        };
        let open = self.open_shards(&name);
        if open.len() >= 6 {
            return Ok(());
        }
        let (id, start, end) = open[self.below(open.len() as u64) as usize].clone();
        let at = start + (end - start) / 2 + 1;
        self.model.streams.get_mut(&name).expect("live").reshaping = true;
        self.node()
            .broker
            .split_shard(&scope(), named(&name), &id, &at.to_string())
            .map_err(|e| self.failed("split", e))?;
        self.reshaped(&name);
        Ok(())
    }

    fn merge(&mut self) -> Step {
        let Some(name) = self.pick() else {
            return Ok(());
        };
        let open = self.open_shards(&name);
        if open.len() < 2 {
            return Ok(());
        }
        let i = self.below(open.len() as u64 - 1) as usize;
        self.model.streams.get_mut(&name).expect("live").reshaping = true;
        self.node()
            .broker
            .merge_shards(&scope(), named(&name), &open[i].0, &open[i + 1].0)
            .map_err(|e| self.failed("merge", e))?;
        self.reshaped(&name);
        Ok(())
    }

    fn scale(&mut self) -> Step {
        let Some(name) = self.pick() else {
            return Ok(());
        };
        let n = self.open_shards(&name).len() as u64;
        let (lo, hi) = (n.div_ceil(2), (2 * n).min(6));
        let target = (lo + self.below(hi.saturating_sub(lo) + 1)) as u32;
        if target as u64 == n {
            return Ok(());
        }
        self.model.streams.get_mut(&name).expect("live").reshaping = true;
        self.node()
            .broker
            .update_shard_count(&scope(), named(&name), target)
            .map_err(|e| self.failed("scale", e))?;
        self.reshaped(&name);
        Ok(())
    }

    /// Moves the clock on by hours and runs a retention pass.
    fn retention(&mut self) -> Step {
        let hours = 1 + self.below(30) as i64;
        self.model.now_ms += hours * HOUR_MS;
        let now = self.model.now_ms;
        // Reads hide what is older than the retention period as soon as the clock moves.
        self.model.expired_before = self.model.expired_before.max(now - 24 * HOUR_MS);
        self.model.closed_may_go = true;
        // The broker is reopened on the moved clock (it only reads it).
        self.restart_at(now)?;
        self.node()
            .broker
            .enforce_retention()
            .map_err(|e| self.failed("retention", e))?;
        Ok(())
    }

    fn restart(&mut self) -> Step {
        let now = self.model.now_ms;
        self.restart_at(now)
    }

    /// A clean shutdown and a reopen on a clock at `now`.
    fn restart_at(&mut self, now: i64) -> Step {
        self.node()
            .broker
            .shutdown()
            .map_err(|e| self.failed("shutdown", e))?;
        let at = self.sim.ops();
        for s in self.model.streams.values_mut() {
            for r in s.records.values_mut().filter(|r| !r.lost) {
                r.durable_at.get_or_insert(at);
            }
        }
        // Closed before the next opens, as a process that exits (the catalog's lock
        // would refuse a second open anyway).
        self.node = None;
        self.node = Some(open(&self.sim, self.d, now).map_err(|e| self.failed("reopen", e))?);
        Ok(())
    }
}

/// The shard list of a stream, as DescribeStream shows it.
pub(super) fn shapes_of(stream: &crate::broker::Stream) -> Vec<ShardShape> {
    let mut out: Vec<ShardShape> = stream
        .shards()
        .all
        .iter()
        .map(|sh| {
            let v = stream.shard_view(sh);
            ShardShape {
                id: v.shard_id,
                start: v.starting_hash_key,
                end: v.ending_hash_key,
                ending_seq: v.ending_sequence_number,
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Every stream and every record a recovered broker shows.
pub(super) fn look(broker: &Broker) -> Result<BTreeMap<String, Seen>, String> {
    let mut out = BTreeMap::new();
    for stream in broker.all_streams() {
        let shapes = shapes_of(&stream);
        let mut records = BTreeMap::new();
        for sh in &shapes {
            let mut it = broker
                .get_shard_iterator(
                    &scope(),
                    named(&stream.name),
                    &sh.id,
                    IteratorStart::TrimHorizon,
                )
                .map_err(|e| format!("{}: iterator of {}: {e}", stream.name, sh.id))?;
            loop {
                let got = broker
                    .get_records(&scope(), &it, Some(10_000))
                    .map_err(|e| format!("{}: records of {}: {e}", stream.name, sh.id))?;
                let empty = got.records.is_empty();
                for r in got.records {
                    records.insert((sh.id.clone(), r.sequence_number), r.data.to_vec());
                }
                match got.next_iterator {
                    Some(next) if !empty => it = next,
                    _ => break,
                }
            }
        }
        out.insert(stream.name.clone(), Seen { shapes, records });
    }
    Ok(out)
}
