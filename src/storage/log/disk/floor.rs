//! The per-log durable numbers. The offset floor: offsets below it may have been handed
//! out, so after a crash the log continues at or above it and never re-mints an offset
//! for a different record (raising it costs a file sync, a rename and a directory sync,
//! so it is reserved ahead in chunks of [`FLOOR_CHUNK`] offsets). The start: retention
//! deleted everything below it, recorded before the files go so that a crash in the
//! middle leaves no hole in the log.

use std::path::Path;

use super::number_file::NumberFile;
use super::paths;
use crate::storage::fs::Fs;
use crate::storage::StorageError;

pub(crate) const FLOOR_CHUNK: u64 = 1 << 20;
const FLOOR: NumberFile = NumberFile {
    magic: *b"SHOALFLR",
    version: 1,
    what: "floor",
};

const START: NumberFile = NumberFile {
    magic: *b"SHOALSTA",
    version: 1,
    what: "start",
};

/// Where the log starts after retention; 0 when it never trimmed.
pub(crate) fn read_start(fs: &dyn Fs, log_dir: &Path) -> Result<u64, StorageError> {
    Ok(START.read(fs, &paths::start(log_dir))?.unwrap_or(0))
}

/// Durably records that everything below `start` is deleted.
pub(crate) fn write_start(fs: &dyn Fs, log_dir: &Path, start: u64) -> Result<(), StorageError> {
    START.write(
        fs,
        log_dir,
        &paths::start(log_dir),
        &paths::start_tmp(log_dir),
        start,
    )
}

/// Reads the floor; a log without a floor file (a crash during create) has floor 0.
pub(crate) fn read_floor(fs: &dyn Fs, log_dir: &Path) -> Result<u64, StorageError> {
    Ok(FLOOR.read(fs, &paths::floor(log_dir))?.unwrap_or(0))
}

/// Durably replaces the floor.
pub(crate) fn write_floor(fs: &dyn Fs, log_dir: &Path, floor: u64) -> Result<(), StorageError> {
    FLOOR.write(
        fs,
        log_dir,
        &paths::floor(log_dir),
        &paths::floor_tmp(log_dir),
        floor,
    )
}
