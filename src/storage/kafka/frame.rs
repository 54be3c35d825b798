//! What one Kafka message of a shard's topic holds: either a batch of records (one
//! append, so a PutRecords batch costs one Kafka message and one offset) or a fence
//! (the seal a reshard writes; readers stop there).
//!
//! Layout: one kind byte, then for a batch a u32 count and, per record, a u32 key
//! length, the key, a u32 data length and the data (little endian).

use bytes::{BufMut, Bytes};

use crate::storage::log::RecordIn;

const BATCH: u8 = 1;
const FENCE: u8 = 2;

/// How many positions one Kafka offset spans: a record's position is its message's
/// offset times this, plus its index in the batch (PutRecords takes at most 500).
pub const SPAN_BITS: u32 = 9;
pub const MAX_BATCH: usize = 1 << SPAN_BITS;

pub fn position(kafka_offset: i64, index: usize) -> u64 {
    ((kafka_offset.max(0) as u64) << SPAN_BITS) | index as u64
}

/// The Kafka offset a position lies in, and the index inside that message.
pub fn split(position: u64) -> (i64, usize) {
    (
        (position >> SPAN_BITS) as i64,
        (position & (MAX_BATCH as u64 - 1)) as usize,
    )
}

pub fn batch(records: &[RecordIn]) -> Vec<u8> {
    let size: usize = records.iter().map(|r| 8 + r.key.len() + r.data.len()).sum();
    let mut out = Vec::with_capacity(5 + size);
    out.put_u8(BATCH);
    out.put_u32_le(records.len() as u32);
    for r in records {
        out.put_u32_le(r.key.len() as u32);
        out.put_slice(&r.key);
        out.put_u32_le(r.data.len() as u32);
        out.put_slice(&r.data);
    }
    out
}

pub fn fence() -> Vec<u8> {
    vec![FENCE]
}

/// Whether a message is a fence, without decoding a batch.
pub fn is_fence(payload: &[u8]) -> bool {
    payload.first() == Some(&FENCE)
}

/// One decoded message.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// (key, data) pairs, slices of the message's bytes.
    Batch(Vec<(Bytes, Bytes)>),
    Fence,
}

/// Decodes a message; None when it is not one Shoal wrote (such messages are skipped,
/// so a stray producer cannot break a shard).
pub fn decode(payload: Bytes) -> Option<Frame> {
    match *payload.first()? {
        FENCE => Some(Frame::Fence),
        BATCH => {
            let mut at = 1;
            let count = read_u32(&payload, &mut at)? as usize;
            if count > MAX_BATCH {
                return None;
            }
            let mut records = Vec::with_capacity(count);
            for _ in 0..count {
                let key = read_slice(&payload, &mut at)?;
                let data = read_slice(&payload, &mut at)?;
                records.push((key, data));
            }
            Some(Frame::Batch(records))
        }
        _ => None,
    }
}

fn read_u32(b: &Bytes, at: &mut usize) -> Option<u32> {
    let v = u32::from_le_bytes(b.get(*at..*at + 4)?.try_into().ok()?);
    *at += 4;
    Some(v)
}

fn read_slice(b: &Bytes, at: &mut usize) -> Option<Bytes> {
    let len = read_u32(b, at)? as usize;
    let end = at.checked_add(len).filter(|&e| e <= b.len())?;
    let s = b.slice(*at..end);
    *at = end;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_garbage_is_refused() {
        let records = vec![
            RecordIn {
                key: Bytes::from_static(b"k"),
                data: Bytes::from_static(b"hello"),
            },
            RecordIn {
                key: Bytes::from_static(b"key2"),
                data: Bytes::new(),
            },
        ];
        let frame = decode(Bytes::from(batch(&records))).unwrap();
        assert_eq!(
            frame,
            Frame::Batch(vec![
                (Bytes::from_static(b"k"), Bytes::from_static(b"hello")),
                (Bytes::from_static(b"key2"), Bytes::new()),
            ])
        );
        assert_eq!(decode(Bytes::from(fence())), Some(Frame::Fence));
        assert_eq!(decode(Bytes::new()), None);
        assert_eq!(
            decode(Bytes::from_static(&[1, 1, 0, 0, 0, 9, 0, 0, 0])),
            None
        );
        assert_eq!(decode(Bytes::from_static(&[7])), None);
    }

    #[test]
    fn positions_split_back() {
        assert_eq!(split(position(12, 499)), (12, 499));
        assert!(position(3, 499) < position(4, 0));
    }
}
