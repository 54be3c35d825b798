//! The TLS listener: HTTP/2 (ALPN h2) and HTTP/1.1 round trips against the self-signed
//! certificate the server generates once and keeps in its data dir.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::common::*;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef";

/// A TLS connection trusting only `cert_pem`, offering `alpn`.
async fn connect(
    addr: std::net::SocketAddr,
    cert_pem: &[u8],
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake against the generated certificate")
}

fn request(op: &str, body: &'static str) -> http::Request<Full<Bytes>> {
    http::Request::post("https://localhost/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("Kinesis_20131202.{op}"))
        .header("x-amz-date", "20240102T030405Z")
        .header("authorization", AUTH)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

#[tokio::test]
async fn http2_over_tls_with_the_generated_certificate() {
    let s = start_with(true, |c| c.server.tls_port = Some(0)).await;
    let tls_addr = s.running.tls_addr.expect("a TLS listener");
    let cert_path = s.dir.as_ref().unwrap().path().join("tls/cert.pem");
    let cert = std::fs::read(&cert_path).expect("the certificate is kept in the data dir");

    let stream = connect(tls_addr, &cert, &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 over TLS");
    tokio::spawn(conn);
    let resp = sender
        .send_request(request(
            "CreateStream",
            r#"{"StreamName":"tls","ShardCount":1}"#,
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let resp = sender
        .send_request(request("ListStreams", "{}"))
        .await
        .unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["StreamNames"], serde_json::json!(["tls"]));

    // HTTP/1.1 by ALPN on the same port.
    let stream = connect(tls_addr, &cert, &[b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(request("ListStreams", "{}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The same certificate is served after a restart (generated once).
    let dir = s.dir;
    let config = test_config(dir.as_ref());
    s.running.stop().await.unwrap();
    let mut config = config;
    config.server.tls_port = Some(0);
    let again = shoal::server::spawn(config).await.unwrap();
    assert_eq!(std::fs::read(&cert_path).unwrap(), cert);
    connect(again.tls_addr.unwrap(), &cert, &[b"h2"]).await;
    again.stop().await.unwrap();
}

#[tokio::test]
async fn no_tls_listener_unless_configured() {
    let s = start().await;
    assert!(s.running.tls_addr.is_none());
    assert!(!s.dir.as_ref().unwrap().path().join("tls").exists());
    s.running.stop().await.unwrap();
}
