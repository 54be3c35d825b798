//! `GET /health`: what a container health check or a test suite waits on. 503 while
//! the store is opening or a declared stream is not yet ACTIVE, 200 after.

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

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn response(&self) -> Response {
        let (status, body) = match &*self.lock() {
            None => (StatusCode::OK, json!({ "status": "ok" })),
            Some(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "starting", "reason": reason }),
            ),
        };
        (
            status,
            [(http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}
