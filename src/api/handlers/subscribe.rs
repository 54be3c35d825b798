//! SubscribeToShard: validates the request and starts the subscription; the event
//! stream itself is written by `api::subscription`.

use serde_json::Value;

use super::{decode, timestamp_ms, Ctx, Reply};
use crate::api::error::ApiError;
use crate::api::shapes::SubscribeToShardInput;
use crate::broker::records::IteratorStart;

pub fn subscribe_to_shard(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: SubscribeToShardInput = decode(input)?;
    let p = req.starting_position;
    let start = match (p.kind.as_str(), p.sequence_number) {
        ("AT_SEQUENCE_NUMBER", Some(s)) => IteratorStart::AtSequence(s),
        ("AFTER_SEQUENCE_NUMBER", Some(s)) => IteratorStart::AfterSequence(s),
        ("TRIM_HORIZON", None) => IteratorStart::TrimHorizon,
        ("LATEST", None) => IteratorStart::Latest,
        ("AT_TIMESTAMP", None) => match &p.timestamp {
            Some(ts) => IteratorStart::AtTimestamp(timestamp_ms(ts, "StartingPosition.Timestamp")?),
            None => {
                return Err(ApiError::invalid_argument(
                    "StartingPosition.Timestamp must be specified for type AT_TIMESTAMP.",
                ))
            }
        },
        (kind, seq) => {
            return Err(ApiError::invalid_argument(format!(
                "StartingPosition of type {kind} {} a SequenceNumber: AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER need one, the other types take none.",
                if seq.is_some() { "must not have" } else { "needs" }
            )))
        }
    };
    let sub = ctx
        .broker
        .subscribe(&ctx.scope, &req.consumer_arn, &req.shard_id, start)?;
    Ok(Reply::Events(sub))
}
