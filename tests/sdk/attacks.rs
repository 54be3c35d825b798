//! Each defect a hostile caller found (issue 20), reproduced against a real server with
//! credentials configured and shown refused: signatures that did not bind the request,
//! a console open to anyone, made-up regions, iterators read through another stream's
//! ARN, and malformed headers. Memory and connection attacks are in `exhaustion`.

use std::net::SocketAddr;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use shoal::api::sigv4::{authorization, canonical};
use tokio::net::TcpStream;

use crate::common::*;

const JSON: &str = "application/x-amz-json-1.1";

fn now_amz() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    canonical::format_amz_date(now)
}

/// A request as an attacker replays it: `target` and `host` are what travels; the
/// signature (by AKIDTEST over `signed`) was made for `signed_target`.
struct Replay<'a> {
    uri: &'a str,
    target: &'a str,
    signed_target: &'a str,
    host: &'a str,
    signed: &'a [&'a str],
    body: &'a str,
}

async fn send(addr: SocketAddr, r: &Replay<'_>) -> (u16, serde_json::Value) {
    let amz = now_amz();
    let build = |target: &str, host: &str| {
        http::Request::post(r.uri)
            .header("host", host)
            .header("content-type", JSON)
            .header("x-amz-date", &amz)
            .header("x-amz-target", format!("Kinesis_20131202.{target}"))
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let at_signing = build(r.signed_target, &addr.to_string());
    let mut parts = build(r.target, r.host);
    if !r.uri.contains("X-Amz-Signature") {
        let auth = authorization(
            &at_signing,
            r.body.as_bytes(),
            "AKIDTEST",
            "secret",
            "us-east-1",
            &amz,
            r.signed,
        );
        parts.headers.insert("authorization", auth.parse().unwrap());
    }
    let req = http::Request::from_parts(parts, Full::new(Bytes::from(r.body.to_string())));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = tx.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::test]
async fn a_signature_binds_the_operation_the_host_and_the_protocol() {
    let (s, _) = start_two_accounts().await;
    create_active(&s.client, "kept", 1).await;
    let addr = addr_of(&s.endpoint);
    let host = addr.to_string();
    let body = r#"{"StreamName":"kept"}"#;
    let honest = Replay {
        uri: "/",
        target: "DescribeStreamSummary",
        signed_target: "DescribeStreamSummary",
        host: &host,
        signed: &["host", "x-amz-date"],
        body,
    };
    // The operation was not signed: a DescribeStreamSummary signature cannot delete.
    let (status, e) = send(
        addr,
        &Replay {
            target: "DeleteStream",
            ..honest
        },
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["__type"], "IncompleteSignatureException");
    assert_eq!(
        e["message"],
        "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
    );
    // Nor can a signature that leaves out the host travel to another one.
    let (_, e) = send(
        addr,
        &Replay {
            host: "evil.example",
            signed: &["content-type"],
            ..honest
        },
    )
    .await;
    assert_eq!(
        e["message"],
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
    // A presigned URL signed for the host alone cannot carry an operation either.
    let amz = now_amz();
    let q = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDTEST%2F{}%2Fus-east-1%2Fkinesis%2Faws4_request&X-Amz-Date={amz}&X-Amz-Expires=604800&X-Amz-SignedHeaders=host",
        &amz[..8]
    );
    let unsigned = http::Request::post(format!("/?{q}"))
        .header("host", &host)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let auth = authorization(
        &unsigned,
        body.as_bytes(),
        "AKIDTEST",
        "secret",
        "us-east-1",
        &amz,
        &["host"],
    );
    let sig = auth.rsplit("Signature=").next().unwrap();
    let uri = format!("/?{q}&X-Amz-Signature={sig}");
    let (_, e) = send(
        addr,
        &Replay {
            uri: &uri,
            target: "DeleteStream",
            ..honest
        },
    )
    .await;
    assert_eq!(e["__type"], "IncompleteSignatureException");
    // Signed as SDKs sign, the same request works, and the stream was never deleted.
    let (status, ok) = send(
        addr,
        &Replay {
            signed: &["content-type", "host", "x-amz-date", "x-amz-target"],
            ..honest
        },
    )
    .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(
        ok["StreamDescriptionSummary"]["StreamStatus"], "ACTIVE",
        "{ok}"
    );
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn made_up_regions_are_refused_once_credentials_are_configured() {
    let (s, _) = start_two_accounts().await;
    let elsewhere = client_with_key(&s.endpoint, "xx-fake-1", "AKIDTEST");
    let e = elsewhere
        .create_stream()
        .stream_name("spread")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidSignatureException");
    assert_eq!(
        message(&e),
        "Credential should be scoped to a valid region, not 'xx-fake-1'. "
    );
    create_active(&s.client, "home", 1).await;
    s.running.stop().await.unwrap();
}

async fn get(addr: SocketAddr, path: &str, login: Option<&str>) -> Resp {
    let auth = login.map_or(String::new(), |l| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(l)
        )
    });
    raw(addr, &format!("GET {path} HTTP/1.1\r\n{auth}"), b"").await
}

#[tokio::test]
async fn the_console_and_metrics_need_a_key_and_show_its_account_alone() {
    let (s, other) = start_two_accounts().await;
    create_active(&s.client, "mine", 1).await;
    create_active(&other, "theirs", 1).await;
    put(&s.client, "mine", "k", b"private").await;
    let addr = addr_of(&s.endpoint);
    let records = "/console/api/records?stream=mine&shard=shardId-000000000000&from=oldest";
    for path in [
        "/console",
        "/console/app.js",
        "/console/api/streams",
        records,
        "/metrics",
    ] {
        for login in [None, Some("AKIDTEST:wrong"), Some("NOBODY:secret")] {
            let r = get(addr, path, login).await;
            assert_eq!(r.status, 401, "{path} {login:?}");
            assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
            let page = String::from_utf8_lossy(&r.body);
            assert!(page.contains("access key id as the user name"), "{page}");
            assert!(!page.contains("private"));
        }
    }
    let r = get(addr, records, Some("AKIDTEST:secret")).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("private"));
    // The other account's key sees neither the records nor the stream.
    assert_eq!(
        get(addr, records, Some("AKIDOTHER:secret")).await.status,
        404
    );
    let listed = get(addr, "/console/api/streams", Some("AKIDOTHER:secret")).await;
    let names: Vec<String> = listed.json()["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["theirs"]);
    let metrics = get(addr, "/metrics", Some("AKIDTEST:secret")).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("stream=\"mine\""), "{text}");
    assert!(!text.contains("theirs"), "{text}");
    // The health check stays open: load balancers cannot log in.
    assert_eq!(get(addr, "/health", None).await.status, 200);
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn get_records_refuses_a_stream_arn_its_iterator_was_not_issued_for() {
    let (s, _) = start_two_accounts().await;
    create_active(&s.client, "public", 1).await;
    create_active(&s.client, "secret", 1).await;
    put(&s.client, "secret", "k", b"hidden").await;
    let it = iterator(
        &s.client,
        "secret",
        &shard(0),
        aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon,
    )
    .await;
    let e = s
        .client
        .get_records()
        .shard_iterator(&it)
        .stream_arn(stream_arn("public"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgumentException");
    let ok = s
        .client
        .get_records()
        .shard_iterator(&it)
        .stream_arn(stream_arn("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.records().len(), 1);
    // A timestamp before 1970 names no record.
    let e = s
        .client
        .get_shard_iterator()
        .stream_name("public")
        .shard_id(shard(0))
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::AtTimestamp)
        .timestamp(aws_smithy_types::DateTime::from_secs(-5))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgumentException");
    assert!(
        message(&e).contains("cannot be negative"),
        "{}",
        message(&e)
    );
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_malformed_header_line_still_gets_an_aws_answer() {
    let (s, _) = start_two_accounts().await;
    let addr = addr_of(&s.endpoint);
    let head = "POST / HTTP/1.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nX-Odd: a\x7fb\r\nContent-Length: 2\r\n";
    let r = raw(addr, head, b"{}").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["__type"], "MissingAuthenticationTokenException");
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn another_accounts_iterator_cannot_be_read_through_a_stream_it_may_read() {
    let (s, other) = start_two_accounts().await;
    create_active(&s.client, "open", 1).await;
    create_active(&s.client, "closed", 1).await;
    put(&s.client, "closed", "k", b"not for OTHER").await;
    let allow = |actions: &str, stream: &str| {
        format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{OTHER}"}},"Action":[{actions}],"Resource":"{}"}}]}}"#,
            stream_arn(stream)
        )
    };
    // OTHER may position on "closed" but not read it, and may read "open".
    put_policy(
        &s.client,
        &stream_arn("closed"),
        &allow(r#""kinesis:GetShardIterator""#, "closed"),
    )
    .await;
    put_policy(
        &s.client,
        &stream_arn("open"),
        &allow(r#""kinesis:GetRecords""#, "open"),
    )
    .await;
    let it = other
        .get_shard_iterator()
        .stream_arn(stream_arn("closed"))
        .shard_id(shard(0))
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let e = other
        .get_records()
        .shard_iterator(&it)
        .stream_arn(stream_arn("open"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDeniedException", "{}", message(&e));
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn the_gate_holds_for_every_method_and_path_variant() {
    let (s, _) = start_two_accounts().await;
    create_active(&s.client, "mine", 1).await;
    let addr = addr_of(&s.endpoint);
    for head in [
        "HEAD /console/api/streams HTTP/1.1\r\n",
        "GET /console/api/streams/ HTTP/1.1\r\n",
        "GET /console/ HTTP/1.1\r\n",
        "GET /metrics?format=text HTTP/1.1\r\n",
    ] {
        let r = raw(addr, head, b"").await;
        assert!(r.status == 401 || r.status == 400, "{head}: {}", r.status);
        assert!(!String::from_utf8_lossy(&r.body).contains("mine"), "{head}");
    }
    // A POST to /metrics is a Kinesis request like any other, and must be signed.
    let r = raw(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n", b"").await;
    assert_eq!(r.status, 400);
    assert!(r.header("x-amzn-errortype").is_some());
    s.running.stop().await.unwrap();
}
