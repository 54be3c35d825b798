//! Every path of the disk store is derived here, so the directory layout is defined once.
//!
//! `<dir>/logs/<log id, 20 digits>/<base offset, 20 digits>.log|.index`, `floor` and
//! `start`
//! (`<log id>.removed/` while a log is deleted); `<dir>/journal/<file number, 20
//! digits>.jnl` and `checkpoint`.

use std::path::{Path, PathBuf};

use crate::storage::fs::Fs;
use crate::storage::StorageError;

pub(crate) fn logs_root(dir: &Path) -> PathBuf {
    dir.join("logs")
}

pub(crate) fn log_dir(dir: &Path, id: u64) -> PathBuf {
    logs_root(dir).join(format!("{id:020}"))
}

/// A log being removed: renamed here first, so a crash leaves it whole or gone.
pub(crate) fn removed_log_dir(dir: &Path, id: u64) -> PathBuf {
    logs_root(dir).join(format!("{id:020}{REMOVED}"))
}

/// The suffix of a log directory being removed.
pub(crate) const REMOVED: &str = ".removed";

pub(crate) fn segment_log(log_dir: &Path, base: u64) -> PathBuf {
    log_dir.join(format!("{base:020}.log"))
}

pub(crate) fn segment_index(log_dir: &Path, base: u64) -> PathBuf {
    log_dir.join(format!("{base:020}.index"))
}

pub(crate) fn floor(log_dir: &Path) -> PathBuf {
    log_dir.join("floor")
}

/// The floor is written here first and renamed, so a crash never leaves half a floor.
pub(crate) fn floor_tmp(log_dir: &Path) -> PathBuf {
    log_dir.join("floor.tmp")
}

/// Everything below the offset in it was deleted by retention.
pub(crate) fn start(log_dir: &Path) -> PathBuf {
    log_dir.join("start")
}

pub(crate) fn start_tmp(log_dir: &Path) -> PathBuf {
    log_dir.join("start.tmp")
}

/// Index rebuilds go through a temporary name for the same reason.
pub(crate) fn index_tmp(log_dir: &Path, base: u64) -> PathBuf {
    log_dir.join(format!("{base:020}.index.tmp"))
}

pub(crate) fn journal_dir(dir: &Path) -> PathBuf {
    dir.join("journal")
}

pub(crate) fn journal_file(journal_dir: &Path, number: u64) -> PathBuf {
    journal_dir.join(format!("{number:020}.jnl"))
}

pub(crate) fn checkpoint(journal_dir: &Path) -> PathBuf {
    journal_dir.join("checkpoint")
}

pub(crate) fn checkpoint_tmp(journal_dir: &Path) -> PathBuf {
    journal_dir.join("checkpoint.tmp")
}

/// The number a journal file name stands for.
pub(crate) fn parse_journal_name(name: &str) -> Option<u64> {
    parse_20_digits(name.strip_suffix(".jnl")?)
}

fn parse_20_digits(s: &str) -> Option<u64> {
    (s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The log id a directory under `logs/` stands for, if it is one of ours.
pub(crate) fn parse_log_dir_name(name: &str) -> Option<u64> {
    parse_20_digits(name)
}

/// The base offset a `.log` file name stands for.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    parse_20_digits(name.strip_suffix(".log")?)
}

/// Makes created, renamed or removed entries of `dir` durable.
pub(crate) fn sync_dir(fs: &dyn Fs, dir: &Path) -> Result<(), StorageError> {
    fs.sync_dir(dir)
        .map_err(|e| StorageError::io("sync directory", dir, e))
}
