//! Files that hold one durable number: a log's offset floor and the journal's
//! checkpoint. 28 bytes: magic (8), version (4), reserved (4), the number (8), CRC32C
//! of the first 24 (4). They are only ever replaced by rename, so any damage is real.

use std::path::Path;

use super::paths;
use crate::storage::fs::{self, Fs, OpenMode};
use crate::storage::StorageError;

const LEN: usize = 28;

/// One kind of number file.
pub(crate) struct NumberFile {
    pub magic: [u8; 8],
    pub version: u32,
    /// What the file is, for error messages ("floor", "journal checkpoint").
    pub what: &'static str,
}

impl NumberFile {
    /// The number in `path`; `None` when there is no file.
    pub fn read(&self, fs: &dyn Fs, path: &Path) -> Result<Option<u64>, StorageError> {
        let bytes = match fs::read_file(fs, path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io("read", path, e)),
        };
        let what = self.what;
        let corrupt = |reason: String| StorageError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason,
        };
        let le32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        if bytes.len() != LEN || bytes[0..8] != self.magic {
            return Err(corrupt(format!("not a {what} file")));
        }
        if le32(8) != self.version {
            return Err(corrupt(format!("unknown {what} file version")));
        }
        if le32(24) != crc32c::crc32c(&bytes[..24]) {
            return Err(corrupt(format!("{what} file CRC mismatch")));
        }
        Ok(Some(u64::from_le_bytes(bytes[16..24].try_into().unwrap())))
    }

    /// Durably replaces `path` (in `dir`) with `value`: writes `tmp`, syncs it, renames
    /// it over `path`, syncs `dir`.
    pub fn write(
        &self,
        fs: &dyn Fs,
        dir: &Path,
        path: &Path,
        tmp: &Path,
        value: u64,
    ) -> Result<(), StorageError> {
        let mut bytes = [0u8; LEN];
        bytes[0..8].copy_from_slice(&self.magic);
        bytes[8..12].copy_from_slice(&self.version.to_le_bytes());
        bytes[16..24].copy_from_slice(&value.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..24]);
        bytes[24..28].copy_from_slice(&crc.to_le_bytes());
        let f = fs
            .open(tmp, OpenMode::CreateTruncate)
            .map_err(|e| StorageError::io("create", tmp, e))?;
        f.write_all_at(&bytes, 0)
            .map_err(|e| StorageError::io("write", tmp, e))?;
        f.sync_data()
            .map_err(|e| StorageError::io("sync", tmp, e))?;
        drop(f);
        fs.rename(tmp, path)
            .map_err(|e| StorageError::io("rename", path, e))?;
        paths::sync_dir(fs, dir)
    }
}
