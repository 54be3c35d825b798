//! One small function per operation: decode the validated input, call the broker,
//! shape the response. The table in [`dispatch`] is the whole operation surface.

mod consumers;
mod policies;
mod records;
pub mod records_json;
mod reshard;
mod settings;
mod streams;
mod subscribe;

pub(crate) use records::{child_shape, record_shape};
mod tags;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::shapes::StreamIdent;
use super::target::Operation;
use super::validate::parse_timestamp;
use crate::broker::{Broker, Scope, StreamRef};

/// What a handler needs to know about the request besides its body.
pub struct Ctx<'a> {
    pub broker: &'a Arc<Broker>,
    pub scope: Scope,
}

/// A successful response body.
pub enum Reply {
    /// Operations without an output shape answer 200 with an empty body.
    Empty,
    Json(Vec<u8>),
    /// SubscribeToShard: an event stream fed by the subscription.
    Events(crate::broker::subscribe::Subscription),
}

/// A handler that runs to completion without waiting on anything but the disk.
type Handler = fn(&Ctx<'_>, Value) -> Result<Reply, ApiError>;

/// Where an operation runs.
enum Runs {
    /// Answered from memory, on the worker.
    Inline(Handler),
    /// Commits to the catalog (a sync and a rename) or reads the logs (up to 10 MiB for
    /// GetRecords): on the blocking pool, so a slow disk stalls no worker.
    Blocking(Handler),
    /// Writes wait for their group commit without holding a thread; their rare slow
    /// work (a segment roll) leaves the worker in the broker.
    Put { many: bool },
}

/// Runs one operation on an input that passed validation.
pub async fn dispatch(ctx: &Ctx<'_>, op: Operation, input: Value) -> Result<Reply, ApiError> {
    ctx.broker.admit_control(&ctx.scope, op.name())?;
    // The data path keeps no copy of its (up to 10 MiB) input: a GetRecords iterator
    // names a shard its node knew, and writers wait for ACTIVE before they put.
    let data_path = matches!(
        op,
        Operation::PutRecord | Operation::PutRecords | Operation::GetRecords
    );
    if !ctx.broker.shared() || data_path {
        return run(ctx, op, input).await;
    }
    // Behind a load balancer, a stream, shard or consumer made through another node a
    // moment ago may not have reached this one: before answering that it does not
    // exist, look again with everything recorded anywhere so far.
    let again = input.clone();
    match run(ctx, op, input).await {
        Err(e) if e.code == "ResourceNotFoundException" => {
            let broker = ctx.broker.clone();
            tokio::task::spawn_blocking(move || broker.catch_up())
                .await
                .map_err(|e| ApiError::internal(format!("the operation did not finish: {e}")))??;
            run(ctx, op, again).await
        }
        other => other,
    }
}

async fn run(ctx: &Ctx<'_>, op: Operation, input: Value) -> Result<Reply, ApiError> {
    use Operation::*;
    use Runs::*;
    let runs = match op {
        CreateStream => Blocking(streams::create_stream),
        DeleteStream => Blocking(streams::delete_stream),
        DescribeStream => Inline(streams::describe_stream),
        DescribeStreamSummary => Inline(streams::describe_stream_summary),
        ListStreams => Inline(streams::list_streams),
        ListShards => Inline(streams::list_shards),
        PutRecord => Put { many: false },
        PutRecords => Put { many: true },
        GetShardIterator => Blocking(records::get_shard_iterator),
        GetRecords => Blocking(records::get_records),
        SubscribeToShard => Inline(subscribe::subscribe_to_shard),
        SplitShard => Blocking(reshard::split_shard),
        MergeShards => Blocking(reshard::merge_shards),
        UpdateShardCount => Blocking(reshard::update_shard_count),
        IncreaseStreamRetentionPeriod => Blocking(reshard::increase_retention),
        DecreaseStreamRetentionPeriod => Blocking(reshard::decrease_retention),
        UpdateMaxRecordSize => Blocking(reshard::update_max_record_size),
        UpdateStreamMode => Blocking(reshard::update_stream_mode),
        AddTagsToStream => Blocking(tags::add_tags_to_stream),
        RemoveTagsFromStream => Blocking(tags::remove_tags_from_stream),
        ListTagsForStream => Inline(tags::list_tags_for_stream),
        TagResource => Blocking(tags::tag_resource),
        UntagResource => Blocking(tags::untag_resource),
        ListTagsForResource => Inline(tags::list_tags_for_resource),
        StartStreamEncryption => Blocking(settings::start_stream_encryption),
        StopStreamEncryption => Blocking(settings::stop_stream_encryption),
        EnableEnhancedMonitoring => Blocking(settings::enable_enhanced_monitoring),
        DisableEnhancedMonitoring => Blocking(settings::disable_enhanced_monitoring),
        UpdateStreamWarmThroughput => Blocking(settings::update_stream_warm_throughput),
        DescribeLimits => Inline(|ctx, _| settings::describe_limits(ctx)),
        DescribeAccountSettings => Inline(|ctx, _| settings::describe_account_settings(ctx)),
        UpdateAccountSettings => Blocking(settings::update_account_settings),
        PutResourcePolicy => Blocking(policies::put_resource_policy),
        GetResourcePolicy => Inline(policies::get_resource_policy),
        DeleteResourcePolicy => Blocking(policies::delete_resource_policy),
        RegisterStreamConsumer => Blocking(consumers::register_stream_consumer),
        DescribeStreamConsumer => Inline(consumers::describe_stream_consumer),
        ListStreamConsumers => Inline(consumers::list_stream_consumers),
        DeregisterStreamConsumer => Blocking(consumers::deregister_stream_consumer),
    };
    match runs {
        Inline(handler) => handler(ctx, input),
        Put { many: false } => records::put_record(ctx, input).await,
        Put { many: true } => records::put_records(ctx, input).await,
        Blocking(handler) => {
            let (broker, scope) = (ctx.broker.clone(), ctx.scope.clone());
            tokio::task::spawn_blocking(move || {
                let ctx = Ctx {
                    broker: &broker,
                    scope,
                };
                // A change that lost to another node's is decided again on the state
                // that includes the winner (so the loser gets the error AWS would give).
                let mut input = input;
                for _ in 0..crate::broker::follow::RETRIES {
                    let again = broker.shared().then(|| input.clone());
                    match (handler(&ctx, input), again) {
                        (Err(e), Some(again)) if e.is_concurrent_change() => {
                            broker.catch_up()?;
                            input = again;
                        }
                        (result, _) => return result,
                    }
                }
                handler(&ctx, input)
            })
            .await
            .map_err(|e| ApiError::internal(format!("the operation did not finish: {e}")))?
        }
    }
}

/// Deserializes a validated input. A failure here means the validator let through
/// something the shapes cannot hold, reported the way AWS reports type mismatches.
fn decode<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| ApiError::serialization(Some(e.to_string())))
}

fn json<T: Serialize>(out: &T) -> Result<Reply, ApiError> {
    serde_json::to_vec(out)
        .map(Reply::Json)
        .map_err(|e| ApiError::internal(format!("could not encode the response: {e}")))
}

fn stream_ref(ident: &StreamIdent) -> StreamRef<'_> {
    StreamRef {
        name: ident.stream_name.as_deref(),
        arn: ident.stream_arn.as_deref(),
    }
}

/// Epoch milliseconds of a validated timestamp member.
fn timestamp_ms(v: &Value, member: &str) -> Result<i64, ApiError> {
    parse_timestamp(v)
        .map(|secs| (secs * 1000.0).round() as i64)
        .ok_or_else(|| ApiError::serialization(Some(format!("{member} is not a timestamp"))))
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
