//! The log store as a subject of the crash-point explorer (`crate::explore`): a seeded
//! workload of appends, log creation and removal, trims and restarts, and the checks
//! a recovered store must pass.

mod model;
mod workload;

use std::sync::Arc;

use model::Model;
use workload::{open, Workload};

use crate::explore::{explore, opened, subject_name, Stop, Subject};
use crate::storage::fs::sim::SimFs;
use crate::storage::log::{Durability, LogStore, RecordIn};

/// Workload steps per case.
const STEPS: usize = 40;

struct Logs(Durability);

impl Subject for Logs {
    type Model = Model;

    fn name(&self) -> String {
        subject_name("logs", self.0)
    }

    fn run(
        &self,
        sim: &Arc<SimFs>,
        seed: u64,
        steps: usize,
        model: &mut Model,
        tolerant: bool,
    ) -> Result<(), String> {
        let Some(store) = opened(sim, tolerant, open(sim, self.0, seed))? else {
            return Ok(());
        };
        let mut w = Workload::resume(sim.clone(), store, self.0, seed, std::mem::take(model));
        w.tolerant = tolerant;
        let result = w.run(steps);
        *model = w.model;
        Stop::end(result)
    }

    fn recover(
        &self,
        image: &Arc<SimFs>,
        model: &mut Model,
        cut: u64,
        last: bool,
    ) -> Result<(), String> {
        let store = open(image, self.0, 0)
            .map_err(|e| format!("{e}\nlast ops:\n  {}", image.recent_ops(12).join("\n  ")))?;
        model.check(&*store, cut, self.0 != Durability::None)?;
        model.settle(&*store)?;
        if last {
            check_fresh(&*store, model)?;
        }
        Ok(())
    }
}

/// Every log hands out offsets above any it ever handed out.
fn check_fresh(store: &dyn LogStore, model: &Model) -> Result<(), String> {
    for id in store.list().map_err(|e| e.to_string())? {
        let l = store.open(id).map_err(|e| e.to_string())?;
        let rec = RecordIn {
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

#[test]
fn explore_logs_sync() {
    explore(&Logs(Durability::Sync), STEPS);
}

#[test]
fn explore_logs_interval() {
    explore(&Logs(Durability::Interval { ms: 1 }), STEPS);
}

#[test]
fn explore_logs_none() {
    explore(&Logs(Durability::None), STEPS);
}
