//! Memory and connection attacks (issue 20), each reproduced against a real server and
//! shown bounded: bodies that decode into gigabytes, replies nobody reads, bodies
//! trickled a byte at a time, and connections held open idle, half-sent or by the
//! thousand. Memory is read from a `shoal` child process's peak RSS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::*;

fn head(addr: SocketAddr, op: &str, content_type: &str, len: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nX-Amz-Target: Kinesis_20131202.{op}\r\nX-Amz-Date: 20240102T030405Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// 16 MiB of `{"StreamName":"bad","Records":[{},{},...]}`.
fn empty_records_json() -> Vec<u8> {
    let mut b = br#"{"StreamName":"bad","Records":["#.to_vec();
    while b.len() < (16 << 20) - 8 {
        b.extend_from_slice(b"{},");
    }
    b.extend_from_slice(b"{}]}");
    b
}

/// A CBOR map whose Records array holds 2 Mi empty maps, one byte each.
fn empty_records_cbor() -> Vec<u8> {
    let mut b = vec![0xa2, 0x6a];
    b.extend_from_slice(b"StreamName");
    b.extend_from_slice(&[0x63, b'b', b'a', b'd', 0x67]);
    b.extend_from_slice(b"Records");
    b.extend_from_slice(&[0x9a, 0x00, 0x20, 0x00, 0x00]);
    b.resize(b.len() + (2 << 20), 0xa0);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_decode_into_gigabytes_get_small_answers_and_little_memory() {
    let p = ShoalProcess::spawn(
        &["serve", "--in-memory", "--port", "0", "--no-throttle"],
        &[],
    );
    let addr = addr_of(&p.endpoint);
    let before = p.peak_rss_mib();
    let json = empty_records_json();
    let cbor = empty_records_cbor();
    for (body, content_type) in [
        (&json, "application/x-amz-json-1.1"),
        (&cbor, "application/x-amz-cbor-1.1"),
    ] {
        let h = head(addr, "PutRecords", content_type, body.len());
        let r = raw(addr, &h, body).await;
        assert_eq!(r.status, 400);
        assert!(r.body.len() < 1024, "a reply of {} bytes", r.body.len());
        assert_eq!(r.header("x-amzn-errortype"), Some("SerializationException"));
    }
    // Five at once whose replies are never read.
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let h = head(addr, "PutRecords", "application/x-amz-json-1.1", json.len());
        s.write_all(h.as_bytes()).await.unwrap();
        s.write_all(&json).await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grew = p.peak_rss_mib() - before;
    assert!(grew < 200, "peak RSS grew by {grew} MiB");
    let r = raw(addr, "GET /health HTTP/1.1\r\n", b"").await;
    assert_eq!(r.status, 200, "the server still answers");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_nobody_reads_hold_the_in_flight_budget_until_dropped() {
    let s = start_with(false, |c| {
        c.server.max_inflight_bytes = 16 << 20;
        c.server.overload_wait_ms = 100;
    })
    .await;
    create_active(&s.client, "big", 1).await;
    for _ in 0..8 {
        s.client
            .put_record()
            .stream_name("big")
            .partition_key("k")
            .data(Blob::new(vec![7u8; (1 << 20) - 1]))
            .send()
            .await
            .unwrap();
    }
    let it = |c: &aws_sdk_kinesis::Client| {
        let c = c.clone();
        async move {
            iterator(
                &c,
                "big",
                &shard(0),
                aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon,
            )
            .await
        }
    };
    let addr = addr_of(&s.endpoint);
    // A reader with a tiny receive window asks for ~11 MB and never reads it.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    let body = format!(r#"{{"ShardIterator":"{}"}}"#, it(&s.client).await);
    let h = head(addr, "GetRecords", "application/x-amz-json-1.1", body.len());
    stalled.write_all(h.as_bytes()).await.unwrap();
    stalled.write_all(body.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let e = s
        .client
        .get_records()
        .shard_iterator(it(&s.client).await)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ServiceUnavailableException");
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ok = s
        .client
        .get_records()
        .shard_iterator(it(&s.client).await)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.records().len(), 8);
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_stalled_bodies_cannot_lock_out_signed_callers() {
    let s = start_with(false, |c| {
        c.auth.credentials =
            vec![shoal::config::CredentialConfig::parse("AKIDTEST:secret").unwrap()];
        c.server.body_read_grace_ms = 1000;
        c.server.min_body_bytes_per_sec = 1000;
        // Less room for signed callers than the unsigned bodies below hold.
        c.server.max_inflight_bytes = 2 << 20;
        c.server.overload_wait_ms = 100;
    })
    .await;
    let addr = addr_of(&s.endpoint);
    // Sixteen connections declare 16 MiB bodies and trickle; three more send 900 KB at
    // once and stall, holding 2.7 MB that nobody signed.
    let mut slow = Vec::new();
    for i in 0..19 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let h = head(addr, "PutRecords", "application/x-amz-json-1.1", 16 << 20);
        c.write_all(h.as_bytes()).await.unwrap();
        let first: Vec<u8> = if i < 16 {
            b"{".to_vec()
        } else {
            vec![b' '; 900_000]
        };
        c.write_all(&first).await.unwrap();
        slow.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    create_active(&s.client, "signed", 1).await;
    put(&s.client, "signed", "k", &[1u8; 100_000]).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    // Each is cut off once a window passes without enough bytes, front-loaded or not.
    for mut c in slow {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the stalled connection was closed");
        let r = parse(&buf);
        assert_eq!(r.status, 408);
        assert_eq!(r.json()["__type"], "RequestTimeoutException");
    }
    s.running.stop().await.unwrap();
}

async fn connect_from(ip: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(ip), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closes `c` within `within` (reading whatever it sent first).
async fn closed_within(c: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    match tokio::time::timeout(within, c.read_to_end(&mut buf)).await {
        Ok(_) => Some(buf),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_client_and_in_total_and_idle_ones_closed() {
    let s = start_with(false, |c| {
        c.server.max_connections = 6;
        c.server.max_connections_per_client = 4;
        c.server.header_read_timeout_ms = 400;
        c.server.idle_timeout_ms = 800;
        c.streams.subscription_heartbeat_ms = 200;
        c.server.tls_port = Some(0);
    })
    .await;
    let addr = addr_of(&s.endpoint);
    let (one, two) = (Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2));
    let mut mine = Vec::new();
    for _ in 0..4 {
        mine.push(connect_from(one, addr).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fifth = connect_from(one, addr).await;
    let refused = closed_within(&mut fifth, Duration::from_secs(2))
        .await
        .unwrap();
    let r = parse(&refused);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["__type"], "ServiceUnavailableException");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("per client address"));
    // Another address still gets in, up to the total.
    let mut theirs = [connect_from(two, addr).await, connect_from(two, addr).await];
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut seventh = connect_from(two, addr).await;
    let r = parse(
        &closed_within(&mut seventh, Duration::from_secs(2))
            .await
            .unwrap(),
    );
    assert!(r.json()["message"].as_str().unwrap().contains("limit of 6"));
    // Idle connections close on their own (a half-sent and a trickled header too), and
    // the places they held come back.
    mine[0]
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickled = async {
        for b in b"GET /health HTTP/1.1\r\nHost: slow\r\n" {
            if mine[1].write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(3), trickled)
        .await
        .ok();
    for c in mine.iter_mut().chain(theirs.iter_mut()) {
        assert!(closed_within(c, Duration::from_secs(3)).await.is_some());
    }
    // A keep-alive connection that goes quiet after a request closes too.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let answered = closed_within(&mut kept, Duration::from_secs(3))
        .await
        .unwrap();
    assert!(answered.starts_with(b"HTTP/1.1 200"));
    // So does an HTTP/2 (h2c) connection once its settings are exchanged.
    let mut h2c = TcpStream::connect(addr).await.unwrap();
    h2c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let settings = closed_within(&mut h2c, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(
        settings.get(3),
        Some(&4),
        "the server's SETTINGS frame came first"
    );
    // An HTTP/2 client that only pings makes no progress: wound down all the same.
    let mut pinger = TcpStream::connect(addr).await.unwrap();
    pinger
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let ping = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    let pinging = async {
        while pinger.write_all(&ping).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(4), pinging)
        .await
        .expect("the pinging connection was closed");
    s.client.list_streams().send().await.unwrap();
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_that_never_says_hello_is_let_go() {
    let s = start_with(false, |c| {
        c.server.header_read_timeout_ms = 300;
        c.server.idle_timeout_ms = 0;
        c.server.tls_port = Some(0);
    })
    .await;
    let mut mute = TcpStream::connect(s.running.tls_addr.unwrap())
        .await
        .unwrap();
    assert!(closed_within(&mut mute, Duration::from_secs(3))
        .await
        .is_some());
    s.running.stop().await.unwrap();
}
