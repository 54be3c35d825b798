//! Reading a shard's topic: a pooled consumer is assigned the partition at the wanted
//! offset and polled until the batch is full or the readable end is reached.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::{Message, Offset};

use super::frame::{self, Frame};
use super::{assigned, kafka_err, Cluster};
use crate::storage::log::StoredRecord;
use crate::storage::StorageError;

/// What one read found.
pub(super) struct Slice {
    pub records: Vec<StoredRecord>,
    pub next: u64,
    /// The readable end: the fence, or the high watermark.
    pub end: i64,
    /// The stamp of the last message read, when the read reached the end.
    pub last_ts_at_end: Option<i64>,
}

/// Where reading must stop: at the recorded end of a sealed log, else at the first
/// fence (a reshard this node has not heard of yet, or one whose end is not settled).
#[derive(Debug, Clone, Copy)]
pub(super) enum Stop {
    At(i64),
    FirstFence,
}

/// How long one read may wait for the cluster before returning what it has.
const READ_WAIT: Duration = Duration::from_secs(5);

impl Cluster {
    pub(super) fn read_topic(
        &self,
        topic: &str,
        from: u64,
        max_records: usize,
        max_bytes: usize,
        stop: Stop,
    ) -> Result<Slice, StorageError> {
        let (low, high) = self.watermarks(topic)?;
        let end = match stop {
            Stop::At(f) => f.min(high),
            Stop::FirstFence => high,
        };
        let (mut first, mut skip) = frame::split(from);
        if first < low {
            (first, skip) = (low, 0);
        }
        let mut slice = Slice {
            records: Vec::new(),
            next: frame::position(first, skip).min(frame::position(end, 0)),
            end,
            last_ts_at_end: None,
        };
        if first >= end || max_records == 0 {
            return Ok(slice);
        }
        let reader = assigned(self.take_reader()?, topic, Offset::Offset(first))?;
        let deadline = Instant::now() + READ_WAIT;
        let asked = slice.next;
        let mut bytes = 0usize;
        let outcome = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Records below the end that did not come (a leader moving) must not
                // look like a caught-up reader: what was read is returned, or an error.
                break if slice.next == asked {
                    Err(StorageError::Kafka(format!(
                        "{topic}: no records from offset {first} within {READ_WAIT:?}"
                    )))
                } else {
                    Ok(())
                };
            }
            let m = match reader.poll(left.min(Duration::from_millis(100))) {
                None => continue,
                Some(Err(e)) => break Err(kafka_err(&format!("read {topic}"), e)),
                Some(Ok(m)) => m,
            };
            let off = m.offset();
            if off < first {
                continue;
            }
            if off >= end {
                break Ok(());
            }
            let ts = m.timestamp().to_millis().unwrap_or(0);
            let payload = Bytes::copy_from_slice(m.payload().unwrap_or(&[]));
            match frame::decode(payload) {
                Some(Frame::Fence) if matches!(stop, Stop::FirstFence) => {
                    slice.end = off;
                    slice.next = slice.next.min(frame::position(off, 0));
                    break Ok(());
                }
                Some(Frame::Batch(records)) => {
                    let from_index = if off == first { skip } else { 0 };
                    for (j, (key, data)) in records.into_iter().enumerate().skip(from_index) {
                        let size = key.len() + data.len();
                        let full = slice.records.len() >= max_records
                            || (!slice.records.is_empty() && bytes + size > max_bytes);
                        if full {
                            slice.next = frame::position(off, j);
                            self.give_back(reader);
                            return Ok(slice);
                        }
                        bytes += size;
                        slice.records.push(StoredRecord {
                            offset: frame::position(off, j),
                            timestamp_ms: ts,
                            key,
                            data,
                        });
                    }
                }
                // A fence below the recorded end, or a message Shoal did not write.
                _ => {}
            }
            slice.next = frame::position(off + 1, 0);
            if off + 1 >= end {
                slice.last_ts_at_end = Some(ts);
                break Ok(());
            }
            if slice.records.len() >= max_records {
                break Ok(());
            }
        };
        self.give_back(reader);
        outcome.map(|_| slice)
    }

    /// The offset of the first fence in `topic` from `from` up to `last`, which is
    /// known to be one.
    pub(super) fn first_fence(
        &self,
        topic: &str,
        from: i64,
        last: i64,
    ) -> Result<i64, StorageError> {
        if from >= last {
            return Ok(last);
        }
        let reader = assigned(self.take_reader()?, topic, Offset::Offset(from))?;
        let mut deadline = Instant::now() + READ_WAIT;
        let found = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(StorageError::Kafka(format!(
                    "{topic}: no progress looking for a fence within {READ_WAIT:?}"
                )));
            }
            let m = match reader.poll(left.min(Duration::from_millis(100))) {
                None => continue,
                Some(Err(e)) => break Err(kafka_err(&format!("read {topic}"), e)),
                Some(Ok(m)) => m,
            };
            deadline = Instant::now() + READ_WAIT;
            let off = m.offset();
            if off >= last || frame::is_fence(m.payload().unwrap_or(&[])) {
                break Ok(off.min(last));
            }
        };
        self.give_back(reader);
        found
    }
}
