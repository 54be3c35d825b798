//! Enhanced fan-out consumer handlers: RegisterStreamConsumer, DescribeStreamConsumer,
//! ListStreamConsumers, DeregisterStreamConsumer.

use serde_json::Value;

use super::{decode, json, seconds, timestamp_ms, Ctx, Reply};
use crate::api::error::ApiError;
use crate::api::shapes::*;
use crate::broker::consumers::{ConsumerRef, ConsumerView, ListConsumersQuery};

fn consumer_out(v: ConsumerView) -> Consumer {
    Consumer {
        consumer_name: v.name,
        consumer_arn: v.arn,
        consumer_status: v.status.as_str(),
        consumer_creation_timestamp: seconds(v.created_ms),
    }
}

fn consumer_ref(ident: &ConsumerIdent) -> ConsumerRef<'_> {
    ConsumerRef {
        stream_arn: ident.stream_arn.as_deref(),
        consumer_name: ident.consumer_name.as_deref(),
        consumer_arn: ident.consumer_arn.as_deref(),
    }
}

pub fn register_stream_consumer(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: RegisterStreamConsumerInput = decode(input)?;
    let v = ctx.broker.register_consumer(
        &ctx.scope,
        &req.stream_arn,
        &req.consumer_name,
        req.tags.unwrap_or_default(),
    )?;
    json(&RegisterStreamConsumerOutput {
        consumer: consumer_out(v),
    })
}

pub fn describe_stream_consumer(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ConsumerIdent = decode(input)?;
    let v = ctx
        .broker
        .describe_consumer(&ctx.scope, consumer_ref(&req))?;
    json(&DescribeStreamConsumerOutput {
        consumer_description: ConsumerDescription {
            consumer_name: v.name,
            consumer_arn: v.arn,
            consumer_status: v.status.as_str(),
            consumer_creation_timestamp: seconds(v.created_ms),
            stream_arn: v.stream_arn,
        },
    })
}

pub fn list_stream_consumers(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ListStreamConsumersInput = decode(input)?;
    let creation = req
        .stream_creation_timestamp
        .as_ref()
        .map(|v| timestamp_ms(v, "StreamCreationTimestamp"))
        .transpose()?;
    let page = ctx.broker.list_consumers(
        &ctx.scope,
        ListConsumersQuery {
            stream_arn: &req.stream_arn,
            next_token: req.next_token.as_deref(),
            max_results: req.max_results,
            stream_creation_ms: creation,
        },
    )?;
    json(&ListStreamConsumersOutput {
        consumers: page.consumers.into_iter().map(consumer_out).collect(),
        next_token: page.next_token,
    })
}

pub fn deregister_stream_consumer(ctx: &Ctx<'_>, input: Value) -> Result<Reply, ApiError> {
    let req: ConsumerIdent = decode(input)?;
    ctx.broker
        .deregister_consumer(&ctx.scope, consumer_ref(&req))?;
    Ok(Reply::Empty)
}
