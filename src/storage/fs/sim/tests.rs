//! The simulated disk's promises, each shown failing-able: what syncs keep, what power
//! cuts may drop, and what faults and limits do.

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::{Fault, OpKind, SimFs};
use crate::storage::fs::{Fs, OpenMode};

const SEEDS: u64 = 64;

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn errno(e: io::Error) -> i32 {
    e.raw_os_error().expect("an errno")
}

/// A disk with `/d/f` holding `bytes`, file and both directories synced.
fn synced(bytes: &[u8]) -> Arc<SimFs> {
    let fs = SimFs::new();
    fs.create_dir(p("/d")).unwrap();
    fs.sync_dir(p("/")).unwrap();
    let f = fs.open(p("/d/f"), OpenMode::CreateNew).unwrap();
    f.write_all_at(bytes, 0).unwrap();
    f.sync_data().unwrap();
    fs.sync_dir(p("/d")).unwrap();
    fs
}

/// Each distinct outcome of `look` over the seeds.
fn outcomes<T: Ord>(fs: &SimFs, look: impl Fn(&SimFs) -> T) -> std::collections::BTreeSet<T> {
    (0..SEEDS).map(|seed| look(&fs.crash(seed))).collect()
}

#[test]
fn synced_data_survives_every_crash() {
    let fs = synced(&[7u8; 10_000]);
    for seed in 0..SEEDS {
        assert_eq!(
            fs.crash(seed).file_bytes(p("/d/f")),
            Some(vec![7u8; 10_000]),
            "seed {seed}"
        );
    }
}

#[test]
fn unsynced_data_is_sometimes_kept_and_sometimes_lost() {
    let fs = synced(b"");
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    f.write_all_at(b"hello", 0).unwrap();
    assert_eq!(fs.file_bytes(p("/d/f")).unwrap(), b"hello");
    let seen = outcomes(&fs, |img| img.file_bytes(p("/d/f")).unwrap());
    assert!(seen.contains(b"hello".as_slice()), "{seen:?}");
    assert!(seen.iter().any(|b| b != b"hello"), "{seen:?}");
}

#[test]
fn a_file_created_without_a_dir_sync_sometimes_vanishes() {
    let fs = synced(b"");
    let f = fs.open(p("/d/g"), OpenMode::CreateNew).unwrap();
    f.write_all_at(b"x", 0).unwrap();
    f.sync_data().unwrap();
    let seen = outcomes(&fs, |img| img.file_bytes(p("/d/g")));
    assert_eq!(seen, [None, Some(b"x".to_vec())].into(), "{seen:?}");
}

#[test]
fn a_directory_created_without_a_sync_vanishes_with_its_files() {
    let fs = synced(b"");
    fs.create_dir(p("/d/e")).unwrap();
    let f = fs.open(p("/d/e/g"), OpenMode::CreateNew).unwrap();
    f.sync_data().unwrap();
    fs.sync_dir(p("/d/e")).unwrap();
    let seen = outcomes(&fs, |img| img.exists(p("/d/e/g")).unwrap());
    assert_eq!(seen, [false, true].into());
}

#[test]
fn rename_is_atomic_per_name_and_durable_after_sync_dir() {
    let fs = synced(b"old");
    let f = fs.open(p("/d/f.tmp"), OpenMode::CreateNew).unwrap();
    f.write_all_at(b"new", 0).unwrap();
    f.sync_data().unwrap();
    fs.rename(p("/d/f.tmp"), p("/d/f")).unwrap();
    assert_eq!(fs.file_bytes(p("/d/f")).unwrap(), b"new");
    let seen = outcomes(&fs, |img| img.file_bytes(p("/d/f")));
    assert_eq!(seen, [Some(b"new".to_vec()), Some(b"old".to_vec())].into());
    fs.sync_dir(p("/d")).unwrap();
    for seed in 0..SEEDS {
        let img = fs.crash(seed);
        assert_eq!(img.file_bytes(p("/d/f")).unwrap(), b"new", "seed {seed}");
        assert!(!img.exists(p("/d/f.tmp")).unwrap(), "seed {seed}");
    }
}

#[test]
fn a_failed_sync_loses_the_data_even_after_a_later_sync() {
    let fs = synced(&[b'a'; 4096]);
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    f.write_all_at(&[b'b'; 4096], 0).unwrap();
    fs.inject(fs.ops(), Fault::Eio);
    assert_eq!(errno(f.sync_data().unwrap_err()), libc::EIO);
    f.sync_data().unwrap();
    assert_eq!(fs.file_bytes(p("/d/f")).unwrap(), vec![b'b'; 4096]);
    for seed in 0..SEEDS {
        let img = fs.crash(seed);
        assert_eq!(
            img.file_bytes(p("/d/f")).unwrap(),
            vec![b'a'; 4096],
            "seed {seed}"
        );
    }
}

#[test]
fn injected_faults_fail_the_op_without_effect() {
    let fs = synced(b"abc");
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    fs.inject(fs.ops(), Fault::Enospc);
    assert_eq!(errno(f.write_all_at(b"xyz", 0).unwrap_err()), libc::ENOSPC);
    assert_eq!(fs.file_bytes(p("/d/f")).unwrap(), b"abc");
    fs.inject(fs.ops(), Fault::Eio);
    assert_eq!(errno(fs.create_dir(p("/d/e")).unwrap_err()), libc::EIO);
    assert!(!fs.exists(p("/d/e")).unwrap());
    fs.create_dir(p("/d/e")).unwrap();
}

#[test]
fn direct_writes_are_durable_at_once_and_must_be_aligned() {
    let fs = synced(b"");
    let f = fs.open(p("/d/f"), OpenMode::DirectWrite).unwrap();
    f.write_all_at(&[3u8; 8192], 4096).unwrap();
    for seed in 0..SEEDS {
        let bytes = fs.crash(seed).file_bytes(p("/d/f")).unwrap();
        assert_eq!(bytes.len(), 12288, "seed {seed}");
        assert_eq!(bytes[..4096], [0u8; 4096], "seed {seed}");
        assert_eq!(bytes[4096..], [3u8; 8192], "seed {seed}");
    }
    assert_eq!(
        errno(f.write_all_at(&[1u8; 4096], 100).unwrap_err()),
        libc::EINVAL
    );
    assert_eq!(
        errno(f.write_all_at(&[1u8; 100], 0).unwrap_err()),
        libc::EINVAL
    );
    assert_eq!(
        errno(f.read_at(&mut [0u8; 10], 0).unwrap_err()),
        libc::EBADF
    );
}

#[test]
fn without_direct_io_direct_opens_fail() {
    let fs = synced(b"");
    fs.set_direct_io(false);
    let e = fs.open(p("/d/f"), OpenMode::DirectWrite).unwrap_err();
    assert_eq!(errno(e), libc::EINVAL);
    fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
}

#[test]
fn capacity_gives_enospc_and_frees_on_remove() {
    let fs = synced(b"");
    fs.set_capacity(Some(8192));
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    f.write_all_at(&[1u8; 5000], 0).unwrap();
    assert_eq!(fs.used_bytes(), 8192);
    assert_eq!(fs.available_space(p("/d")).unwrap(), 0);
    assert_eq!(errno(f.write_all_at(b"x", 8192).unwrap_err()), libc::ENOSPC);
    assert_eq!(f.len().unwrap(), 5000);
    let g = fs.open(p("/d/g"), OpenMode::CreateNew).unwrap();
    assert_eq!(errno(g.set_len(1).unwrap_err()), libc::ENOSPC);
    fs.remove_file(p("/d/f")).unwrap();
    assert_eq!(
        fs.used_bytes(),
        8192,
        "an open unlinked file still takes space"
    );
    drop(f);
    assert_eq!(fs.used_bytes(), 0);
    g.write_all_at(&[2u8; 8192], 0).unwrap();
}

#[test]
fn a_power_cut_fails_that_op_and_every_later_one() {
    let fs = synced(b"abc");
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    fs.cut_power_at(fs.ops() + 1, 5);
    f.write_all_at(b"x", 3).unwrap();
    assert!(fs.power_cut_image().is_none());
    assert_eq!(errno(f.read_at(&mut [0u8; 3], 0).unwrap_err()), libc::EIO);
    assert!(fs.is_off());
    assert_eq!(errno(fs.exists(p("/d")).unwrap_err()), libc::EIO);
    let img = fs.power_cut_image().expect("an image");
    assert!(!img.is_off());
    assert_eq!(img.ops(), 0);
    assert_eq!(img.file_bytes(p("/d/f")), fs.crash(5).file_bytes(p("/d/f")));
}

#[test]
fn a_power_cut_tears_a_write_by_sectors() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..SEEDS {
        let fs = synced(&[0u8; 4 * 4096]);
        let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
        fs.cut_power_at(fs.ops(), seed);
        assert_eq!(
            errno(f.write_all_at(&[1u8; 4 * 4096], 0).unwrap_err()),
            libc::EIO
        );
        let bytes = fs.power_cut_image().unwrap().file_bytes(p("/d/f")).unwrap();
        let sectors: Vec<u8> = bytes.chunks(4096).map(|s| s[0]).collect();
        for (s, chunk) in bytes.chunks(4096).enumerate() {
            assert!(
                chunk.iter().all(|&b| b == chunk[0]),
                "seed {seed} sector {s}"
            );
        }
        seen.insert(sectors);
    }
    assert!(seen.len() > 4, "{seen:?}");
}

#[test]
fn the_same_seed_gives_the_same_image() {
    let fs = synced(&[0u8; 8 * 4096]);
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    f.write_all_at(&[9u8; 8 * 4096], 0).unwrap();
    fs.open(p("/d/g"), OpenMode::CreateNew).unwrap();
    for seed in 0..SEEDS {
        let (a, b) = (fs.crash(seed), fs.crash(seed));
        assert_eq!(
            a.file_bytes(p("/d/f")),
            b.file_bytes(p("/d/f")),
            "seed {seed}"
        );
        assert_eq!(a.read_dir(p("/d")).unwrap(), b.read_dir(p("/d")).unwrap());
    }
}

#[test]
fn open_handles_survive_unlink_and_rename() {
    let fs = synced(b"abc");
    let f = fs.open(p("/d/f"), OpenMode::ReadWrite).unwrap();
    fs.rename(p("/d/f"), p("/d/g")).unwrap();
    f.write_all_at(b"d", 3).unwrap();
    assert_eq!(fs.file_bytes(p("/d/g")).unwrap(), b"abcd");
    fs.remove_file(p("/d/g")).unwrap();
    assert!(!fs.exists(p("/d/g")).unwrap());
    f.write_all_at(b"e", 4).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 5);
    assert_eq!(&buf[..5], b"abcde");
    f.sync_data().unwrap();
}

#[test]
fn errors_carry_the_errno_of_a_real_disk() {
    let fs = synced(b"abc");
    let kind = |r: io::Result<()>| r.unwrap_err().kind();
    assert_eq!(
        kind(fs.open(p("/d/x"), OpenMode::Read).map(drop)),
        io::ErrorKind::NotFound
    );
    let again = fs.open(p("/d/f"), OpenMode::CreateNew).map(drop);
    assert_eq!(kind(again), io::ErrorKind::AlreadyExists);
    let parentless = fs.open(p("/x/f"), OpenMode::CreateNew).map(drop);
    assert_eq!(kind(parentless), io::ErrorKind::NotFound);
    assert_eq!(
        errno(fs.open(p("/d"), OpenMode::Read).unwrap_err()),
        libc::EISDIR
    );
    assert_eq!(errno(fs.remove_dir(p("/d")).unwrap_err()), libc::ENOTEMPTY);
    assert_eq!(errno(fs.remove_file(p("/d")).unwrap_err()), libc::EISDIR);
    assert_eq!(
        errno(fs.rename(p("/d"), p("/d/e")).unwrap_err()),
        libc::EINVAL
    );
    fs.create_dir(p("/e")).unwrap();
    assert_eq!(
        errno(fs.rename(p("/e"), p("/d")).unwrap_err()),
        libc::ENOTEMPTY
    );
    let r = fs.open(p("/d/f"), OpenMode::Read).unwrap();
    assert_eq!(errno(r.write_all_at(b"x", 0).unwrap_err()), libc::EBADF);
    fs.create_dir_all(p("/d/a/b")).unwrap();
    fs.create_dir_all(p("/d/a/b")).unwrap();
    assert_eq!(fs.read_dir(p("/d")).unwrap(), ["a", "f"]);
}

#[test]
fn every_call_is_an_op_with_a_kind() {
    let fs = SimFs::new();
    let f = fs.open(p("/f"), OpenMode::CreateNew).unwrap();
    f.write_all_at(b"abc", 0).unwrap();
    f.len().unwrap();
    f.start_writeback(0, 3);
    f.sync_data().unwrap();
    fs.exists(p("/f")).unwrap();
    use OpKind::*;
    assert_eq!(
        fs.op_kinds(),
        [Create, Write, Other, Other, SyncData, Other]
    );
    assert_eq!(fs.ops(), 6);
    assert!(Write.mutates() && SyncDir.mutates() && !Read.mutates() && !Other.mutates());
    assert_eq!(fs.recent_ops(2), ["#4 sync_data /f", "#5 exists /f"]);
    assert_eq!(fs.recent_ops(99)[1], "#1 write /f @0+3");
}

#[test]
fn a_lock_is_held_until_its_handle_closes() {
    let fs = SimFs::new();
    let path = Path::new("/db");
    let a = fs.open(path, OpenMode::CreateNew).unwrap();
    a.try_lock().unwrap();
    a.try_lock().unwrap();
    let b = fs.open(path, OpenMode::ReadWrite).unwrap();
    assert_eq!(b.try_lock().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    drop(a);
    b.try_lock().unwrap();
}

#[test]
fn a_failing_disk_fails_syncs_and_direct_writes_only() {
    let fs = SimFs::new();
    let path = Path::new("/f");
    let f = fs.open(path, OpenMode::CreateNew).unwrap();
    fs.fail_syncs(Some(Fault::Eio));
    f.write_all_at(b"kept in the cache", 0).unwrap();
    assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(libc::EIO));
    assert!(fs.sync_dir(Path::new("/")).is_err());
    let d = fs.open(path, OpenMode::DirectWrite).unwrap();
    assert!(d.write_all_at(&[0u8; 4096], 0).is_err());
    fs.fail_syncs(None);
    f.sync_data().unwrap();
}
