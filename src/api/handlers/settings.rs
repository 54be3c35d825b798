//! Setting handlers: Start/StopStreamEncryption, Enable/DisableEnhancedMonitoring,
//! UpdateStreamWarmThroughput, DescribeLimits, Describe/UpdateAccountSettings.

use serde_json::Value;

use super::{decode, json, seconds, stream_ref, Ctx, Reply};
use crate::api::error::ApiError;
use crate::api::shapes::*;
use crate::broker::settings::{CommitmentStatus, CommitmentView};

fn kms_only(encryption_type: &str) -> Result<(), ApiError> {
    if encryption_type != "KMS" {
        return Err(ApiError::invalid_argument(format!(
            "EncryptionType {encryption_type} is not supported; the only encryption type is KMS."
        )));
    }
    Ok(())
}

pub fn start_stream_encryption(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: EncryptionInput = decode(input)?;
    kms_only(&req.encryption_type)?;
    ctx.broker
        .set_encryption(&ctx.scope, stream_ref(&req.stream), Some(&req.key_id))?;
    Ok(Reply::Empty)
}

pub fn stop_stream_encryption(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: EncryptionInput = decode(input)?;
    kms_only(&req.encryption_type)?;
    ctx.broker
        .set_encryption(&ctx.scope, stream_ref(&req.stream), None)?;
    Ok(Reply::Empty)
}

fn monitoring(ctx: &Ctx<'_>, input: Value, enable: bool) -> Result<Reply, ApiError> {
    let req: MonitoringInput = decode(input)?;
    let c = ctx.broker.change_monitoring(
        &ctx.scope,
        stream_ref(&req.stream),
        &req.shard_level_metrics,
        enable,
    )?;
    json(&EnhancedMonitoringOutput {
        stream_name: c.stream_name,
        stream_arn: c.stream_arn,
        current_shard_level_metrics: c.current,
        desired_shard_level_metrics: c.desired,
    })
}

pub fn enable_enhanced_monitoring(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    monitoring(ctx, input, true)
}

pub fn disable_enhanced_monitoring(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    monitoring(ctx, input, false)
}

pub fn update_stream_warm_throughput(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: UpdateStreamWarmThroughputInput = decode(input)?;
    let w = ctx.broker.update_warm_throughput(
        &ctx.scope,
        stream_ref(&req.stream),
        req.warm_throughput_mibps,
    )?;
    json(&UpdateStreamWarmThroughputOutput {
        stream_arn: w.stream_arn,
        stream_name: w.stream_name,
        warm_throughput: WarmThroughputObject {
            target_mibps: w.target_mibps,
            current_mibps: w.current_mibps,
        },
    })
}

pub fn describe_limits(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let l = ctx.broker.describe_limits(&ctx.scope);
    json(&DescribeLimitsOutput {
        shard_limit: l.shard_limit,
        open_shard_count: l.open_shard_count,
        on_demand_stream_count: l.on_demand_stream_count,
        on_demand_stream_count_limit: l.on_demand_stream_limit,
    })
}

fn commitment_out(c: CommitmentView) -> Result<Reply, ApiError> {
    json(&AccountSettingsOutput {
        minimum_throughput_billing_commitment: CommitmentOutput {
            status: match c.status {
                CommitmentStatus::Enabled => "ENABLED",
                CommitmentStatus::Disabled => "DISABLED",
                CommitmentStatus::EnabledUntilEarliestAllowedEnd => {
                    "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
                }
            },
            started_at: c.started_ms.map(seconds),
            ended_at: c.ended_ms.map(seconds),
            earliest_allowed_end_at: c.earliest_allowed_end_ms.map(seconds),
        },
    })
}

pub fn describe_account_settings(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    commitment_out(ctx.broker.account_settings(&ctx.scope))
}

pub fn update_account_settings(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: UpdateAccountSettingsInput = decode(input)?;
    // The model's enum admits only ENABLED and DISABLED.
    let enable = req.minimum_throughput_billing_commitment.status == "ENABLED";
    commitment_out(ctx.broker.update_account_settings(&ctx.scope, enable)?)
}
