//! The broker over the disk store and the catalog, as a subject of the crash-point
//! explorer (`crate::explore`): streams, records and reshards through the broker's own
//! calls, the catalog file on the simulated disk too.

mod model;
mod workload;

use std::sync::Arc;

use bytes::Bytes;
use model::Model;
use workload::{drive, look, open, scope, Workload};

use crate::broker::put::PutEntry;
use crate::broker::StreamRef;
use crate::explore::{explore, opened, subject_name, Stop, Subject};
use crate::storage::fs::sim::SimFs;
use crate::storage::log::Durability;

const STEPS: usize = 30;
/// Where a case's clock starts.
const START_MS: i64 = 1_700_000_000_000;

struct Streams(Durability);

impl Subject for Streams {
    type Model = Model;

    fn name(&self) -> String {
        subject_name("broker", self.0)
    }

    fn run(
        &self,
        sim: &Arc<SimFs>,
        seed: u64,
        steps: usize,
        model: &mut Model,
        tolerant: bool,
    ) -> Result<(), String> {
        if model.now_ms == 0 {
            model.now_ms = START_MS;
        }
        let Some(node) = opened(sim, tolerant, open(sim, self.0, model.now_ms))? else {
            return Ok(());
        };
        let mut w = Workload::new(sim.clone(), node, self.0, seed, std::mem::take(model));
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
        let node = open(image, self.0, model.now_ms.max(START_MS))
            .map_err(|e| format!("{e}\nlast ops:\n  {}", image.recent_ops(12).join("\n  ")))?;
        let seen = look(&node.broker)?;
        model.check(&seen, cut, self.0 == Durability::Sync)?;
        model.settle(&seen);
        if last {
            check_fresh(&node, model)?;
        }
        Ok(())
    }
}

/// A record put to each stream after recovery gets a sequence number above any its
/// shard ever handed out.
fn check_fresh(node: &workload::Node, model: &Model) -> Result<(), String> {
    for stream in node.broker.all_streams() {
        let entry = PutEntry {
            partition_key: "fresh".into(),
            data: Bytes::from_static(b"fresh"),
            explicit_hash_key: None,
        };
        let r = StreamRef {
            name: Some(&stream.name),
            arn: None,
        };
        let out = drive(
            &node.store,
            node.broker.put_records(&scope(), r, vec![entry]),
        );
        let placed = out
            .map_err(|e| e.to_string())
            .and_then(|mut v| v.remove(0).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: a put after recovery failed: {e}", stream.name))?;
        let highest = model.highest(&stream.name);
        if highest
            .get(&placed.shard_id)
            .is_some_and(|h| placed.sequence_number <= *h)
        {
            return Err(format!(
                "{}: {} handed out sequence number {} again",
                stream.name, placed.shard_id, placed.sequence_number
            ));
        }
    }
    Ok(())
}

#[test]
fn explore_broker_sync() {
    explore(&Streams(Durability::Sync), STEPS);
}

#[test]
fn explore_broker_none() {
    explore(&Streams(Durability::None), STEPS);
}
