//! Behaviour every [`LogStore`] must have: one body per property, run against the
//! memory store and the disk store in two durability modes.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::storage::log::disk::{DiskLogStore, DiskOptions};
use crate::storage::log::memory::MemoryLogStore;

pub(crate) fn rec(key: &str, data: impl Into<Vec<u8>>) -> RecordIn {
    RecordIn {
        key: Bytes::copy_from_slice(key.as_bytes()),
        data: Bytes::from(data.into()),
    }
}

/// Waits for an append's durability the way the broker would before acknowledging.
pub(crate) fn wait(d: DurableWait) -> Result<(), StorageError> {
    match d {
        DurableWait::Ready => Ok(()),
        pending => tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(pending.wait())
            .map(drop),
    }
}

/// Appends and waits; returns (first offset, stamp).
pub(crate) fn put(log: &dyn ShardLog, now_ms: i64, records: &[RecordIn]) -> (u64, i64) {
    let a = log.append(now_ms, records).expect("append");
    wait(a.durable).expect("durable");
    (a.first_offset, a.timestamp_ms)
}

pub(crate) fn read_all(log: &dyn ShardLog, from: u64) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let batch = log.read(at, 7, 1 << 20).expect("read");
        if batch.records.is_empty() {
            return out;
        }
        at = batch.next_offset;
        out.extend(batch.records);
    }
}

pub(crate) struct Backend {
    pub store: Arc<dyn LogStore>,
    _dir: Option<tempfile::TempDir>,
}

fn memory() -> Backend {
    Backend {
        store: MemoryLogStore::new(),
        _dir: None,
    }
}

/// Small segments and a dense index, so the shared bodies cross segments too.
fn disk(durability: Durability) -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = DiskOptions {
        durability,
        segment_max_bytes: 4096,
        index_interval_bytes: 256,
        ..DiskOptions::default()
    };
    let store = DiskLogStore::open(dir.path(), opts).expect("open");
    Backend {
        store,
        _dir: Some(dir),
    }
}

macro_rules! for_each_backend {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            use crate::storage::log::Durability;
            #[test]
            fn memory() {
                super::$body(&*super::memory().store);
            }
            #[test]
            fn disk_sync() {
                let b = super::disk(Durability::Sync);
                super::$body(&*b.store);
            }
            #[test]
            fn disk_none() {
                let b = super::disk(Durability::None);
                super::$body(&*b.store);
            }
        }
    )*};
}

for_each_backend!(
    round_trip,
    read_limits,
    time_lookup,
    stamps_never_go_back,
    parallel_logs,
    create_list_remove,
    shutdown_refuses_writes,
    readers_alongside_a_writer,
    seal_refuses_appends,
    trim_frees_old_data,
);

fn seal_refuses_appends(store: &dyn LogStore) {
    let log = store.create(1).unwrap();
    put(&*log, 10, &[rec("a", "1"), rec("b", "2")]);
    let end = log.seal().unwrap();
    assert_eq!(end, log.bounds().end_offset);
    match log.append(11, &[rec("c", "3")]) {
        Err(StorageError::Sealed(1)) => {}
        other => panic!("append after seal gave {other:?}"),
    }
    // What was written stays readable.
    assert_eq!(read_all(&*log, 0).len(), 2);
}

fn trim_frees_old_data(store: &dyn LogStore) {
    let log = store.create(1).unwrap();
    // Old records (stamped 1000..1010), then new ones (stamped 5000..).
    for i in 0..40 {
        put(&*log, 1000 + i, &[rec("old", vec![b'o'; 300])]);
    }
    for i in 0..40 {
        put(&*log, 5000 + i, &[rec("new", vec![b'n'; 300])]);
    }
    let before = log.stored_bytes();
    let freed = log.trim_before(4000).unwrap();
    assert!(freed > 0, "nothing freed");
    assert_eq!(log.stored_bytes(), before - freed);
    let left = read_all(&*log, 0);
    // Only whole segments go: every new record is kept, and what is left is contiguous
    // up to the end.
    assert_eq!(left.iter().filter(|r| &r.key[..] == b"new").count(), 40);
    assert!(left.windows(2).all(|w| w[1].offset == w[0].offset + 1));
    assert_eq!(log.bounds().start_offset, left[0].offset);
    // Trimming again with the same cutoff frees nothing more.
    assert_eq!(log.trim_before(4000).unwrap(), 0);
    // New appends continue after the end.
    let (first, _) = put(&*log, 6000, &[rec("x", "y")]);
    assert_eq!(first, left.last().unwrap().offset + 1);
}

fn round_trip(store: &dyn LogStore) {
    let log = store.create(7).unwrap();
    let batches: Vec<Vec<RecordIn>> = vec![
        vec![rec("a", b"one".to_vec())],
        vec![
            rec("b", Vec::new()),
            rec("c", vec![0u8, 255, 10, 13]),
            rec("d", vec![9u8; 3000]),
        ],
        (0..20)
            .map(|i| rec(&format!("k{i}"), vec![i as u8; i * 37]))
            .collect(),
    ];
    let mut expected = Vec::new();
    let mut next = 0;
    for (n, batch) in batches.iter().enumerate() {
        let (first, ts) = put(&*log, 1000 + n as i64, batch);
        assert!(first >= next, "offsets increase across batches");
        next = first + batch.len() as u64;
        for (i, r) in batch.iter().enumerate() {
            expected.push(StoredRecord {
                offset: first + i as u64,
                timestamp_ms: ts,
                key: r.key.clone(),
                data: r.data.clone(),
            });
        }
    }
    assert_eq!(read_all(&*log, 0), expected);
    // From the middle of a batch: exactly the records at and after it.
    let mid = expected[2].offset;
    assert_eq!(read_all(&*log, mid), expected[2..].to_vec());
    let b = log.bounds();
    assert_eq!(b.end_offset, next);
    assert_eq!(b.start_offset, 0);
    assert_eq!(b.last_timestamp_ms, Some(1002));
    // The same handle through `open`.
    assert_eq!(read_all(&*store.open(7).unwrap(), 0), expected);
}

fn read_limits(store: &dyn LogStore) {
    let log = store.create(1).unwrap();
    let records: Vec<_> = (0..10).map(|i| rec("k", vec![i as u8; 99])).collect();
    let (first, _) = put(&*log, 5, &records);
    assert_eq!(first, 0);
    let r = log.read(0, 3, usize::MAX).unwrap();
    assert_eq!(
        r.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(r.next_offset, 3);
    assert_eq!(r.end_offset, 10);
    // key + data = 100 bytes each: 250 fits two.
    let r = log.read(4, 100, 250).unwrap();
    assert_eq!(
        r.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_eq!(r.next_offset, 6);
    // One record even though it alone exceeds the limit.
    let r = log.read(9, 100, 10).unwrap();
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].data, vec![9u8; 99]);
    assert_eq!(r.next_offset, 10);
    // At and past the end: nothing, and next_offset stays at the end.
    for from in [10, 11, 1_000_000] {
        let r = log.read(from, 100, 1000).unwrap();
        assert!(r.records.is_empty());
        assert_eq!(r.next_offset, 10, "from {from}");
        assert_eq!(r.last_timestamp_ms, Some(5));
    }
}

fn time_lookup(store: &dyn LogStore) {
    let log = store.create(2).unwrap();
    assert_eq!(log.offset_at_time(0).unwrap(), 0, "empty log: the end");
    let mut firsts = Vec::new();
    for (i, now) in [100, 200, 200, 300, 400].into_iter().enumerate() {
        let recs: Vec<_> = (0..=i).map(|j| rec("k", vec![j as u8; 700])).collect();
        firsts.push(put(&*log, now, &recs).0);
    }
    let end = log.bounds().end_offset;
    assert_eq!(log.offset_at_time(i64::MIN).unwrap(), 0);
    assert_eq!(log.offset_at_time(100).unwrap(), firsts[0]);
    assert_eq!(log.offset_at_time(101).unwrap(), firsts[1]);
    assert_eq!(log.offset_at_time(200).unwrap(), firsts[1]);
    assert_eq!(log.offset_at_time(250).unwrap(), firsts[3]);
    assert_eq!(log.offset_at_time(400).unwrap(), firsts[4]);
    assert_eq!(log.offset_at_time(401).unwrap(), end);
}

fn stamps_never_go_back(store: &dyn LogStore) {
    let log = store.create(3).unwrap();
    assert_eq!(put(&*log, 1000, &[rec("k", b"a".to_vec())]).1, 1000);
    assert_eq!(
        put(&*log, 500, &[rec("k", b"b".to_vec())]).1,
        1000,
        "clock went back"
    );
    assert_eq!(put(&*log, 2000, &[rec("k", b"c".to_vec())]).1, 2000);
    let stamps: Vec<i64> = read_all(&*log, 0).iter().map(|r| r.timestamp_ms).collect();
    assert_eq!(stamps, vec![1000, 1000, 2000]);
    assert_eq!(log.offset_at_time(1000).unwrap(), 0);
    assert_eq!(log.bounds().last_timestamp_ms, Some(2000));
}

fn parallel_logs(store: &dyn LogStore) {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 40;
    let shared = store.create(100).unwrap();
    let own: Vec<_> = (0..THREADS).map(|t| store.create(t).unwrap()).collect();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (shared, mine) = (shared.clone(), own[t as usize].clone());
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let data = format!("{t}:{i}").into_bytes();
                    put(
                        &*mine,
                        i as i64,
                        &[rec("k", data.clone()), rec("k", data.clone())],
                    );
                    put(&*shared, i as i64, &[rec("k", data)]);
                }
            });
        }
    });
    for (t, log) in own.iter().enumerate() {
        let got: Vec<Vec<u8>> = read_all(&**log, 0)
            .into_iter()
            .map(|r| r.data.to_vec())
            .collect();
        let want: Vec<Vec<u8>> = (0..PER_THREAD)
            .flat_map(|i| {
                [
                    format!("{t}:{i}").into_bytes(),
                    format!("{t}:{i}").into_bytes(),
                ]
            })
            .collect();
        assert_eq!(got, want);
    }
    let all = read_all(&*shared, 0);
    assert_eq!(all.len() as u64, THREADS * PER_THREAD);
    assert!(
        all.windows(2).all(|w| w[1].offset == w[0].offset + 1),
        "one log serializes appends"
    );
    for t in 0..THREADS {
        let mine: Vec<_> = all
            .iter()
            .filter(|r| r.data.starts_with(format!("{t}:").as_bytes()))
            .collect();
        let order: Vec<_> = mine.iter().map(|r| r.data.to_vec()).collect();
        let want: Vec<_> = (0..PER_THREAD)
            .map(|i| format!("{t}:{i}").into_bytes())
            .collect();
        assert_eq!(order, want, "each thread's appends keep their order");
    }
}

fn create_list_remove(store: &dyn LogStore) {
    for id in [3, 1, 2] {
        store.create(id).unwrap();
    }
    assert!(store.create(2).is_err(), "creating an existing id fails");
    assert_eq!(store.list().unwrap(), vec![1, 2, 3]);
    let two = store.open(2).unwrap();
    put(&*two, 1, &[rec("k", b"x".to_vec())]);
    store.remove(2).unwrap();
    assert_eq!(store.list().unwrap(), vec![1, 3]);
    assert!(matches!(store.open(2), Err(StorageError::LogNotFound(2))));
    assert!(matches!(
        two.read(0, 1, 1),
        Err(StorageError::LogNotFound(2))
    ));
    assert!(matches!(
        two.append(1, &[rec("k", b"y".to_vec())]),
        Err(StorageError::LogNotFound(2))
    ));
    assert!(matches!(store.remove(2), Err(StorageError::LogNotFound(2))));
    // The id can be used again, and starts empty.
    let again = store.create(2).unwrap();
    assert!(read_all(&*again, 0).is_empty());
}

fn shutdown_refuses_writes(store: &dyn LogStore) {
    let log = store.create(9).unwrap();
    put(&*log, 1, &[rec("k", b"before".to_vec())]);
    store.shutdown().unwrap();
    assert!(log.append(2, &[rec("k", b"after".to_vec())]).is_err());
    assert_eq!(read_all(&*log, 0).len(), 1, "reads still work");
}

fn readers_alongside_a_writer(store: &dyn LogStore) {
    const BATCHES: usize = 150;
    let log = store.create(11).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen = 0usize;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let end = log.bounds().end_offset;
                let all = read_all(&*log, 0);
                // Whole batches only, in order, and never fewer than before.
                assert!(
                    all.len() >= seen && all.len() % 3 == 0,
                    "{} after {seen}",
                    all.len()
                );
                assert!(all
                    .iter()
                    .enumerate()
                    .all(|(i, r)| r.data[..] == (i / 3).to_le_bytes()));
                assert!(
                    all.len() as u64 >= end,
                    "everything below the end is readable"
                );
                seen = all.len();
            }
            seen
        });
        for i in 0..BATCHES {
            let r = rec("k", i.to_le_bytes().to_vec());
            put(&*log, i as i64, &[r.clone(), r.clone(), r]);
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        assert!(reader.join().unwrap() <= BATCHES * 3);
    });
    assert_eq!(read_all(&*log, 0).len(), BATCHES * 3);
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn batches() -> impl Strategy<Value = Vec<Vec<(Vec<u8>, Vec<u8>)>>> {
        let record = (
            proptest::collection::vec(any::<u8>(), 1..16),
            proptest::collection::vec(any::<u8>(), 0..600),
        );
        proptest::collection::vec(proptest::collection::vec(record, 1..8), 1..20)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_batches_round_trip(batches in batches(), stamps in proptest::collection::vec(0i64..1000, 20)) {
            for backend in [memory(), disk(Durability::None)] {
                let log = backend.store.create(1).unwrap();
                let mut expected = Vec::new();
                for (batch, now) in batches.iter().zip(&stamps) {
                    let records: Vec<RecordIn> = batch
                        .iter()
                        .map(|(k, d)| RecordIn { key: Bytes::from(k.clone()), data: Bytes::from(d.clone()) })
                        .collect();
                    let (first, ts) = put(&*log, *now, &records);
                    for (i, r) in records.into_iter().enumerate() {
                        expected.push(StoredRecord { offset: first + i as u64, timestamp_ms: ts, key: r.key, data: r.data });
                    }
                }
                prop_assert_eq!(read_all(&*log, 0), expected);
            }
        }
    }
}
