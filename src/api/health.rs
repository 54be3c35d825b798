//! `GET /health`: what a container health check or a test suite waits on. 503 while
//! the store is opening or a declared stream is not yet ACTIVE, 200 after; 503 again,
//! with the reason, while the store cannot take writes (a failed sync, which a restart
//! fixes, or a full disk, which freeing space fixes).

use std::sync::Mutex;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// Where start-up is; set by the server as it goes.
#[derive(Debug, Default)]
pub struct Readiness {
    state: Mutex<Option<String>>,
}

impl Readiness {
    /// Not ready, for the reason given (shown in the 503 body).
    pub fn starting(&self, reason: impl Into<String>) {
        *self.lock() = Some(reason.into());
    }

    pub fn ready(&self) {
        *self.lock() = None;
    }

    pub fn is_ready(&self) -> bool {
        self.lock().is_none()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn response(&self) -> Response {
        match &*self.lock() {
            None => answer(StatusCode::OK, json!({ "status": "ok" })),
            Some(reason) => answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "starting", "reason": reason }),
            ),
        }
    }
}

/// 503 for a store that cannot take writes: `failed` needs a restart, `degraded` needs
/// room on the disk.
pub fn unavailable(fatal: bool, reason: &str) -> Response {
    let status = if fatal { "failed" } else { "degraded" };
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ "status": status, "reason": reason }),
    )
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
