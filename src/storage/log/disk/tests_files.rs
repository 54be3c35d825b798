//! Disk-only behaviour of the files themselves: segment rolls, index rebuilds, a
//! trimmed start, and the bound on open descriptors.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use super::tests_crash::{fill, opts, segment_files};
use super::*;
use crate::storage::fs::OsFs;
use crate::storage::log::tests::{put, read_all, rec};
use crate::storage::log::RecordIn;

#[test]
fn segments_roll_by_size_and_reads_span_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    let log = store.create(1).unwrap();
    let expected = fill(&*log, 80, 100);
    let segs = segment_files(dir.path(), 1);
    assert!(segs.len() >= 4, "{} segments", segs.len());
    for s in &segs {
        assert!(
            std::fs::metadata(s).unwrap().len() <= 2048,
            "{}",
            s.display()
        );
    }
    // Named by the base offset of their first batch.
    let names: Vec<String> = segs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names[0], format!("{:020}.log", 0));
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    // One read crosses every segment.
    let r = log.read(0, 1000, usize::MAX).unwrap();
    assert_eq!(r.records, expected);
    for want in [&expected[0], &expected[33], &expected[79]] {
        assert_eq!(log.offset_at_time(want.timestamp_ms).unwrap(), want.offset);
    }
}

#[test]
fn segments_roll_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let o = DiskOptions {
        segment_max_age_ms: 0,
        ..opts(Durability::None)
    };
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let log = store.create(1).unwrap();
    let expected = fill(&*log, 3, 0);
    assert_eq!(segment_files(dir.path(), 1).len(), 3);
    assert_eq!(read_all(&*log, 0), expected);
}

/// Ways an index file can be wrong after a crash or by damage.
fn damage_index(path: &std::path::Path, how: usize) {
    let len = std::fs::metadata(path).unwrap().len();
    let f = OpenOptions::new().write(true).open(path).unwrap();
    match how {
        0 => std::fs::remove_file(path).unwrap(),
        1 => f.set_len(len - 5).unwrap(),
        // Second entry's relative offset goes backwards.
        2 => f.write_all_at(&0u32.to_le_bytes(), 24 + 16).unwrap(),
        // Last entry points past the end of the log.
        _ => f.write_all_at(&u32::MAX.to_le_bytes(), len - 12).unwrap(),
    }
}

#[test]
fn bad_indexes_are_rebuilt_and_lookups_stay_right() {
    for how in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
        let expected = fill(&*store.create(1).unwrap(), 60, 0);
        store.shutdown().unwrap();
        drop(store);
        let log_dir = paths::log_dir(dir.path(), 1);
        let bases: Vec<u64> = segment_files(dir.path(), 1)
            .iter()
            .map(|p| paths::parse_segment_name(&p.file_name().unwrap().to_string_lossy()).unwrap())
            .collect();
        let (first, last) = (bases[0], *bases.last().unwrap());
        let good = std::fs::read(paths::segment_index(&log_dir, first)).unwrap();
        for base in [first, last] {
            damage_index(&paths::segment_index(&log_dir, base), how);
        }

        let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
        let log = store.open(1).unwrap();
        for want in &expected {
            let r = log.read(want.offset, 1, 1).unwrap();
            assert_eq!(r.records, vec![want.clone()], "damage {how}");
            assert_eq!(
                log.offset_at_time(want.timestamp_ms).unwrap(),
                want.offset,
                "damage {how}"
            );
        }
        for base in [first, last] {
            let path = paths::segment_index(&log_dir, base);
            let log_len = std::fs::metadata(paths::segment_log(&log_dir, base))
                .unwrap()
                .len();
            assert!(
                index::load(&OsFs::native(), &path, base, log_len)
                    .unwrap()
                    .rest
                    .is_none(),
                "damage {how}: index rewritten"
            );
        }
        assert_eq!(
            std::fs::read(paths::segment_index(&log_dir, first)).unwrap(),
            good,
            "same entries"
        );
    }
}

#[test]
fn reads_below_the_start_jump_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    let expected = fill(&*store.create(1).unwrap(), 60, 0);
    store.shutdown().unwrap();
    drop(store);
    // What retention will do: unlink the oldest segment.
    let oldest = &segment_files(dir.path(), 1)[0];
    std::fs::remove_file(oldest).unwrap();
    std::fs::remove_file(oldest.with_extension("index")).unwrap();

    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    let log = store.open(1).unwrap();
    let start = log.bounds().start_offset;
    assert!(start > 0);
    let rest: Vec<_> = expected.into_iter().filter(|r| r.offset >= start).collect();
    assert_eq!(read_all(&*log, 0), rest);
    assert_eq!(log.read(0, 1, 1).unwrap().records[0].offset, start);
    assert_eq!(log.offset_at_time(i64::MIN).unwrap(), start);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Appends past the writeback threshold (4 MiB) and across a roll, in the modes whose
/// segments are written back ahead (`sync` here with batches small enough to journal).
#[test]
fn segments_written_back_ahead_keep_every_record() {
    for durability in [Durability::None, Durability::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let o = DiskOptions {
            segment_max_bytes: 6 << 20,
            index_interval_bytes: 4096,
            ..opts(durability)
        };
        let store = DiskLogStore::open(dir.path(), o).unwrap();
        let log = store.create(1).unwrap();
        let batch = |i: usize| -> Vec<RecordIn> {
            (0..7)
                .map(|j| rec("k", vec![(i * 7 + j) as u8; 8 << 10]))
                .collect()
        };
        for i in 0..140 {
            put(&*log, i as i64, &batch(i));
        }
        assert!(segment_files(dir.path(), 1).len() >= 2, "{durability:?}");
        let check = |log: &dyn ShardLog| {
            let got = read_all(log, 0);
            assert_eq!(got.len(), 140 * 7, "{durability:?}");
            for (n, r) in got.iter().enumerate() {
                assert_eq!(r.offset, n as u64);
                assert_eq!(r.data.len(), 8 << 10);
                assert!(r.data.iter().all(|&b| b == n as u8), "record {n}");
            }
        };
        check(&*log);
        drop(log);
        store.shutdown().unwrap();
        drop(store);
        let store = DiskLogStore::open(dir.path(), o).unwrap();
        check(&*store.open(1).unwrap());
    }
}

#[test]
fn open_files_stay_bounded_with_thousands_of_logs() {
    const LOGS: u64 = 2000;
    const MAX: usize = 32;
    let dir = tempfile::tempdir().unwrap();
    let o = DiskOptions {
        max_open_files: MAX,
        ..opts(Durability::None)
    };
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let baseline = open_fds();
    // Other tests run in this process too, so allow for their descriptors.
    let bound = baseline + MAX + 48;
    let mut peak = 0;
    for id in 0..LOGS {
        let log = store.create(id).unwrap();
        put(&*log, 1, &[rec("k", id.to_le_bytes().to_vec())]);
        assert!(store.cached_handles() <= MAX);
        if id % 50 == 0 {
            peak = peak.max(open_fds());
        }
    }
    for id in 0..LOGS {
        let got = read_all(&*store.open(id).unwrap(), 0);
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0].data[..], &id.to_le_bytes());
        if id % 50 == 0 {
            peak = peak.max(open_fds());
        }
    }
    assert!(peak <= bound, "{peak} descriptors open, bound {bound}");
    assert!(store.cached_handles() <= MAX);
    store.shutdown().unwrap();
    drop(store);
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    assert_eq!(store.list().unwrap().len(), LOGS as usize);
    assert!(open_fds() <= bound, "recovery keeps the bound too");
}

#[test]
fn a_segment_torn_while_being_created_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    let log = store.create(1).unwrap();
    let mut expected = fill(&*log, 40, 0);
    let end = log.bounds().end_offset;
    drop((log, store));
    // A crash right after a roll: the newest segment has half a header.
    let newest = segment_files(dir.path(), 1).pop().unwrap();
    let base = paths::parse_segment_name(&newest.file_name().unwrap().to_string_lossy()).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(10)
        .unwrap();
    expected.retain(|r| r.offset < base);

    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    let log = store.open(1).unwrap();
    assert_eq!(read_all(&*log, 0), expected);
    let b = log.bounds();
    assert_eq!(
        b.last_timestamp_ms,
        Some(expected.last().unwrap().timestamp_ms)
    );
    assert!(!newest.exists(), "the empty segment is gone");
    let (first, _) = put(&*log, 0, &[rec("k", b"again".to_vec())]);
    assert!(first >= end);
    assert_eq!(read_all(&*log, 0).last().unwrap().offset, first);
}

#[test]
fn a_roll_that_fails_on_a_full_disk_leaves_the_log_writable() {
    use crate::storage::fs::sim::{Fault, SimFs};
    let sim = SimFs::new();
    let dir = std::path::Path::new("/d");
    let store = DiskLogStore::open_on(sim.clone(), dir, opts(Durability::None)).unwrap();
    let log = store.create(1).unwrap();
    fill(&*log, 20, 0);
    // 22 batches fill a segment: the roll at offset 22 creates its files, then cannot
    // write the index header.
    sim.fail_path(Some(("00000000000000000022.index", Fault::Enospc)));
    let refused = (0..40).find_map(|i| log.append(100 + i, &[rec("k", vec![1; 50])]).err());
    match refused {
        Some(e) if e.is_full() => {}
        other => panic!("expected a full disk, got {other:?}"),
    }
    let mut expected = read_all(&*log, 0);
    assert_eq!(expected.len(), 22);
    sim.fail_path(None);
    expected.extend(fill(&*log, 40, 1000));
    assert_eq!(read_all(&*log, 0), expected, "later rolls work");
    store.shutdown().unwrap();
    drop((log, store));
    let store = DiskLogStore::open_on(sim.clone(), dir, opts(Durability::None)).unwrap();
    assert_eq!(read_all(&*store.open(1).unwrap(), 0), expected);
}
