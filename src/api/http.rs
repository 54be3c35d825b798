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
use bytes::{Bytes, BytesMut};
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;

use super::admin::Login;
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
    budget: Budget,
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
                _held: held,
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
        Err(ApiError::overloaded(state.config.budget.inflight_bytes))
    }
}

/// A reply body that holds its share of the budget until it is dropped: sent whole, or
/// its connection gone. It hands the reply over in slices, since hyper drops a body
/// (and so its hold) as soon as it has taken the last slice into its write buffer.
struct HeldBody {
    rest: Bytes,
    _held: Held,
    progress: Option<Arc<Progress>>,
}

/// The slice of a reply hyper takes at a time.
const REPLY_SLICE: usize = 256 << 10;

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.rest.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let n = self.rest.len().min(REPLY_SLICE);
        let slice = self.rest.split_to(n);
        if let Some(p) = &self.progress {
            p.touch();
        }
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.rest.len() as u64)
    }
}

/// An event stream that moves its connection's progress clock with every frame.
struct Touching<B> {
    inner: std::pin::Pin<Box<B>>,
    progress: Option<Arc<Progress>>,
}

impl<B: http_body::Body> http_body::Body for Touching<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let (std::task::Poll::Ready(Some(_)), Some(p)) = (&polled, &self.progress) {
            p.touch();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Reads a body as it arrives: each chunk is reserved from the budget before it is
/// kept, the total is capped at `max_request_bytes`, and the body must keep moving: each
/// window of `body_read_grace` must bring `min_body_bytes_per_sec` for that long (or
/// the end), so a client that sends most of a body quickly and then stalls is cut off
/// as soon as one that trickles. One timer serves the whole body.
async fn read_body(
    state: &ApiState,
    held: &mut Held,
    progress: Option<&Progress>,
    body: Body,
) -> Result<Bytes, ApiError> {
    let c = &state.config;
    let max = c.max_request_bytes;
    let window = c.body_read_grace;
    let quota = (c.min_body_bytes_per_sec as f64 * window.as_secs_f64()).max(1.0) as usize;
    let (mut window_start, mut window_base) = (tokio::time::Instant::now(), 0usize);
    let mut body = body;
    // Chunks as hyper hands them over (no copy), joined once at the end.
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    let deadline = tokio::time::sleep_until(window_start + window);
    tokio::pin!(deadline);
    loop {
        let frame = tokio::select! {
            biased;
            f = body.frame() => f,
            () = &mut deadline => {
                if tokio::time::Instant::now() >= window_start + window {
                    return Err(ApiError::body_timeout(c.min_body_bytes_per_sec));
                }
                deadline.as_mut().reset(window_start + window);
                continue;
            }
        };
        let data = match frame {
            None => break,
            Some(Err(_)) => {
                return Err(ApiError::validation("The request body could not be read."))
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
        };
        if let Some(p) = progress {
            p.touch();
        }
        received += data.len();
        if received - window_base >= quota {
            (window_start, window_base) = (tokio::time::Instant::now(), received);
        }
        if received > max {
            return Err(ApiError::validation(format!(
                "Request body exceeds the maximum request size of {max} bytes."
            )));
        }
        state.budget.grow(held, received).await?;
        chunks.push(data);
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(received);
            for c in &chunks {
                all.extend_from_slice(c);
            }
            all.freeze()
        }
    })
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
