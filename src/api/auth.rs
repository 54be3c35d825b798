//! Reading the caller's SigV4 credential scope: the region namespaces streams, and a
//! request without any signature is refused as AWS refuses it. (Verifying signatures
//! against configured secrets is a later step; any well-formed signature is accepted.)

use http::HeaderMap;

use super::error::ApiError;

/// Who signed the request and for which region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key: String,
    pub region: String,
}

/// Finds the credential scope in the `Authorization` header or, for presigned
/// requests, in the `X-Amz-Credential` query parameter.
pub fn credential_scope(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<CredentialScope, ApiError> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let presigned = query.and_then(|q| query_param(q, "X-Amz-Credential"));
    match (header, presigned) {
        (Some(_), Some(_)) => Err(ApiError::client(
            "InvalidSignatureException",
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
        )),
        (None, None) => Err(ApiError::client(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )),
        (None, Some(cred)) => parse_credential(&cred).ok_or_else(|| {
            ApiError::client(
                "IncompleteSignatureException",
                format!("X-Amz-Credential {cred} is not of the form <key>/<date>/<region>/kinesis/aws4_request."),
            )
        }),
        (Some(h), None) => from_header(h, headers),
    }
}

fn incomplete(what: &str, header: &str) -> ApiError {
    ApiError::client(
        "IncompleteSignatureException",
        format!("{what} Authorization={header}"),
    )
}

fn from_header(h: &str, headers: &HeaderMap) -> Result<CredentialScope, ApiError> {
    let params = h.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        incomplete(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm.",
            h,
        )
    })?;
    let mut credential = None;
    let (mut signed_headers, mut signature) = (false, false);
    for part in params.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if part.starts_with("SignedHeaders=") {
            signed_headers = true;
        } else if part.starts_with("Signature=") {
            signature = true;
        }
    }
    let credential = credential
        .ok_or_else(|| incomplete("Authorization header requires 'Credential' parameter.", h))?;
    if !signature {
        return Err(incomplete(
            "Authorization header requires 'Signature' parameter.",
            h,
        ));
    }
    if !signed_headers {
        return Err(incomplete(
            "Authorization header requires 'SignedHeaders' parameter.",
            h,
        ));
    }
    if !headers.contains_key("x-amz-date") && !headers.contains_key(http::header::DATE) {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            h,
        ));
    }
    parse_credential(credential).ok_or_else(|| {
        incomplete(
            "Authorization header requires a Credential of the form <key>/<date>/<region>/<service>/aws4_request.",
            h,
        )
    })
}

fn parse_credential(c: &str) -> Option<CredentialScope> {
    let mut parts = c.split('/');
    let access_key = parts.next().filter(|s| !s.is_empty())?;
    let _date = parts.next()?;
    let region = parts.next().filter(|s| !s.is_empty())?;
    let _service = parts.next()?;
    (parts.next()? == "aws4_request").then(|| CredentialScope {
        access_key: access_key.to_string(),
        region: region.to_string(),
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.replace("%2F", "/").replace("%2f", "/"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>, date: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        if date {
            h.insert("x-amz-date", "20240102T030405Z".parse().unwrap());
        }
        h
    }

    #[test]
    fn reads_region_from_the_scope() {
        let a = "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd";
        let s = credential_scope(&headers(Some(a), true), None).unwrap();
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.access_key, "AKID");
    }

    #[test]
    fn refuses_missing_and_incomplete_signatures() {
        let e = credential_scope(&headers(None, true), None).unwrap_err();
        assert_eq!(e.code, "MissingAuthenticationTokenException");
        let a = "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abcd";
        let e = credential_scope(&headers(Some(a), true), None).unwrap_err();
        assert_eq!(e.code, "IncompleteSignatureException");
        assert!(e.message.unwrap().contains("'Credential'"));
        let a = "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=abcd";
        let e = credential_scope(&headers(Some(a), false), None).unwrap_err();
        assert!(e.message.unwrap().contains("X-Amz-Date"));
    }

    #[test]
    fn accepts_presigned_queries() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240102%2Fap-south-1%2Fkinesis%2Faws4_request";
        assert_eq!(
            credential_scope(&headers(None, false), Some(q))
                .unwrap()
                .region,
            "ap-south-1"
        );
    }
}
