//! SigV4 verification, sans I/O: `verify` takes a request's parts, its raw body, the
//! time and the configured keys, and answers who signed it or AWS's error. The HTTP
//! pipeline (`api::auth`) decides whether to call it at all.

pub mod canonical;
pub mod params;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use hmac::Mac;

use self::canonical::{
    canonical_query, canonical_request, fold_value, format_amz_date, parse_amz_date,
    parse_http_date, sha256_hex, signing_key, string_to_sign, unhex, CanonicalParts, HmacSha256,
    ALGORITHM,
};
use self::params::Signed;
use crate::api::error::ApiError;

/// The service name every Kinesis signature is scoped to.
pub const SERVICE: &str = "kinesis";

/// Presigned URLs may live at most a week, as on AWS.
const MAX_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// Who signed a request: the access key, the account it acts in, and the region of
/// its credential scope (which namespaces streams together with the account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key: String,
    pub account: String,
    pub region: String,
}

/// One configured secret and the account its requests act in.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub secret: String,
    pub account: String,
}

/// Never print a secret, whoever debug-formats the configuration.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("secret", &"<redacted>")
            .field("account", &self.account)
            .finish()
    }
}

/// The configured access keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    by_id: HashMap<String, Key>,
}

impl Keys {
    pub fn insert(&mut self, access_key: &str, secret: &str, account: &str) {
        self.by_id.insert(
            access_key.to_string(),
            Key {
                secret: secret.to_string(),
                account: account.to_string(),
            },
        );
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn get(&self, access_key: &str) -> Option<&Key> {
        self.by_id.get(access_key)
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidSignatureException", message)
}

fn mismatch() -> ApiError {
    invalid(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

fn query_incomplete(param: &str) -> ApiError {
    ApiError::client(
        "IncompleteSignatureException",
        format!("AWS query-string parameters must include '{param}'. Re-examine the query-string parameters."),
    )
}

/// "N min." when the window is whole minutes, as AWS words it, else seconds.
fn window(secs: i64) -> String {
    if secs % 60 == 0 {
        format!("{} min.", secs / 60)
    } else {
        format!("{secs} sec.")
    }
}

/// Verifies a request per SigV4 (REFERENCE §3): header or presigned-query auth, the
/// date window, the credential scope, the payload hash, and the signature compared in
/// constant time. `now_secs` is Unix seconds; `max_skew_secs` the allowed clock skew.
pub fn verify(
    req: &http::request::Parts,
    body: &[u8],
    now_secs: i64,
    keys: &Keys,
    max_skew_secs: u64,
) -> Result<Caller, ApiError> {
    verify_for(SERVICE, req, body, now_secs, keys, max_skew_secs)
}

/// [`verify`] for a signature scoped to `service` (`sts` for the one STS call Shoal
/// answers).
pub fn verify_for(
    service: &str,
    req: &http::request::Parts,
    body: &[u8],
    now_secs: i64,
    keys: &Keys,
    max_skew_secs: u64,
) -> Result<Caller, ApiError> {
    let s = params::parse(&req.headers, req.uri.query())?;
    let amz_date = request_date(req, &s)?;
    let key = keys.get(&s.access_key).ok_or_else(|| {
        ApiError::client(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    })?;
    let t = parse_amz_date(&amz_date).ok_or_else(|| {
        ApiError::client(
            "IncompleteSignatureException",
            format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"),
        )
    })?;
    if s.service != service {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    if s.date != amz_date[..8] {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            s.date,
            &amz_date[..8]
        )));
    }
    check_time(&s, t, &amz_date, now_secs, max_skew_secs as i64)?;
    check_signed_headers(req, &s)?;

    let body_hash = sha256_hex(body);
    let payload_hash = match req.headers.get("x-amz-content-sha256") {
        Some(v) => v.to_str().unwrap_or("").to_string(),
        None => body_hash.clone(),
    };
    let skip = s.presigned.is_some().then_some("X-Amz-Signature");
    let canonical = canonical_request(&CanonicalParts {
        method: req.method.as_str(),
        path: req.uri.path(),
        canonical_query: canonical_query(req.uri.query(), skip),
        headers: signed_values(req, &s.signed_headers),
        payload_hash: &payload_hash,
    });
    let to_sign = string_to_sign(&amz_date, &s.scope(), &canonical);
    let k = signing_key(&key.secret, &s.date, &s.region, &s.service);
    let mut mac = HmacSha256::new_from_slice(&k).expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    let given = unhex(&s.signature).ok_or_else(mismatch)?;
    mac.verify_slice(&given).map_err(|_| mismatch())?;
    // The signature covers the declared hash; a body that does not match it was
    // swapped after signing.
    if !payload_hash.eq_ignore_ascii_case(&body_hash) {
        return Err(mismatch());
    }
    Ok(Caller {
        access_key: s.access_key,
        account: key.account.clone(),
        region: s.region,
    })
}

/// The signing time in ISO-8601 basic format: `X-Amz-Date` (query or header), else
/// the `Date` header converted.
fn request_date(req: &http::request::Parts, s: &Signed) -> Result<String, ApiError> {
    if let Some(p) = &s.presigned {
        match p.algorithm.as_deref() {
            None => return Err(query_incomplete("X-Amz-Algorithm")),
            Some(ALGORITHM) => {}
            Some(_) => {
                return Err(ApiError::client(
                    "IncompleteSignatureException",
                    "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
                ))
            }
        }
        if s.signed_headers.is_empty() {
            return Err(query_incomplete("X-Amz-SignedHeaders"));
        }
        if s.signature.is_empty() {
            return Err(query_incomplete("X-Amz-Signature"));
        }
        return p
            .amz_date
            .clone()
            .ok_or_else(|| query_incomplete("X-Amz-Date"));
    }
    let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(d) = header("x-amz-date") {
        return Ok(d.trim().to_string());
    }
    let d = header("date").unwrap_or("");
    Ok(parse_http_date(d)
        .map(format_amz_date)
        .unwrap_or_else(|| d.to_string()))
}

fn check_time(s: &Signed, t: i64, amz: &str, now: i64, skew: i64) -> Result<(), ApiError> {
    let fmt = format_amz_date;
    let expires = match s.presigned.as_ref().and_then(|p| p.expires.as_deref()) {
        Some(e) => Some(
            e.parse::<i64>()
                .ok()
                .filter(|e| (0..=MAX_EXPIRES_SECS).contains(e))
                .ok_or_else(|| {
                    invalid(format!(
                        "X-Amz-Expires must be a number of seconds from 0 to {MAX_EXPIRES_SECS}."
                    ))
                })?,
        ),
        None => None,
    };
    // A presigned request is good until its own expiry; a signed one for the window.
    let lifetime = expires.unwrap_or(skew);
    if t < now - lifetime {
        return Err(invalid(format!(
            "Signature expired: {amz} is now earlier than {} ({} - {})",
            fmt(now - lifetime),
            fmt(now),
            window(lifetime)
        )));
    }
    if t > now + skew {
        return Err(invalid(format!(
            "Signature not yet current: {amz} is still later than {} ({} + {})",
            fmt(now + skew),
            fmt(now),
            window(skew)
        )));
    }
    Ok(())
}

/// The headers a signature must cover when the request carries them: the ones that
/// choose the operation, the protocol, the time and the session. Without this rule a
/// signature made for one operation (or one host) would authorize any other.
const MUST_SIGN: &[(&str, &str)] = &[
    ("x-amz-target", "X-Amz-Target"),
    ("content-type", "Content-Type"),
    ("x-amz-date", "X-Amz-Date"),
    ("x-amz-security-token", "X-Amz-Security-Token"),
];

fn unsigned(header: &str) -> ApiError {
    ApiError::client(
        "IncompleteSignatureException",
        format!("'{header}' must be a 'SignedHeader' in the AWS Authorization."),
    )
}

/// Refuses a signature that leaves out `host` (or HTTP/2's `:authority`) or a header of
/// [`MUST_SIGN`] the request carries, as AWS does; a header-signed request dated by
/// `Date` must sign `date` too.
fn check_signed_headers(req: &http::request::Parts, s: &Signed) -> Result<(), ApiError> {
    let signs = |n: &str| s.signed_headers.iter().any(|h| h == n);
    if !signs("host") && !signs(":authority") {
        return Err(unsigned("Host' or ':authority"));
    }
    for (name, shown) in MUST_SIGN {
        if req.headers.contains_key(*name) && !signs(name) {
            return Err(unsigned(shown));
        }
    }
    let dated_by_date_header = s.presigned.is_none() && !req.headers.contains_key("x-amz-date");
    if dated_by_date_header && !signs("date") {
        return Err(unsigned("Date"));
    }
    Ok(())
}

/// The signed headers' values as SigV4 canonicalizes them. `host` and `:authority`
/// are the same thing: HTTP/1.1 sends a Host header, HTTP/2 an `:authority`
/// pseudo-header that hyper hands over as the URI's authority.
fn signed_values(req: &http::request::Parts, names: &[String]) -> Vec<(String, String)> {
    let authority = || {
        req.uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                let h = req.headers.get(http::header::HOST)?;
                Some(h.to_str().ok()?.to_string())
            })
    };
    names
        .iter()
        .map(|name| {
            let value = match name.as_str() {
                ":authority" => authority(),
                "host" => req
                    .headers
                    .get(http::header::HOST)
                    .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
                    .or_else(authority),
                n => {
                    let values: Vec<String> = req
                        .headers
                        .get_all(n)
                        .iter()
                        .map(|v| fold_value(&String::from_utf8_lossy(v.as_bytes())))
                        .collect();
                    Some(values.join(","))
                }
            };
            (name.clone(), fold_value(&value.unwrap_or_default()))
        })
        .collect()
}

/// What a client computes for a request: the `Authorization` header value signing
/// `signed_headers` (lower-case, sorted) with `secret`. For tests and tools; the
/// verifier never formats the expected signature.
pub fn authorization(
    req: &http::request::Parts,
    body: &[u8],
    access_key: &str,
    secret: &str,
    region: &str,
    amz_date: &str,
    signed_headers: &[&str],
) -> String {
    let key = signing_key(secret, &amz_date[..8], region, SERVICE);
    authorization_with_key(
        req,
        body,
        access_key,
        &key,
        region,
        amz_date,
        signed_headers,
    )
}

/// `authorization` with the day's signing key already derived (`signing_key`, four
/// HMACs that a client sending many requests computes once a day).
pub fn authorization_with_key(
    req: &http::request::Parts,
    body: &[u8],
    access_key: &str,
    signing_key: &[u8],
    region: &str,
    amz_date: &str,
    signed_headers: &[&str],
) -> String {
    let names: Vec<String> = signed_headers.iter().map(|n| n.to_string()).collect();
    let payload_hash = match req.headers.get("x-amz-content-sha256") {
        Some(v) => v.to_str().unwrap_or("").to_string(),
        None => sha256_hex(body),
    };
    let canonical = canonical_request(&CanonicalParts {
        method: req.method.as_str(),
        path: req.uri.path(),
        canonical_query: canonical_query(req.uri.query(), None),
        headers: signed_values(req, &names),
        payload_hash: &payload_hash,
    });
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{SERVICE}/aws4_request");
    let sig = canonical::signature(signing_key, &string_to_sign(amz_date, &scope, &canonical));
    format!(
        "{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={}, Signature={sig}",
        names.join(";")
    )
}
