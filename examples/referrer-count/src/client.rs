//! The Kinesis client, and the stream helpers both commands share.

use std::time::Duration;

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::region::RegionProviderChain;
use aws_config::BehaviorVersion;
use aws_sdk_kinesis::config::{Credentials, Region};
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_kinesis::Client;

/// A client for `endpoint`.
///
/// Region: `AWS_REGION`, then `AWS_DEFAULT_REGION`, then `us-east-1`. Credentials:
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`) when set,
/// otherwise a fixed dummy key, which Shoal accepts unless it was started with
/// `--credentials`. The default provider chains are deliberately not used: their
/// instance-metadata fallbacks would try to reach 169.254.169.254.
pub async fn connect(endpoint: &str) -> Client {
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(Region::new("us-east-1"));
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(region)
        // Plain HTTP/1.1 (hyper); Shoal also serves TLS with --tls-port.
        .http_client(aws_smithy_http_client::Builder::new().build_http());
    let loader = if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader.credentials_provider(Credentials::new(
            "shoal",
            "shoal",
            None,
            None,
            "referrer-count",
        ))
    };
    Client::new(&loader.load().await)
}

/// The error code of a failed call (`ResourceNotFoundException`, ...), if the service
/// sent one.
pub fn code<E: ProvideErrorMetadata>(e: &E) -> Option<&str> {
    e.code()
}

/// A failed call with its whole cause chain, for messages.
pub fn describe<E: std::error::Error>(e: &E) -> String {
    format!("{}", DisplayErrorContext(e))
}

/// Waits until `stream` exists and is ACTIVE (or UPDATING, which also serves reads and
/// writes), saying so on stderr while it waits. Returns the number of open shards.
pub async fn wait_active(client: &Client, stream: &str) -> Result<i32, String> {
    let mut said = false;
    loop {
        match client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(s) = out.stream_description_summary() {
                    match s.stream_status() {
                        StreamStatus::Active | StreamStatus::Updating => {
                            return Ok(s.open_shard_count())
                        }
                        StreamStatus::Deleting => {
                            return Err(format!("stream {stream} is being deleted"))
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => match code(&e) {
                Some("ResourceNotFoundException") | Some("LimitExceededException") => {}
                _ => return Err(describe(&e)),
            },
        }
        if !said {
            eprintln!("waiting for stream {stream} to be ACTIVE ...");
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Creates `stream` with `shards` shards unless it exists, then waits until it is
/// ACTIVE.
pub async fn ensure_stream(client: &Client, stream: &str, shards: i32) -> Result<i32, String> {
    match client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if code(&e) == Some("ResourceNotFoundException") => {
            match client
                .create_stream()
                .stream_name(stream)
                .shard_count(shards)
                .send()
                .await
            {
                Ok(_) => eprintln!("created stream {stream} with {shards} shards"),
                // Someone else created it meanwhile.
                Err(e) if code(&e) == Some("ResourceInUseException") => {}
                Err(e) => return Err(format!("cannot create stream {stream}: {}", describe(&e))),
            }
        }
        Err(e) => return Err(describe(&e)),
    }
    wait_active(client, stream).await
}
