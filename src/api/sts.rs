//! STS `GetCallerIdentity`, the one STS call Kinesis clients make: the KPL asks it for
//! the caller's account to build stream ARNs, and stops if it gets no answer. It comes
//! as an AWS Query request (`Action=GetCallerIdentity`, form-encoded, signed for the
//! `sts` service) to whatever STS endpoint the client is given; pointed at Shoal, it is
//! answered here in STS's XML, for the account of the key that signed it. Any other
//! STS action gets STS's `InvalidAction`.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode};

use super::budget::Held;
use super::error::ApiError;
use super::http::ApiState;
use super::transport::Progress;

/// Whether a request is an AWS Query (form-encoded) request, as STS's are; Kinesis
/// requests never are.
pub fn is_query(method: &http::Method, headers: &http::HeaderMap) -> bool {
    method == http::Method::POST
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Answers one STS Query request whose head is `parts`.
pub async fn answer(
    state: &ApiState,
    held: &mut Held,
    progress: Option<&Progress>,
    parts: http::request::Parts,
    body: Body,
    request_id: &str,
) -> Response {
    match caller_identity(state, held, progress, &parts, body).await {
        Ok((account, access_key)) => xml(
            StatusCode::OK,
            &format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <GetCallerIdentityResult><Arn>arn:aws:iam::{account}:user/{access_key}</Arn>\
                 <UserId>{access_key}</UserId><Account>{account}</Account>\
                 </GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId>\
                 </ResponseMetadata></GetCallerIdentityResponse>"
            ),
        ),
        Err(e) => xml(
            e.status,
            &format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
                 <Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error>\
                 <RequestId>{request_id}</RequestId></ErrorResponse>",
                e.code,
                escape(e.message.as_deref().unwrap_or(""))
            ),
        ),
    }
}

/// The account and access key of a signed `GetCallerIdentity`.
async fn caller_identity(
    state: &ApiState,
    held: &mut Held,
    progress: Option<&Progress>,
    parts: &http::request::Parts,
    body: Body,
) -> Result<(String, String), ApiError> {
    let bytes = super::body::read_body(state, held, progress, body).await?;
    let form = std::str::from_utf8(&bytes).unwrap_or("");
    let action = super::sigv4::canonical::query_pairs(form)
        .into_iter()
        .find_map(|(k, v)| (k == "Action").then_some(v));
    if action.as_deref() != Some("GetCallerIdentity") {
        let shown: String = action.unwrap_or_default().chars().take(64).collect();
        return Err(ApiError::client(
            "InvalidAction",
            format!("Could not find operation {shown} for version 2011-06-15"),
        ));
    }
    let broker = state.broker()?;
    let caller = state
        .config
        .auth
        .authenticate_for("sts", parts, &bytes, broker.now_ms())?;
    Ok((caller.account, escape(&caller.access_key)))
}

fn xml(status: StatusCode, body: &str) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    resp
}

/// Text as XML character data.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
