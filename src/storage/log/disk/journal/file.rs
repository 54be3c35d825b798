//! Byte layout of journal files and the checkpoint file (documented in
//! `docs/on-disk-format.md`), and the file operations the journal needs: creating a
//! zero-filled file, activating one under a new sequence number, reading its entries.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::format::{BatchHeader, BATCH_HEADER_LEN, FORMAT_VERSION};
use super::super::handles::OpenFile;
use super::super::number_file::NumberFile;
use super::super::paths;
use super::super::syncer::Health;
use super::stage::{Stage, BLOCK};
use crate::storage::fs::{Fs, FsFile, OpenMode};
use crate::storage::StorageError;

pub(crate) const JOURNAL_MAGIC: [u8; 8] = *b"SHOALJNL";
const CHECKPOINT: NumberFile = NumberFile {
    magic: *b"SHOALCKP",
    version: FORMAT_VERSION,
    what: "journal checkpoint",
};
/// magic (8) + version (4) + reserved (4) + sequence number (8).
pub(crate) const JOURNAL_HEADER_LEN: u64 = 24;
/// crc (4) + flags (4) + sequence number (8) + log id (8) + previous end (8).
pub(crate) const ENTRY_HEADER_LEN: usize = 32;
/// Flag: only the batch header is in the journal; the batch was synced in its segment
/// before it was acknowledged (large batches, which the journal would write twice).
const FLAG_IN_SEGMENT: u32 = 1;
/// What a marker entry writes: the entry header and the batch header.
pub(crate) const MARKER_LEN: usize = ENTRY_HEADER_LEN + BATCH_HEADER_LEN as usize;
/// The entry CRC covers the entry header after the CRC and the batch's length and CRC
/// fields, which tie the header to one batch (whose own CRC covers its contents).
const ENTRY_CRC_END: usize = ENTRY_HEADER_LEN + 8;
/// Zeros are written in pieces of this size when a file is created.
const ZERO_CHUNK: usize = 1 << 20;

/// One journal file, open for writing.
pub(crate) struct JournalFile {
    pub number: u64,
    /// 0 while the file is a spare.
    pub seq: u64,
    pub file: Arc<OpenFile>,
    /// Bytes already allocated and written (zeros or old entries): writes below this
    /// overwrite in place, so their fdatasync has no size change to commit.
    pub len: u64,
    /// Where the next entry goes.
    pub pos: u64,
    /// The bytes from `staged_at` to `pos`: a round reaches the file in one write
    /// syscall, not one per entry.
    stage: Stage,
    staged_at: u64,
    /// Staged bytes not written yet.
    unwritten: bool,
    /// Written bytes not durable yet (buffered writes before their fdatasync).
    unsynced: bool,
    /// The file opened with `O_DIRECT | O_DSYNC`, when the filesystem takes it: a write
    /// is durable when it returns, in one trip to the disk where a buffered write and
    /// its fdatasync take two and the page cache's writeback (0.09-0.10 ms against
    /// 0.12-0.14 ms per 4 KiB here). Direct writes cover whole blocks from a block
    /// boundary, so the stage keeps the last partial block and the next write repeats it.
    direct: Option<Box<dyn FsFile>>,
}

fn header(seq: u64) -> [u8; JOURNAL_HEADER_LEN as usize] {
    let mut h = [0u8; JOURNAL_HEADER_LEN as usize];
    h[0..8].copy_from_slice(&JOURNAL_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h
}

fn open_rw(fs: &dyn Fs, path: &Path, create: bool) -> Result<Box<dyn FsFile>, StorageError> {
    let mode = if create {
        OpenMode::CreateNew
    } else {
        OpenMode::ReadWrite
    };
    fs.open(path, mode)
        .map_err(|e| StorageError::io(if create { "create" } else { "open" }, path, e))
}

impl JournalFile {
    /// Creates a spare: a header with sequence 0, then zeros up to `len`, synced, with
    /// its name synced into the directory.
    pub fn create(
        fs: &dyn Fs,
        dir: &Path,
        number: u64,
        len: u64,
    ) -> Result<JournalFile, StorageError> {
        let path = paths::journal_file(dir, number);
        let file = open_rw(fs, &path, true)?;
        let filled = (|| {
            let io = |e| StorageError::io("write", &path, e);
            file.write_all_at(&header(0), 0).map_err(io)?;
            let zeros = vec![0u8; ZERO_CHUNK];
            let mut at = JOURNAL_HEADER_LEN;
            while at < len {
                let n = (len - at).min(ZERO_CHUNK as u64) as usize;
                file.write_all_at(&zeros[..n], at).map_err(io)?;
                at += n as u64;
            }
            file.sync_data()
                .map_err(|e| StorageError::io("sync", &path, e))?;
            paths::sync_dir(fs, dir)
        })();
        if let Err(e) = filled {
            // Most likely a full disk: give the space back rather than leave a stub.
            let _best_effort = fs.remove_file(&path);
            return Err(e);
        }
        Ok(JournalFile::spare(number, file, path, len))
    }

    /// A spare over `file`, of which `len` bytes are allocated.
    fn spare(number: u64, file: Box<dyn FsFile>, path: PathBuf, len: u64) -> JournalFile {
        JournalFile {
            number,
            seq: 0,
            file: Arc::new(OpenFile { file, path }),
            len: len.max(JOURNAL_HEADER_LEN),
            pos: JOURNAL_HEADER_LEN,
            stage: Stage::empty(),
            staged_at: JOURNAL_HEADER_LEN,
            unwritten: false,
            unsynced: false,
            direct: None,
        }
    }

    /// Opens an existing file as a spare (recovery has replayed what it held).
    pub fn reopen(fs: &dyn Fs, dir: &Path, number: u64) -> Result<JournalFile, StorageError> {
        let path = paths::journal_file(dir, number);
        let file = open_rw(fs, &path, false)?;
        let len = file.len().map_err(|e| StorageError::io("stat", &path, e))?;
        Ok(JournalFile::spare(number, file, path, len))
    }

    /// Starts writing the file as sequence `seq`, with direct writes when `direct` and
    /// the filesystem takes them. Entries left from an earlier use carry another
    /// sequence number, so a reader stops at them.
    pub fn activate(&mut self, fs: &dyn Fs, seq: u64, direct: bool) -> Result<(), StorageError> {
        self.seq = seq;
        self.stage.allocate();
        self.stage.push(&header(seq));
        self.staged_at = 0;
        self.pos = JOURNAL_HEADER_LEN;
        self.unwritten = true;
        self.unsynced = false;
        self.direct = None;
        let path = self.file.path.clone();
        let io = |e| StorageError::io("write", &path, e);
        if direct {
            // The header goes out at once with the first direct write, which is also
            // the probe: tmpfs refuses O_DIRECT at open, some filesystems at the write.
            let probe = fs
                .open(&self.file.path, OpenMode::DirectWrite)
                .and_then(|f| {
                    let written = f.write_all_at(self.stage.padded(), 0);
                    written.map(|()| f)
                });
            match probe {
                Ok(f) => {
                    self.direct = Some(f);
                    self.unwritten = false;
                    return Ok(());
                }
                // EINVAL from tmpfs and most others; EOPNOTSUPP from some FUSE mounts.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) => {
                    tracing::debug!(path = %path.display(), "no direct I/O here; the journal syncs buffered writes");
                }
                Err(e) => return Err(io(e)),
            }
        }
        // Buffered, the header reaches the disk with the first round's fdatasync.
        self.write_out().map_err(io)
    }

    #[cfg(test)]
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Adds one framed entry (see [`frame`]) at the end; it reaches the file at the
    /// next `flush` or `commit` (or earlier, when the staged bytes grow large: a direct
    /// write then waits for the disk, so `health` times it like a commit).
    pub fn write(&mut self, mut entry: &[u8], health: &Health) -> Result<(), StorageError> {
        while !entry.is_empty() {
            if self.stage.room() == 0 {
                if self.direct.is_some() {
                    let file = self.file.clone();
                    health.write_durably(&file.path, || self.write_out())?;
                } else {
                    self.write_out()
                        .map_err(|e| StorageError::io("write", &self.file.path, e))?;
                }
            }
            let n = self.stage.room().min(entry.len());
            self.stage.push(&entry[..n]);
            self.unwritten = true;
            self.pos += n as u64;
            entry = &entry[n..];
        }
        self.len = self.len.max(self.pos);
        Ok(())
    }

    /// Writes what is staged where a crash of the process does not lose it, without
    /// waiting for the disk: into the page cache. A direct file keeps it staged for its
    /// next `commit`, since each of its writes waits for the disk.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        if self.direct.is_some() {
            return Ok(());
        }
        self.write_out()
            .map_err(|e| StorageError::io("write", &self.file.path, e))
    }

    /// Makes everything written so far durable: one direct write, or a buffered write
    /// and an fdatasync. `health` times it and poisons the store if it fails.
    pub fn commit(&mut self, health: &Health) -> Result<(), StorageError> {
        let file = self.file.clone();
        if self.direct.is_some() {
            if !self.unwritten {
                return Ok(());
            }
            return health.write_durably(&file.path, || self.write_out());
        }
        self.flush()?;
        if !self.unsynced {
            return Ok(());
        }
        health.sync(&file)?;
        self.unsynced = false;
        Ok(())
    }

    /// Puts the staged bytes into the file.
    fn write_out(&mut self) -> std::io::Result<()> {
        if !self.unwritten {
            return Ok(());
        }
        match &self.direct {
            Some(f) => {
                f.write_all_at(self.stage.padded(), self.staged_at)?;
                let whole = self.stage.len / BLOCK * BLOCK;
                self.stage.consume(whole);
                self.staged_at += whole as u64;
            }
            None => {
                self.file
                    .file
                    .write_all_at(self.stage.bytes(), self.staged_at)?;
                self.staged_at += self.stage.len as u64;
                self.stage.consume(self.stage.len);
                self.unsynced = true;
            }
        }
        self.unwritten = false;
        Ok(())
    }
}

/// Fills the entry header in front of an encoded batch (`buf` came from
/// `format::encode_batch(ENTRY_HEADER_LEN, ..)`); `in_segment` marks an entry of which
/// only the first [`MARKER_LEN`] bytes are written.
pub(crate) fn frame(buf: &mut [u8], seq: u64, log_id: u64, prev_end: u64, in_segment: bool) {
    let flags = if in_segment { FLAG_IN_SEGMENT } else { 0 };
    buf[4..8].copy_from_slice(&flags.to_le_bytes());
    buf[8..16].copy_from_slice(&seq.to_le_bytes());
    buf[16..24].copy_from_slice(&log_id.to_le_bytes());
    buf[24..32].copy_from_slice(&prev_end.to_le_bytes());
    let crc = crc32c::crc32c(&buf[4..ENTRY_CRC_END]);
    buf[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// One entry read back.
pub(crate) struct Entry {
    pub log_id: u64,
    /// Where the log ended before this batch.
    pub prev_end: u64,
    pub header: BatchHeader,
    /// The batch as it goes into a segment, from its length field; only its header
    /// when `in_segment`.
    pub batch: Vec<u8>,
    /// The batch was synced in its segment, not written here.
    pub in_segment: bool,
}

/// The sequence number in a file's header; `None` if it is not a journal file header.
pub(crate) fn read_seq(fs: &dyn Fs, path: &Path) -> Result<Option<u64>, StorageError> {
    let f = fs
        .open(path, OpenMode::Read)
        .map_err(|e| StorageError::io("open", path, e))?;
    let mut h = [0u8; JOURNAL_HEADER_LEN as usize];
    let mut r = Reader::new(&*f);
    if !r
        .read(&mut h)
        .map_err(|e| StorageError::io("read", path, e))?
    {
        return Ok(None);
    }
    let version = u32::from_le_bytes(h[8..12].try_into().unwrap());
    if h[0..8] != JOURNAL_MAGIC || version != FORMAT_VERSION {
        return Ok(None);
    }
    Ok(Some(u64::from_le_bytes(h[16..24].try_into().unwrap())))
}

/// Every entry of a file written as `seq`, in order. Reading stops at the first entry
/// that is incomplete, fails a CRC or carries another sequence number: entries are
/// acknowledged only after an fdatasync, so whatever follows was never acknowledged.
pub(crate) fn read_entries(fs: &dyn Fs, path: &Path, seq: u64) -> Result<Vec<Entry>, StorageError> {
    let f = fs
        .open(path, OpenMode::Read)
        .map_err(|e| StorageError::io("open", path, e))?;
    let mut r = Reader::new(&*f);
    let io = |e| StorageError::io("read", path, e);
    let mut skip = [0u8; JOURNAL_HEADER_LEN as usize];
    if !r.read(&mut skip).map_err(io)? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; ENTRY_CRC_END];
        if !r.read(&mut head).map_err(io)? {
            break;
        }
        let crc = u32::from_le_bytes(head[0..4].try_into().unwrap());
        let entry_seq = u64::from_le_bytes(head[8..16].try_into().unwrap());
        if crc != crc32c::crc32c(&head[4..]) || entry_seq != seq {
            break;
        }
        let mut batch = head[ENTRY_HEADER_LEN..].to_vec();
        batch.resize(BATCH_HEADER_LEN as usize, 0);
        if !r.read(&mut batch[8..]).map_err(io)? {
            break;
        }
        let Ok(header) = BatchHeader::parse(batch[..].try_into().unwrap()) else {
            break;
        };
        let flags = u32::from_le_bytes(head[4..8].try_into().unwrap());
        let in_segment = flags & FLAG_IN_SEGMENT != 0;
        if !in_segment {
            batch.resize(header.total_len() as usize, 0);
            if !r
                .read(&mut batch[BATCH_HEADER_LEN as usize..])
                .map_err(io)?
            {
                break;
            }
            if super::super::format::check_crc(&header, &batch).is_err() {
                break;
            }
        }
        out.push(Entry {
            log_id: u64::from_le_bytes(head[16..24].try_into().unwrap()),
            prev_end: u64::from_le_bytes(head[24..32].try_into().unwrap()),
            header,
            batch,
            in_segment,
        });
    }
    Ok(out)
}

/// Reads a file front to back in large pieces, as a journal is read at open.
struct Reader<'a> {
    file: &'a dyn FsFile,
    buf: Vec<u8>,
    /// Unread bytes of `buf` start here.
    at: usize,
    /// The file position after `buf`.
    pos: u64,
}

impl<'a> Reader<'a> {
    fn new(file: &'a dyn FsFile) -> Reader<'a> {
        Reader {
            file,
            buf: Vec::new(),
            at: 0,
            pos: 0,
        }
    }

    /// Fills `out` from the file; `false` when the file ends first.
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<bool> {
        let mut done = 0;
        while done < out.len() {
            if self.at == self.buf.len() {
                self.buf.resize(1 << 20, 0);
                let n = loop {
                    match self.file.read_at(&mut self.buf, self.pos) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        r => break r?,
                    }
                };
                self.buf.truncate(n);
                self.at = 0;
                self.pos += n as u64;
                if n == 0 {
                    return Ok(false);
                }
            }
            let n = (self.buf.len() - self.at).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.at..self.at + n]);
            self.at += n;
            done += n;
        }
        Ok(true)
    }
}

/// Files of sequence numbers below this hold nothing that is not durable in segments.
pub(crate) fn read_checkpoint(fs: &dyn Fs, dir: &Path) -> Result<u64, StorageError> {
    Ok(CHECKPOINT.read(fs, &paths::checkpoint(dir))?.unwrap_or(0))
}

/// Durably replaces the checkpoint.
pub(crate) fn write_checkpoint(
    fs: &dyn Fs,
    dir: &Path,
    live_from: u64,
) -> Result<(), StorageError> {
    CHECKPOINT.write(
        fs,
        dir,
        &paths::checkpoint(dir),
        &paths::checkpoint_tmp(dir),
        live_from,
    )
}

/// The journal files in `dir` by number (an absent directory has none).
pub(crate) fn list(fs: &dyn Fs, dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let names = match fs.read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for name in names {
        if let Some(n) = paths::parse_journal_name(&name) {
            out.push((n, dir.join(name)));
        }
    }
    out.sort_unstable();
    Ok(out)
}
