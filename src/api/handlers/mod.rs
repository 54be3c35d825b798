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

/// Runs one operation on an input that passed validation.
pub async fn dispatch(ctx: &Ctx<'_>, op: Operation, input: Value) -> Result<Reply, ApiError> {
    use Operation::*;
    ctx.broker.admit_control(&ctx.scope, op.name())?;
    match op {
        CreateStream => streams::create_stream(ctx, input),
        DeleteStream => streams::delete_stream(ctx, input),
        DescribeStream => streams::describe_stream(ctx, input),
        DescribeStreamSummary => streams::describe_stream_summary(ctx, input),
        ListStreams => streams::list_streams(ctx, input),
        ListShards => streams::list_shards(ctx, input),
        PutRecord => records::put_record(ctx, input).await,
        PutRecords => records::put_records(ctx, input).await,
        GetShardIterator => records::get_shard_iterator(ctx, input),
        GetRecords => records::get_records(ctx, input),
        SubscribeToShard => subscribe::subscribe_to_shard(ctx, input),
        SplitShard => reshard::split_shard(ctx, input),
        MergeShards => reshard::merge_shards(ctx, input),
        UpdateShardCount => reshard::update_shard_count(ctx, input),
        IncreaseStreamRetentionPeriod => reshard::increase_retention(ctx, input),
        DecreaseStreamRetentionPeriod => reshard::decrease_retention(ctx, input),
        UpdateMaxRecordSize => reshard::update_max_record_size(ctx, input),
        UpdateStreamMode => reshard::update_stream_mode(ctx, input),
        AddTagsToStream => tags::add_tags_to_stream(ctx, input),
        RemoveTagsFromStream => tags::remove_tags_from_stream(ctx, input),
        ListTagsForStream => tags::list_tags_for_stream(ctx, input),
        TagResource => tags::tag_resource(ctx, input),
        UntagResource => tags::untag_resource(ctx, input),
        ListTagsForResource => tags::list_tags_for_resource(ctx, input),
        StartStreamEncryption => settings::start_stream_encryption(ctx, input),
        StopStreamEncryption => settings::stop_stream_encryption(ctx, input),
        EnableEnhancedMonitoring => settings::enable_enhanced_monitoring(ctx, input),
        DisableEnhancedMonitoring => settings::disable_enhanced_monitoring(ctx, input),
        UpdateStreamWarmThroughput => settings::update_stream_warm_throughput(ctx, input),
        DescribeLimits => settings::describe_limits(ctx),
        DescribeAccountSettings => settings::describe_account_settings(ctx),
        UpdateAccountSettings => settings::update_account_settings(ctx, input),
        PutResourcePolicy => policies::put_resource_policy(ctx, input),
        GetResourcePolicy => policies::get_resource_policy(ctx, input),
        DeleteResourcePolicy => policies::delete_resource_policy(ctx, input),
        RegisterStreamConsumer => consumers::register_stream_consumer(ctx, input),
        DescribeStreamConsumer => consumers::describe_stream_consumer(ctx, input),
        ListStreamConsumers => consumers::list_stream_consumers(ctx, input),
        DeregisterStreamConsumer => consumers::deregister_stream_consumer(ctx, input),
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
