//! The SubscribeToShard response body: an `initial-response` event at once, then one
//! frame per subscription event, pulled one at a time so a slow client slows the
//! subscription instead of filling memory.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use serde_json::json;
use tokio::sync::mpsc;

use super::codec::Protocol;
use super::error::ApiError;
use super::eventstream;
use super::shapes::SubscribeToShardEvent;
use crate::broker::subscribe::{SubscribeEvent, Subscription};

/// A body fed by a channel of ready frames.
pub struct EventBody {
    frames: mpsc::Receiver<Bytes>,
}

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.frames
            .poll_recv(cx)
            .map(|frame| frame.map(|b| Ok(Frame::data(b))))
    }
}

fn event_shape(e: SubscribeEvent) -> SubscribeToShardEvent {
    SubscribeToShardEvent {
        records: e
            .records
            .into_iter()
            .map(super::handlers::record_shape)
            .collect(),
        continuation_sequence_number: e.continuation.map(|n| n.to_string()),
        millis_behind_latest: e.millis_behind_latest,
        child_shards: e
            .child_shards
            .into_iter()
            .map(super::handlers::child_shape)
            .collect(),
    }
}

/// Starts writing `sub`'s events in `protocol`'s payload encoding. The task ends when
/// the subscription does or the client goes away (the channel closes).
pub fn body(mut sub: Subscription, protocol: Protocol) -> EventBody {
    // One frame in flight: back-pressure reaches the subscription at once.
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let ct = protocol.event_content_type();
    tokio::spawn(async move {
        let initial = eventstream::event(
            "initial-response",
            ct,
            &protocol.encode_value(None, &json!({})),
        );
        if tx.send(Bytes::from(initial)).await.is_err() {
            return;
        }
        while let Some(next) = sub.next_event().await {
            let frame = match next {
                Ok(e) => {
                    let v = serde_json::to_value(event_shape(e)).unwrap_or_else(|_| json!({}));
                    let payload = protocol.encode_value(Some("SubscribeToShardEvent"), &v);
                    eventstream::event("SubscribeToShardEvent", ct, &payload)
                }
                Err(e) => {
                    let e = ApiError::from(e);
                    let v = json!({ "message": e.message.clone().unwrap_or_default() });
                    eventstream::exception(e.code, ct, &protocol.encode_value(None, &v))
                }
            };
            if tx.send(Bytes::from(frame)).await.is_err() {
                return;
            }
        }
    });
    EventBody { frames: rx }
}
