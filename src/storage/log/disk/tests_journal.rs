//! `Sync` mode's commit journal across simulated crashes: segment writes that never
//! reached the disk come back from the journal, journal files are reused after
//! checkpoints, and a torn journal tail is ignored.

use std::fs::OpenOptions;
use std::path::Path;

use bytes::Bytes;

use super::journal::file::{self as jfile, JournalFile};
use super::tests_crash::{fill, opts, segment_files};
use super::*;
use crate::storage::fs::OsFs;
use crate::storage::log::tests::{put, read_all, rec};
use crate::storage::log::RecordIn;

fn journal_files(dir: &Path) -> Vec<PathBuf> {
    journal::file::list(&OsFs::native(), &paths::journal_dir(dir))
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// Cuts a segment file as a crash would that lost its unsynced pages.
fn cut(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn segment_writes_lost_in_a_crash_come_back_from_the_journal() {
    lost_segment_writes_come_back(true);
}

#[test]
fn segment_writes_lost_in_a_crash_come_back_from_a_buffered_journal() {
    lost_segment_writes_come_back(false);
}

fn lost_segment_writes_come_back(journal_direct_io: bool) {
    let dir = tempfile::tempdir().unwrap();
    let o = DiskOptions {
        segment_max_bytes: 1 << 20,
        journal_direct_io,
        ..opts(Durability::Sync)
    };
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let (a, b) = (store.create(1).unwrap(), store.create(2).unwrap());
    let expected_a = fill(&*a, 20, 100);
    let expected_b = fill(&*b, 7, 100);
    let end_a = a.bounds().end_offset;
    drop((a, b, store));
    // Log 1 lost everything after its header, log 2 the second half of a batch.
    cut(&segment_files(dir.path(), 1)[0], 24);
    let seg_b = segment_files(dir.path(), 2)[0].clone();
    let len_b = std::fs::metadata(&seg_b).unwrap().len();
    cut(&seg_b, len_b - 40);

    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let a = store.open(1).unwrap();
    assert_eq!(read_all(&*a, 0), expected_a);
    assert_eq!(read_all(&*store.open(2).unwrap(), 0), expected_b);
    assert!(put(&*a, 0, &[rec("k", b"next".to_vec())]).0 >= end_a);
    store.shutdown().unwrap();
    drop((a, store));

    // Restored and synced: a second crash-free reopen reads the same.
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    assert_eq!(read_all(&*store.open(1).unwrap(), 0).len(), 21);
}

/// Appenders on many threads share rounds, with large batches synced in their segments
/// among them: every acknowledged record survives the loss of every unsynced segment
/// write.
#[test]
fn concurrent_appenders_lose_no_acknowledged_record() {
    const PUTS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let o = DiskOptions {
        segment_max_bytes: 4 << 20,
        ..opts(Durability::Sync)
    };
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let logs: Vec<_> = (0..8).map(|id| store.create(id).unwrap()).collect();
    // Logs 6 and 7 put a batch over 64 KiB every fifth time.
    let data = |id: usize, i: usize| {
        let len = if id >= 6 && i % 5 == 0 { 70_000 } else { 50 };
        let mut d = format!("{id}/{i}/").into_bytes();
        d.resize(len, b'.');
        d
    };
    std::thread::scope(|s| {
        for (id, log) in logs.iter().enumerate() {
            s.spawn(move || {
                for i in 0..PUTS {
                    put(&**log, 0, &[rec("k", data(id, i))]);
                }
            });
        }
    });
    drop((logs, store));
    // No checkpoint has synced the segments, so cutting them loses only unsynced writes.
    assert_eq!(journal_files(dir.path()).len(), 1, "the journal rotated");
    for id in 0..6 {
        cut(&segment_files(dir.path(), id)[0], 24);
    }

    let store = DiskLogStore::open(dir.path(), o).unwrap();
    for id in 0..8 {
        let got: Vec<Vec<u8>> = read_all(&*store.open(id as u64).unwrap(), 0)
            .into_iter()
            .map(|r| r.data.to_vec())
            .collect();
        let want: Vec<Vec<u8>> = (0..PUTS).map(|i| data(id, i)).collect();
        assert_eq!(got.len(), want.len(), "log {id}");
        assert!(got == want, "log {id}: records differ");
    }
}

#[test]
fn damage_in_an_unsynced_tail_is_restored_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = DiskOptions {
        segment_max_bytes: 1 << 20,
        index_interval_bytes: 1 << 20,
        ..opts(Durability::Sync)
    };
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let expected = fill(&*store.create(1).unwrap(), 5, 0);
    drop(store);
    // Pages written back out of order: a hole of zeros with valid batches after it.
    let seg = segment_files(dir.path(), 1)[0].clone();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0u8; 91], 24 + 91).unwrap();

    let store = DiskLogStore::open(dir.path(), o).unwrap();
    assert_eq!(read_all(&*store.open(1).unwrap(), 0), expected);
}

#[test]
fn checkpoints_reuse_journal_files_and_keep_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let o = DiskOptions {
        segment_max_bytes: 256 << 10,
        journal_file_bytes: 64 << 10,
        ..opts(Durability::Sync)
    };
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let logs: Vec<_> = (0..4).map(|id| store.create(id).unwrap()).collect();
    let big = vec![7u8; 4000];
    for i in 0..200 {
        put(&*logs[i % 4], 0, &[rec("k", big.clone())]);
    }
    // 800 KB went through 64 KiB files: checkpoints freed and reused them.
    let files = journal_files(dir.path()).len();
    assert!(files <= 6, "{files} journal files");
    drop((logs, store));

    let store = DiskLogStore::open(dir.path(), o).unwrap();
    for id in 0..4 {
        let got = read_all(&*store.open(id).unwrap(), 0);
        assert_eq!(got.len(), 50, "log {id}");
        assert!(got.iter().all(|r| r.data == big));
    }
}

#[test]
fn a_torn_journal_tail_and_removed_logs_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(Durability::Sync);
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    fill(&*store.create(2).unwrap(), 5, 0);
    let expected = fill(&*store.create(1).unwrap(), 5, 0);
    store.remove(2).unwrap();
    drop(store);
    // Log 1's newest entry was half written when the power went (never acknowledged);
    // its segment has the batch.
    let (path, entries) = journal_files(dir.path())
        .into_iter()
        .filter_map(|p| {
            let seq = journal::file::read_seq(&OsFs::native(), &p).unwrap()?;
            Some((seq, p))
        })
        .max()
        .map(|(seq, p)| {
            (
                p.clone(),
                journal::file::read_entries(&OsFs::native(), &p, seq).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(entries.last().unwrap().log_id, 1);
    let end: usize = 24 + entries.iter().map(|e| 32 + e.batch.len()).sum::<usize>();
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xee; 20], end as u64 - 20).unwrap();

    let store = DiskLogStore::open(dir.path(), o).unwrap();
    assert_eq!(store.list().unwrap(), vec![1]);
    assert_eq!(read_all(&*store.open(1).unwrap(), 0), expected);
}

#[test]
fn other_modes_replay_a_journal_left_by_sync_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), opts(Durability::Sync)).unwrap();
    let expected = fill(&*store.create(1).unwrap(), 3, 0);
    drop(store);
    cut(&segment_files(dir.path(), 1)[0], 24);

    let store = DiskLogStore::open(dir.path(), opts(Durability::None)).unwrap();
    assert_eq!(read_all(&*store.open(1).unwrap(), 0), expected);
}

#[test]
fn large_batches_are_synced_in_their_segment_and_marked_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let o = DiskOptions {
        segment_max_bytes: 4 << 20,
        ..opts(Durability::Sync)
    };
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let log = store.create(1).unwrap();
    let mut expected = fill(&*log, 2, 0);
    let big: Vec<_> = (0..100).map(|i| rec("k", vec![i as u8; 1024])).collect();
    put(&*log, 10, &big);
    let after_big = std::fs::metadata(&segment_files(dir.path(), 1)[0])
        .unwrap()
        .len();
    expected.extend(fill(&*log, 2, 20));
    drop((log, store));
    let seg = segment_files(dir.path(), 1)[0].clone();
    let journal = journal_files(dir.path());
    let seq = journal::file::read_seq(&OsFs::native(), &journal[0])
        .unwrap()
        .unwrap();
    let marked: Vec<bool> = journal::file::read_entries(&OsFs::native(), &journal[0], seq)
        .unwrap()
        .iter()
        .map(|e| e.in_segment)
        .collect();
    assert_eq!(marked, [false, false, true, false, false]);

    // The small batches after it were lost with the segment's unsynced tail.
    cut(&seg, after_big);
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let got = read_all(&*store.open(1).unwrap(), 0);
    assert_eq!(got.len(), 104);
    assert_eq!(got[..2], expected[..2]);
    assert_eq!(got[102..], expected[2..]);
    drop(store);

    // Losing the large batch itself would be losing synced data: refused, not hidden.
    let dir = tempfile::tempdir().unwrap();
    let store = DiskLogStore::open(dir.path(), o).unwrap();
    let log = store.create(1).unwrap();
    fill(&*log, 1, 0);
    let before_big = std::fs::metadata(&segment_files(dir.path(), 1)[0])
        .unwrap()
        .len();
    put(&*log, 10, &big);
    fill(&*log, 1, 20);
    drop((log, store));
    cut(&segment_files(dir.path(), 1)[0], before_big + 100);
    let err = DiskLogStore::open(dir.path(), o).err().expect("refused");
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
}

/// Entries of many sizes, across block boundaries and past the stage's capacity, read
/// back as they were written, through direct writes and through buffered ones; a
/// direct file rewrites its last partial block and never clobbers what it holds.
#[test]
fn journal_files_read_back_every_entry_direct_or_buffered() {
    // Under target/, not /tmp, which is tmpfs (no direct I/O) on some machines.
    let under = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&under).unwrap();
    for direct in [true, false] {
        let dir = tempfile::tempdir_in(&under).unwrap();
        let health = Health::default();
        let mut f = JournalFile::create(&OsFs::native(), dir.path(), 0, 64 << 10).unwrap();
        f.activate(&OsFs::native(), 5, direct).unwrap();
        if direct && !f.is_direct() {
            eprintln!(
                "no direct I/O under {}: only the buffered path is checked",
                under.display()
            );
        }
        assert!(direct || !f.is_direct());
        let sizes = [1usize, 100, 4000, 5000, 9000, 60_000, 300_000, 3, 4064];
        let mut written = Vec::new();
        let mut commits = 1;
        for (i, &size) in sizes.iter().enumerate() {
            let rec = RecordIn {
                key: Bytes::from_static(b"k"),
                data: Bytes::from(vec![i as u8 + 1; size]),
            };
            let mut entry = format::encode_batch(jfile::ENTRY_HEADER_LEN, i as u64, 7, &[rec]);
            jfile::frame(&mut entry, 5, 1, i as u64, false);
            f.write(&entry, &health).unwrap();
            if i % 3 == 0 {
                f.commit(&health).unwrap();
                commits += 1;
            }
            written.push(entry[jfile::ENTRY_HEADER_LEN..].to_vec());
        }
        f.commit(&health).unwrap();
        // The 300 KB entry overflows the stage: a direct file writes it out early, and
        // that write is timed (and can poison) like a commit.
        let timed = health.syncs.load(std::sync::atomic::Ordering::Relaxed);
        if f.is_direct() {
            assert!(
                timed > commits,
                "{timed} timed writes for {commits} commits"
            );
        } else {
            assert!(timed <= commits, "{timed} syncs for {commits} commits");
        }
        let got =
            jfile::read_entries(&OsFs::native(), &paths::journal_file(dir.path(), 0), 5).unwrap();
        let got: Vec<Vec<u8>> = got.into_iter().map(|e| e.batch).collect();
        assert_eq!(got.len(), written.len(), "direct {direct}");
        assert!(got == written, "direct {direct}: entries differ");
    }
}

#[test]
fn a_failing_checkpoint_is_tried_again_and_journal_files_do_not_pile_up() {
    use crate::storage::fs::sim::{Fault, SimFs};
    use crate::storage::fs::Fs;
    let sim = SimFs::new();
    let o = DiskOptions {
        segment_max_bytes: 1 << 20,
        journal_file_bytes: 32 << 10,
        ..opts(Durability::Sync)
    };
    let store = DiskLogStore::open_on(sim.clone(), Path::new("/d"), o).unwrap();
    let log = store.create(1).unwrap();
    let journal = || {
        let names = sim.read_dir(Path::new("/d/journal")).unwrap();
        names.iter().filter(|n| n.ends_with(".jnl")).count()
    };
    sim.fail_path(Some(("checkpoint", Fault::Eio)));
    let mut expected = fill(&*log, 1500, 0);
    let piled = journal();
    assert!(piled > 4, "{piled} journal files while checkpoints fail");
    sim.fail_path(None);
    expected.extend(fill(&*log, 300, 5000));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while journal() > 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        journal() <= 4,
        "{} journal files after checkpoints work again",
        journal()
    );
    assert_eq!(read_all(&*log, 0), expected);
}
