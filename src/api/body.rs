//! Request and reply bodies under the memory budget: a request body read as it
//! arrives (each chunk reserved before it is kept, capped in size, required to keep
//! moving), and reply bodies that hold their share until the client has taken them and
//! move their connection's progress clock as they go.

use std::sync::Arc;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use super::budget::Held;
use super::error::ApiError;
use super::http::ApiState;
use super::transport::Progress;

/// A reply body that holds its share of the budget until it is dropped: sent whole, or
/// its connection gone. It hands the reply over in slices, since hyper drops a body
/// (and so its hold) as soon as it has taken the last slice into its write buffer.
pub struct HeldBody {
    pub rest: Bytes,
    pub held: Held,
    pub progress: Option<Arc<Progress>>,
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
pub struct Touching<B> {
    pub inner: std::pin::Pin<Box<B>>,
    pub progress: Option<Arc<Progress>>,
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

/// Body chunks smaller than this are copied together rather than kept one by one.
const SMALL_CHUNK: usize = 4096;

/// Reads a body as it arrives: each chunk is reserved from the budget before it is
/// kept, the total is capped at `max_request_bytes`, and the body must keep moving: each
/// window of `body_read_grace` must bring `min_body_bytes_per_sec` for that long (or
/// the end), so a client that sends most of a body quickly and then stalls is cut off
/// as soon as one that trickles. One timer serves the whole body.
pub async fn read_body(
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
    // Large chunks as hyper hands them over (no copy), small ones gathered in `small`
    // (a caller sending one-byte chunks must not cost a `Bytes` per byte); joined once
    // at the end.
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut small = BytesMut::new();
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
        if data.len() < SMALL_CHUNK {
            small.extend_from_slice(&data);
        } else {
            if !small.is_empty() {
                chunks.push(small.split().freeze());
            }
            chunks.push(data);
        }
    }
    if !small.is_empty() {
        chunks.push(small.freeze());
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
