//! SubscribeToShard through aws-sdk-rust (HTTP/1.1 event stream): records pushed as they
//! land, resumption by ContinuationSequenceNumber without loss or duplicates, the end
//! of a closed shard, heartbeats, the five-minute lifetime on an injected clock, and
//! the duplicate-subscription rule.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{
    ShardIteratorType, StartingPosition, SubscribeToShardEvent, SubscribeToShardEventStream,
};
use aws_sdk_kinesis::Client;
use shoal::broker::{Clock, ManualClock, SystemClock};

use crate::common::*;

const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/fan";

async fn consumer(c: &Client, name: &str) -> String {
    register_consumer(c, "fan", name)
        .await
        .consumer_arn()
        .to_string()
}

fn position(kind: ShardIteratorType, seq: Option<&str>) -> StartingPosition {
    StartingPosition::builder()
        .r#type(kind)
        .set_sequence_number(seq.map(str::to_string))
        .build()
        .unwrap()
}

type Events = aws_sdk_kinesis::primitives::event_stream::EventReceiver<
    SubscribeToShardEventStream,
    aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError,
>;

async fn subscribe(c: &Client, arn: &str, shard: &str, start: StartingPosition) -> Events {
    c.subscribe_to_shard()
        .consumer_arn(arn)
        .shard_id(shard)
        .starting_position(start)
        .send()
        .await
        .expect("subscribe")
        .event_stream
}

/// The error code a LATEST subscription gets.
async fn refused(c: &Client, arn: &str, shard: &str) -> String {
    let e = c
        .subscribe_to_shard()
        .consumer_arn(arn)
        .shard_id(shard)
        .starting_position(position(ShardIteratorType::Latest, None))
        .send()
        .await
        .unwrap_err();
    code(&e).to_string()
}

/// A server on a manual clock with a 100 ms heartbeat and the one-shard stream "fan".
async fn fan_on_manual_clock() -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = start_with_clock(
        true,
        |c| c.streams.subscription_heartbeat_ms = 100,
        clock.clone(),
    )
    .await;
    create_active(&s.client, "fan", 1).await;
    (s, clock)
}

/// The next data event, within a few seconds.
async fn next(events: &mut Events) -> Option<SubscribeToShardEvent> {
    let got = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("no stream error");
    match got {
        Some(SubscribeToShardEventStream::SubscribeToShardEvent(e)) => Some(e),
        Some(other) => panic!("unexpected event {other:?}"),
        None => None,
    }
}

async fn put(c: &Client, key: &str, data: String) -> String {
    c.put_record()
        .stream_name("fan")
        .partition_key(key)
        .data(Blob::new(data))
        .send()
        .await
        .unwrap()
        .sequence_number()
        .to_string()
}

fn datas(e: &SubscribeToShardEvent) -> Vec<String> {
    e.records()
        .iter()
        .map(|r| String::from_utf8(r.data().as_ref().to_vec()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_during_a_subscription_arrive_in_order_and_resume_exactly() {
    let s = start_with(true, |c| c.streams.subscription_heartbeat_ms = 200).await;
    let c = &s.client;
    create_active(c, "fan", 1).await;
    let arn = consumer(c, "app").await;
    let mut events = subscribe(
        c,
        &arn,
        "shardId-000000000000",
        position(ShardIteratorType::Latest, None),
    )
    .await;
    let producer = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..30 {
                seqs.push(put(&c, "k", format!("r{i}")).await);
            }
            seqs
        })
    };
    let mut got = Vec::new();
    let mut last_continuation = String::new();
    while got.len() < 15 {
        let e = next(&mut events).await.expect("still open");
        got.extend(datas(&e));
        last_continuation = e.continuation_sequence_number().to_string();
        assert!(!last_continuation.is_empty());
    }
    drop(events);
    let seqs = producer.await.unwrap();
    // Resume after the last continuation with a new subscription. The server learns
    // that the old one's connection closed when it next looks at it (at once on this
    // machine; over Kafka, between two polls of the shard), and until then AWS's 5 s
    // takeover rule refuses a new one.
    let resume = position(
        ShardIteratorType::AfterSequenceNumber,
        Some(&last_continuation),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    let mut events = loop {
        let tried = c
            .subscribe_to_shard()
            .consumer_arn(&arn)
            .shard_id("shardId-000000000000")
            .starting_position(resume.clone())
            .send()
            .await;
        match tried {
            Ok(out) => break out.event_stream,
            Err(e) if std::time::Instant::now() < deadline => {
                let code = e.into_service_error().meta().code().map(str::to_string);
                assert_eq!(code.as_deref(), Some("ResourceInUseException"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no resumption within 6 s: {e:?}"),
        }
    };
    while got.len() < 30 {
        let e = next(&mut events).await.expect("still open");
        got.extend(datas(&e));
    }
    let expected: Vec<String> = (0..30).map(|i| format!("r{i}")).collect();
    assert_eq!(
        got, expected,
        "none missing or duplicated across resumption"
    );
    assert_eq!(seqs.len(), 30);
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_subscription_hears_heartbeats_and_trim_horizon_catches_up() {
    let s = start_with(true, |c| c.streams.subscription_heartbeat_ms = 200).await;
    let c = &s.client;
    create_active(c, "fan", 1).await;
    for i in 0..5 {
        put(c, "k", format!("old{i}")).await;
    }
    let arn = consumer(c, "app").await;
    let mut events = subscribe(
        c,
        &arn,
        "shardId-000000000000",
        position(ShardIteratorType::TrimHorizon, None),
    )
    .await;
    let first = next(&mut events).await.unwrap();
    assert_eq!(datas(&first), ["old0", "old1", "old2", "old3", "old4"]);
    assert_eq!(first.millis_behind_latest(), 0);
    // Nothing new: an empty event still comes, with the same resume point.
    let idle = next(&mut events).await.unwrap();
    assert!(idle.records().is_empty());
    assert_eq!(
        idle.continuation_sequence_number(),
        first.continuation_sequence_number()
    );
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_ends_the_subscription_with_child_shards() {
    let s = start_with(true, |c| c.streams.subscription_heartbeat_ms = 5000).await;
    let c = &s.client;
    create_active(c, "fan", 1).await;
    let arn = consumer(c, "app").await;
    put(c, "k", "before".into()).await;
    let mut events = subscribe(
        c,
        &arn,
        "shardId-000000000000",
        position(ShardIteratorType::TrimHorizon, None),
    )
    .await;
    assert_eq!(datas(&next(&mut events).await.unwrap()), ["before"]);
    c.split_shard()
        .stream_name("fan")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    // Woken by the seal, not by the 5 s heartbeat.
    let end = tokio::time::timeout(Duration::from_secs(3), next(&mut events))
        .await
        .expect("the end of the shard arrives at once")
        .unwrap();
    assert!(end.records().is_empty());
    // Rust models the member as a String: absent shows as "".
    assert_eq!(end.continuation_sequence_number(), "");
    let children: Vec<&str> = end.child_shards().iter().map(|c| c.shard_id()).collect();
    assert_eq!(children, ["shardId-000000000001", "shardId-000000000002"]);
    assert!(
        next(&mut events).await.is_none(),
        "the stream ends after the final event"
    );
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_end_after_five_minutes_and_duplicates_are_refused() {
    let (s, clock) = fan_on_manual_clock().await;
    let c = &s.client;
    let arn = consumer(c, "app").await;
    let mut events = subscribe(
        c,
        &arn,
        "shardId-000000000000",
        position(ShardIteratorType::Latest, None),
    )
    .await;
    // A second subscription within 5 s of the first is refused.
    assert_eq!(
        refused(c, &arn, "shardId-000000000000").await,
        "ResourceInUseException"
    );
    assert!(next(&mut events).await.is_some(), "a heartbeat");
    clock.advance_ms(301_000);
    // The next wake-up sees the lifetime is over and ends the stream normally.
    while let Some(e) = next(&mut events).await {
        assert!(e.records().is_empty());
    }
    // An unknown consumer and an unknown shard are refused up front.
    assert_eq!(
        refused(
            c,
            &format!("{STREAM_ARN}/consumer/nobody:1800000000"),
            "shardId-000000000000"
        )
        .await,
        "ResourceNotFoundException"
    );
    assert_eq!(
        refused(c, &arn, "shardId-000000000009").await,
        "ResourceNotFoundException"
    );
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_subscription_takes_over_and_the_old_one_gets_an_exception_event() {
    let (s, clock) = fan_on_manual_clock().await;
    let c = &s.client;
    let arn = consumer(c, "app").await;
    let mut old = subscribe(
        c,
        &arn,
        "shardId-000000000000",
        position(ShardIteratorType::Latest, None),
    )
    .await;
    assert!(next(&mut old).await.is_some());
    clock.advance_ms(6_000);
    let mut new = subscribe(
        c,
        &arn,
        "shardId-000000000000",
        position(ShardIteratorType::Latest, None),
    )
    .await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match old.recv().await {
                Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(_))) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the old subscription ends");
    let err = ended.expect_err("an exception event");
    let service = err.as_service_error().expect("a modeled exception");
    assert!(service.is_resource_in_use_exception(), "{service:?}");
    assert!(next(&mut new).await.is_some(), "the new one keeps going");
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_sequence_number_and_at_timestamp_start_where_asked() {
    let (s, clock) = fan_on_manual_clock().await;
    let c = &s.client;
    let mut seqs = Vec::new();
    for i in 0..4 {
        clock.advance_ms(1000);
        seqs.push(put(c, "k", format!("r{i}")).await);
    }
    let arn = consumer(c, "app").await;
    let mut at = subscribe(
        c,
        &arn,
        "shardId-000000000000",
        position(ShardIteratorType::AtSequenceNumber, Some(&seqs[2])),
    )
    .await;
    assert_eq!(datas(&next(&mut at).await.unwrap()), ["r2", "r3"]);
    drop(at);
    clock.advance_ms(6_000);
    let ts = StartingPosition::builder()
        .r#type(ShardIteratorType::AtTimestamp)
        .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
            1_800_000_002_000,
        ))
        .build()
        .unwrap();
    let mut by_time = subscribe(c, &arn, "shardId-000000000000", ts).await;
    assert_eq!(
        datas(&next(&mut by_time).await.unwrap()),
        ["r1", "r2", "r3"]
    );
    s.running.stop().await.unwrap();
}

/// Over HTTP/2 with prior knowledge (as the JS and Java SDKs subscribe), and with a
/// CBOR request (as the Java SDK sends it): the frames, their headers and a CBOR
/// payload carrying Data as a byte string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_over_h2c_with_cbor_payloads() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use shoal::api::codec::cbor::{self, write_head, write_text, Cbor};
    use shoal::api::eventstream;

    let s = start_with(true, |c| c.streams.subscription_heartbeat_ms = 200).await;
    let c = &s.client;
    create_active(c, "fan", 1).await;
    put(c, "k", "over-h2".into()).await;
    let arn = consumer(c, "app").await;

    let mut body = Vec::new();
    write_head(&mut body, 5, 3);
    write_text(&mut body, "ConsumerARN");
    write_text(&mut body, &arn);
    write_text(&mut body, "ShardId");
    write_text(&mut body, "shardId-000000000000");
    write_text(&mut body, "StartingPosition");
    write_head(&mut body, 5, 1);
    write_text(&mut body, "Type");
    write_text(&mut body, "TRIM_HORIZON");

    let tcp = tokio::net::TcpStream::connect(s.running.addr)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post(format!("http://{}/", s.running.addr))
        .header("content-type", "application/x-amz-cbor-1.1")
        .header("x-amz-target", "Kinesis_20131202.SubscribeToShard")
        .header("x-amz-date", "20240102T030405Z")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        )
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("frames keep coming")
            .expect("body open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
        while let Some((m, used)) = eventstream::decode(&buf).unwrap() {
            buf.drain(..used);
            messages.push(m);
        }
    }
    assert_eq!(messages[0].header(":event-type"), Some("initial-response"));
    assert_eq!(
        messages[1].header(":event-type"),
        Some("SubscribeToShardEvent")
    );
    assert_eq!(
        messages[1].header(":content-type"),
        Some("application/x-amz-cbor-1.1")
    );
    let event = cbor::decode(&messages[1].payload).unwrap();
    let Some(Cbor::Array(records)) = event.get("Records") else {
        panic!("no Records in {event:?}")
    };
    assert_eq!(
        records[0].get("Data"),
        Some(&Cbor::Bytes(b"over-h2".to_vec()))
    );
    assert!(matches!(
        records[0].get("ApproximateArrivalTimestamp"),
        Some(Cbor::Unsigned(_))
    ));
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscription_reads_at_most_two_mib_per_second() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let s = start_with_clock(
        true,
        |c| {
            c.limits.throttle = true;
            c.streams.subscription_heartbeat_ms = 100;
        },
        clock.clone(),
    )
    .await;
    let c = &s.client;
    create_active(c, "fan", 1).await;
    for i in 0..3u8 {
        clock.advance_ms(1000);
        c.put_record()
            .stream_name("fan")
            .partition_key("k")
            .data(Blob::new(vec![i; 1024 * 1024 - 1]))
            .send()
            .await
            .unwrap();
    }
    clock.advance_ms(1000);
    let arn = consumer(c, "app").await;
    let mut events = subscribe(
        c,
        &arn,
        "shardId-000000000000",
        position(ShardIteratorType::TrimHorizon, None),
    )
    .await;
    let first = next(&mut events).await.unwrap();
    assert_eq!(first.records().len(), 2, "2 MiB in the first second");
    // The clock stands still: the budget is spent and nothing more comes.
    let more = tokio::time::timeout(Duration::from_millis(700), events.recv()).await;
    assert!(
        more.is_err(),
        "the third record waits for the budget: {more:?}"
    );
    clock.advance_ms(1000);
    let third = next(&mut events).await.unwrap();
    assert_eq!(third.records().len(), 1);
    assert_eq!(third.records()[0].data().as_ref()[0], 2);
    s.running.stop().await.unwrap();
}
