//! The crash-point explorer of the log store: runs a seeded workload on a simulated
//! disk, cuts the power at every I/O operation (or a seeded sample of them), recovers,
//! and checks what the workload was promised. Some cases cut the power again during
//! or just after recovery, or start from a process crash that left the page cache.
//!
//! `cargo test --lib explore` runs a few seeds per durability mode. Environment:
//! `SHOAL_EXPLORE_SEEDS` (seeds per mode), `SHOAL_EXPLORE_POINTS` (crash points per
//! seed, 0 = every one), and `SHOAL_EXPLORE_REPLAY=<mode>:<seed>:<op>:<kind>` to rerun
//! one case, as printed by a failure.

mod model;
mod workload;

use std::sync::Arc;

use model::Model;
use workload::{open, Stop, Workload};

use crate::storage::fs::sim::{Rng, SimFs};
use crate::storage::log::disk::DiskLogStore;
use crate::storage::log::{Durability, LogStore};

/// Workload steps per case.
const STEPS: usize = 40;

/// How a case treats its crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Power cut at the op, then recovery.
    Cut,
    /// The process dies at the op (the page cache survives); the restarted store
    /// recovers, then the power is cut.
    ProcessThenCut,
    /// Power cut at the op, and again during recovery.
    CutInRecovery,
    /// Power cut at the op, recovery, a little more work, another power cut.
    CutAfterMore,
}

const KINDS: [Kind; 4] = [
    Kind::Cut,
    Kind::ProcessThenCut,
    Kind::CutInRecovery,
    Kind::CutAfterMore,
];

fn mode_name(d: Durability) -> &'static str {
    match d {
        Durability::Sync => "sync",
        Durability::Interval { .. } => "interval",
        Durability::None => "none",
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One workload on a fresh disk; `cut` cuts the power when that op starts.
fn run_workload(
    d: Durability,
    seed: u64,
    cut: Option<(u64, Kind)>,
) -> Result<(Arc<SimFs>, Model), String> {
    let sim = SimFs::new();
    // Half the seeds run on a filesystem without direct I/O, as tmpfs is.
    sim.set_direct_io(seed % 2 == 0);
    match cut {
        Some((op, Kind::ProcessThenCut)) => sim.kill_process_at(op),
        Some((op, _)) => sim.cut_power_at(op, seed ^ op),
        None => {}
    }
    let store = match open(&sim, d) {
        Ok(store) => store,
        Err(_) if sim.is_off() => return Ok((sim, Model::default())),
        Err(why) => return Err(why),
    };
    let mut w = Workload::new(sim.clone(), store, d, seed);
    match w.run(STEPS) {
        Ok(()) | Err(Stop::PowerCut) => Ok((sim, w.model)),
        Err(Stop::Failed(why)) => Err(why),
    }
}

/// Recovers `image`, checks it against `model` as of op `cut`, and settles the model
/// (what survived is durable, the rest is gone); returns the store.
fn recover(
    image: &Arc<SimFs>,
    d: Durability,
    model: &mut Model,
    cut: u64,
) -> Result<Arc<DiskLogStore>, String> {
    let store = open(image, d)
        .map_err(|e| format!("{e}\nlast ops:\n  {}", image.recent_ops(12).join("\n  ")))?;
    model.check(&*store, cut, d != Durability::None)?;
    model.settle(&*store)?;
    Ok(store)
}

/// After the last recovery of a case: every log hands out offsets above any it ever
/// handed out.
fn check_fresh(store: &DiskLogStore, model: &Model) -> Result<(), String> {
    for id in store.list().map_err(|e| e.to_string())? {
        let l = store.open(id).map_err(|e| e.to_string())?;
        let rec = crate::storage::log::RecordIn {
            key: bytes::Bytes::from_static(b"k"),
            data: bytes::Bytes::from_static(b"fresh"),
        };
        let a = l
            .append(i64::MAX / 2, &[rec])
            .map_err(|e| format!("log {id}: append after recovery failed: {e}"))?;
        let fresh = model.logs.get(&id).map_or(0, |m| m.next_fresh());
        if a.first_offset < fresh {
            return Err(format!(
                "log {id}: offset {} handed out again after recovery (everything below {fresh} was taken)",
                a.first_offset
            ));
        }
    }
    Ok(())
}

/// One case: the workload with a crash at `op`, then recovery as `kind` says.
fn run_case(d: Durability, seed: u64, op: u64, kind: Kind) -> Result<(), String> {
    let (sim, mut model) = run_workload(d, seed, Some((op, kind)))?;
    let Some(image) = sim.power_cut_image() else {
        return Ok(());
    };
    let store = match kind {
        Kind::Cut => recover(&image, d, &mut model, op)?,
        Kind::ProcessThenCut => {
            let store = recover(&image, d, &mut model, op)?;
            drop(store);
            let again = image.crash(seed ^ op ^ 1);
            recover(&again, d, &mut model, op)?
        }
        Kind::CutInRecovery => {
            let first_try = image.clone_disk();
            let ops = {
                let s = open(&first_try, d)?;
                drop(s);
                first_try.ops()
            };
            let mut rng = Rng::new(seed ^ op);
            let j = rng.next_u64() % ops.max(1);
            let again = image.clone_disk();
            again.cut_power_at(j, seed ^ op ^ 2);
            // Recovery meets the power cut and fails; that is expected.
            drop(open(&again, d));
            if std::env::var("SHOAL_EXPLORE_DEBUG").is_ok() {
                eprintln!(
                    "recovery cut at {j} of {ops}:\n  {}",
                    again.recent_ops(70).join("\n  ")
                );
            }
            let image2 = again.power_cut_image().unwrap_or(again);
            recover(&image2, d, &mut model, op)?
        }
        Kind::CutAfterMore => {
            let store = recover(&image, d, &mut model, op)?;
            let mut w = Workload::resume(image.clone(), store, d, seed ^ 3, model);
            match w.run(4) {
                Ok(()) => {}
                Err(Stop::Failed(why)) => return Err(format!("after recovery: {why}")),
                Err(Stop::PowerCut) => return Err("after recovery: the disk went off".into()),
            }
            model = w.model;
            let now = image.ops();
            let again = image.crash(seed ^ op ^ 4);
            recover(&again, d, &mut model, now)?
        }
    };
    check_fresh(&store, &model)
}

/// Explores `seeds` seeds of mode `d`; panics with a replay line at the first failure.
fn explore(d: Durability) {
    if let Ok(replay) = std::env::var("SHOAL_EXPLORE_REPLAY") {
        let parts: Vec<&str> = replay.split(':').collect();
        if parts.len() == 4 && parts[0] == mode_name(d) {
            let (seed, op, kind) = (
                parts[1].parse().expect("seed"),
                parts[2].parse().expect("op"),
                KINDS[parts[3].parse::<usize>().expect("kind") % KINDS.len()],
            );
            if let Err(why) = run_case(d, seed, op, kind) {
                panic!("{why}");
            }
        }
        return;
    }
    let seeds = env_u64("SHOAL_EXPLORE_SEEDS", 2);
    let points = env_u64("SHOAL_EXPLORE_POINTS", 120);
    let base = env_u64("SHOAL_EXPLORE_SEED_BASE", 1);
    let mut cases = 0;
    for seed in base..base + seeds {
        let (sim, _) = run_workload(d, seed, None)
            .unwrap_or_else(|why| panic!("{} seed {seed}, no crash: {why}", mode_name(d)));
        let mutating: Vec<u64> = sim
            .op_kinds()
            .iter()
            .enumerate()
            .filter(|(_, k)| k.mutates())
            .map(|(i, _)| i as u64)
            .collect();
        let mut rng = Rng::new(seed);
        let chosen: Vec<u64> = if points == 0 || points as usize >= mutating.len() {
            mutating
        } else {
            (0..points)
                .map(|_| mutating[(rng.next_u64() % mutating.len() as u64) as usize])
                .collect()
        };
        for op in chosen {
            let k = (rng.next_u64() % KINDS.len() as u64) as usize;
            cases += 1;
            if let Err(why) = run_case(d, seed, op, KINDS[k]) {
                panic!(
                    "{} seed {seed}, {:?} at op {op}: {why}\nreplay: SHOAL_EXPLORE_REPLAY={}:{seed}:{op}:{k} cargo test --lib explore",
                    mode_name(d),
                    KINDS[k],
                    mode_name(d)
                );
            }
        }
    }
    eprintln!("{}: {cases} crash cases passed", mode_name(d));
}

#[test]
fn explore_sync() {
    explore(Durability::Sync);
}

#[test]
fn explore_interval() {
    explore(Durability::Interval { ms: 1 });
}

#[test]
fn explore_none() {
    explore(Durability::None);
}
