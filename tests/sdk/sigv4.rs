//! Signature verification against a server with configured credentials: the real SDK
//! signs (HTTP/1.1), raw requests signed by `shoal::api::sigv4::authorization` cover
//! what the SDK cannot be made to do (stale dates, swapped bodies, HTTP/2 `:authority`).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::config::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use shoal::api::sigv4::{authorization, canonical::format_amz_date};
use shoal::config::CredentialConfig;
use tokio::net::TcpStream;

use crate::common::*;

const JSON: &str = "application/x-amz-json-1.1";

async fn start_verifying() -> TestServer {
    start_with(false, |c| {
        c.auth.credentials = vec![
            CredentialConfig::parse("AKIDALICE:alice-secret:111111111111").unwrap(),
            CredentialConfig::parse("AKIDBOB:bob/secret+:222222222222").unwrap(),
        ];
    })
    .await
}

fn as_key(s: &TestServer, key: &str, secret: &str, token: Option<&str>) -> aws_sdk_kinesis::Client {
    let creds = Credentials::new(key, secret, token.map(str::to_string), None, "test");
    client_with(&s.endpoint, "us-east-1", creds)
}

fn now_amz(offset_secs: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    format_amz_date(now + offset_secs)
}

struct Raw {
    status: u16,
    json: serde_json::Value,
}

/// A ListStreams-style request signed by the verifier's own helper; `sent_body` travels
/// instead of `signed_body` when they differ. `h2` sends it over HTTP/2 and signs
/// `:authority` the way JS v3 does.
async fn raw(
    addr: SocketAddr,
    amz_date: &str,
    signed_body: &str,
    sent_body: &str,
    h2: bool,
    authorize: bool,
) -> Raw {
    let uri = if h2 {
        format!("http://{addr}/")
    } else {
        "/".into()
    };
    let mut b = http::Request::post(uri)
        .header("content-type", JSON)
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .header("x-amz-date", amz_date);
    if !h2 {
        b = b.header("host", addr.to_string());
    }
    let (mut parts, ()) = b.body(()).unwrap().into_parts();
    let host = if h2 { ":authority" } else { "host" };
    let names = ["content-type", host, "x-amz-date", "x-amz-target"];
    if authorize {
        let auth = authorization(
            &parts,
            signed_body.as_bytes(),
            "AKIDALICE",
            "alice-secret",
            "us-east-1",
            amz_date,
            &names,
        );
        parts.headers.insert("authorization", auth.parse().unwrap());
    }
    let req = http::Request::from_parts(parts, Full::new(Bytes::from(sent_body.to_string())));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let resp = if h2 {
        let (mut tx, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        tx.send_request(req).await.unwrap()
    } else {
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        tx.send_request(req).await.unwrap()
    };
    assert_eq!(
        resp.version(),
        if h2 {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        }
    );
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Raw {
        status,
        json: serde_json::from_slice(&bytes).unwrap(),
    }
}

#[tokio::test]
async fn the_sdk_signature_verifies_and_wrong_or_unknown_keys_are_refused() {
    let s = start_verifying().await;
    let alice = as_key(&s, "AKIDALICE", "alice-secret", None);
    create_active(&alice, "orders", 1).await;
    let names = alice.list_streams().send().await.unwrap();
    assert_eq!(names.stream_names(), ["orders"]);
    // Temporary credentials act as the key that signed them.
    let temp = as_key(&s, "AKIDALICE", "alice-secret", Some("session-token"));
    assert_eq!(
        temp.list_streams().send().await.unwrap().stream_names(),
        ["orders"]
    );

    let wrong = as_key(&s, "AKIDALICE", "not-alices-secret", None);
    let e = wrong.list_streams().send().await.unwrap_err();
    assert_eq!(code(&e), "InvalidSignatureException");
    assert!(message(&e).starts_with("The request signature we calculated does not match"));
    assert!(!message(&e).contains("secret"));
    let unknown = as_key(&s, "AKIDMALLORY", "whatever", None);
    let e = unknown.list_streams().send().await.unwrap_err();
    assert_eq!(code(&e), "UnrecognizedClientException");
    assert_eq!(
        message(&e),
        "The security token included in the request is invalid."
    );
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn keys_with_different_accounts_see_different_streams() {
    let s = start_verifying().await;
    let alice = as_key(&s, "AKIDALICE", "alice-secret", None);
    let bob = as_key(&s, "AKIDBOB", "bob/secret+", None);
    create_active(&alice, "shared-name", 1).await;
    create_active(&alice, "alice-only", 1).await;
    assert!(bob
        .list_streams()
        .send()
        .await
        .unwrap()
        .stream_names()
        .is_empty());
    let e = bob
        .describe_stream_summary()
        .stream_name("alice-only")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    assert!(message(&e).contains("222222222222"), "{}", message(&e));
    create_active(&bob, "shared-name", 1).await;
    let arn = |c: aws_sdk_kinesis::Client| async move {
        c.describe_stream_summary()
            .stream_name("shared-name")
            .send()
            .await
            .unwrap()
            .stream_description_summary()
            .unwrap()
            .stream_arn()
            .to_string()
    };
    assert_eq!(
        arn(alice.clone()).await,
        "arn:aws:kinesis:us-east-1:111111111111:stream/shared-name"
    );
    assert_eq!(
        arn(bob.clone()).await,
        "arn:aws:kinesis:us-east-1:222222222222:stream/shared-name"
    );
    // Alice's ARN names Alice's account: without a resource policy allowing him, Bob
    // cannot reach her stream through it (as on AWS: AccessDenied).
    let alice_arn = arn(alice.clone()).await;
    let e = bob
        .describe_stream_summary()
        .stream_arn(&alice_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDeniedException");
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn raw_requests_over_http1_and_http2() {
    let s = start_verifying().await;
    let addr = s.running.addr;
    let ok = raw(addr, &now_amz(0), "{}", "{}", false, true).await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    // JS v3 over HTTP/2 signs :authority instead of host.
    let h2 = raw(addr, &now_amz(0), "{}", "{}", true, true).await;
    assert_eq!(h2.status, 200, "{}", h2.json);
    assert!(h2.json["StreamNames"].is_array());

    let stale = raw(addr, &now_amz(-20 * 60), "{}", "{}", false, true).await;
    assert_eq!(stale.status, 400);
    assert_eq!(stale.json["__type"], "InvalidSignatureException");
    let msg = stale.json["message"].as_str().unwrap();
    assert!(msg.starts_with("Signature expired: "), "{msg}");
    assert!(msg.ends_with(" - 15 min.)"), "{msg}");

    let tampered = raw(addr, &now_amz(0), "{}", r#"{"Limit":1}"#, false, true).await;
    assert_eq!(tampered.status, 400);
    assert_eq!(tampered.json["__type"], "InvalidSignatureException");

    let missing = raw(addr, &now_amz(0), "{}", "{}", true, false).await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json["__type"],
        "MissingAuthenticationTokenException"
    );
    assert_eq!(missing.json["message"], "Missing Authentication Token");
    s.running.stop().await.unwrap();
}
