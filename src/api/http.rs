//! The HTTP face of the api: routes, the request pipeline (content type, target, body,
//! signature, validation, handler; `codec` decodes and encodes each protocol) and the
//! response headers every SDK expects.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};

use super::codec::Protocol;
use super::error::ApiError;
use super::handlers::{dispatch, Ctx, Reply};
use super::health::Readiness;
use super::metrics::{MetricsOptions, RequestMetrics};
use super::target::Operation;
use super::{auth, subscription, validate};
use crate::broker::{Broker, Scope};

/// The api layer's own configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Larger request bodies are refused before they are read whole.
    pub max_request_bytes: usize,
    /// Request bodies held in memory at once, across every connection; past it new
    /// requests wait, then get a 503.
    pub max_inflight_bytes: usize,
    /// How long a request waits for room before that 503.
    pub overload_wait_ms: u64,
    /// Verifies signatures, or accepts any, and names the caller's account.
    pub auth: auth::Authenticator,
    /// Resource policies are enforced only where callers are authenticated (set when
    /// credentials are configured).
    pub enforce_policies: bool,
    pub metrics: MetricsOptions,
    /// Serve the web console at /console.
    pub console: bool,
}

pub struct ApiState {
    /// Set once the store is open; requests before that get a 503.
    broker: OnceLock<Arc<Broker>>,
    pub config: ApiConfig,
    pub readiness: Readiness,
    pub requests: RequestMetrics,
    /// Room for request bodies, in KiB (see `ApiConfig::max_inflight_bytes`).
    inflight: tokio::sync::Semaphore,
}

impl ApiState {
    /// A state whose broker is still being opened.
    pub fn starting(config: ApiConfig) -> ApiState {
        let readiness = Readiness::default();
        readiness.starting("opening the store");
        let kib = inflight_kib(&config) as usize;
        ApiState {
            broker: OnceLock::new(),
            config,
            readiness,
            requests: RequestMetrics::default(),
            inflight: tokio::sync::Semaphore::new(kib),
        }
    }

    pub fn set_broker(&self, broker: Arc<Broker>) {
        let _only_the_first_is_kept = self.broker.set(broker);
    }

    pub fn broker(&self) -> Result<&Arc<Broker>, ApiError> {
        self.broker.get().ok_or_else(ApiError::starting)
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    // The console and /metrics show streams and records: both sit behind the gate.
    let console = if state.config.console {
        let gate = axum::middleware::from_fn_with_state(state.clone(), super::admin::gate);
        super::console::routes().route_layer(gate)
    } else {
        Router::new()
    };
    console
        // AWS ignores the path: anything but GET /health is a Kinesis request, so a
        // POST to /health still gets Kinesis answers rather than a bare 405.
        .route("/health", get(health).fallback(kinesis))
        .route("/metrics", get(metrics).fallback(kinesis))
        .fallback(kinesis)
        .with_state(state)
}

async fn health(State(state): State<Arc<ApiState>>) -> Response {
    if let (true, Ok(broker)) = (state.readiness.is_ready(), state.broker()) {
        if let Some((fatal, reason)) = broker.storage_problem() {
            return super::health::unavailable(fatal, reason);
        }
    }
    state.readiness.response()
}

async fn metrics(State(state): State<Arc<ApiState>>, headers: http::HeaderMap) -> Response {
    let Some(viewer) = state.config.auth.viewer(&headers) else {
        return super::admin::challenge();
    };
    match state.broker() {
        Ok(b) => super::metrics::response(super::metrics::render(
            b,
            &state.requests,
            state.config.metrics,
            &viewer,
        )),
        Err(_) => state.readiness.response(),
    }
}

async fn kinesis(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let op = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(Operation::from_target);
    let request_id = super::request_id::uuid().to_string();
    let protocol = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Protocol::from_content_type);
    // Requests in no known protocol are answered in JSON, as AWS does.
    let answer_in = protocol.unwrap_or(Protocol::Json);
    let (status, body, error_code, content_type) = match handle(&state, protocol, op, req).await {
        Ok(Answer::Body(body)) => (
            StatusCode::OK,
            Body::from(body),
            None,
            answer_in.content_type(),
        ),
        Ok(Answer::Events(sub)) => (
            StatusCode::OK,
            Body::new(subscription::body(sub, answer_in)),
            None,
            "application/vnd.amazon.eventstream",
        ),
        Err(e) => (
            e.status,
            Body::from(answer_in.encode_error(&e)),
            Some(e.code),
            answer_in.content_type(),
        ),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    let id2 = STANDARD.encode(super::request_id::bytes());
    if let Ok(v) = HeaderValue::from_str(&id2) {
        h.insert("x-amz-id-2", v);
    }
    if let Some(code) = error_code {
        h.insert("x-amzn-errortype", HeaderValue::from_static(code));
    }
    state.requests.record(op, started.elapsed(), error_code);
    resp
}

/// A successful answer: an encoded body, or an event stream (SubscribeToShard).
enum Answer {
    Body(Vec<u8>),
    Events(crate::broker::subscribe::Subscription),
}

/// The in-flight budget in KiB permits (`acquire_many` takes a u32).
fn inflight_kib(config: &ApiConfig) -> u32 {
    (config.max_inflight_bytes / 1024).clamp(1, u32::MAX as usize) as u32
}

/// Waits for room for a body of `bytes`, or answers the overload 503.
async fn admit(
    state: &ApiState,
    bytes: usize,
) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    let kib = (bytes.div_ceil(1024).max(1) as u32).min(inflight_kib(&state.config));
    let wait = std::time::Duration::from_millis(state.config.overload_wait_ms);
    match tokio::time::timeout(wait, state.inflight.acquire_many(kib)).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::overloaded(state.config.max_inflight_bytes)),
    }
}

/// The checks run in the order AWS runs them: content type, target, body, signature,
/// types and constraints, then the operation itself.
async fn handle(
    state: &ApiState,
    protocol: Option<Protocol>,
    op: Option<Operation>,
    req: Request,
) -> Result<Answer, ApiError> {
    let (parts, body) = req.into_parts();
    let Some(protocol) = protocol.filter(|_| parts.method == http::Method::POST) else {
        return Err(ApiError::unknown_operation());
    };
    let op = op.ok_or_else(ApiError::unknown_operation)?;

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
    // Back-pressure: a body is read only once there is room for it, so clients sending
    // faster than the disk writes see slower answers, then a 503, never unbounded memory.
    let _room = admit(state, declared.unwrap_or(max)).await?;
    let bytes = Limited::new(body, max)
        .collect()
        .await
        .map_err(|_| too_large(None))?
        .to_bytes();

    let broker = state.broker()?;
    let caller = state
        .config
        .auth
        .authenticate(&parts, &bytes, broker.now_ms())?;
    let input = protocol.decode_request(op, &bytes)?;
    validate::check_input(op.name(), &input)?;
    let mut scope = Scope {
        account: caller.account,
        region: caller.region,
    };
    if state.config.enforce_policies {
        super::policy::authorize(broker, &mut scope, op, &input)?;
    }
    let ctx = Ctx { broker, scope };
    match dispatch(&ctx, op, input).await? {
        Reply::Events(sub) => Ok(Answer::Events(sub)),
        reply => protocol.encode_reply(op, reply).map(Answer::Body),
    }
}
