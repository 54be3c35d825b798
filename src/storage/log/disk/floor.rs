//! The per-log offset floor: offsets below it may have been handed out, so after a crash
//! the log continues at or above it and never re-mints an offset for a different record.
//!
//! Raising it costs a file sync, a rename and a directory sync, so it is reserved ahead
//! in chunks of [`FLOOR_CHUNK`] offsets.

use std::io::Write;
use std::path::Path;

use super::paths;
use crate::storage::StorageError;

pub(crate) const FLOOR_CHUNK: u64 = 1 << 20;
const FLOOR_MAGIC: [u8; 8] = *b"SHOALFLR";
const FLOOR_VERSION: u32 = 1;
/// magic (8) + version (4) + reserved (4) + floor (8) + crc32c of the first 24 bytes (4).
const FLOOR_LEN: usize = 28;

/// Reads the floor; a log without a floor file (a crash during create) has floor 0.
pub(crate) fn read_floor(log_dir: &Path) -> Result<u64, StorageError> {
    let path = paths::floor(log_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StorageError::io("read", path, e)),
    };
    let corrupt = |reason: &str| StorageError::Corrupt {
        path: path.clone(),
        offset: 0,
        reason: reason.to_string(),
    };
    // The file is only ever replaced by rename, so any damage is real damage.
    if bytes.len() != FLOOR_LEN || bytes[0..8] != FLOOR_MAGIC {
        return Err(corrupt("not a floor file"));
    }
    if u32::from_le_bytes(bytes[8..12].try_into().unwrap()) != FLOOR_VERSION {
        return Err(corrupt("unknown floor file version"));
    }
    let crc = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    if crc != crc32c::crc32c(&bytes[..24]) {
        return Err(corrupt("floor file CRC mismatch"));
    }
    Ok(u64::from_le_bytes(bytes[16..24].try_into().unwrap()))
}

/// Durably replaces the floor: write a temporary file, sync it, rename, sync the dir.
pub(crate) fn write_floor(log_dir: &Path, floor: u64) -> Result<(), StorageError> {
    let mut bytes = [0u8; FLOOR_LEN];
    bytes[0..8].copy_from_slice(&FLOOR_MAGIC);
    bytes[8..12].copy_from_slice(&FLOOR_VERSION.to_le_bytes());
    bytes[16..24].copy_from_slice(&floor.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..24]);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());

    let tmp = paths::floor_tmp(log_dir);
    let mut f = std::fs::File::create(&tmp).map_err(|e| StorageError::io("create", &tmp, e))?;
    f.write_all(&bytes)
        .map_err(|e| StorageError::io("write", &tmp, e))?;
    f.sync_all()
        .map_err(|e| StorageError::io("sync", &tmp, e))?;
    drop(f);
    let path = paths::floor(log_dir);
    std::fs::rename(&tmp, &path).map_err(|e| StorageError::io("rename", &path, e))?;
    paths::sync_dir(log_dir)
}
