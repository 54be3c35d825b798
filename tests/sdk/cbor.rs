//! The CBOR protocol end to end, as the Java SDK v2 / KCL / KPL speak it: raw HTTP/1.1
//! with bodies built the way Jackson's CBORGenerator writes them (indefinite maps, byte
//! strings for Data, tag 1 + epoch millis for timestamps), answers decoded as CBOR.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use shoal::api::codec::cbor::{decode, Cbor};

use crate::common::*;

const CBOR: &str = "application/x-amz-cbor-1.1";
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

/// A CBOR head with the shortest argument, as Jackson writes it.
fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xFF => vec![m | 24, n as u8],
        0x100..=0xFFFF => [&[m | 25][..], &(n as u16).to_be_bytes()].concat(),
        0x1_0000..=0xFFFF_FFFF => [&[m | 26][..], &(n as u32).to_be_bytes()].concat(),
        _ => [&[m | 27][..], &n.to_be_bytes()].concat(),
    }
}

fn text(s: &str) -> Vec<u8> {
    [head(3, s.len() as u64), s.as_bytes().to_vec()].concat()
}

fn bytes(b: &[u8]) -> Vec<u8> {
    [head(2, b.len() as u64), b.to_vec()].concat()
}

fn uint(n: u64) -> Vec<u8> {
    head(0, n)
}

/// Tag 1 + integer epoch milliseconds: Java v2's `writeValue(Instant)`.
fn timestamp_ms(ms: u64) -> Vec<u8> {
    [vec![0xC1], uint(ms)].concat()
}

/// An indefinite-length map (`0xBF ... 0xFF`) with text keys.
fn map(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0xBF];
    for (k, v) in pairs {
        out.extend(text(k));
        out.extend_from_slice(v);
    }
    out.push(0xFF);
    out
}

async fn call(addr: SocketAddr, op: &str, body: &[u8]) -> Resp {
    kinesis_call(addr, CBOR, AUTH, op, body).await
}

/// Calls `op` and returns the decoded CBOR answer of a 200 (`None` for an empty body).
async fn ok(addr: SocketAddr, op: &str, body: &[u8]) -> Option<Cbor> {
    let r = call(addr, op, body).await;
    assert_eq!(r.status, 200, "{op}: {:?}", decode(&r.body));
    assert_eq!(r.header("content-type"), Some(CBOR));
    assert!(r.header("x-amzn-RequestId").is_some());
    (!r.body.is_empty()).then(|| decode(&r.body).expect("a CBOR response body"))
}

fn text_of<'a>(item: &'a Cbor, key: &str) -> &'a str {
    match item.get(key) {
        Some(Cbor::Text(s)) => s,
        other => panic!("{key} is not a text string: {other:?}"),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn assert_cbor_error(r: &Resp, code: &str) -> Cbor {
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some(CBOR));
    assert_eq!(r.header("x-amzn-ErrorType"), Some(code));
    let body = decode(&r.body).expect("a CBOR error body");
    assert_eq!(text_of(&body, "__type"), code);
    body
}

#[tokio::test]
async fn java_style_round_trip_put_and_get() {
    let s = start().await;
    let addr = s.running.addr;
    let created = ok(
        addr,
        "CreateStream",
        &map(&[("StreamName", text("cb")), ("ShardCount", uint(1))]),
    )
    .await;
    assert_eq!(created, None, "CreateStream answers an empty body");
    wait_active(&s.client, "cb").await;

    let before = now_ms();
    let payload: Vec<u8> = (0..=255u8).collect();
    let put = ok(
        addr,
        "PutRecord",
        &map(&[
            ("StreamName", text("cb")),
            ("Data", bytes(&payload)),
            ("PartitionKey", text("pk")),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&put, "ShardId"), "shardId-000000000000");
    let seq = text_of(&put, "SequenceNumber").to_string();
    let after = now_ms();

    // AT_TIMESTAMP with a tag-1 millis timestamp a little before the write finds it.
    let it = ok(
        addr,
        "GetShardIterator",
        &map(&[
            ("StreamName", text("cb")),
            ("ShardId", text("shardId-000000000000")),
            ("ShardIteratorType", text("AT_TIMESTAMP")),
            ("Timestamp", timestamp_ms(before - 5_000)),
        ]),
    )
    .await
    .unwrap();
    let iterator = text_of(&it, "ShardIterator").to_string();

    let got = ok(
        addr,
        "GetRecords",
        &map(&[("ShardIterator", text(&iterator)), ("Limit", uint(10))]),
    )
    .await
    .unwrap();
    let Some(Cbor::Array(records)) = got.get("Records") else {
        panic!("Records is not an array: {got:?}");
    };
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(rec.get("Data"), Some(&Cbor::Bytes(payload.clone())));
    assert_eq!(text_of(rec, "PartitionKey"), "pk");
    assert_eq!(text_of(rec, "SequenceNumber"), seq);
    match rec.get("ApproximateArrivalTimestamp") {
        Some(Cbor::Unsigned(ms)) => assert!(
            (before.saturating_sub(1_000)..=after + 1_000).contains(ms),
            "{ms} not within [{before}, {after}]"
        ),
        other => panic!("ApproximateArrivalTimestamp is not integer millis: {other:?}"),
    }
    assert!(matches!(
        got.get("MillisBehindLatest"),
        Some(Cbor::Unsigned(_))
    ));
    assert!(matches!(got.get("NextShardIterator"), Some(Cbor::Text(_))));

    // A JSON client reads the same bytes: one stream, two protocols.
    let sdk = first_batch(&s.client, "cb", &shard(0)).await;
    assert_eq!(sdk.records()[0].data().as_ref(), payload.as_slice());
}

#[tokio::test]
async fn put_records_and_list_shards_in_cbor() {
    let s = start().await;
    let addr = s.running.addr;
    create_active(&s.client, "many", 2).await;
    let rec = |data: &[u8], key: &str| map(&[("Data", bytes(data)), ("PartitionKey", text(key))]);
    let records = [
        vec![0x9F],
        rec(b"hello", "b"),
        rec(b"world", "x"),
        vec![0xFF],
    ]
    .concat();
    let out = ok(
        addr,
        "PutRecords",
        &map(&[("StreamName", text("many")), ("Records", records)]),
    )
    .await
    .unwrap();
    assert_eq!(out.get("FailedRecordCount"), Some(&Cbor::Unsigned(0)));
    let Some(Cbor::Array(entries)) = out.get("Records") else {
        panic!("no Records in {out:?}");
    };
    assert_eq!(entries.len(), 2);
    // MD5("b") falls in the upper half of the hash space: the second shard.
    assert_eq!(text_of(&entries[0], "ShardId"), "shardId-000000000001");

    let shards = ok(addr, "ListShards", &map(&[("StreamName", text("many"))]))
        .await
        .unwrap();
    let Some(Cbor::Array(list)) = shards.get("Shards") else {
        panic!("no Shards in {shards:?}");
    };
    assert_eq!(list.len(), 2);
    let summary = ok(
        addr,
        "DescribeStreamSummary",
        &map(&[("StreamName", text("many"))]),
    )
    .await
    .unwrap();
    let d = summary.get("StreamDescriptionSummary").unwrap();
    assert!(
        matches!(d.get("StreamCreationTimestamp"), Some(Cbor::Unsigned(ms)) if *ms > 1_600_000_000_000),
        "creation timestamp is integer millis: {d:?}"
    );
}

#[tokio::test]
async fn errors_come_back_as_cbor_with_the_error_type_header() {
    let s = start().await;
    let addr = s.running.addr;
    let r = call(
        addr,
        "DescribeStream",
        &map(&[("StreamName", text("nope"))]),
    )
    .await;
    let body = assert_cbor_error(&r, "ResourceNotFoundException");
    assert!(text_of(&body, "message").contains("nope"), "{body:?}");

    // Truncated CBOR is a message-less SerializationException, like malformed JSON.
    let r = call(addr, "ListStreams", &[0xBF, 0x65, b'L']).await;
    assert_cbor_error(&r, "SerializationException");

    // Constraint violations keep AWS's wording.
    let r = call(
        addr,
        "PutRecord",
        &map(&[
            ("StreamName", text("a b")),
            ("Data", bytes(b"x")),
            ("PartitionKey", text("k")),
        ]),
    )
    .await;
    let body = assert_cbor_error(&r, "ValidationException");
    assert!(
        text_of(&body, "message").contains("at 'streamName'"),
        "{body:?}"
    );

    // A wrong type (a map where a string belongs) is a SerializationException with `Message`.
    let r = call(addr, "DescribeStream", &map(&[("StreamName", map(&[]))])).await;
    let body = assert_cbor_error(&r, "SerializationException");
    assert!(body.get("Message").is_some(), "{body:?}");
}
