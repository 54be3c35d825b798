//! The HTTP face of the api: routes, the request pipeline (content type, target, body,
//! signature, validation, handler; `codec` decodes and encodes each protocol) and the
//! response headers every SDK expects.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Extension;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::admin::Login;
use super::body::{read_body, HeldBody, Touching};
use super::budget::{Budget, BudgetSizes, Held};
use super::codec::Protocol;
use super::error::ApiError;
use super::handlers::{dispatch, Ctx, Reply};
use super::health::Readiness;
use super::metrics::{MetricsOptions, RequestMetrics};
use super::target::Operation;
use super::transport::{Progress, Transport};
use super::{auth, subscription, validate};
use crate::broker::{Broker, Scope};

/// The api layer's own configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Larger request bodies are refused before they are read whole.
    pub max_request_bytes: usize,
    /// Memory for request and reply bodies (`budget`).
    pub budget: BudgetSizes,
    /// A body must average this rate once `body_read_grace` has passed.
    pub min_body_bytes_per_sec: u64,
    pub body_read_grace: Duration,
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
    pub(super) budget: Budget,
}

impl ApiState {
    /// A state whose broker is still being opened.
    pub fn starting(config: ApiConfig) -> ApiState {
        let readiness = Readiness::default();
        readiness.starting("opening the store");
        ApiState {
            broker: OnceLock::new(),
            budget: Budget::new(config.budget),
            config,
            readiness,
            requests: RequestMetrics::default(),
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
        .route("/", get(home).fallback(kinesis))
        .route("/health", get(health).fallback(kinesis))
        .route("/metrics", get(metrics).fallback(kinesis))
        .fallback(kinesis)
        .with_state(state)
}

/// A browser opening the address learns what it reached; an SDK's request (a POST, or
/// anything naming a Kinesis operation) gets Kinesis's answer as before.
async fn home(
    State(state): State<Arc<ApiState>>,
    transport: Option<Extension<Transport>>,
    req: Request,
) -> Response {
    if req.headers().contains_key("x-amz-target") {
        return kinesis(State(state), transport, req).await;
    }
    let console = match state.config.console {
        true => r#"<li><a href="/console">/console</a>: streams, shards and records</li>"#,
        false => "<li>/console is turned off on this server</li>",
    };
    let page = format!(
        "<!doctype html><title>Shoal</title><h1>Shoal</h1>\
         <p>An Amazon Kinesis Data Streams API endpoint. Point an AWS SDK or the AWS CLI \
         here (<code>--endpoint-url</code>); requests are POSTs to this path.</p><ul>\
         {console}<li><a href=\"/health\">/health</a></li>\
         <li><a href=\"/metrics\">/metrics</a>: Prometheus text</li></ul>\
         <p>Documentation: the README and <code>docs/</code> of Shoal's source \
         (<code>docs/api-coverage.md</code> lists every operation).</p>"
    );
    axum::response::IntoResponse::into_response((
        [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    ))
}

async fn health(State(state): State<Arc<ApiState>>) -> Response {
    if let (true, Ok(broker)) = (state.readiness.is_ready(), state.broker()) {
        if let Some((fatal, reason)) = broker.storage_problem() {
            return super::health::unavailable(fatal, reason);
        }
    }
    state.readiness.response()
}

async fn metrics(
    State(state): State<Arc<ApiState>>,
    via: Option<Extension<Transport>>,
    headers: http::HeaderMap,
) -> Response {
    let viewer = match super::admin::log_in(&state.config.auth, &headers, via.as_deref()) {
        Login::Viewer(v) => v,
        Login::Challenge => return super::admin::challenge(),
        Login::Cleartext => return super::admin::cleartext(),
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

async fn kinesis(
    State(state): State<Arc<ApiState>>,
    transport: Option<Extension<Transport>>,
    req: Request,
) -> Response {
    let client = transport
        .as_ref()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |t| t.client);
    let progress = transport.map(|t| t.0.progress);
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
    let http1 = req.version() <= http::Version::HTTP_11;
    let mut held = state.budget.hold(client, !state.config.auth.verifies());
    if super::sts::is_query(req.method(), req.headers()) {
        let (parts, body) = req.into_parts();
        let sts = super::sts::answer(
            &state,
            &mut held,
            progress.as_deref(),
            parts,
            body,
            &request_id,
        );
        return sts.await;
    }
    let answer = handle(&state, &mut held, progress.as_deref(), protocol, op, req).await;
    let answer = match answer {
        Ok(Answer::Body(body)) => reserve_reply(&state, &mut held, op, body),
        other => other,
    };
    // HTTP/2 has no Connection header: there the late stream just ends.
    let close = http1 && matches!(&answer, Err(e) if e.status == StatusCode::REQUEST_TIMEOUT);
    let (status, body, error_code, content_type) = match answer {
        Ok(Answer::Body(body)) => (
            StatusCode::OK,
            // The reply keeps its share of the budget until the client has read it.
            Body::new(HeldBody {
                rest: Bytes::from(body),
                held,
                progress,
            }),
            None,
            answer_in.content_type(),
        ),
        Ok(Answer::Events(sub)) => (
            StatusCode::OK,
            Body::new(Touching {
                inner: Box::pin(subscription::body(sub, answer_in)),
                progress,
            }),
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
    if close {
        // The rest of a late body is not worth reading.
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    state.requests.record(op, started.elapsed(), error_code);
    resp
}

/// A successful answer: an encoded body, or an event stream (SubscribeToShard).
enum Answer {
    Body(Vec<u8>),
    Events(crate::broker::subscribe::Subscription),
}

/// Reserves a reply's size before it goes out. A read whose reply finds no room is
/// answered 503 (the client retries; nothing changed); a write's reply (small) goes
/// out regardless, so a stored write is never reported as failed.
fn reserve_reply(
    state: &ApiState,
    held: &mut Held,
    op: Option<Operation>,
    body: Vec<u8>,
) -> Result<Answer, ApiError> {
    let read_only = op.is_some_and(|op| {
        let n = op.name();
        n.starts_with("Get") || n.starts_with("List") || n.starts_with("Describe")
    });
    if state.budget.try_grow(held, body.len()) || !read_only {
        Ok(Answer::Body(body))
    } else {
        Err(state.budget.overloaded())
    }
}

/// The checks run in the order AWS runs them: content type, target, body, signature,
/// types and constraints, then the operation itself.
async fn handle(
    state: &ApiState,
    held: &mut Held,
    progress: Option<&Progress>,
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
    if let Some(n) = declared.filter(|n| *n > max) {
        return Err(ApiError::validation(format!(
            "Request body of {n} bytes exceeds the maximum request size of {max} bytes."
        )));
    }
    // Back-pressure: bytes are reserved as they arrive, so clients sending faster than
    // the disk writes see slower answers, then a 503, never unbounded memory.
    let bytes = read_body(state, held, progress, body).await?;

    let broker = state.broker()?;
    let caller = state
        .config
        .auth
        .authenticate(&parts, &bytes, broker.now_ms())?;
    state.budget.authenticated(held).await?;
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
