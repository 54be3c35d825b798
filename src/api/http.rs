//! The HTTP face of the api: routes, the request pipeline (content type, target, body,
//! signature, validation, handler) and the response headers every SDK expects.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};

use super::error::ApiError;
use super::handlers::{dispatch, Ctx, Reply};
use super::target::Operation;
use super::{auth, validate};
use crate::broker::{Broker, Scope};

/// The api layer's own configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Larger request bodies are refused before they are read whole.
    pub max_request_bytes: usize,
    /// Evaluate stream resource policies on every request naming a stream: an explicit
    /// Deny refuses it, another account's stream needs an explicit Allow. Off by default
    /// (set from `Config::test` for now; the credentials work turns it on).
    pub enforce_policies: bool,
    /// The account a request acts as, by the access key id it is signed with; other
    /// keys act as the broker's `account_id`.
    pub accounts_by_access_key: std::collections::BTreeMap<String, String>,
}

pub struct ApiState {
    pub broker: Arc<Broker>,
    pub config: ApiConfig,
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        // AWS ignores the path: anything but GET /health is a Kinesis request, so a
        // POST to /health still gets Kinesis answers rather than a bare 405.
        .route("/health", get(health).fallback(kinesis))
        .fallback(kinesis)
        .with_state(state)
}

async fn health() -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

const JSON_1_1: &str = "application/x-amz-json-1.1";

async fn kinesis(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = handle(&state, req).await;
    let (status, body, error_code) = match result {
        Ok(Reply::Empty) => (StatusCode::OK, Vec::new(), None),
        Ok(Reply::Json(b)) => (StatusCode::OK, b, None),
        Err(e) => (e.status, e.body(), Some(e.code)),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_1_1),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    let id2 = STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    if let Ok(v) = HeaderValue::from_str(&id2) {
        h.insert("x-amz-id-2", v);
    }
    if let Some(code) = error_code {
        h.insert("x-amzn-errortype", HeaderValue::from_static(code));
    }
    resp
}

/// The checks run in the order AWS runs them: content type, target, body, signature,
/// types and constraints, then the operation itself.
async fn handle(state: &ApiState, req: Request) -> Result<Reply, ApiError> {
    let (parts, body) = req.into_parts();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media == "application/x-amz-cbor-1.1" {
        return Err(ApiError::client(
            "UnknownOperationException",
            "CBOR requests (application/x-amz-cbor-1.1) are not supported by this Shoal server yet; \
             configure the client to use JSON (Java SDK: -Daws.cborEnabled=false).",
        ));
    }
    if parts.method != http::Method::POST
        || !matches!(
            media,
            JSON_1_1 | "application/x-amz-json-1.0" | "application/json"
        )
    {
        return Err(ApiError::unknown_operation());
    }
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(Operation::from_target)
        .ok_or_else(ApiError::unknown_operation)?;

    let max = state.config.max_request_bytes;
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = |n: Option<usize>| {
        ApiError::validation(match n {
            Some(n) => format!(
                "Request body of {n} bytes exceeds the maximum request size of {max} bytes."
            ),
            None => format!("Request body exceeds the maximum request size of {max} bytes."),
        })
    };
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(declared));
    }
    let bytes = Limited::new(body, max)
        .collect()
        .await
        .map_err(|_| too_large(None))?
        .to_bytes();

    let scope = auth::credential_scope(&parts.headers, parts.uri.query())?;
    if bytes.is_empty() {
        return Err(ApiError::serialization(None));
    }
    let input: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| ApiError::serialization(None))?;
    validate::check_input(op.name(), &input)?;
    let account = state
        .config
        .accounts_by_access_key
        .get(&scope.access_key)
        .cloned()
        .unwrap_or_else(|| state.broker.config().account_id.clone());
    let mut scope = Scope {
        account,
        region: scope.region,
    };
    if state.config.enforce_policies {
        super::policy::authorize(&state.broker, &mut scope, op, &input)?;
    }
    let ctx = Ctx {
        broker: &state.broker,
        scope,
    };
    dispatch(&ctx, op, input).await
}
