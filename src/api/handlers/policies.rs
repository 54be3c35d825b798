//! Resource policy handlers: PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy.

use serde_json::Value;

use super::{decode, json, Ctx, Reply};
use crate::api::error::ApiError;
use crate::api::policy::parse_policy;
use crate::api::shapes::*;
use crate::broker::policy::ResourcePolicy;

pub fn put_resource_policy(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: PutResourcePolicyInput = decode(input)?;
    // Unknown resources are reported before a bad document.
    ctx.broker.resource_stream(&ctx.scope, &req.resource_arn)?;
    let statements = parse_policy(&req.policy)?;
    ctx.broker.put_resource_policy(
        &ctx.scope,
        &req.resource_arn,
        ResourcePolicy {
            document: req.policy,
            statements,
        },
    )?;
    Ok(Reply::Empty)
}

pub fn get_resource_policy(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ResourceInput = decode(input)?;
    let policy = ctx
        .broker
        .get_resource_policy(&ctx.scope, &req.resource_arn)?;
    json(&GetResourcePolicyOutput {
        policy: policy.unwrap_or_else(|| "{}".to_string()),
    })
}

pub fn delete_resource_policy(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ResourceInput = decode(input)?;
    ctx.broker
        .delete_resource_policy(&ctx.scope, &req.resource_arn)?;
    Ok(Reply::Empty)
}
