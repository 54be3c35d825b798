//! A seal its resharding node never recorded (the node died between its fence and the
//! catalog change that names it): another node completes it at the first fence in the
//! partition, so what landed behind that fence stays out of the parent.

use shoal::storage::kafka::{Cluster, KafkaCatalog, KafkaLogStore, KafkaOptions};
use shoal::storage::log::{LogStore, RecordIn, ShardLog};

use crate::common::kafka;

fn rec(d: &str) -> RecordIn {
    RecordIn {
        key: bytes::Bytes::from_static(b"k"),
        data: bytes::Bytes::copy_from_slice(d.as_bytes()),
    }
}

/// The data of every record `log` holds up to its end.
fn datas(log: &dyn ShardLog) -> Vec<String> {
    let batch = log.read(0, 100, 1 << 20).unwrap();
    batch
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.data).into_owned())
        .collect()
}

#[test]
fn a_seal_left_pending_is_completed_at_the_first_fence() {
    let prefix = format!("t{}.seals", std::process::id());
    let store = || {
        let mut o = KafkaOptions::new(kafka());
        o.topic_prefix = prefix.clone();
        let cluster = Cluster::connect(o).unwrap();
        let catalog = KafkaCatalog::open(cluster.clone()).unwrap();
        (KafkaLogStore::new(cluster, catalog.barrier()), catalog)
    };
    let ((logs_a, _ca), (logs_b, _cb), (logs_c, _cc)) = (store(), store(), store());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let append = |log: &dyn ShardLog, d: &str| {
        let a = log.append(1, &[rec(d)]).unwrap();
        runtime.block_on(a.durable.wait()).unwrap();
    };
    let now = shoal::broker::Clock::now_ms(&shoal::broker::SystemClock);

    // A writes, seals, writes its fence and dies before recording where the log ends.
    let la = logs_a.create(1).unwrap();
    append(&*la, "before");
    la.seal().unwrap();
    let fence = la.seal_recorded().unwrap().unwrap();
    // A node that had not heard of the seal put a record behind the fence.
    append(&*logs_c.open(1).unwrap(), "late");
    // B completes the seal a while later: A's fence is the end, not B's own.
    let lb = logs_b.open(1).unwrap();
    let end = lb
        .complete_seal(now)
        .unwrap()
        .expect("a shared log settles");
    assert_eq!(end, fence);
    lb.ends_at(end);
    assert_eq!(datas(&*lb), ["before"]);

    // With no fence at all, the completing node's own is the end: nothing is lost.
    let l2 = logs_a.create(2).unwrap();
    append(&*l2, "only");
    let lb2 = logs_b.open(2).unwrap();
    let end = lb2.complete_seal(now).unwrap().unwrap();
    lb2.ends_at(end);
    assert_eq!(datas(&*lb2), ["only"]);
    assert_eq!(lb2.complete_seal(now).unwrap(), Some(end), "settled once");
}
