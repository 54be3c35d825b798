//! The signature parser and verifier on attacker-chosen headers and query strings:
//! the input is split at its first two newlines into an Authorization header, a query
//! string and a body. Any panic is a finding; so is any request that verifies, since
//! the fuzzer cannot know the secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal::api::sigv4::{self, Keys};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let (auth, query, body) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let mut b = http::Request::post(format!("/?{query}"))
        .header("host", "127.0.0.1:4567")
        .header("x-amz-date", "20240102T030405Z")
        .header("x-amz-target", "Kinesis_20131202.ListStreams");
    if let Ok(v) = http::HeaderValue::from_bytes(auth) {
        b = b.header("authorization", v);
    }
    let Ok(req) = b.body(()) else {
        return;
    };
    let (parts, ()) = req.into_parts();
    let _shape = sigv4::params::parse(&parts.headers, parts.uri.query());
    let mut keys = Keys::default();
    keys.insert("AKID", "secret", "000000000000");
    let verified = sigv4::verify(&parts, body, 1_704_164_645, &keys, 900);
    assert!(verified.is_err(), "a signature nobody computed verified");
});
