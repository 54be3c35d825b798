//! Who is calling: with configured credentials every request's SigV4 signature is
//! verified (`sigv4::verify`); without, any well-formed signature is accepted and only
//! its region is read, which is what most local users want. Either way a request
//! without a signature is refused as AWS refuses it.

use super::error::ApiError;
use super::sigv4::{self, Caller, Keys};

/// The api layer's authentication settings.
#[derive(Debug, Clone)]
pub struct Authenticator {
    /// Empty: accept any well-formed signature.
    pub keys: Keys,
    /// The account of unverified callers.
    pub default_account: String,
    /// How far `X-Amz-Date` may be from the server's clock, either way.
    pub max_clock_skew_secs: u64,
    /// The regions a credential scope may name; empty: any.
    pub regions: Vec<String>,
    /// Take console and metrics logins in clear text from other machines too.
    pub basic_login_over_cleartext: bool,
}

impl Authenticator {
    /// Accepts any signature, acting in `default_account`.
    pub fn accept_any(default_account: &str) -> Authenticator {
        Authenticator {
            keys: Keys::default(),
            default_account: default_account.to_string(),
            max_clock_skew_secs: 900,
            regions: Vec::new(),
            basic_login_over_cleartext: false,
        }
    }

    pub fn verifies(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The caller of a request whose body has been read whole; `now_ms` is the
    /// server's clock.
    pub fn authenticate(
        &self,
        req: &http::request::Parts,
        body: &[u8],
        now_ms: i64,
    ) -> Result<Caller, ApiError> {
        self.authenticate_for(sigv4::SERVICE, req, body, now_ms)
    }

    /// [`Authenticator::authenticate`] for a signature scoped to `service`.
    pub fn authenticate_for(
        &self,
        service: &str,
        req: &http::request::Parts,
        body: &[u8],
        now_ms: i64,
    ) -> Result<Caller, ApiError> {
        let caller = if self.verifies() {
            sigv4::verify_for(
                service,
                req,
                body,
                now_ms.div_euclid(1000),
                &self.keys,
                self.max_clock_skew_secs,
            )?
        } else {
            let s = sigv4::params::parse(&req.headers, req.uri.query())?;
            Caller {
                access_key: s.access_key,
                account: self.default_account.clone(),
                region: s.region,
            }
        };
        self.check_region(&caller.region)?;
        Ok(caller)
    }

    /// A region outside the configured set (or no region name at all: it becomes part
    /// of ARNs) is refused as AWS refuses a scope for another region's endpoint.
    fn check_region(&self, region: &str) -> Result<(), ApiError> {
        let known = self.regions.is_empty() || self.regions.iter().any(|r| r == region);
        if known && crate::config::is_region_name(region) {
            return Ok(());
        }
        let shown: String = region.chars().take(64).collect();
        Err(ApiError::client(
            "InvalidSignatureException",
            format!("Credential should be scoped to a valid region, not '{shown}'. "),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: &str) -> http::request::Parts {
        let req = http::Request::post("/")
            .header("host", "h")
            .header("x-amz-date", "20240102T030405Z")
            .header("authorization", auth)
            .body(())
            .unwrap();
        req.into_parts().0
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
    const NOW_MS: i64 = 1_704_164_645_000; // 20240102T030405Z

    #[test]
    fn without_keys_any_signature_acts_in_the_default_account() {
        let a = Authenticator::accept_any("000000000000");
        assert!(!a.verifies());
        let c = a.authenticate(&request(AUTH), b"{}", NOW_MS).unwrap();
        assert_eq!(
            (c.account.as_str(), c.region.as_str()),
            ("000000000000", "eu-west-1")
        );
    }

    #[test]
    fn with_keys_signatures_are_verified() {
        let mut a = Authenticator::accept_any("000000000000");
        a.keys.insert("AKID", "secret", "111111111111");
        assert!(a.verifies());
        let e = a.authenticate(&request(AUTH), b"{}", NOW_MS).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        let mut req = request(AUTH);
        let good = sigv4::authorization(
            &req,
            b"{}",
            "AKID",
            "secret",
            "eu-west-1",
            "20240102T030405Z",
            &["host", "x-amz-date"],
        );
        req.headers.insert("authorization", good.parse().unwrap());
        let c = a.authenticate(&req, b"{}", NOW_MS).unwrap();
        assert_eq!(c.account, "111111111111");
    }

    #[test]
    fn only_configured_regions_are_accepted() {
        let mut a = Authenticator::accept_any("000000000000");
        a.regions = vec!["us-east-1".into()];
        let e = a.authenticate(&request(AUTH), b"{}", NOW_MS).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        assert_eq!(
            e.message.unwrap(),
            "Credential should be scoped to a valid region, not 'eu-west-1'. "
        );
        a.regions.push("eu-west-1".into());
        assert!(a.authenticate(&request(AUTH), b"{}", NOW_MS).is_ok());
        // Any region, but a name that could not appear in an ARN is no region.
        let odd = AUTH.replace("eu-west-1", "eu:west");
        let e = Authenticator::accept_any("000000000000")
            .authenticate(&request(&odd), b"{}", NOW_MS)
            .unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
    }
}
