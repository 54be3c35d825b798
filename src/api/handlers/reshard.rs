//! Handlers that reshape a stream or change its settings: SplitShard, MergeShards,
//! UpdateShardCount, retention, UpdateMaxRecordSize, UpdateStreamMode.

use serde_json::Value;

use super::{decode, json, stream_ref, Ctx, Reply};
use crate::api::error::ApiError;
use crate::api::shapes::*;

pub fn split_shard(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: SplitShardInput = decode(input)?;
    ctx.broker.split_shard(
        &ctx.scope,
        stream_ref(&req.stream),
        &req.shard_to_split,
        &req.new_starting_hash_key,
    )?;
    Ok(Reply::Empty)
}

pub fn merge_shards(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: MergeShardsInput = decode(input)?;
    ctx.broker.merge_shards(
        &ctx.scope,
        stream_ref(&req.stream),
        &req.shard_to_merge,
        &req.adjacent_shard_to_merge,
    )?;
    Ok(Reply::Empty)
}

pub fn update_shard_count(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    // ScalingType's only value, UNIFORM_SCALING, is enforced by the model's enum.
    let req: UpdateShardCountInput = decode(input)?;
    let stream = ctx.broker.stream(&ctx.scope, stream_ref(&req.stream))?;
    let (current, target) = ctx.broker.update_shard_count(
        &ctx.scope,
        stream_ref(&req.stream),
        req.target_shard_count,
    )?;
    json(&UpdateShardCountOutput {
        stream_name: stream.name.clone(),
        stream_arn: stream.arn(),
        current_shard_count: current,
        target_shard_count: target,
    })
}

pub fn increase_retention(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: RetentionInput = decode(input)?;
    ctx.broker.increase_retention(
        &ctx.scope,
        stream_ref(&req.stream),
        req.retention_period_hours,
    )?;
    Ok(Reply::Empty)
}

pub fn decrease_retention(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: RetentionInput = decode(input)?;
    ctx.broker.decrease_retention(
        &ctx.scope,
        stream_ref(&req.stream),
        req.retention_period_hours,
    )?;
    Ok(Reply::Empty)
}

pub fn update_max_record_size(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: UpdateMaxRecordSizeInput = decode(input)?;
    ctx.broker.update_max_record_size(
        &ctx.scope,
        stream_ref(&req.stream),
        req.max_record_size_kib,
    )?;
    Ok(Reply::Empty)
}

pub fn update_stream_mode(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: UpdateStreamModeInput = decode(input)?;
    let on_demand = req.stream_mode_details.stream_mode == "ON_DEMAND";
    ctx.broker
        .update_stream_mode(&ctx.scope, stream_ref(&req.stream), on_demand)?;
    Ok(Reply::Empty)
}
