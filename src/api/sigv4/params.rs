//! Reading a SigV4 signature off a request: the `Authorization` header or, for
//! presigned requests, the `X-Amz-*` query parameters. Shape errors are answered here
//! with AWS's wording, before anything is verified.

use http::HeaderMap;

use crate::api::error::ApiError;

/// The signature's parts as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub access_key: String,
    /// The credential scope: `<date>/<region>/<service>/aws4_request`.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-case names in the client's (sorted) order; empty only for a presigned
    /// request that omitted them (refused when verifying, ignored otherwise).
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// Present for query (presigned) authentication.
    pub presigned: Option<Presigned>,
}

/// The query parameters a presigned request carries besides the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub algorithm: Option<String>,
    pub amz_date: Option<String>,
    pub expires: Option<String>,
}

impl Signed {
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Finds the signature in the `Authorization` header or in the query.
pub fn parse(headers: &HeaderMap, query: Option<&str>) -> Result<Signed, ApiError> {
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
        (None, Some(cred)) => from_query(&cred, query.unwrap_or("")),
        (Some(h), None) => from_header(h, headers),
    }
}

fn from_query(cred: &str, q: &str) -> Result<Signed, ApiError> {
    let mut s = parse_credential(cred).ok_or_else(|| {
        ApiError::client(
            "IncompleteSignatureException",
            format!("X-Amz-Credential {cred} is not of the form <key>/<date>/<region>/kinesis/aws4_request."),
        )
    })?;
    s.signed_headers = query_param(q, "X-Amz-SignedHeaders")
        .map(|h| split_names(&h))
        .unwrap_or_default();
    s.signature = query_param(q, "X-Amz-Signature").unwrap_or_default();
    s.presigned = Some(Presigned {
        algorithm: query_param(q, "X-Amz-Algorithm"),
        amz_date: query_param(q, "X-Amz-Date"),
        expires: query_param(q, "X-Amz-Expires"),
    });
    Ok(s)
}

fn incomplete(what: &str, header: &str) -> ApiError {
    ApiError::client(
        "IncompleteSignatureException",
        format!("{what} Authorization={header}"),
    )
}

fn from_header(h: &str, headers: &HeaderMap) -> Result<Signed, ApiError> {
    let params = h.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        incomplete(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm.",
            h,
        )
    })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in params.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential
        .ok_or_else(|| incomplete("Authorization header requires 'Credential' parameter.", h))?;
    let signature = signature
        .ok_or_else(|| incomplete("Authorization header requires 'Signature' parameter.", h))?;
    let signed_headers = signed_headers.ok_or_else(|| {
        incomplete(
            "Authorization header requires 'SignedHeaders' parameter.",
            h,
        )
    })?;
    if !headers.contains_key("x-amz-date") && !headers.contains_key(http::header::DATE) {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            h,
        ));
    }
    let mut s = parse_credential(credential).ok_or_else(|| {
        incomplete(
            "Authorization header requires a Credential of the form <key>/<date>/<region>/<service>/aws4_request.",
            h,
        )
    })?;
    s.signed_headers = split_names(signed_headers);
    s.signature = signature.to_string();
    Ok(s)
}

fn split_names(h: &str) -> Vec<String> {
    h.split(';')
        .filter(|n| !n.is_empty())
        .map(|n| n.trim().to_ascii_lowercase())
        .collect()
}

fn parse_credential(c: &str) -> Option<Signed> {
    let mut parts = c.split('/');
    let access_key = parts.next().filter(|s| !s.is_empty())?;
    let date = parts.next()?;
    let region = parts.next().filter(|s| !s.is_empty())?;
    let service = parts.next()?;
    (parts.next()? == "aws4_request" && parts.next().is_none()).then(|| Signed {
        access_key: access_key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: Vec::new(),
        signature: String::new(),
        presigned: None,
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    super::canonical::query_pairs(query)
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
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
    fn reads_the_scope_and_signed_headers() {
        let a = "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd";
        let s = parse(&headers(Some(a), true), None).unwrap();
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.access_key, "AKID");
        assert_eq!(s.scope(), "20240102/eu-west-1/kinesis/aws4_request");
        assert_eq!(s.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(s.signature, "abcd");
    }

    #[test]
    fn refuses_missing_and_incomplete_signatures() {
        let e = parse(&headers(None, true), None).unwrap_err();
        assert_eq!(e.code, "MissingAuthenticationTokenException");
        let a = "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abcd";
        let e = parse(&headers(Some(a), true), None).unwrap_err();
        assert_eq!(e.code, "IncompleteSignatureException");
        assert!(e.message.unwrap().contains("'Credential'"));
        let a = "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=abcd";
        let e = parse(&headers(Some(a), false), None).unwrap_err();
        assert!(e.message.unwrap().contains("X-Amz-Date"));
        let e = parse(&headers(Some(a), true), Some("X-Amz-Credential=A%2Fb")).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
    }

    #[test]
    fn accepts_presigned_queries() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240102%2Fap-south-1%2Fkinesis%2Faws4_request&X-Amz-SignedHeaders=host&X-Amz-Signature=ab";
        let s = parse(&headers(None, false), Some(q)).unwrap();
        assert_eq!(s.region, "ap-south-1");
        assert_eq!(s.signed_headers, ["host"]);
        assert_eq!(s.signature, "ab");
        assert_eq!(
            s.presigned.unwrap().algorithm.as_deref(),
            Some("AWS4-HMAC-SHA256")
        );
    }
}
