//! Request and response structures of the tag, encryption, monitoring, account and
//! policy operations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StreamIdent;

// ----- inputs -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddTagsToStreamInput {
    #[serde(flatten)]
    pub stream: StreamIdent,
    pub tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTagsFromStreamInput {
    #[serde(flatten)]
    pub stream: StreamIdent,
    pub tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForStreamInput {
    #[serde(flatten)]
    pub stream: StreamIdent,
    pub exclusive_start_tag_key: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutResourcePolicyInput {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub policy: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionInput {
    #[serde(flatten)]
    pub stream: StreamIdent,
    pub encryption_type: String,
    pub key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MonitoringInput {
    #[serde(flatten)]
    pub stream: StreamIdent,
    pub shard_level_metrics: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStreamWarmThroughputInput {
    #[serde(flatten)]
    pub stream: StreamIdent,
    #[serde(rename = "WarmThroughputMiBps")]
    pub warm_throughput_mibps: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommitmentInput {
    pub status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAccountSettingsInput {
    pub minimum_throughput_billing_commitment: CommitmentInput,
}

// ----- outputs -----

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForStreamOutput {
    pub tags: Vec<Tag>,
    pub has_more_tags: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceOutput {
    pub tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResourcePolicyOutput {
    pub policy: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnhancedMonitoringOutput {
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    pub current_shard_level_metrics: Vec<String>,
    pub desired_shard_level_metrics: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WarmThroughputObject {
    #[serde(rename = "TargetMiBps", skip_serializing_if = "Option::is_none")]
    pub target_mibps: Option<u32>,
    #[serde(rename = "CurrentMiBps")]
    pub current_mibps: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStreamWarmThroughputOutput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    pub stream_name: String,
    pub warm_throughput: WarmThroughputObject,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLimitsOutput {
    pub shard_limit: u32,
    pub open_shard_count: u32,
    pub on_demand_stream_count: u32,
    pub on_demand_stream_count_limit: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommitmentOutput {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earliest_allowed_end_at: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSettingsOutput {
    pub minimum_throughput_billing_commitment: CommitmentOutput,
}
