//! The verifier against AWS's published SigV4 test-suite vectors (the expected
//! signatures were re-derived with an independent Python `hmac`/`hashlib` script and
//! match AWS's), then each way a Kinesis request can fail.

use super::canonical::*;
use super::*;

const VECTOR_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const VECTOR_DATE: &str = "20150830T123600Z";

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// Signs a test-suite request for the suite's service name, `service`.
fn vector_signature(req: &http::request::Parts, names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cr = canonical_request(&CanonicalParts {
        method: req.method.as_str(),
        path: req.uri.path(),
        canonical_query: canonical_query(req.uri.query(), None),
        headers: signed_values(req, &names),
        payload_hash: &sha256_hex(b""),
    });
    let sts = string_to_sign(VECTOR_DATE, "20150830/us-east-1/service/aws4_request", &cr);
    signature(
        &signing_key(VECTOR_SECRET, "20150830", "us-east-1", "service"),
        &sts,
    )
}

const HOST: (&str, &str) = ("host", "example.amazonaws.com");
const DATE: (&str, &str) = ("x-amz-date", VECTOR_DATE);

#[test]
fn aws_test_suite_vectors() {
    let get = parts("GET", "/", &[HOST, DATE]);
    assert_eq!(
        vector_signature(&get, &["host", "x-amz-date"]),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    let post = parts("POST", "/", &[HOST, DATE]);
    assert_eq!(
        vector_signature(&post, &["host", "x-amz-date"]),
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    );
    // get-vanilla-query-order-key-case: parameters are sorted.
    let q = parts("GET", "/?Param2=value2&Param1=value1", &[HOST, DATE]);
    assert_eq!(
        vector_signature(&q, &["host", "x-amz-date"]),
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    );
    // get-header-value-trim: values trimmed, inner whitespace folded (quotes or not).
    let trim = parts(
        "GET",
        "/",
        &[
            HOST,
            ("my-header1", " value1"),
            ("my-header2", "\"a   b   c\""),
            DATE,
        ],
    );
    assert_eq!(
        vector_signature(&trim, &["host", "my-header1", "my-header2", "x-amz-date"]),
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
    );
}

#[test]
fn canonical_helpers() {
    assert_eq!(uri_encode("a b/c~*", false), "a%20b%2Fc~%2A");
    assert_eq!(uri_encode("a b/c", true), "a%20b/c");
    assert_eq!(canonical_path("/a/./b/../c//"), "/a/c/");
    assert_eq!(canonical_path("/ex%20ample"), "/ex%2520ample");
    assert_eq!(canonical_path(""), "/");
    assert_eq!(percent_decode("a%2Fb%2fc%zz%"), "a/b/c%zz%");
    assert_eq!(
        canonical_query(Some("b=2&a=x%20y&a=1"), None),
        "a=1&a=x%20y&b=2"
    );
    assert_eq!(fold_value("  a \t b  "), "a b");
    assert_eq!(unhex("0aFf"), Some(vec![10, 255]));
    assert_eq!(unhex("0g"), None);
    assert_eq!(parse_amz_date(VECTOR_DATE), Some(1440938160));
    assert_eq!(format_amz_date(1440938160), VECTOR_DATE);
    assert_eq!(
        parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
        Some(1440938160)
    );
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
    assert_eq!(format_amz_date(951782400), "20000229T000000Z");
}

const BODY: &[u8] = br#"{"StreamName":"s"}"#;
const AMZ: &str = "20240102T030405Z";
const SIGNED: &str = "content-type;host;x-amz-date;x-amz-target";
/// Computed by the independent Python script for BODY, AMZ, key AKID / `secret`.
const PY_SIG: &str = "2c99f31341c5833a3b9659b459379d6d8ed21c5030f7b318527326a65551360c";

fn now() -> i64 {
    parse_amz_date(AMZ).unwrap()
}

fn keys() -> Keys {
    let mut k = Keys::default();
    k.insert("AKID", "secret", "111111111111");
    k
}

fn kinesis_request(auth: &str, extra: &[(&str, &str)]) -> http::request::Parts {
    let mut h = vec![
        ("content-type", "application/x-amz-json-1.1"),
        ("host", "127.0.0.1:4567"),
        ("x-amz-date", AMZ),
        ("x-amz-target", "Kinesis_20131202.ListStreams"),
        ("authorization", auth),
    ];
    h.extend_from_slice(extra);
    parts("POST", "/", &h)
}

fn header(key: &str, sig: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={key}/20240102/eu-west-1/kinesis/aws4_request, SignedHeaders={SIGNED}, Signature={sig}")
}

fn err(r: Result<Caller, ApiError>) -> (String, String) {
    let e = r.unwrap_err();
    (e.code.to_string(), e.message.unwrap_or_default())
}

#[test]
fn a_correct_signature_names_the_caller() {
    let req = kinesis_request(&header("AKID", PY_SIG), &[]);
    let caller = verify(&req, BODY, now(), &keys(), 900).unwrap();
    assert_eq!(
        caller,
        Caller {
            access_key: "AKID".into(),
            account: "111111111111".into(),
            region: "eu-west-1".into()
        }
    );
    // The signing helper agrees with the independent script.
    let names: Vec<&str> = SIGNED.split(';').collect();
    let a = authorization(&req, BODY, "AKID", "secret", "eu-west-1", AMZ, &names);
    assert_eq!(a, header("AKID", PY_SIG));
    // Any time inside the window, either way.
    assert!(verify(&req, BODY, now() + 899, &keys(), 900).is_ok());
    assert!(verify(&req, BODY, now() - 899, &keys(), 900).is_ok());
}

#[test]
fn each_failure_gets_the_aws_code() {
    let good = kinesis_request(&header("AKID", PY_SIG), &[]);
    let (code, msg) = err(verify(&good, b"{}", now(), &keys(), 900));
    assert_eq!(code, "InvalidSignatureException");
    assert!(msg.starts_with("The request signature we calculated does not match"));
    let mut other = Keys::default();
    other.insert("AKID", "not-the-secret", "111111111111");
    let (code, msg) = err(verify(&good, BODY, now(), &other, 900));
    assert_eq!(code, "InvalidSignatureException");
    assert!(!msg.contains("not-the-secret") && !msg.contains(PY_SIG));
    let unknown = kinesis_request(&header("NOPE", PY_SIG), &[]);
    assert_eq!(
        err(verify(&unknown, BODY, now(), &keys(), 900)),
        (
            "UnrecognizedClientException".into(),
            "The security token included in the request is invalid.".into()
        )
    );
    let (code, msg) = err(verify(&good, BODY, now() + 1200, &keys(), 900));
    assert_eq!(code, "InvalidSignatureException");
    assert_eq!(msg, "Signature expired: 20240102T030405Z is now earlier than 20240102T030905Z (20240102T032405Z - 15 min.)");
    let (_, msg) = err(verify(&good, BODY, now() - 1200, &keys(), 900));
    assert!(msg.starts_with("Signature not yet current: 20240102T030405Z is still later than"));
    let bad_hex = kinesis_request(&header("AKID", "zz"), &[]);
    assert_eq!(
        err(verify(&bad_hex, BODY, now(), &keys(), 900)).0,
        "InvalidSignatureException"
    );
    let none = parts("POST", "/", &[("x-amz-date", AMZ)]);
    assert_eq!(
        err(verify(&none, BODY, now(), &keys(), 900)).0,
        "MissingAuthenticationTokenException"
    );
    let a =
        "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/kinesis/aws4_request, Signature=ab";
    assert_eq!(
        err(verify(&kinesis_request(a, &[]), BODY, now(), &keys(), 900)).0,
        "IncompleteSignatureException"
    );
}

#[test]
fn the_scope_must_match_the_date_and_service() {
    let a = "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab";
    let (code, msg) = err(verify(&kinesis_request(a, &[]), BODY, now(), &keys(), 900));
    assert_eq!(code, "InvalidSignatureException");
    assert!(msg.contains("'20240101' != '20240102'"), "{msg}");
    let a = "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab";
    let (_, msg) = err(verify(&kinesis_request(a, &[]), BODY, now(), &keys(), 900));
    assert!(msg.contains("correct service: 'kinesis'"));
}

/// Signs `req` with the helper and returns it with its Authorization header.
fn signed(mut req: http::request::Parts, body: &[u8], names: &[&str]) -> http::request::Parts {
    let a = authorization(&req, body, "AKID", "secret", "us-east-1", AMZ, names);
    req.headers.insert("authorization", a.parse().unwrap());
    req
}

#[test]
fn payload_hash_header_must_match_the_body() {
    let names = ["host", "x-amz-content-sha256", "x-amz-date"];
    let sha = sha256_hex(BODY);
    let base = |sha: &str| {
        parts(
            "POST",
            "/",
            &[
                ("host", "h"),
                ("x-amz-date", AMZ),
                ("x-amz-content-sha256", sha),
            ],
        )
    };
    let ok = signed(base(&sha), BODY, &names);
    assert!(verify(&ok, BODY, now(), &keys(), 900).is_ok());
    // Signed honestly over the declared hash, but another body travels with it.
    assert_eq!(
        err(verify(&ok, b"{\"x\":1}", now(), &keys(), 900)).0,
        "InvalidSignatureException"
    );
    let lying = signed(base(&sha256_hex(b"{}")), BODY, &names);
    assert_eq!(
        err(verify(&lying, BODY, now(), &keys(), 900)).0,
        "InvalidSignatureException"
    );
}

#[test]
fn http2_authority_multiple_values_date_header_and_session_tokens() {
    // hyper hands HTTP/2's :authority over as the URI authority, with no Host header.
    let h2 = parts(
        "POST",
        "http://127.0.0.1:4567/",
        &[("x-amz-date", AMZ), ("x-amz-security-token", "tok")],
    );
    let h2 = signed(
        h2,
        BODY,
        &[":authority", "x-amz-date", "x-amz-security-token"],
    );
    assert!(verify(&h2, BODY, now(), &keys(), 900).is_ok());
    let multi = parts(
        "POST",
        "/",
        &[
            ("host", "h"),
            ("x-amz-date", AMZ),
            ("x-a", " 1  2 "),
            ("x-a", "3"),
        ],
    );
    let mut multi = signed(multi, BODY, &["host", "x-a", "x-amz-date"]);
    assert_eq!(signed_values(&multi, &["x-a".into()])[0].1, "1 2,3");
    assert!(verify(&multi, BODY, now(), &keys(), 900).is_ok());
    multi.headers.append("x-a", "4".parse().unwrap());
    assert!(verify(&multi, BODY, now(), &keys(), 900).is_err());
    let dated = parts(
        "POST",
        "/",
        &[("host", "h"), ("date", "Tue, 02 Jan 2024 03:04:05 GMT")],
    );
    let dated = signed(dated, BODY, &["date", "host"]);
    assert!(verify(&dated, BODY, now(), &keys(), 900).is_ok());
}

fn presigned_uri(query_without_signature: &str, amz: &str) -> String {
    let req = parts(
        "POST",
        &format!("/?{query_without_signature}"),
        &[("host", "h")],
    );
    let cr = canonical_request(&CanonicalParts {
        method: "POST",
        path: "/",
        canonical_query: canonical_query(req.uri.query(), None),
        headers: signed_values(&req, &["host".into()]),
        payload_hash: &sha256_hex(BODY),
    });
    let scope = format!("{}/us-east-1/kinesis/aws4_request", &amz[..8]);
    let sig = signature(
        &signing_key("secret", &amz[..8], "us-east-1", "kinesis"),
        &string_to_sign(amz, &scope, &cr),
    );
    format!("/?{query_without_signature}&X-Amz-Signature={sig}")
}

#[test]
fn presigned_queries_verify_and_expire() {
    let q = format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240102%2Fus-east-1%2Fkinesis%2Faws4_request&X-Amz-Date={AMZ}&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok");
    let req = parts("POST", &presigned_uri(&q, AMZ), &[("host", "h")]);
    let caller = verify(&req, BODY, now() + 299, &keys(), 900).unwrap();
    assert_eq!(caller.region, "us-east-1");
    let (_, msg) = err(verify(&req, BODY, now() + 301, &keys(), 900));
    assert!(msg.starts_with("Signature expired"), "{msg}");
    let no_sig = parts("POST", &format!("/?{q}"), &[("host", "h")]);
    let (code, msg) = err(verify(&no_sig, BODY, now(), &keys(), 900));
    assert_eq!(code, "IncompleteSignatureException");
    assert!(msg.contains("'X-Amz-Signature'"));
    let moved = parts(
        "POST",
        &presigned_uri(&q, AMZ).replace("host", "date"),
        &[("host", "h")],
    );
    assert!(verify(&moved, BODY, now(), &keys(), 900).is_err());
}

#[test]
fn a_signature_must_cover_the_host_and_every_header_that_steers_the_request() {
    let request = || {
        parts(
            "POST",
            "/",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("host", "h"),
                ("x-amz-date", AMZ),
                ("x-amz-target", "Kinesis_20131202.DescribeStreamSummary"),
                ("x-amz-security-token", "tok"),
            ],
        )
    };
    let all = [
        "content-type",
        "host",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-target",
    ];
    assert!(verify(&signed(request(), BODY, &all), BODY, now(), &keys(), 900).is_ok());
    for (left_out, named) in [
        ("host", "'Host' or ':authority'"),
        ("x-amz-target", "'X-Amz-Target'"),
        ("content-type", "'Content-Type'"),
        ("x-amz-date", "'X-Amz-Date'"),
        ("x-amz-security-token", "'X-Amz-Security-Token'"),
    ] {
        let names: Vec<&str> = all.iter().copied().filter(|n| *n != left_out).collect();
        let (code, msg) = err(verify(
            &signed(request(), BODY, &names),
            BODY,
            now(),
            &keys(),
            900,
        ));
        assert_eq!(code, "IncompleteSignatureException", "{left_out}");
        assert_eq!(
            msg,
            format!("{named} must be a 'SignedHeader' in the AWS Authorization.")
        );
    }
    // A Date-dated request signs `date`.
    let dated = parts(
        "POST",
        "/",
        &[("host", "h"), ("date", "Tue, 02 Jan 2024 03:04:05 GMT")],
    );
    let (_, msg) = err(verify(
        &signed(dated, BODY, &["host"]),
        BODY,
        now(),
        &keys(),
        900,
    ));
    assert!(msg.starts_with("'Date' must be"), "{msg}");
    // A presigned URL signed for `host` alone cannot carry an operation header.
    let q = format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240102%2Fus-east-1%2Fkinesis%2Faws4_request&X-Amz-Date={AMZ}&X-Amz-Expires=300&X-Amz-SignedHeaders=host");
    let mut req = parts("POST", &presigned_uri(&q, AMZ), &[("host", "h")]);
    assert!(verify(&req, BODY, now(), &keys(), 900).is_ok());
    req.headers.insert(
        "x-amz-target",
        "Kinesis_20131202.DeleteStream".parse().unwrap(),
    );
    let (_, msg) = err(verify(&req, BODY, now(), &keys(), 900));
    assert!(msg.starts_with("'X-Amz-Target' must be"), "{msg}");
}
