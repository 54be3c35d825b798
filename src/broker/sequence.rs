//! Sequence numbers: a decimal u128 built from (stream creation second, shard index,
//! log offset), so they increase within a shard, children sort above their parents
//! (higher index), and a number decodes to its shard in O(1).
//!
//! Layout, most significant first: 4 bits version (2) | 36 bits stream creation time in
//! seconds | 24 bits shard index | 64 bits position.
//!
//! The low field is a *position*, one more than a record's offset: position 0 is the
//! shard's StartingSequenceNumber, strictly below its first record, and the number of
//! position N names "just after record N-1", which is what a resume point
//! (SubscribeToShard's ContinuationSequenceNumber) needs even before any record exists.

const VERSION: u128 = 2;

/// The parts a sequence number carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqParts {
    pub stream_secs: u64,
    pub shard_index: u32,
    pub offset: u64,
}

/// Why a string is not one of our sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqError {
    /// Not a decimal number of the model's pattern, or not of our layout.
    Malformed,
}

pub fn encode(stream_created_ms: i64, shard_index: u32, offset: u64) -> u128 {
    let secs = (stream_created_ms.max(0) as u128 / 1000) & ((1 << 36) - 1);
    (VERSION << 124) | (secs << 88) | ((shard_index as u128 & 0xFF_FFFF) << 64) | offset as u128
}

/// The sequence number of the record at `offset`.
pub fn of_record(stream_created_ms: i64, shard_index: u32, offset: u64) -> u128 {
    encode(stream_created_ms, shard_index, offset + 1)
}

/// The sequence number of position `position` (just after record `position - 1`).
pub fn of_position(stream_created_ms: i64, shard_index: u32, position: u64) -> u128 {
    encode(stream_created_ms, shard_index, position)
}

pub fn decode(s: &str) -> Result<SeqParts, SeqError> {
    if s.is_empty() || s.len() > 39 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SeqError::Malformed);
    }
    let v: u128 = s.parse().map_err(|_| SeqError::Malformed)?;
    if v >> 124 != VERSION {
        return Err(SeqError::Malformed);
    }
    Ok(SeqParts {
        stream_secs: ((v >> 88) & ((1 << 36) - 1)) as u64,
        shard_index: ((v >> 64) & 0xFF_FFFF) as u32,
        offset: v as u64,
    })
}

/// The creation-second field as [`encode`] stores it, for comparing with a decoded one.
pub fn stream_secs(stream_created_ms: i64) -> u64 {
    ((stream_created_ms.max(0) as u128 / 1000) & ((1 << 36) - 1)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn children_sort_above_parents_and_offsets_increase() {
        let t = 1_700_000_000_123;
        assert!(encode(t, 0, 5) < encode(t, 0, 6));
        assert!(encode(t, 0, u64::MAX) < encode(t, 1, 0));
        assert!(decode("12").is_err());
        assert!(decode("").is_err());
        assert!(decode("abc").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(t in 0i64..4_000_000_000_000, shard in 0u32..0xFF_FFFF, offset: u64) {
            let s = encode(t, shard, offset).to_string();
            let p = decode(&s).unwrap();
            prop_assert_eq!(p, SeqParts { stream_secs: stream_secs(t), shard_index: shard, offset });
        }
    }
}
