//! The crash-point explorer: runs a seeded workload on a simulated disk, cuts the power
//! at every I/O operation (or a seeded sample of them), recovers, and checks what the
//! workload was promised. Some cases cut the power again during or just after
//! recovery, or start from a process crash that left the page cache. What runs, and
//! what is checked, is a [`Subject`]: the log store alone, or the broker over it.
//!
//! Environment: `SHOAL_EXPLORE_SEEDS` (seeds per test), `SHOAL_EXPLORE_POINTS` (crash
//! points per seed, 0 = every one), `SHOAL_EXPLORE_SEED_BASE`, and
//! `SHOAL_EXPLORE_REPLAY=<test>:<seed>:<op>:<kind>` to rerun one case, as a failure
//! prints it (with `SHOAL_EXPLORE_TRACE=1`, it also prints the disk operations).

use std::sync::Arc;

use crate::storage::fs::sim::{Fault, Rng, SimFs};

/// Why a workload step did not finish.
pub(crate) enum Stop {
    /// The disk lost power, as the case asked: the workload ends.
    PowerCut,
    /// An operation met a fault the case injected: the workload goes on.
    Injected,
    /// Something failed on a healthy disk: a bug.
    Failed(String),
}

impl Stop {
    /// What `what` failing with `e` on `sim` means; `tolerant` when faults are injected.
    pub fn after(sim: &SimFs, tolerant: bool, what: &str, e: impl std::fmt::Display) -> Stop {
        if sim.is_off() {
            Stop::PowerCut
        } else if tolerant {
            Stop::Injected
        } else {
            Stop::Failed(format!("{what} failed on a healthy disk: {e}"))
        }
    }

    /// A step's result for the run loop: injected faults are shrugged off.
    pub fn shrug(r: Result<(), Stop>) -> Result<(), Stop> {
        match r {
            Err(Stop::Injected) => Ok(()),
            other => other,
        }
    }

    /// A whole run's result for the driver: a power cut ends it without an error.
    pub fn end(r: Result<(), Stop>) -> Result<(), String> {
        match r {
            Ok(()) | Err(Stop::PowerCut) | Err(Stop::Injected) => Ok(()),
            Err(Stop::Failed(why)) => Err(why),
        }
    }
}

/// A workload and its checks.
pub(crate) trait Subject {
    /// What the workload did, as far as its callers could see.
    type Model: Default;
    /// Names the test in replay lines.
    fn name(&self) -> String;
    /// Runs `steps` seeded steps on `sim`, recording into `model`. The power going off
    /// (a cut the case asked for) ends it early without an error.
    fn run(
        &self,
        sim: &Arc<SimFs>,
        seed: u64,
        steps: usize,
        model: &mut Self::Model,
        tolerant: bool,
    ) -> Result<(), String>;
    /// Opens what is on `image`, checks it against `model` as of op `cut` (ops before
    /// it ran), and settles the model: what is there now is durable, the rest is gone.
    /// `last`: also check that fresh writes get never-used positions.
    fn recover(
        &self,
        image: &Arc<SimFs>,
        model: &mut Self::Model,
        cut: u64,
        last: bool,
    ) -> Result<(), String>;
}

/// A subject's name in replay lines: `what` and the durability mode.
pub(crate) fn subject_name(what: &str, d: crate::storage::log::Durability) -> String {
    use crate::storage::log::Durability;
    let mode = match d {
        Durability::Sync => "sync",
        Durability::Interval { .. } => "interval",
        Durability::None => "none",
    };
    format!("{what}-{mode}")
}

/// What a subject's opening of `sim` gave: `None` when it failed on a power cut or an
/// injected fault (`tolerant`), which ends the run without an error.
pub(crate) fn opened<T>(
    sim: &SimFs,
    tolerant: bool,
    open: Result<T, String>,
) -> Result<Option<T>, String> {
    match open {
        Ok(t) => Ok(Some(t)),
        Err(_) if sim.is_off() || tolerant => Ok(None),
        Err(why) => Err(why),
    }
}

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
    /// The op fails with EIO or ENOSPC; the workload goes on, then the power is cut.
    Fault,
}

const KINDS: [Kind; 5] = [
    Kind::Cut,
    Kind::ProcessThenCut,
    Kind::CutInRecovery,
    Kind::CutAfterMore,
    Kind::Fault,
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// With `SHOAL_EXPLORE_TRACE` set, prints the last operations `what` made on `sim`.
fn trace(what: &str, sim: &SimFs) {
    if std::env::var_os("SHOAL_EXPLORE_TRACE").is_some() {
        eprintln!("{what}:\n{}", sim.recent_ops(4096).join("\n"));
    }
}

/// A fresh disk for `seed`: half the seeds have no direct I/O, as tmpfs.
fn disk(seed: u64) -> Arc<SimFs> {
    let sim = SimFs::new();
    sim.set_direct_io(seed % 2 == 0);
    sim
}

/// One case: the workload with a crash at `op`, then recovery as `kind` says.
fn run_case<S: Subject>(s: &S, steps: usize, seed: u64, op: u64, kind: Kind) -> Result<(), String> {
    let sim = disk(seed);
    match kind {
        Kind::ProcessThenCut => sim.kill_process_at(op),
        Kind::Fault if (seed ^ op) % 2 == 0 => sim.inject(op, Fault::Eio),
        Kind::Fault => sim.inject(op, Fault::Enospc),
        _ => sim.cut_power_at(op, seed ^ op),
    }
    let mut model = S::Model::default();
    let ran = s.run(&sim, seed, steps, &mut model, kind == Kind::Fault);
    trace("the workload", &sim);
    ran?;
    let image = match (kind, sim.power_cut_image()) {
        // Whatever the fault did, nothing durable may be lost to it.
        (Kind::Fault, _) => {
            let now = sim.ops();
            return s
                .recover(&sim.crash(seed ^ op ^ 5), &mut model, now, true)
                .map_err(|e| format!("after the fault and a power cut: {e}"));
        }
        (_, Some(image)) => image,
        // The workload ended before the op.
        (_, None) => return Ok(()),
    };
    let first = |e: String| format!("recovering from the crash: {e}");
    let second = |e: String| format!("after a second crash: {e}");
    match kind {
        Kind::Cut | Kind::Fault => s.recover(&image, &mut model, op, true).map_err(first),
        Kind::ProcessThenCut => {
            s.recover(&image, &mut model, op, false).map_err(first)?;
            s.recover(&image.crash(seed ^ op ^ 1), &mut model, op, true)
                .map_err(second)
        }
        Kind::CutInRecovery => {
            // How many ops a recovery makes, to cut inside it.
            let probe = image.clone_disk();
            s.recover(&probe, &mut S::Model::default(), 0, false).ok();
            let j = Rng::new(seed ^ op).next_u64() % probe.ops().max(1);
            let again = image.clone_disk();
            again.cut_power_at(j, seed ^ op ^ 2);
            // Meets the power cut: its checks fail, as expected, and change nothing.
            let _expected = s.recover(&again, &mut S::Model::default(), 0, false);
            trace("the recovery", &again);
            let image2 = again.power_cut_image().unwrap_or(again);
            s.recover(&image2, &mut model, op, true).map_err(second)
        }
        Kind::CutAfterMore => {
            s.recover(&image, &mut model, op, false).map_err(first)?;
            s.run(&image, seed ^ 3, 4, &mut model, false)
                .map_err(|why| format!("after recovery: {why}"))?;
            if image.is_off() {
                return Err("after recovery: the disk went off".into());
            }
            let now = image.ops();
            s.recover(&image.crash(seed ^ op ^ 4), &mut model, now, true)
                .map_err(second)
        }
    }
}

/// Explores `s` with `steps` steps per case; panics with a replay line at the first
/// failure.
pub(crate) fn explore<S: Subject>(s: &S, steps: usize) {
    let name = s.name();
    if let Ok(replay) = std::env::var("SHOAL_EXPLORE_REPLAY") {
        let parts: Vec<&str> = replay.split(':').collect();
        if parts.len() == 4 && parts[0] == name {
            let (seed, op, kind) = (
                parts[1].parse().expect("seed"),
                parts[2].parse().expect("op"),
                KINDS[parts[3].parse::<usize>().expect("kind") % KINDS.len()],
            );
            if let Err(why) = run_case(s, steps, seed, op, kind) {
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
        let sim = disk(seed);
        s.run(&sim, seed, steps, &mut S::Model::default(), false)
            .unwrap_or_else(|why| panic!("{name} seed {seed}, no crash: {why}"));
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
        let all = sim.ops();
        for op in chosen {
            let k = (rng.next_u64() % KINDS.len() as u64) as usize;
            // A fault may strike reads too.
            let op = if KINDS[k] == Kind::Fault && rng.coin() {
                rng.next_u64() % all.max(1)
            } else {
                op
            };
            cases += 1;
            if let Err(why) = run_case(s, steps, seed, op, KINDS[k]) {
                panic!(
                    "{name} seed {seed}, {:?} at op {op}: {why}\nreplay: SHOAL_EXPLORE_REPLAY={name}:{seed}:{op}:{k} cargo test --lib explore",
                    KINDS[k]
                );
            }
        }
    }
    eprintln!("{name}: {cases} crash cases passed");
}
