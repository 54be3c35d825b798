//! The web console at `/console`: a page served from the binary (no CDN, works
//! offline) and the two read-only JSON views it polls. With credentials configured it
//! sits behind `admin::gate` and shows the logged-in key's account only;
//! `server.console = false` turns it off.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::Viewer;
use super::error::ApiError;
use super::http::ApiState;
use crate::broker::arn;
use crate::broker::browse::BrowseFrom;
use crate::broker::stats::StreamStats;
use crate::broker::streams::status_word;

/// The page's files, embedded at build time.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../console/style.css"),
    ),
];

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/console", get(|| file(Path("index.html".to_string()))))
        .route("/console/", get(|| file(Path("index.html".to_string()))))
        .route("/console/api/streams", get(streams))
        .route("/console/api/records", get(records))
        .route("/console/{file}", get(file))
}

/// A file of the page. `SHOAL_CONSOLE_DIR` serves them from a directory instead, so
/// the page can be worked on without rebuilding.
async fn file(Path(name): Path<String>) -> Response {
    let Some((_, content_type, embedded)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let body = match std::env::var_os("SHOAL_CONSOLE_DIR") {
        Some(dir) => std::fs::read_to_string(std::path::Path::new(&dir).join(&name))
            .unwrap_or_else(|_| embedded.to_string()),
        None => embedded.to_string(),
    };
    (
        [
            (http::header::CONTENT_TYPE, *content_type),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// A broker error with the status and message `api::error` gives it.
fn broker_error(e: crate::broker::BrokerError) -> Response {
    let e = ApiError::from(e);
    error(e.status, e.message.unwrap_or_else(|| e.code.to_string()))
}

/// Every stream with its shards: hash ranges (as decimal strings and as fractions of
/// the key space, for drawing), lineage and counters. Rates are the page's deltas.
async fn streams(
    State(state): State<Arc<ApiState>>,
    Extension(viewer): Extension<Viewer>,
) -> Response {
    let Ok(broker) = state.broker() else {
        return state.readiness.response();
    };
    let key_space = u128::MAX as f64;
    let streams: Vec<Value> = broker
        .stats()
        .into_iter()
        .filter(|s| viewer.sees(&s.stream.account))
        .map(|StreamStats { stream: s, shards }| {
            let shards: Vec<Value> = shards
                .iter()
                .map(|sh| {
                    let v = &sh.view;
                    json!({
                        "id": v.shard_id,
                        "start_hash": v.starting_hash_key.to_string(),
                        "end_hash": v.ending_hash_key.to_string(),
                        "start": v.starting_hash_key as f64 / key_space,
                        "end": v.ending_hash_key as f64 / key_space,
                        "parent": v.parent_shard_id,
                        "adjacent_parent": v.adjacent_parent_shard_id,
                        "open": sh.is_open(),
                        "incoming_bytes": sh.incoming_bytes,
                        "incoming_records": sh.incoming_records,
                        "outgoing_bytes": sh.outgoing_bytes,
                        "outgoing_records": sh.outgoing_records,
                    })
                })
                .collect();
            json!({
                "name": s.name,
                "account": s.account,
                "region": s.region,
                "arn": s.arn(),
                "status": status_word(s.status()),
                "mode": if s.is_on_demand() { "ON_DEMAND" } else { "PROVISIONED" },
                "retention_hours": s.retention_ms() / 3_600_000,
                "shards": shards,
            })
        })
        .collect();
    axum::Json(json!({ "time_ms": broker.now_ms(), "streams": streams })).into_response()
}

#[derive(Debug, Deserialize)]
struct RecordsQuery {
    stream: String,
    shard: String,
    account: Option<String>,
    region: Option<String>,
    /// A cursor from a previous page.
    after: Option<u64>,
    /// "oldest" or "newest" (default) when there is no cursor.
    from: Option<String>,
    limit: Option<usize>,
}

/// A page of one shard's records, for the record browser.
async fn records(
    State(state): State<Arc<ApiState>>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<RecordsQuery>,
) -> Response {
    let Ok(broker) = state.broker() else {
        return state.readiness.response();
    };
    let stream = broker.all_streams().into_iter().find(|s| {
        s.name == q.stream
            && viewer.sees(&s.account)
            && q.account.as_ref().is_none_or(|a| *a == s.account)
            && q.region.as_ref().is_none_or(|r| *r == s.region)
    });
    let Some(stream) = stream else {
        return error(StatusCode::NOT_FOUND, format!("no stream {}", q.stream));
    };
    let Some(index) = arn::parse_shard_id(&q.shard) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{} is not a shard id", q.shard),
        );
    };
    let from = match (q.after, q.from.as_deref()) {
        (Some(o), _) => BrowseFrom::Offset(o),
        (None, Some("oldest")) => BrowseFrom::Oldest,
        _ => BrowseFrom::Newest,
    };
    // Reads the log (the disk, or Kafka round trips): not on this worker.
    let (limit, broker) = (q.limit.unwrap_or(100), broker.clone());
    let browsed = tokio::task::spawn_blocking(move || broker.browse(&stream, index, from, limit));
    let page = match browsed.await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return broker_error(e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let records: Vec<Value> = page
        .records
        .iter()
        .map(|r| {
            json!({
                "sequence_number": r.sequence_number.to_string(),
                "partition_key": r.partition_key,
                "arrival_ms": r.arrival_ms,
                "data_base64": STANDARD.encode(&r.data),
                "text": std::str::from_utf8(&r.data).ok(),
            })
        })
        .collect();
    axum::Json(json!({ "records": records, "next": page.next_offset, "ended": page.ended }))
        .into_response()
}
