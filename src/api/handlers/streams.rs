//! Control-plane handlers: CreateStream, DeleteStream, DescribeStream(Summary),
//! ListStreams, ListShards.

use serde_json::Value;

use super::{decode, json, seconds, stream_ref, timestamp_ms, Ctx, Reply};
use crate::api::error::ApiError;
use crate::api::shapes::*;
use crate::broker::shards::{ListShardsQuery, ShardFilter};
use crate::broker::streams::status_word as status_name;
use crate::broker::streams::{CreateStream, ShardView, StreamView};
use crate::broker::StreamRef;

fn mode(on_demand: bool) -> StreamModeOut {
    StreamModeOut {
        stream_mode: if on_demand {
            "ON_DEMAND"
        } else {
            "PROVISIONED"
        },
    }
}

fn metrics(shard_level_metrics: Vec<String>) -> Vec<EnhancedMetrics> {
    vec![EnhancedMetrics {
        shard_level_metrics,
    }]
}

/// EncryptionType as AWS spells it.
pub(super) fn encryption_word(encrypted: bool) -> &'static str {
    if encrypted {
        "KMS"
    } else {
        "NONE"
    }
}

pub(super) fn shard_out(s: ShardView) -> Shard {
    Shard {
        shard_id: s.shard_id,
        parent_shard_id: s.parent_shard_id,
        adjacent_parent_shard_id: s.adjacent_parent_shard_id,
        hash_key_range: HashKeyRange {
            starting_hash_key: s.starting_hash_key.to_string(),
            ending_hash_key: s.ending_hash_key.to_string(),
        },
        sequence_number_range: SequenceNumberRange {
            starting_sequence_number: s.starting_sequence_number.to_string(),
            ending_sequence_number: s.ending_sequence_number.map(|n| n.to_string()),
        },
    }
}

pub fn create_stream(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: CreateStreamInput = decode(input)?;
    let on_demand = req
        .stream_mode_details
        .as_ref()
        .is_some_and(|m| m.stream_mode == "ON_DEMAND");
    ctx.broker.create_stream(
        &ctx.scope,
        CreateStream {
            name: req.stream_name,
            shard_count: req.shard_count,
            on_demand,
            max_record_size_kib: req.max_record_size_kib,
            tags: req.tags.unwrap_or_default(),
        },
    )?;
    Ok(Reply::Empty)
}

pub fn delete_stream(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: DeleteStreamInput = decode(input)?;
    ctx.broker.delete_stream(
        &ctx.scope,
        stream_ref(&req.stream),
        req.enforce_consumer_deletion.unwrap_or(false),
    )?;
    Ok(Reply::Empty)
}

pub fn describe_stream(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: DescribeStreamInput = decode(input)?;
    let d = ctx.broker.describe_stream(
        &ctx.scope,
        stream_ref(&req.stream),
        req.limit,
        req.exclusive_start_shard_id.as_deref(),
    )?;
    let v = d.stream;
    json(&DescribeStreamOutput {
        stream_description: StreamDescription {
            stream_name: v.name,
            stream_arn: v.arn,
            stream_status: status_name(v.status),
            stream_mode_details: mode(v.on_demand),
            shards: d.shards.into_iter().map(shard_out).collect(),
            has_more_shards: d.has_more_shards,
            retention_period_hours: v.retention_hours,
            stream_creation_timestamp: seconds(v.created_ms),
            enhanced_monitoring: metrics(v.shard_level_metrics),
            encryption_type: encryption_word(v.encryption_key_id.is_some()),
            key_id: v.encryption_key_id,
        },
    })
}

pub fn describe_stream_summary(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: StreamIdent = decode(input)?;
    let v: StreamView = ctx
        .broker
        .describe_stream_summary(&ctx.scope, stream_ref(&req))?;
    json(&DescribeStreamSummaryOutput {
        stream_description_summary: StreamDescriptionSummary {
            stream_name: v.name,
            stream_arn: v.arn,
            stream_status: status_name(v.status),
            stream_mode_details: mode(v.on_demand),
            retention_period_hours: v.retention_hours,
            stream_creation_timestamp: seconds(v.created_ms),
            enhanced_monitoring: metrics(v.shard_level_metrics),
            encryption_type: encryption_word(v.encryption_key_id.is_some()),
            key_id: v.encryption_key_id,
            open_shard_count: v.open_shard_count,
            consumer_count: v.consumer_count,
            // On-demand streams report their write capacity (1 MiB/s per open shard).
            warm_throughput: v.on_demand.then_some(WarmThroughputObject {
                target_mibps: v.warm_target_mibps,
                current_mibps: v.open_shard_count as u32,
            }),
            max_record_size_in_kib: v.max_record_size_kib,
        },
    })
}

pub fn list_streams(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ListStreamsInput = decode(input)?;
    let page = ctx.broker.list_streams(
        &ctx.scope,
        req.limit,
        req.exclusive_start_stream_name.as_deref(),
        req.next_token.as_deref(),
    )?;
    json(&ListStreamsOutput {
        stream_names: page.streams.iter().map(|s| s.name.clone()).collect(),
        has_more_streams: page.has_more,
        next_token: page.next_token,
        stream_summaries: page
            .streams
            .into_iter()
            .map(|v| StreamSummary {
                stream_name: v.name,
                stream_arn: v.arn,
                stream_status: status_name(v.status),
                stream_mode_details: mode(v.on_demand),
                stream_creation_timestamp: seconds(v.created_ms),
            })
            .collect(),
    })
}

fn shard_filter(f: &ShardFilterInput) -> Result<ShardFilter, ApiError> {
    let ts = || match &f.timestamp {
        Some(v) => timestamp_ms(v, "ShardFilter.Timestamp"),
        None => Err(ApiError::invalid_argument(format!(
            "Timestamp must be specified for ShardFilter type {}.",
            f.kind
        ))),
    };
    Ok(match f.kind.as_str() {
        "AFTER_SHARD_ID" => {
            let id = f.shard_id.as_deref().ok_or_else(|| {
                ApiError::invalid_argument(
                    "ShardId must be specified for ShardFilter type AFTER_SHARD_ID.",
                )
            })?;
            let index = crate::broker::arn::parse_shard_id(id).ok_or_else(|| {
                ApiError::invalid_argument(format!("Invalid ShardId in ShardFilter: {id}."))
            })?;
            ShardFilter::AfterShardId(index)
        }
        "AT_TRIM_HORIZON" => ShardFilter::AtTrimHorizon,
        "FROM_TRIM_HORIZON" => ShardFilter::FromTrimHorizon,
        "AT_LATEST" => ShardFilter::AtLatest,
        "AT_TIMESTAMP" => ShardFilter::AtTimestamp(ts()?),
        "FROM_TIMESTAMP" => ShardFilter::FromTimestamp(ts()?),
        other => {
            return Err(ApiError::invalid_argument(format!(
                "Unknown ShardFilter type {other}."
            )))
        }
    })
}

pub fn list_shards(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ListShardsInput = decode(input)?;
    let filter = req.shard_filter.as_ref().map(shard_filter).transpose()?;
    let creation = req
        .stream_creation_timestamp
        .as_ref()
        .map(|v| timestamp_ms(v, "StreamCreationTimestamp"))
        .transpose()?;
    let page = ctx.broker.list_shards(
        &ctx.scope,
        ListShardsQuery {
            stream: StreamRef {
                name: req.stream.stream_name.as_deref(),
                arn: req.stream.stream_arn.as_deref(),
            },
            next_token: req.next_token.as_deref(),
            exclusive_start_shard_id: req.exclusive_start_shard_id.as_deref(),
            max_results: req.max_results,
            filter,
            stream_creation_ms: creation,
        },
    )?;
    json(&ListShardsOutput {
        shards: page.shards.into_iter().map(shard_out).collect(),
        next_token: page.next_token,
    })
}
