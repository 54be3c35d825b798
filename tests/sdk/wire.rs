//! Raw HTTP for what the SDK hides: authentication, unknown targets, serialization
//! errors, response headers, body limits, HTTP/2 prior knowledge and /health.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::common::*;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef";
const JSON: &str = "application/x-amz-json-1.1";

impl Resp {
    /// Checks the headers every Kinesis response carries, and for errors the code.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status,
            status,
            "{:?}",
            String::from_utf8_lossy(&self.body)
        );
        assert_common_headers(self);
        assert_eq!(self.header("x-amzn-ErrorType"), Some(code));
        assert_eq!(self.json()["__type"], code);
    }
}

fn assert_common_headers(r: &Resp) {
    let id = r.header("x-amzn-RequestId").expect("x-amzn-RequestId");
    assert!(!id.is_empty());
    assert_eq!(r.header("content-type"), Some(JSON));
}

/// A signed-looking Kinesis request for `op` with a JSON body.
async fn call(addr: SocketAddr, op: &str, body: &str) -> Resp {
    kinesis_call(addr, JSON, AUTH, op, body.as_bytes()).await
}

#[tokio::test]
async fn missing_authorization_is_refused() {
    let s = start().await;
    let body = "{}";
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: {JSON}\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nX-Amz-Date: 20240102T030405Z\r\nContent-Length: {}\r\n",
        body.len()
    );
    let r = raw(s.running.addr, &head, body.as_bytes()).await;
    r.assert_error(400, "MissingAuthenticationTokenException");
    assert_eq!(r.json()["message"], "Missing Authentication Token");
}

#[tokio::test]
async fn unknown_target_is_unknown_operation() {
    let s = start().await;
    let r = call(s.running.addr, "NoSuchOperation", "{}").await;
    r.assert_error(400, "UnknownOperationException");
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: {JSON}\r\nX-Amz-Target: Other_2020.ListStreams\r\nX-Amz-Date: 20240102T030405Z\r\nAuthorization: {AUTH}\r\nContent-Length: 2\r\n"
    );
    raw(s.running.addr, &head, b"{}")
        .await
        .assert_error(400, "UnknownOperationException");
    // No target at all.
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: {JSON}\r\nX-Amz-Date: 20240102T030405Z\r\nAuthorization: {AUTH}\r\nContent-Length: 2\r\n"
    );
    raw(s.running.addr, &head, b"{}")
        .await
        .assert_error(400, "UnknownOperationException");
}

#[tokio::test]
async fn malformed_json_is_serialization_error() {
    let s = start().await;
    let r = call(s.running.addr, "ListStreams", "{not json").await;
    r.assert_error(400, "SerializationException");
    let r = call(s.running.addr, "ListStreams", "[1,2]").await;
    r.assert_error(400, "SerializationException");
    let r = call(s.running.addr, "ListStreams", "").await;
    r.assert_error(400, "SerializationException");
}

#[tokio::test]
async fn wrong_type_is_serialization_error_with_capital_message() {
    let s = start().await;
    let r = call(
        s.running.addr,
        "CreateStream",
        r#"{"StreamName":"typed","ShardCount":"two"}"#,
    )
    .await;
    r.assert_error(400, "SerializationException");
    assert_eq!(
        r.json()["Message"],
        "class java.lang.String can not be converted to an Integer"
    );
    // Nothing was created.
    let r = call(s.running.addr, "ListStreams", "{}").await;
    assert_eq!(r.json()["StreamNames"], serde_json::json!([]));
}

#[tokio::test]
async fn constraint_violation_is_validation_error() {
    let s = start().await;
    let r = call(
        s.running.addr,
        "CreateStream",
        r#"{"StreamName":"bad name!","ShardCount":1}"#,
    )
    .await;
    r.assert_error(400, "ValidationException");
    let m = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        m.starts_with("1 validation error detected: Value 'bad name!' at 'streamName'"),
        "{m}"
    );
}

#[tokio::test]
async fn success_headers_and_empty_create_body() {
    let s = start().await;
    let addr = s.running.addr;
    let r = call(
        addr,
        "CreateStream",
        r#"{"StreamName":"wire","ShardCount":1}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_common_headers(&r);
    assert!(r.body.is_empty(), "{:?}", String::from_utf8_lossy(&r.body));
    assert!(r.header("x-amzn-ErrorType").is_none());
    let r = call(addr, "ListStreams", "{}").await;
    assert_eq!(r.status, 200);
    assert_common_headers(&r);
    assert_eq!(r.json()["StreamNames"], serde_json::json!(["wire"]));
    assert_eq!(r.json()["HasMoreStreams"], false);
    // Request ids differ per response.
    let a = call(addr, "ListStreams", "{}").await;
    assert_ne!(a.header("x-amzn-RequestId"), r.header("x-amzn-RequestId"));
    // Errors carry the headers too.
    let e = call(addr, "DescribeStream", r#"{"StreamName":"missing"}"#).await;
    e.assert_error(400, "ResourceNotFoundException");
    assert_eq!(
        e.json()["message"],
        "Stream missing under account 000000000000 not found."
    );
}

/// Every operation of the model is served: an empty request to each answers with its
/// own validation or semantic error, never UnknownOperationException.
#[tokio::test]
async fn every_operation_of_the_model_is_served() {
    let s = start().await;
    for op in shoal::api::target::Operation::ALL {
        let r = call(s.running.addr, op.name(), "{}").await;
        assert_common_headers(&r);
        let code = r.json()["__type"].as_str().unwrap_or("").to_string();
        assert_ne!(
            code,
            "UnknownOperationException",
            "{} is not served",
            op.name()
        );
        if r.status != 200 {
            assert_eq!(
                r.header("x-amzn-ErrorType"),
                Some(code.as_str()),
                "{}",
                op.name()
            );
        }
    }
}

#[tokio::test]
async fn oversized_body_is_refused_with_400() {
    let s = start_with(true, |c| c.server.max_request_bytes = 2048).await;
    let addr = s.running.addr;
    let big = format!(r#"{{"StreamName":"{}"}}"#, "x".repeat(4096));
    // Declared by Content-Length.
    let r = call(addr, "ListStreams", &big).await;
    r.assert_error(400, "ValidationException");
    assert!(
        r.json()["message"].as_str().unwrap().contains("2048"),
        "{}",
        r.json()
    );
    // Chunked, with no length up front.
    let mut body = format!("{:x}\r\n", big.len()).into_bytes();
    body.extend_from_slice(big.as_bytes());
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: {JSON}\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nX-Amz-Date: 20240102T030405Z\r\nAuthorization: {AUTH}\r\nTransfer-Encoding: chunked\r\n"
    );
    raw(addr, &head, &body)
        .await
        .assert_error(400, "ValidationException");
    // The server is still fine afterwards.
    let r = call(addr, "ListStreams", "{}").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn http2_prior_knowledge_on_the_same_port() {
    let s = start().await;
    let tcp = TcpStream::connect(s.running.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    for op in ["CreateStream", "ListStreams"] {
        let body = if op == "CreateStream" {
            r#"{"StreamName":"h2","ShardCount":1}"#
        } else {
            "{}"
        };
        let req = http::Request::post(format!("http://{}/", s.running.addr))
            .header("content-type", JSON)
            .header("x-amz-target", format!("Kinesis_20131202.{op}"))
            .header("x-amz-date", "20240102T030405Z")
            .header("authorization", AUTH)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
            .await
            .expect("no hang")
            .expect("h2 response");
        assert_eq!(resp.status(), 200, "{op}");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert!(resp.headers().contains_key("x-amzn-requestid"));
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        if op == "ListStreams" {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["StreamNames"], serde_json::json!(["h2"]));
        }
    }
}

#[tokio::test]
async fn health_answers_200() {
    let s = start().await;
    let r = raw(s.running.addr, "GET /health HTTP/1.1\r\n", b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
}

#[tokio::test]
async fn nulls_are_absent_and_unknown_members_ignored() {
    let s = start().await;
    let addr = s.running.addr;
    let r = call(
        addr,
        "CreateStream",
        r#"{"StreamName":"nulls","ShardCount":1,"Tags":null,"StreamModeDetails":null,"Unknown":{"x":1}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let r = call(
        addr,
        "ListStreams",
        r#"{"Limit":null,"NextToken":null,"Whatever":true}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["StreamNames"], serde_json::json!(["nulls"]));
    let r = call(addr, "DescribeStreamSummary", r#"{"StreamName":null}"#).await;
    r.assert_error(400, "InvalidArgumentException");
}

#[tokio::test]
async fn the_path_is_ignored_for_kinesis_requests() {
    let s = start().await;
    for path in ["/some/path", "/?x=1", "/health"] {
        let body = "{}";
        let head = format!(
            "POST {path} HTTP/1.1\r\nContent-Type: {JSON}\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nX-Amz-Date: 20240102T030405Z\r\nAuthorization: {AUTH}\r\nContent-Length: {}\r\n",
            body.len()
        );
        let r = raw(s.running.addr, &head, body.as_bytes()).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        assert_common_headers(&r);
        assert_eq!(r.json()["StreamNames"], serde_json::json!([]), "{path}");
    }
    // Anything that is not a Kinesis request still gets a Kinesis-shaped answer...
    let r = raw(s.running.addr, "GET /anything HTTP/1.1\r\n", b"").await;
    r.assert_error(400, "UnknownOperationException");
    let r = raw(
        s.running.addr,
        "GET / HTTP/1.1\r\nX-Amz-Target: Nope.Op\r\n",
        b"",
    )
    .await;
    r.assert_error(400, "UnknownOperationException");
    // ...except a browser's visit to the address, which learns where to go.
    let r = raw(s.running.addr, "GET / HTTP/1.1\r\n", b"").await;
    assert_eq!(r.status, 200);
    let page = String::from_utf8_lossy(&r.body);
    assert!(
        page.contains("/console") && page.contains("docs/"),
        "{page}"
    );
}

#[tokio::test]
async fn json_1_0_requests_are_accepted() {
    let s = start().await;
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nX-Amz-Date: 20240102T030405Z\r\nAuthorization: {AUTH}\r\nContent-Length: 2\r\n"
    );
    let r = raw(s.running.addr, &head, b"{}").await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-amzn-RequestId").is_some());
}

fn assert_no_nulls(v: &serde_json::Value, path: &str) {
    match v {
        serde_json::Value::Null => panic!("null at {path}: absent members must be omitted"),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| assert_no_nulls(x, &format!("{path}[{i}]"))),
        serde_json::Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| assert_no_nulls(x, &format!("{path}.{k}"))),
        _ => {}
    }
}

#[tokio::test]
async fn responses_omit_absent_members_and_use_aws_types() {
    let s = start().await;
    let addr = s.running.addr;
    let ok = |r: &Resp| {
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_no_nulls(&v, "$");
        v
    };
    assert_eq!(
        call(
            addr,
            "CreateStream",
            r#"{"StreamName":"shapes","ShardCount":2}"#
        )
        .await
        .status,
        200
    );
    let d = ok(&call(addr, "DescribeStream", r#"{"StreamName":"shapes"}"#).await);
    let desc = &d["StreamDescription"];
    assert_eq!(desc["StreamStatus"], "ACTIVE");
    assert_eq!(desc["HasMoreShards"], false);
    assert_eq!(desc["RetentionPeriodHours"], 24);
    assert_eq!(desc["EncryptionType"], "NONE");
    assert_eq!(
        desc["EnhancedMonitoring"],
        serde_json::json!([{"ShardLevelMetrics": []}])
    );
    assert!(desc["StreamCreationTimestamp"].is_number());
    let shard0 = &desc["Shards"][0];
    assert!(shard0.get("ParentShardId").is_none());
    assert!(shard0["SequenceNumberRange"]
        .get("EndingSequenceNumber")
        .is_none());
    assert!(shard0["HashKeyRange"]["StartingHashKey"].is_string());
    let sum = ok(&call(addr, "DescribeStreamSummary", r#"{"StreamName":"shapes"}"#).await);
    assert_eq!(sum["StreamDescriptionSummary"]["OpenShardCount"], 2);
    let l = ok(&call(addr, "ListStreams", "{}").await);
    assert_eq!(l["HasMoreStreams"], false);
    assert!(l.get("NextToken").is_none());
    let ls = ok(&call(addr, "ListShards", r#"{"StreamName":"shapes"}"#).await);
    assert!(ls.get("NextToken").is_none());
    let p = ok(&call(
        addr,
        "PutRecord",
        r#"{"StreamName":"shapes","PartitionKey":"b","Data":"aGVsbG8="}"#,
    )
    .await);
    assert_eq!(p["ShardId"], "shardId-000000000001");
    assert!(p["SequenceNumber"].is_string());
    let pr = ok(&call(
        addr,
        "PutRecords",
        r#"{"StreamName":"shapes","Records":[{"PartitionKey":"b","Data":"d29ybGQ="},{"PartitionKey":"x","ExplicitHashKey":"0","Data":""}]}"#,
    )
    .await);
    assert_eq!(pr["FailedRecordCount"], 0);
    assert_eq!(pr["Records"][0]["ShardId"], "shardId-000000000001");
    assert_eq!(pr["Records"][1]["ShardId"], "shardId-000000000000");
    let it = ok(&call(
        addr,
        "GetShardIterator",
        r#"{"StreamName":"shapes","ShardId":"shardId-000000000001","ShardIteratorType":"TRIM_HORIZON"}"#,
    )
    .await);
    let iterator = it["ShardIterator"].as_str().unwrap();
    assert!(!iterator.is_empty() && iterator.len() <= 512);
    let g = ok(&call(
        addr,
        "GetRecords",
        &format!(r#"{{"ShardIterator":"{iterator}"}}"#),
    )
    .await);
    assert_eq!(g["Records"][0]["Data"], "aGVsbG8=");
    assert_eq!(g["Records"][0]["PartitionKey"], "b");
    assert_eq!(g["Records"][1]["Data"], "d29ybGQ=");
    assert!(g["Records"][0]["ApproximateArrivalTimestamp"].is_number());
    assert_eq!(g["MillisBehindLatest"], 0);
    assert!(g["NextShardIterator"].is_string());
    // Timestamps as boto3 sends them (integer seconds) and as ISO-8601 strings.
    for ts in ["1000000000", r#""2001-09-09T01:46:40Z""#] {
        let r = call(
            addr,
            "GetShardIterator",
            &format!(r#"{{"StreamName":"shapes","ShardId":"shardId-000000000001","ShardIteratorType":"AT_TIMESTAMP","Timestamp":{ts}}}"#),
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "{ts}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

#[tokio::test]
async fn the_sdk_recovers_after_an_oversized_request() {
    let s = start_with(true, |c| c.server.max_request_bytes = 64 * 1024).await;
    let c = &s.client;
    create_active(c, "limited", 1).await;
    for round in 0..3 {
        let err = c
            .put_record()
            .stream_name("limited")
            .partition_key("k")
            .data(aws_sdk_kinesis::primitives::Blob::new(vec![
                1u8;
                200 * 1024
            ]))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException", "round {round}: {err:?}");
        // The same client (and its pooled connection) keeps working.
        c.put_record()
            .stream_name("limited")
            .partition_key("k")
            .data(aws_sdk_kinesis::primitives::Blob::new("small"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_much_larger_body_is_answered_not_reset() {
    let s = start_with(true, |c| c.server.max_request_bytes = 1024 * 1024).await;
    let c = &s.client;
    create_active(c, "limited", 1).await;
    let err = c
        .put_record()
        .stream_name("limited")
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new(vec![
            1u8;
            8 * 1024 * 1024
        ]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException", "{err:?}");
}

#[tokio::test]
async fn http2_large_bodies_and_concurrent_streams() {
    let s = start().await;
    create_active(&s.client, "h2big", 1).await;
    let tcp = TcpStream::connect(s.running.addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    let addr = s.running.addr;
    let request = move |op: &str, body: String| {
        http::Request::post(format!("http://{addr}/"))
            .header("content-type", JSON)
            .header("x-amz-target", format!("Kinesis_20131202.{op}"))
            .header("x-amz-date", "20240102T030405Z")
            .header("authorization", AUTH)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    // A 2 MiB body crosses many flow-control windows.
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(vec![5u8; 1024 * 1024 - 1]);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let mut sender = sender.clone();
        let body = if i % 2 == 0 {
            format!(r#"{{"StreamName":"h2big","PartitionKey":"k","Data":"{data}"}}"#)
        } else {
            "{}".to_string()
        };
        let op = if i % 2 == 0 {
            "PutRecord"
        } else {
            "ListStreams"
        };
        let req = request(op, body);
        tasks.spawn(async move {
            sender.ready().await.unwrap();
            let resp = sender.send_request(req).await.unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, bytes)
        });
    }
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r.unwrap());
        }
        out
    })
    .await
    .expect("no hang");
    for (status, body) in &all {
        assert_eq!(*status, 200, "{:?}", String::from_utf8_lossy(body));
    }
    let d = s
        .client
        .describe_stream_summary()
        .stream_name("h2big")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.stream_description_summary().unwrap().stream_name(),
        "h2big"
    );
}

/// STS GetCallerIdentity, which the KPL calls to build stream ARNs, answered in STS's
/// XML for the signing key's account; other STS actions get InvalidAction.
#[tokio::test]
async fn sts_get_caller_identity_names_the_account() {
    let s = start_in_memory().await;
    let addr = addr_of(&s.endpoint);
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDKPL/20240102/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00";
    let call = |body: &'static str| {
        let head = format!(
            "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nX-Amz-Date: 20240102T030405Z\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n",
            body.len()
        );
        async move { raw(addr, &head, body.as_bytes()).await }
    };
    let r = call("Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    let xml = String::from_utf8(r.body).unwrap();
    assert!(xml.contains("<Account>000000000000</Account>"), "{xml}");
    assert!(xml.contains("<UserId>AKIDKPL</UserId>"), "{xml}");
    let r = call("Action=AssumeRole&Version=2011-06-15").await;
    assert_eq!(r.status, 400);
    assert!(String::from_utf8(r.body)
        .unwrap()
        .contains("<Code>InvalidAction</Code>"));
    s.running.stop().await.unwrap();
}
