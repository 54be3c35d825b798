//! SigV4 for the one request the client sends (`POST /` with a JSON body and a fixed
//! set of headers), written straight from its parts. The general signer in
//! `api::sigv4` looks every header up in a map and took a fifth of the load tool's CPU,
//! which the server under test shares (docs/performance-history.md).

use std::sync::Mutex;

use super::{Credentials, Prepared};
use crate::api::sigv4::{
    canonical::{format_amz_date, sha256_hex, signature, signing_key, ALGORITHM},
    SERVICE,
};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Signs requests with one key for one endpoint and region.
pub struct Signer {
    credentials: Credentials,
    region: String,
    /// The SigV4 signing key and the day (`YYYYMMDD`) it is for.
    day_key: Mutex<Option<(String, Vec<u8>)>>,
}

/// The headers of one signed request, each as it goes on the wire.
pub struct SignedHead<'a> {
    pub host: &'a str,
    pub amz_date: String,
    pub target: String,
    pub sha256: &'a str,
    pub token: Option<&'a str>,
    pub authorization: String,
}

impl SignedHead<'_> {
    /// Every header, names in lower case.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("host", self.host),
            ("content-type", CONTENT_TYPE),
            ("x-amz-date", self.amz_date.as_str()),
            ("x-amz-target", self.target.as_str()),
            ("x-amz-content-sha256", self.sha256),
            ("authorization", self.authorization.as_str()),
        ]
        .into_iter()
        .chain(self.token.map(|t| ("x-amz-security-token", t)))
    }
}

impl Signer {
    pub fn new(credentials: Credentials, region: &str) -> Signer {
        Signer {
            credentials,
            region: region.to_string(),
            day_key: Mutex::new(None),
        }
    }

    /// The head of a request for `op` carrying `body` to `host`, signed at `secs`
    /// (seconds since the epoch).
    pub fn sign<'a>(
        &'a self,
        host: &'a str,
        op: &str,
        body: &'a Prepared,
        secs: i64,
    ) -> SignedHead<'a> {
        let amz_date = format_amz_date(secs);
        let target = format!("Kinesis_20131202.{op}");
        let token = self.credentials.session_token.as_deref();
        // Headers in the canonical order: sorted by name.
        let mut canonical = String::with_capacity(320 + host.len() + token.map_or(0, str::len));
        canonical.push_str("POST\n/\n\n");
        for (name, value) in [
            ("content-type", CONTENT_TYPE),
            ("host", host),
            ("x-amz-content-sha256", body.sha256.as_str()),
            ("x-amz-date", amz_date.as_str()),
        ]
        .into_iter()
        .chain(token.map(|t| ("x-amz-security-token", t)))
        .chain([("x-amz-target", target.as_str())])
        {
            canonical.push_str(name);
            canonical.push(':');
            canonical.push_str(value.trim());
            canonical.push('\n');
        }
        let names = if token.is_some() {
            "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target"
        } else {
            "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target"
        };
        canonical.push('\n');
        canonical.push_str(names);
        canonical.push('\n');
        canonical.push_str(&body.sha256);
        let day = &amz_date[..8];
        let scope = format!("{day}/{}/{SERVICE}/aws4_request", self.region);
        let to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let sig = signature(&self.key_for(day), &to_sign);
        let authorization = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={names}, Signature={sig}",
            self.credentials.access_key_id
        );
        SignedHead {
            host,
            amz_date,
            target,
            sha256: &body.sha256,
            token,
            authorization,
        }
    }

    /// The signing key for `day`, derived once a day rather than per request.
    fn key_for(&self, day: &str) -> Vec<u8> {
        let mut cached = self.day_key.lock().unwrap_or_else(|p| p.into_inner());
        match &*cached {
            Some((d, key)) if d == day => key.clone(),
            _ => {
                let key = signing_key(
                    &self.credentials.secret_access_key,
                    day,
                    &self.region,
                    SERVICE,
                );
                *cached = Some((day.to_string(), key.clone()));
                key
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::sigv4;

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(String::from),
        }
    }

    /// What the general signer, which the server's verifier is tested against, makes of
    /// the same request.
    fn general(head: &SignedHead<'_>, body: &Prepared, c: &Credentials) -> String {
        let mut req = http::Request::post("/");
        for (name, value) in head.headers().filter(|(n, _)| *n != "authorization") {
            req = req.header(name, value);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let mut names: Vec<&str> = head
            .headers()
            .map(|(n, _)| n)
            .filter(|n| *n != "authorization")
            .collect();
        names.sort_unstable();
        sigv4::authorization(
            &parts,
            &body.body,
            &c.access_key_id,
            &c.secret_access_key,
            "eu-west-1",
            &head.amz_date,
            &names,
        )
    }

    #[test]
    fn signs_as_the_general_signer_does() {
        let body =
            Prepared::new(br#"{"StreamName":"s","Data":"eA==","PartitionKey":"k"}"#.to_vec());
        for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
            let c = credentials(token);
            let signer = Signer::new(c.clone(), "eu-west-1");
            let head = signer.sign("127.0.0.1:4567", "PutRecord", &body, 1_765_000_000);
            assert_eq!(head.authorization, general(&head, &body, &c));
            assert_eq!(head.amz_date, "20251206T054640Z");
            assert_eq!(head.token, token);
        }
    }

    #[test]
    fn a_new_day_gets_a_new_key() {
        let body = Prepared::new(b"{}".to_vec());
        let c = credentials(None);
        let signer = Signer::new(c.clone(), "eu-west-1");
        let today = signer.sign("h", "ListStreams", &body, 1_765_000_000);
        let tomorrow = signer.sign("h", "ListStreams", &body, 1_765_000_000 + 86_400);
        assert_eq!(tomorrow.authorization, general(&tomorrow, &body, &c));
        assert_ne!(today.authorization, tomorrow.authorization);
    }
}
