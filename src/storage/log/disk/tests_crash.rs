//! Disk-only behaviour across restarts and simulated crashes: a store dropped without
//! `shutdown`, files cut, extended with garbage or damaged by hand.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::storage::log::tests::{put, read_all, rec};
use crate::storage::log::{DurableWait, StoredRecord};

pub(crate) fn opts(durability: Durability) -> DiskOptions {
    DiskOptions {
        durability,
        segment_max_bytes: 2048,
        index_interval_bytes: 128,
        ..DiskOptions::default()
    }
}

/// The `.log` files of a log, oldest first.
pub(crate) fn segment_files(dir: &Path, id: LogId) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(paths::log_dir(dir, id))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// One-record batches of 50 data bytes: 32 + 8 + 1 + 50 = 91 bytes each on disk.
const BATCH: u64 = 91;

pub(crate) fn fill(log: &dyn ShardLog, n: usize, now: i64) -> Vec<StoredRecord> {
    (0..n)
        .map(|i| {
            let r = rec("k", vec![i as u8; 50]);
            let (offset, ts) = put(log, now + i as i64, std::slice::from_ref(&r));
            StoredRecord {
                offset,
                timestamp_ms: ts,
                key: r.key,
                data: r.data,
            }
        })
        .collect()
}

fn flip_byte(path: &Path, at: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x5a], at).unwrap();
}

#[test]
fn reopen_after_shutdown_reads_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), opts(Durability::Sync)).unwrap();
    let log = store.create(1).unwrap();
    let expected = fill(&*log, 60, 1000);
    assert!(segment_files(dir.path(), 1).len() > 2, "the log rolled");
    let before = log.bounds();
    store.shutdown().unwrap();
    drop((log, store));

    let store = DiskLogStore::open(dir.path(), opts(Durability::Sync)).unwrap();
    assert_eq!(store.list().unwrap(), vec![1]);
    let log = store.open(1).unwrap();
    assert_eq!(read_all(&*log, 0), expected);
    assert_eq!(log.bounds(), before);
    // A clean shutdown leaves no gap.
    assert_eq!(
        put(&*log, 0, &[rec("k", b"next".to_vec())]).0,
        before.end_offset
    );
}

#[test]
fn crash_keeps_acked_records_in_every_mode() {
    for durability in [
        Durability::Sync,
        Durability::Interval { ms: 5 },
        Durability::None,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskLogStore::open(dir.path(), opts(durability)).unwrap();
        let log = store.create(4).unwrap();
        let expected = fill(&*log, 30, 7);
        let end = log.bounds().end_offset;
        drop((log, store));

        let store = DiskLogStore::open(dir.path(), opts(durability)).unwrap();
        let log = store.open(4).unwrap();
        assert_eq!(read_all(&*log, 0), expected, "{durability:?}");
        assert!(
            put(&*log, 0, &[rec("k", b"x".to_vec())]).0 >= end,
            "{durability:?}"
        );
    }
}

#[test]
fn offsets_are_never_reminted_after_a_lost_tail() {
    let dir = tempfile::tempdir().unwrap();
    let big = DiskOptions {
        segment_max_bytes: 1 << 20,
        ..opts(Durability::None)
    };
    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let log = store.create(1).unwrap();
    let expected = fill(&*log, 10, 0);
    drop((log, store));
    // The crash lost the last three batches.
    let seg = &segment_files(dir.path(), 1)[0];
    OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(24 + 7 * BATCH)
        .unwrap();

    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let log = store.open(1).unwrap();
    assert_eq!(read_all(&*log, 0), expected[..7].to_vec());
    assert!(log.bounds().end_offset >= 10);
    let (first, _) = put(&*log, 0, &[rec("k", b"new".to_vec())]);
    assert!(
        first >= 10,
        "offset {first} was handed out before the crash"
    );
    // Reading from inside the gap yields the records after it.
    for from in [7, 8, 9, first] {
        let r = log.read(from, 10, 1 << 20).unwrap();
        assert_eq!(r.records.len(), 1, "from {from}");
        assert_eq!(
            (r.records[0].offset, &r.records[0].data[..]),
            (first, &b"new"[..])
        );
    }
    drop((log, store));

    // A second crash: still above everything handed out.
    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let log = store.open(1).unwrap();
    assert!(put(&*log, 0, &[rec("k", b"newer".to_vec())]).0 > first);
}

#[test]
fn torn_tail_is_truncated() {
    // Without a journal (`None`) the segment alone decides; tests_journal.rs has the
    // same damage restored in `Sync` mode.
    let dir = tempfile::tempdir().unwrap();
    let big = DiskOptions {
        segment_max_bytes: 1 << 20,
        ..opts(Durability::None)
    };
    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let log = store.create(1).unwrap();
    let expected = fill(&*log, 5, 0);
    drop((log, store));
    let seg = segment_files(dir.path(), 1)[0].clone();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(24 + 5 * BATCH - 3).unwrap();

    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let log = store.open(1).unwrap();
    assert_eq!(read_all(&*log, 0), expected[..4].to_vec());
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), 24 + 4 * BATCH);
    let (after, _) = put(&*log, 0, &[rec("k", b"after".to_vec())]);
    let len = std::fs::metadata(&seg).unwrap().len();
    drop((log, store));

    // Garbage after the last batch (a torn write of a batch that never completed).
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&[0xab; 100])
        .unwrap();
    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let log = store.open(1).unwrap();
    let got = read_all(&*log, 0);
    assert_eq!(got[..4].to_vec(), expected[..4].to_vec());
    assert_eq!((got.len(), got[4].offset), (5, after));
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len);
}

/// One segment of five batches, one index entry for the first and, once synced, one
/// for the last.
fn five_batches(sync: bool) -> (tempfile::TempDir, DiskOptions, PathBuf, Vec<StoredRecord>) {
    let dir = tempfile::tempdir().unwrap();
    let big = DiskOptions {
        segment_max_bytes: 1 << 20,
        index_interval_bytes: 1 << 20,
        ..opts(Durability::None)
    };
    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let expected = fill(&*store.create(1).unwrap(), 5, 0);
    if sync {
        store.shutdown().unwrap();
    }
    drop(store);
    let seg = segment_files(dir.path(), 1)[0].clone();
    (dir, big, seg, expected)
}

#[test]
fn damage_in_the_synced_part_fails_open_or_its_read() {
    // Recovery scans from the index's last entry, the last synced batch.
    let (dir, big, seg, expected) = five_batches(true);
    let last_batch = 24 + 4 * BATCH;
    flip_byte(&seg, last_batch + 45);
    match DiskLogStore::open(dir.path(), big) {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (seg.clone(), last_batch));
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a store with damaged synced data"),
    }
    flip_byte(&seg, last_batch + 45);

    // Before the scan's start, damage is found by the read that meets it.
    let middle = 24 + 2 * BATCH;
    flip_byte(&seg, middle + 45);
    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let log = store.open(1).unwrap();
    match log.read(0, 100, 1 << 20) {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (seg, middle))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        log.read(4, 1, 1 << 20).unwrap().records,
        vec![expected[4].clone()]
    );
}

#[test]
fn damage_past_the_synced_part_is_cut_off_with_what_follows() {
    // Nothing synced: a crash may lose any unsynced page, and keep later ones.
    let (dir, big, seg, expected) = five_batches(false);
    flip_byte(&seg, 24 + 2 * BATCH + 45);
    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let log = store.open(1).unwrap();
    assert_eq!(read_all(&*log, 0), expected[..2].to_vec());
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), 24 + 2 * BATCH);
    assert!(
        put(&*log, 0, &[rec("k", b"x".to_vec())]).0 >= 5,
        "offsets are not reused"
    );
}

#[test]
fn damage_in_a_sealed_segment_is_reported_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    let expected = fill(&*store.create(1).unwrap(), 60, 0);
    store.shutdown().unwrap();
    drop(store);
    let segs = segment_files(dir.path(), 1);
    assert!(segs.len() > 2);
    flip_byte(&segs[0], 24 + BATCH + 45);

    // Sealed segments are not scanned at open.
    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    let log = store.open(1).unwrap();
    match log.read(0, 100, 1 << 20) {
        Err(StorageError::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (segs[0].clone(), 24 + BATCH));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let last = expected.last().unwrap();
    assert_eq!(
        log.read(last.offset, 1, 1 << 20).unwrap().records,
        vec![last.clone()]
    );
}

#[test]
fn a_failed_fsync_poisons_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), opts(Durability::Sync)).unwrap();
    let log = store.create(1).unwrap();
    let other = store.create(2).unwrap();
    fill(&*log, 2, 0);
    let before = log.bounds();

    store.fail_next_sync();
    let a = log.append(5, &[rec("k", b"lost".to_vec())]).unwrap();
    let DurableWait::Pending(_) = &a.durable else {
        panic!("Sync mode must wait for the sync")
    };
    let err = crate::storage::log::tests::wait(a.durable).unwrap_err();
    assert!(matches!(err, StorageError::Poisoned(_)), "{err}");
    assert_eq!(
        log.bounds(),
        before,
        "an unsynced append never becomes visible"
    );
    assert_eq!(read_all(&*log, 0).len(), 2);
    for l in [&log, &other] {
        match l.append(6, &[rec("k", b"refused".to_vec())]) {
            Err(StorageError::Poisoned(why)) => assert!(why.contains("injected"), "{why}"),
            other => panic!("expected Poisoned, got {other:?}"),
        }
    }
    assert!(store.create(3).is_err());
}

#[test]
fn create_and_remove_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    for id in [5, 6, 7] {
        store.create(id).unwrap();
    }
    store.remove(6).unwrap();
    assert!(!paths::log_dir(dir.path(), 6).exists());
    drop(store);
    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    assert_eq!(store.list().unwrap(), vec![5, 7]);
    assert!(read_all(&*store.open(5).unwrap(), 0).is_empty());
}

#[test]
fn non_sync_modes_ack_at_once() {
    for durability in [Durability::None, Durability::Interval { ms: 1000 }] {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskLogStore::open(dir.path(), opts(durability)).unwrap();
        let log = store.create(1).unwrap();
        let a = log.append(1, &[rec("k", b"x".to_vec())]).unwrap();
        assert!(matches!(a.durable, DurableWait::Ready), "{durability:?}");
        assert_eq!(log.bounds().end_offset, 1, "visible before any sync");
        store.shutdown().unwrap();
    }
}

#[test]
fn group_commit_shares_syncs() {
    const THREADS: usize = 8;
    const EACH: usize = 25;
    let appends = (THREADS * EACH) as u64;
    let dir = tempfile::tempdir().unwrap();
    let big = DiskOptions {
        segment_max_bytes: 1 << 20,
        ..opts(Durability::Sync)
    };
    let store = DiskLogStore::open(dir.path(), big).unwrap();
    let own: Vec<_> = (0..THREADS as u64)
        .map(|id| store.create(id).unwrap())
        .collect();
    let shared = store.create(100).unwrap();

    // Different logs: one journal fdatasync covers appends of several logs.
    let syncs_before = store.sync_count();
    std::thread::scope(|s| {
        for log in &own {
            s.spawn(move || fill(&**log, EACH, 0));
        }
    });
    let syncs = store.sync_count() - syncs_before;
    assert!(syncs < appends, "{syncs} syncs for {appends} appends");

    // One log: one fdatasync covers appends of several threads.
    let syncs_before = store.sync_count();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| fill(&*shared, EACH, 0));
        }
    });
    let syncs = store.sync_count() - syncs_before;
    assert!(syncs < appends, "{syncs} syncs for {appends} appends");
    assert_eq!(read_all(&*shared, 0).len() as u64, appends);
    for log in &own {
        assert_eq!(read_all(&**log, 0).len(), EACH);
    }
}
