//! GetRecords answers written by hand: base64 goes straight into the output buffer and
//! is not scanned for characters to escape (it has none). Profiling a 10 MiB answer put
//! serde's per-byte escaping and a String per record at a third of the server's time
//! (docs/performance-history.md). The bytes are the same JSON serde would write.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::records::child_shape;
use super::streams::encryption_word;
use crate::broker::records::{GetRecordsOut, RecordOut};

/// The JSON body of a GetRecords answer.
pub fn get_records(out: GetRecordsOut) -> Vec<u8> {
    let size: usize = out
        .records
        .iter()
        .map(|r| r.data.len().div_ceil(3) * 4 + r.partition_key.len() + 160)
        .sum();
    let mut buf = Vec::with_capacity(size + 512);
    buf.extend_from_slice(b"{\"Records\":[");
    write_records(&mut buf, &out.records);
    buf.push(b']');
    if let Some(it) = &out.next_iterator {
        buf.extend_from_slice(b",\"NextShardIterator\":");
        json_str(&mut buf, it);
    }
    let _ = write!(buf, ",\"MillisBehindLatest\":{}", out.millis_behind_latest);
    if !out.child_shards.is_empty() {
        let children: Vec<_> = out.child_shards.into_iter().map(child_shape).collect();
        buf.extend_from_slice(b",\"ChildShards\":");
        let _ = serde_json::to_writer(&mut buf, &children);
    }
    buf.push(b'}');
    buf
}

fn write_records(buf: &mut Vec<u8>, records: &[RecordOut]) {
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let _ = write!(buf, "{{\"SequenceNumber\":\"{}\",", r.sequence_number);
        // Seconds as serde writes an f64: a whole number keeps its ".0".
        let secs = r.arrival_ms as f64 / 1000.0;
        if r.arrival_ms % 1000 == 0 {
            let _ = write!(buf, "\"ApproximateArrivalTimestamp\":{secs:.1},\"Data\":\"");
        } else {
            let _ = write!(buf, "\"ApproximateArrivalTimestamp\":{secs},\"Data\":\"");
        }
        let at = buf.len();
        buf.resize(at + r.data.len().div_ceil(3) * 4, 0);
        let written = STANDARD
            .encode_slice(&r.data, &mut buf[at..])
            .expect("the buffer holds the base64 of the data");
        buf.truncate(at + written);
        buf.extend_from_slice(b"\",\"PartitionKey\":");
        json_str(buf, &r.partition_key);
        let _ = write!(
            buf,
            ",\"EncryptionType\":\"{}\"}}",
            encryption_word(r.encrypted)
        );
    }
}

fn json_str(buf: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *buf, s);
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::api::shapes::GetRecordsOutput;
    use crate::broker::records::ChildShard;

    fn sample() -> GetRecordsOut {
        GetRecordsOut {
            records: vec![
                RecordOut {
                    sequence_number: 43_091_180_040_077_371_772_622_669_415_972_864_001,
                    arrival_ms: 1_796_158_643_700,
                    partition_key: "k\"ey\u{1}é".into(),
                    data: Bytes::from_static(b"\x00\xffhello"),
                    encrypted: true,
                },
                RecordOut {
                    sequence_number: 7,
                    arrival_ms: 1_000,
                    partition_key: "b".into(),
                    data: Bytes::new(),
                    encrypted: false,
                },
            ],
            next_iterator: Some("AAA+/=".into()),
            millis_behind_latest: 12,
            child_shards: vec![ChildShard {
                shard_id: "shardId-000000000002".into(),
                parent_shard_ids: vec!["shardId-000000000000".into()],
                starting_hash_key: 0,
                ending_hash_key: u128::MAX,
            }],
        }
    }

    /// What serde writes for the same answer, the reference these bytes must match.
    fn by_serde(out: GetRecordsOut) -> Vec<u8> {
        let shape = GetRecordsOutput {
            records: out
                .records
                .into_iter()
                .map(super::super::records::record_shape)
                .collect(),
            next_shard_iterator: out.next_iterator,
            millis_behind_latest: out.millis_behind_latest,
            child_shards: out.child_shards.into_iter().map(child_shape).collect(),
        };
        serde_json::to_vec(&shape).unwrap()
    }

    #[test]
    fn the_same_json_as_serde_writes() {
        let ours: serde_json::Value = serde_json::from_slice(&get_records(sample())).unwrap();
        let reference: serde_json::Value = serde_json::from_slice(&by_serde(sample())).unwrap();
        assert_eq!(ours, reference);
        let mut empty = sample();
        empty.records.clear();
        empty.child_shards.clear();
        empty.next_iterator = None;
        assert_eq!(
            get_records(empty),
            br#"{"Records":[],"MillisBehindLatest":12}"#
        );
    }
}
