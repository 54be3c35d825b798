//! Golden bytes shaped like the Java SDK's (Jackson CBORGenerator: indefinite maps and
//! arrays, text keys, byte strings for blobs, tag 1 + epoch millis for timestamps),
//! hostile inputs, and the JSON/CBOR equivalence property.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::cbor::{decode, Cbor, CborError, MAX_DEPTH};
use super::{transcode, Protocol};
use crate::api::error::ApiError;
use crate::api::handlers::Reply;
use crate::api::model::model;
use crate::api::target::Operation;

/// A definite-length text string (all golden keys are shorter than 24 bytes unless noted).
fn t(s: &str) -> Vec<u8> {
    assert!(s.len() < 24);
    let mut v = vec![0x60 | s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// A short definite-length byte string.
fn b(s: &[u8]) -> Vec<u8> {
    assert!(s.len() < 24);
    let mut v = vec![0x40 | s.len() as u8];
    v.extend_from_slice(s);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn decode_req(op: Operation, bytes: &[u8]) -> Result<Value, ApiError> {
    Protocol::Cbor.decode_request(op, bytes)
}

const MILLIS: [u8; 9] = [0x1B, 0x00, 0x00, 0x01, 0x8C, 0xC8, 0x20, 0xDB, 0x2E]; // 1704164645678

#[test]
fn java_put_record_decodes_to_the_json_value() {
    let body = cat(&[
        &[0xBF],
        &t("StreamName"),
        &t("s1"),
        &t("Data"),
        &b(b"hello"),
        &t("PartitionKey"),
        &t("b"),
        &[0xFF],
    ]);
    let v = decode_req(Operation::PutRecord, &body).unwrap();
    assert_eq!(
        v,
        json!({"StreamName": "s1", "Data": "aGVsbG8=", "PartitionKey": "b"})
    );
}

#[test]
fn java_get_shard_iterator_at_timestamp_reads_tag_1_as_millis() {
    let body = cat(&[
        &[0xBF],
        &t("StreamName"),
        &t("s1"),
        &t("ShardId"),
        &[0x74],
        b"shardId-000000000000",
        &t("ShardIteratorType"),
        &t("AT_TIMESTAMP"),
        &t("Timestamp"),
        &[0xC1],
        &MILLIS,
        &[0xFF],
    ]);
    let v = decode_req(Operation::GetShardIterator, &body).unwrap();
    assert_eq!(
        v,
        json!({"StreamName": "s1", "ShardId": "shardId-000000000000",
               "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1704164645.678})
    );
    // An untagged integer is millis too, and a text timestamp is left to the validator.
    let plain = cat(&[&[0xA1], &t("Timestamp"), &MILLIS]);
    assert_eq!(
        decode_req(Operation::GetShardIterator, &plain).unwrap()["Timestamp"],
        json!(1704164645.678)
    );
    let text = cat(&[&[0xA1], &t("Timestamp"), &t("2024-01-02T03:04:05Z")]);
    assert_eq!(
        decode_req(Operation::GetShardIterator, &text).unwrap()["Timestamp"],
        json!("2024-01-02T03:04:05Z")
    );
}

#[test]
fn java_put_records_with_two_records() {
    let body = cat(&[
        &[0xBF],
        &t("StreamName"),
        &t("s1"),
        &t("Records"),
        &[0x9F, 0xBF],
        &t("Data"),
        &b(b"hello"),
        &t("PartitionKey"),
        &t("b"),
        &[0xFF, 0xBF],
        &t("Data"),
        // An indefinite byte string in two chunks: "wor" + "ld".
        &[0x5F, 0x43],
        b"wor",
        &[0x42],
        b"ld",
        &[0xFF],
        &t("PartitionKey"),
        &t("x"),
        &t("ExplicitHashKey"),
        &t("0"),
        &[0xFF, 0xFF, 0xFF],
    ]);
    let v = decode_req(Operation::PutRecords, &body).unwrap();
    assert_eq!(
        v,
        json!({"StreamName": "s1", "Records": [
            {"Data": "aGVsbG8=", "PartitionKey": "b"},
            {"Data": "d29ybGQ=", "PartitionKey": "x", "ExplicitHashKey": "0"}]})
    );
}

#[test]
fn wrong_types_pass_through_for_the_validator() {
    // A text Data, a negative ShardCount, a bool name, null and undefined members.
    let body = cat(&[
        &[0xA5],
        &t("Data"),
        &t("aGk="),
        &t("ShardCount"),
        &[0x38, 0x63],
        &t("StreamName"),
        &[0xF5],
        &t("StreamARN"),
        &[0xF6],
        &t("Other"),
        &[0xF7],
    ]);
    let v = decode_req(Operation::PutRecord, &body).unwrap();
    assert_eq!(
        v,
        json!({"Data": "aGk=", "ShardCount": -100, "StreamName": true,
               "StreamARN": null, "Other": null})
    );
    let err = crate::api::validate::check_input("PutRecord", &v).unwrap_err();
    assert_eq!(err.code(), "SerializationException");
}

#[test]
fn floats_unknown_tags_and_big_numbers() {
    let body = cat(&[
        &[0xA4],
        &t("half"),
        &[0xF9, 0x3E, 0x00],
        &t("single"),
        &[0xFA, 0x3F, 0xC0, 0x00, 0x00],
        &t("tagged"),
        &[0xD8, 0x20],
        &t("x"),
        &t("big"),
        &[0x3B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    ]);
    let v = decode_req(Operation::PutRecord, &body).unwrap();
    assert_eq!(v["half"], json!(1.5));
    assert_eq!(v["single"], json!(1.5));
    assert_eq!(v["tagged"], json!("x"));
    assert_eq!(v["big"].as_f64(), Some(-18446744073709551616.0));
    let nan = cat(&[&[0xA1], &t("n"), &[0xF9, 0x7E, 0x00]]);
    assert_eq!(
        decode_req(Operation::PutRecord, &nan).unwrap_err().code,
        "SerializationException"
    );
}

#[test]
fn get_records_output_encodes_bytes_and_integer_millis() {
    let out = json!({"Records": [{"SequenceNumber": "1",
        "ApproximateArrivalTimestamp": 1704164645.678, "Data": "aGVsbG8=", "PartitionKey": "b"}],
        "NextShardIterator": "it", "MillisBehindLatest": 0});
    let reply = Reply::Json(serde_json::to_vec(&out).unwrap());
    let bytes = Protocol::Cbor
        .encode_reply(Operation::GetRecords, reply)
        .unwrap();
    let expected = cat(&[
        &[0xA3],
        &t("Records"),
        &[0x81, 0xA4],
        &t("SequenceNumber"),
        &t("1"),
        &[0x78, 27],
        b"ApproximateArrivalTimestamp",
        &MILLIS,
        &t("Data"),
        &b(b"hello"),
        &t("PartitionKey"),
        &t("b"),
        &t("NextShardIterator"),
        &t("it"),
        &t("MillisBehindLatest"),
        &[0x00],
    ]);
    assert_eq!(bytes, expected);
}

#[test]
fn empty_replies_stay_empty_and_json_passes_through() {
    let op = Operation::CreateStream;
    assert!(Protocol::Cbor
        .encode_reply(op, Reply::Empty)
        .unwrap()
        .is_empty());
    let j = Protocol::Json
        .encode_reply(op, Reply::Json(b"{}".to_vec()))
        .unwrap();
    assert_eq!(j, b"{}");
}

#[test]
fn error_bodies_are_cbor_maps() {
    let e = ApiError::client("ResourceNotFoundException", "no");
    let expected = cat(&[
        &[0xA2],
        &t("__type"),
        &[0x78, 25],
        b"ResourceNotFoundException",
        &t("message"),
        &t("no"),
    ]);
    assert_eq!(Protocol::Cbor.encode_error(&e), expected);
    let s = ApiError::serialization(None);
    assert_eq!(
        Protocol::Cbor.encode_error(&s),
        cat(&[&[0xA1], &t("__type"), &[0x76], b"SerializationException"])
    );
    assert_eq!(
        Protocol::Json.encode_error(&e),
        br#"{"__type":"ResourceNotFoundException","message":"no"}"#
    );
}

#[test]
fn content_types_choose_the_protocol() {
    use Protocol::*;
    assert_eq!(
        Protocol::from_content_type("application/x-amz-cbor-1.1"),
        Some(Cbor)
    );
    assert_eq!(
        Protocol::from_content_type("application/x-amz-json-1.1; charset=utf-8"),
        Some(Json)
    );
    assert_eq!(Protocol::from_content_type("application/json"), Some(Json));
    assert_eq!(Protocol::from_content_type("text/plain"), None);
    assert_eq!(Cbor.content_type(), "application/x-amz-cbor-1.1");
}

#[test]
fn malformed_items_are_errors() {
    use CborError::*;
    let cases: &[(&[u8], CborError)] = &[
        (&[], Truncated),
        (&[0xBF, 0x61], Truncated),                      // truncated key
        (&[0xBF, 0x61, b'a'], Truncated),                // map without value or break
        (&[0x5A, 0xFF, 0xFF, 0xFF, 0xF0, 1], Truncated), // 4 GiB byte string claimed
        (
            &[0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            Truncated,
        ), // 2^64 items
        (&[0x19, 0x01], Truncated),                      // short argument
        (&[0xFF], UnexpectedBreak),
        (&[0xA1, 0xFF, 0x00], UnexpectedBreak), // break as a key in a definite map
        (&[0x82, 0x01, 0xFF], UnexpectedBreak), // break inside a definite array
        (&[0x1C], Malformed("reserved additional information")),
        (&[0x3F], Malformed("indefinite length not allowed here")),
        (
            &[0x5F, 0x61, b'a', 0xFF],
            Malformed("bad chunk in indefinite-length string"),
        ),
        (&[0xF8, 0x20], Malformed("unassigned simple value")),
        (&[0x62, 0xC3, 0x28], InvalidUtf8),
        (&[0x01, 0x02], TrailingBytes),
    ];
    for (bytes, want) in cases {
        assert_eq!(decode(bytes).as_ref(), Err(want), "{bytes:02X?}");
    }
    let deep = vec![0x9F; MAX_DEPTH + 2];
    assert_eq!(decode(&deep), Err(TooDeep));
    let tags = vec![0xC1; MAX_DEPTH + 2];
    assert_eq!(decode(&tags), Err(TooDeep));
    let ok_depth: Vec<u8> = std::iter::repeat_n(0x81, MAX_DEPTH).chain([0x00]).collect();
    assert!(decode(&ok_depth).is_ok());
    // Non-text keys cannot become JSON; every failure is a SerializationException.
    for body in [&[0xA1, 0x01, 0x02][..], &[0xFF], &[0x9F; 100]] {
        let e = decode_req(Operation::PutRecord, body).unwrap_err();
        assert_eq!((e.code, e.message), ("SerializationException", None));
    }
}

#[test]
fn encoder_round_trips_items() {
    let item = Cbor::Map(vec![
        (
            Cbor::Text("a".into()),
            Cbor::Array(vec![Cbor::Unsigned(500), Cbor::Negative(0)]),
        ),
        (
            Cbor::Text("b".into()),
            Cbor::Tag(1, Box::new(Cbor::Float(1.25))),
        ),
        (Cbor::Text("c".into()), Cbor::Bytes(vec![0; 300])),
        (Cbor::Text("d".into()), Cbor::Bool(true)),
        (Cbor::Text("e".into()), Cbor::Null),
        (Cbor::Text("f".into()), Cbor::Unsigned(u64::MAX)),
    ]);
    assert_eq!(decode(&item.to_vec()), Ok(item));
}

/// What a JSON client sends for PutRecords.
fn put_records_json(stream: &str, records: &[(Vec<u8>, String)]) -> Value {
    let recs: Vec<Value> = records
        .iter()
        .map(|(d, k)| json!({"Data": STANDARD.encode(d), "PartitionKey": k}))
        .collect();
    json!({"StreamName": stream, "Records": recs})
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        let _ = decode_req(Operation::PutRecords, &bytes);
    }

    #[test]
    fn mutated_valid_bodies_never_panic(
        records in proptest::collection::vec((any::<Vec<u8>>(), "[a-z]{1,8}"), 1..4),
        flip in any::<(usize, u8)>(),
        cut in any::<usize>(),
    ) {
        let v = put_records_json("s", &records);
        let mut out = Vec::new();
        transcode::write_json(&mut out, &v, model().input_shape("PutRecords"));
        let i = flip.0 % out.len();
        out[i] ^= flip.1;
        let _ = decode_req(Operation::PutRecords, &out);
        let _ = decode_req(Operation::PutRecords, &out[..cut % out.len()]);
    }

    #[test]
    fn cbor_and_json_requests_decode_identically(
        stream in "[a-zA-Z0-9_.-]{1,20}",
        records in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..64), "\\PC{1,16}"), 1..8),
    ) {
        let v = put_records_json(&stream, &records);
        // The encoder plays the client: blobs go out as byte strings.
        let mut out = Vec::new();
        transcode::write_json(&mut out, &v, model().input_shape("PutRecords"));
        let from_cbor = decode_req(Operation::PutRecords, &out).unwrap();
        let from_json = Protocol::Json
            .decode_request(Operation::PutRecords, &serde_json::to_vec(&v).unwrap())
            .unwrap();
        prop_assert_eq!(&from_cbor, &from_json);
        prop_assert_eq!(
            crate::api::validate::check_input("PutRecords", &from_cbor),
            crate::api::validate::check_input("PutRecords", &from_json)
        );
    }

    #[test]
    fn timestamps_round_trip_at_millisecond_precision(ms in 0i64..4_102_444_800_000) {
        let v = json!({"Timestamp": ms as f64 / 1000.0});
        let shape = model().input_shape("GetShardIterator");
        let mut out = Vec::new();
        transcode::write_json(&mut out, &v, shape);
        let item = decode(&out).unwrap();
        prop_assert_eq!(item.get("Timestamp"), Some(&Cbor::Unsigned(ms as u64)));
        prop_assert_eq!(decode_req(Operation::GetShardIterator, &out).unwrap(), v);
    }
}

#[test]
fn bodies_that_decode_into_too_many_values_are_refused() {
    let op = Operation::from_target("Kinesis_20131202.PutRecords").unwrap();
    // 16 MiB of `{},` in JSON, and a CBOR array of 2 Mi empty maps (one byte each).
    let mut json = br#"{"StreamName":"bad","Records":["#.to_vec();
    json.extend(std::iter::repeat_n(&b"{},"[..], 5_000_000).flatten());
    json.extend_from_slice(b"{}]}");
    let e = Protocol::Json.decode_request(op, &json).unwrap_err();
    assert_eq!(e.code, "SerializationException");
    assert!(e.message.unwrap().contains("more than 20000 values"));
    let mut cbor = vec![0xa2];
    cbor.extend(t("StreamName"));
    cbor.extend(t("bad"));
    cbor.extend(t("Records"));
    cbor.extend([0x9a, 0x00, 0x20, 0x00, 0x00]);
    cbor.extend(std::iter::repeat_n(0xa0u8, 2 << 20));
    let e = Protocol::Cbor.decode_request(op, &cbor).unwrap_err();
    assert_eq!(e.code, "SerializationException");
    assert!(e.message.unwrap().contains("more than 20000 values"));
    // Commas and brackets inside strings are not values; 500 full records pass.
    let records: Vec<Value> = (0..500)
        .map(
            |i| json!({"Data": "AAAA", "PartitionKey": format!("[,{{{i}"), "ExplicitHashKey": "1"}),
        )
        .collect();
    let body = serde_json::to_vec(&json!({"StreamName": "s", "Records": records})).unwrap();
    assert!(Protocol::Json.decode_request(op, &body).is_ok());
    assert!(matches!(
        super::cbor::decode_bounded(&[0x82, 0x01, 0x02], 2),
        Err(CborError::TooMany)
    ));
}
