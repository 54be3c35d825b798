//! Byte layout of segment files and batches, kept in one place so the format document
//! (`docs/on-disk-format.md`) has exactly one piece of code to match.

use bytes::Bytes;

use crate::storage::log::RecordIn;

/// Bumped on any incompatible change; readers refuse versions they do not know.
pub(crate) const FORMAT_VERSION: u32 = 1;
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"SHOALSEG";
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"SHOALIDX";
/// magic (8) + version (4) + flags (4) + base offset (8).
pub(crate) const FILE_HEADER_LEN: u64 = 24;
/// length (4) + crc (4) + base offset (8) + record count (4) + timestamp (8) + reserved (4).
pub(crate) const BATCH_HEADER_LEN: u64 = 32;
/// Bytes after the length field that every batch has, even one with no payload.
const MIN_BATCH_LENGTH: u32 = (BATCH_HEADER_LEN - 4) as u32;
/// Far above any legal Kinesis request (10 MiB); a larger length can only be damage.
pub(crate) const MAX_BATCH_LEN: u64 = 256 << 20;
const RECORD_HEADER_LEN: usize = 8;

/// Writes the header shared by segment and index files.
pub(crate) fn encode_file_header(
    magic: [u8; 8],
    base_offset: u64,
) -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    h[0..8].copy_from_slice(&magic);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&base_offset.to_le_bytes());
    h
}

/// Checks a file header; the error says what is wrong, for the `Corrupt` reason.
pub(crate) fn check_file_header(
    bytes: &[u8],
    magic: [u8; 8],
    base_offset: u64,
) -> Result<(), String> {
    if bytes.len() < FILE_HEADER_LEN as usize {
        return Err("file header is incomplete".into());
    }
    if bytes[0..8] != magic {
        return Err("bad magic number".into());
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if version != FORMAT_VERSION {
        return Err(format!("unknown format version {version}"));
    }
    let base = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    if base != base_offset {
        return Err(format!(
            "header names base offset {base}, file name says {base_offset}"
        ));
    }
    Ok(())
}

/// The fixed part in front of every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    /// Bytes after the length field itself.
    pub length: u32,
    pub crc: u32,
    pub base_offset: u64,
    pub record_count: u32,
    pub timestamp_ms: i64,
}

impl BatchHeader {
    /// Parses a header, rejecting lengths and counts no writer produces.
    pub fn parse(b: &[u8; BATCH_HEADER_LEN as usize]) -> Result<BatchHeader, String> {
        let h = BatchHeader {
            length: u32::from_le_bytes(b[0..4].try_into().unwrap()),
            crc: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            base_offset: u64::from_le_bytes(b[8..16].try_into().unwrap()),
            record_count: u32::from_le_bytes(b[16..20].try_into().unwrap()),
            timestamp_ms: i64::from_le_bytes(b[20..28].try_into().unwrap()),
        };
        if h.length < MIN_BATCH_LENGTH || u64::from(h.length) > MAX_BATCH_LEN {
            return Err(format!("implausible batch length {}", h.length));
        }
        if h.record_count == 0 {
            return Err("batch with no records".into());
        }
        let min_payload = u64::from(h.record_count) * RECORD_HEADER_LEN as u64;
        if u64::from(h.length - MIN_BATCH_LENGTH) < min_payload {
            return Err("batch too short for its record count".into());
        }
        Ok(h)
    }

    /// The whole batch including the length field.
    pub fn total_len(&self) -> u64 {
        4 + u64::from(self.length)
    }

    /// One past the last offset of the batch.
    pub fn end_offset(&self) -> u64 {
        self.base_offset + u64::from(self.record_count)
    }
}

/// Encodes one append as one batch, after `prefix` zero bytes that the caller fills
/// (the journal's entry header), so the same buffer serves the segment and the journal.
pub(crate) fn encode_batch(
    prefix: usize,
    base_offset: u64,
    timestamp_ms: i64,
    records: &[RecordIn],
) -> Vec<u8> {
    let payload: usize = records
        .iter()
        .map(|r| RECORD_HEADER_LEN + r.key.len() + r.data.len())
        .sum();
    let mut buf = Vec::with_capacity(prefix + BATCH_HEADER_LEN as usize + payload);
    buf.resize(prefix, 0);
    buf.extend_from_slice(&((BATCH_HEADER_LEN as usize - 4 + payload) as u32).to_le_bytes());
    buf.extend_from_slice(&[0u8; 4]);
    buf.extend_from_slice(&base_offset.to_le_bytes());
    buf.extend_from_slice(&(records.len() as u32).to_le_bytes());
    buf.extend_from_slice(&timestamp_ms.to_le_bytes());
    buf.extend_from_slice(&[0u8; 4]);
    for r in records {
        buf.extend_from_slice(&(r.key.len() as u32).to_le_bytes());
        buf.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        buf.extend_from_slice(&r.key);
        buf.extend_from_slice(&r.data);
    }
    let crc = crc32c::crc32c(&buf[prefix + 8..]);
    buf[prefix + 4..prefix + 8].copy_from_slice(&crc.to_le_bytes());
    buf
}

/// Checks the CRC of a whole batch (`batch` starts at its length field).
pub(crate) fn check_crc(header: &BatchHeader, batch: &[u8]) -> Result<(), String> {
    if batch.len() as u64 != header.total_len() {
        return Err("batch is truncated".into());
    }
    let actual = crc32c::crc32c(&batch[8..]);
    if actual != header.crc {
        return Err(format!(
            "CRC mismatch: stored {:08x}, computed {actual:08x}",
            header.crc
        ));
    }
    Ok(())
}

/// Splits a CRC-checked batch into (key, data) pairs that share the batch's buffer.
pub(crate) fn decode_records(
    header: &BatchHeader,
    batch: Bytes,
) -> Result<Vec<(Bytes, Bytes)>, String> {
    check_crc(header, &batch)?;
    let mut out = Vec::with_capacity(header.record_count as usize);
    let mut at = BATCH_HEADER_LEN as usize;
    for _ in 0..header.record_count {
        let field = |from: usize| -> Result<usize, String> {
            batch
                .get(from..from + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
                .ok_or_else(|| "record header runs past the batch".to_string())
        };
        let key_len = field(at)?;
        let data_len = field(at + 4)?;
        let key_at = at + RECORD_HEADER_LEN;
        let end = key_at
            .checked_add(key_len)
            .and_then(|v| v.checked_add(data_len))
            .filter(|&e| e <= batch.len())
            .ok_or_else(|| "record runs past the batch".to_string())?;
        out.push((
            batch.slice(key_at..key_at + key_len),
            batch.slice(key_at + key_len..end),
        ));
        at = end;
    }
    if at != batch.len() {
        return Err("bytes left over after the last record".into());
    }
    Ok(out)
}
