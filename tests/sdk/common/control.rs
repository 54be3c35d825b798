//! Control-plane call sequences the tests share: ARNs, summaries, consumers, policies,
//! and a server with two accounts.

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::describe_stream_consumer::{
    DescribeStreamConsumerError, DescribeStreamConsumerOutput,
};
use aws_sdk_kinesis::operation::list_shards::{ListShardsError, ListShardsOutput};
use aws_sdk_kinesis::operation::register_stream_consumer::{
    RegisterStreamConsumerError, RegisterStreamConsumerOutput,
};
use aws_sdk_kinesis::types::{
    Consumer, EncryptionType, Shard, ShardFilter, StreamDescriptionSummary, StreamMode,
    StreamModeDetails,
};
use aws_sdk_kinesis::Client;

use super::{client_with_key, start_with, wait_active, TestServer};

/// The account of the harness's own key `AKIDTEST` on a [`start_two_accounts`] server.
pub const OWNER: &str = "000000000000";
/// The account of the second key `AKIDOTHER` on a [`start_two_accounts`] server.
pub const OTHER: &str = "111111111111";

/// StartStreamEncryption with KMS and `key`; the error code when it is refused.
pub async fn start_encryption(c: &Client, stream: &str, key: &str) -> Result<(), String> {
    c.start_stream_encryption()
        .stream_name(stream)
        .encryption_type(EncryptionType::Kms)
        .key_id(key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| super::code(&e))
}

/// The ARN of stream `name` in the default account and region.
pub fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{OWNER}:stream/{name}")
}

/// StreamModeDetails for `mode` (ON_DEMAND or PROVISIONED).
pub fn mode_details(mode: StreamMode) -> StreamModeDetails {
    StreamModeDetails::builder()
        .stream_mode(mode)
        .build()
        .unwrap()
}

/// Creates an ON_DEMAND stream and waits until it is ACTIVE.
pub async fn create_on_demand(c: &Client, name: &str) {
    c.create_stream()
        .stream_name(name)
        .stream_mode_details(mode_details(StreamMode::OnDemand))
        .send()
        .await
        .unwrap();
    wait_active(c, name).await;
}

/// The DescribeStreamSummary of a stream.
pub async fn summary(c: &Client, name: &str) -> StreamDescriptionSummary {
    c.describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .clone()
}

/// RegisterStreamConsumer of `name` on a stream of the default account, success or error
/// left to the caller.
pub async fn try_register_consumer(
    c: &Client,
    stream: &str,
    name: &str,
) -> Result<RegisterStreamConsumerOutput, SdkError<RegisterStreamConsumerError, HttpResponse>> {
    c.register_stream_consumer()
        .stream_arn(stream_arn(stream))
        .consumer_name(name)
        .send()
        .await
}

/// ListShards of a stream with a ShardFilter, success or error left to the caller.
pub async fn list_shards_filtered(
    c: &Client,
    stream: &str,
    filter: ShardFilter,
) -> Result<ListShardsOutput, SdkError<ListShardsError, HttpResponse>> {
    c.list_shards()
        .stream_name(stream)
        .shard_filter(filter)
        .send()
        .await
}

/// Registers consumer `name` on a stream of the default account; answers the consumer.
pub async fn register_consumer(c: &Client, stream: &str, name: &str) -> Consumer {
    try_register_consumer(c, stream, name)
        .await
        .unwrap()
        .consumer()
        .unwrap()
        .clone()
}

/// DescribeStreamConsumer by consumer ARN, success or error left to the caller.
pub async fn describe_consumer(
    c: &Client,
    consumer_arn: &str,
) -> Result<DescribeStreamConsumerOutput, SdkError<DescribeStreamConsumerError, HttpResponse>> {
    c.describe_stream_consumer()
        .consumer_arn(consumer_arn)
        .send()
        .await
}

/// PutResourcePolicy of `policy` (JSON text) on a stream or consumer ARN.
pub async fn put_policy(c: &Client, resource: &str, policy: &str) {
    c.put_resource_policy()
        .resource_arn(resource)
        .policy(policy)
        .send()
        .await
        .unwrap();
}

/// A server verifying signatures (which turns policy enforcement on) with two keys:
/// the harness's own `AKIDTEST` in OWNER, and `AKIDOTHER` in OTHER; and OTHER's client.
pub async fn start_two_accounts() -> (TestServer, Client) {
    let s = start_with(false, |c| {
        for key in [
            format!("AKIDTEST:secret:{OWNER}"),
            format!("AKIDOTHER:secret:{OTHER}"),
        ] {
            c.auth
                .credentials
                .push(shoal::config::CredentialConfig::parse(&key).unwrap());
        }
    })
    .await;
    let other = client_with_key(&s.endpoint, "us-east-1", "AKIDOTHER");
    (s, other)
}

/// Every shard of a stream, open and closed, through ListShards' pages.
pub async fn all_shards(c: &Client, stream: &str) -> Vec<Shard> {
    let mut out = Vec::new();
    let mut page = c.list_shards().stream_name(stream).send().await.unwrap();
    loop {
        out.extend(page.shards().iter().cloned());
        match page.next_token() {
            Some(t) => page = c.list_shards().next_token(t).send().await.unwrap(),
            None => return out,
        }
    }
}
