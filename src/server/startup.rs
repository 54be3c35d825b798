//! Start-up after the store is open: the streams the configuration declares are
//! created unless they exist (so restarts are idempotent), and the server reports
//! healthy only once every one of them is ACTIVE.

use std::sync::Arc;
use std::time::Duration;

use crate::broker::streams::CreateStream;
use crate::broker::{Broker, BrokerError, Scope, StreamRef};
use crate::config::{Config, DeclaredStream};
use crate::storage::catalog::StreamState;

/// Creates the missing declared streams and waits until all are ACTIVE.
pub async fn ensure_declared(broker: &Arc<Broker>, config: &Config) -> Result<(), String> {
    let declared = config.declared_streams()?;
    let scope = Scope {
        account: config.streams.account_id.clone(),
        region: config.streams.region.clone(),
    };
    for d in &declared {
        create_unless_present(broker, &scope, d).await?;
    }
    for d in &declared {
        loop {
            let status = status_of(broker, &scope, &d.name)?;
            if status == Some(StreamState::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(())
}

fn status_of(broker: &Broker, scope: &Scope, name: &str) -> Result<Option<StreamState>, String> {
    let r = StreamRef {
        name: Some(name),
        arn: None,
    };
    match broker.stream(scope, r) {
        Ok(s) => Ok(Some(s.status())),
        Err(BrokerError::ResourceNotFound(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

async fn create_unless_present(
    broker: &Arc<Broker>,
    scope: &Scope,
    d: &DeclaredStream,
) -> Result<(), String> {
    loop {
        match status_of(broker, scope, &d.name)? {
            // A stream being deleted (from before a restart) is recreated once gone.
            Some(StreamState::Deleting) => {}
            Some(_) => {
                let open = broker
                    .stream(
                        scope,
                        StreamRef {
                            name: Some(&d.name),
                            arn: None,
                        },
                    )
                    .map(|s| s.shards().open.len())
                    .unwrap_or(0);
                if open != d.shards as usize {
                    tracing::info!(
                        stream = %d.name,
                        "declared with {} shards, exists with {open} open shards: left as it is",
                        d.shards
                    );
                }
                return Ok(());
            }
            None => {
                let req = CreateStream {
                    name: d.name.clone(),
                    shard_count: Some(d.shards),
                    on_demand: false,
                    max_record_size_kib: None,
                    tags: Default::default(),
                };
                match broker.create_stream(scope, req) {
                    Ok(()) => {
                        tracing::info!(stream = %d.name, shards = d.shards, "created declared stream");
                        return Ok(());
                    }
                    // At most 5 streams may be CREATING at once: wait for a slot.
                    Err(BrokerError::LimitExceeded(m)) if m.contains("CREATING") => {}
                    Err(e) => return Err(format!("cannot create declared stream {}: {e}", d.name)),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
