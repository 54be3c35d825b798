//! Tag handlers: AddTagsToStream, RemoveTagsFromStream, ListTagsForStream by stream;
//! TagResource, UntagResource, ListTagsForResource by ARN.

use serde_json::Value;

use super::{decode, json, stream_ref, Ctx, Reply};
use crate::api::error::ApiError;
use crate::api::shapes::*;
use crate::broker::tags::TagRules;

fn tags_out(tags: Vec<(String, String)>) -> Vec<Tag> {
    tags.into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect()
}

pub fn add_tags_to_stream(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: AddTagsToStreamInput = decode(input)?;
    let stream = ctx.broker.stream(&ctx.scope, stream_ref(&req.stream))?;
    ctx.broker
        .add_tags(&ctx.scope, &stream, req.tags, TagRules::Stream)?;
    Ok(Reply::Empty)
}

pub fn remove_tags_from_stream(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: RemoveTagsFromStreamInput = decode(input)?;
    let stream = ctx.broker.stream(&ctx.scope, stream_ref(&req.stream))?;
    ctx.broker
        .remove_tags(&ctx.scope, &stream, &req.tag_keys, TagRules::Stream)?;
    Ok(Reply::Empty)
}

pub fn list_tags_for_stream(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ListTagsForStreamInput = decode(input)?;
    let stream = ctx.broker.stream(&ctx.scope, stream_ref(&req.stream))?;
    let page = ctx
        .broker
        .list_tags(&stream, req.exclusive_start_tag_key.as_deref(), req.limit);
    json(&ListTagsForStreamOutput {
        tags: tags_out(page.tags),
        has_more_tags: page.has_more,
    })
}

pub fn tag_resource(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: TagResourceInput = decode(input)?;
    ctx.broker
        .tag_resource(&ctx.scope, &req.resource_arn, req.tags)?;
    Ok(Reply::Empty)
}

pub fn untag_resource(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: UntagResourceInput = decode(input)?;
    ctx.broker
        .untag_resource(&ctx.scope, &req.resource_arn, &req.tag_keys)?;
    Ok(Reply::Empty)
}

pub fn list_tags_for_resource(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ResourceInput = decode(input)?;
    let tags = ctx.broker.resource_tags(&ctx.scope, &req.resource_arn)?;
    json(&ListTagsForResourceOutput {
        tags: tags_out(tags),
    })
}
