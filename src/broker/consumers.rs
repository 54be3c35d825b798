//! Enhanced fan-out consumers: RegisterStreamConsumer, DescribeStreamConsumer,
//! ListStreamConsumers, DeregisterStreamConsumer (tags and policies on consumer ARNs
//! are in `consumer_resources`).
//!
//! Consumers live in their stream's record (`StreamMeta::consumers`), so they are
//! persisted, and deleted, with the stream. Status moves CREATING -> ACTIVE after
//! `consumer_create_delay_ms` and DELETING -> gone after `consumer_delete_delay_ms`, as
//! delayed tasks like the stream's own transitions; a restart finishes them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::streams::check_token_age;
use super::tags::{check_tags, TagRules};
use super::token::{Reader, Writer};
use super::{arn, Broker, BrokerError, BrokerResult, Scope, Stream, StreamRef};
use crate::storage::catalog::{ConsumerMeta, ConsumerState, StreamMeta, StreamState};

/// A consumer's status as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerStatus {
    Creating,
    Active,
    Deleting,
}

impl ConsumerStatus {
    /// The status as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerStatus::Creating => "CREATING",
            ConsumerStatus::Active => "ACTIVE",
            ConsumerStatus::Deleting => "DELETING",
        }
    }
}

impl From<ConsumerState> for ConsumerStatus {
    fn from(s: ConsumerState) -> Self {
        match s {
            ConsumerState::Creating => ConsumerStatus::Creating,
            ConsumerState::Active => ConsumerStatus::Active,
            ConsumerState::Deleting => ConsumerStatus::Deleting,
        }
    }
}

/// A consumer as the describe and list calls show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerView {
    pub name: String,
    pub arn: String,
    pub status: ConsumerStatus,
    pub created_ms: i64,
    pub stream_arn: String,
}

/// How a request names a consumer: by ConsumerARN, or by StreamARN + ConsumerName
/// (all three may be given if they agree).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsumerRef<'a> {
    pub stream_arn: Option<&'a str>,
    pub consumer_name: Option<&'a str>,
    pub consumer_arn: Option<&'a str>,
}

/// The members of a ListStreamConsumers request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListConsumersQuery<'a> {
    pub stream_arn: &'a str,
    pub next_token: Option<&'a str>,
    pub max_results: Option<u32>,
    pub stream_creation_ms: Option<i64>,
}

/// One page of ListStreamConsumers.
#[derive(Debug, Clone)]
pub struct ConsumerPage {
    pub consumers: Vec<ConsumerView>,
    pub next_token: Option<String>,
}

/// Consumers one account and region may have CREATING at once, as on AWS.
pub const MAX_CREATING_CONSUMERS: usize = 5;
const LIST_CONSUMERS_TOKEN: u8 = 4;
const PAGE_CAP: u32 = 100;

fn view_of(stream: &Stream, c: &ConsumerMeta) -> ConsumerView {
    let stream_arn = stream.arn();
    ConsumerView {
        name: c.name.clone(),
        arn: arn::consumer_arn(&stream_arn, &c.name, c.created_ms),
        status: c.state.into(),
        created_ms: c.created_ms,
        stream_arn,
    }
}

/// Finishes consumer transitions at start-up: CREATING becomes ACTIVE, DELETING is
/// gone. Returns whether anything changed.
pub(crate) fn settle_at_start(meta: &mut StreamMeta) -> bool {
    let before = meta.consumers.len();
    meta.consumers
        .retain(|c| c.state != ConsumerState::Deleting);
    let mut changed = meta.consumers.len() != before;
    for c in &mut meta.consumers {
        if c.state == ConsumerState::Creating {
            c.state = ConsumerState::Active;
            changed = true;
        }
    }
    changed
}

impl Stream {
    /// Consumers registered with the stream (any status), for ConsumerCount.
    pub fn consumer_count(&self) -> usize {
        self.meta
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .consumers
            .len()
    }

    /// Every consumer of the stream, in registration order.
    pub fn consumers(&self) -> Vec<ConsumerView> {
        let meta = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        meta.consumers.iter().map(|c| view_of(self, c)).collect()
    }
}

pub(super) fn consumer_not_found(scope: &Scope, what: &str) -> BrokerError {
    BrokerError::ResourceNotFound(format!(
        "Consumer {what} under account {} not found.",
        scope.account
    ))
}

impl Broker {
    /// Finds a consumer by its ARN (the stream is looked up from the ARN's
    /// account/region/stream name).
    pub fn consumer_by_arn(
        &self,
        scope: &Scope,
        consumer_arn: &str,
    ) -> BrokerResult<(Arc<Stream>, ConsumerView)> {
        let (stream, c) = self.find_consumer(scope, consumer_arn)?;
        let view = view_of(&stream, &c);
        Ok((stream, view))
    }

    pub(super) fn find_consumer(
        &self,
        scope: &Scope,
        consumer_arn: &str,
    ) -> BrokerResult<(Arc<Stream>, ConsumerMeta)> {
        let parsed = arn::parse_consumer_arn(consumer_arn).ok_or_else(|| {
            BrokerError::InvalidArgument(format!(
                "ConsumerARN {consumer_arn} is not a valid consumer ARN."
            ))
        })?;
        if parsed.stream.account != scope.account || parsed.stream.region != scope.region {
            return Err(consumer_not_found(scope, consumer_arn));
        }
        let stream = self
            .lookup(scope, &parsed.stream.name)
            .ok_or_else(|| consumer_not_found(scope, consumer_arn))?;
        let meta = stream.meta.lock().unwrap_or_else(|p| p.into_inner());
        let found = meta
            .consumers
            .iter()
            .find(|c| c.name == parsed.name && c.created_ms.div_euclid(1000) == parsed.created_secs)
            .cloned();
        drop(meta);
        match found {
            Some(c) => Ok((stream, c)),
            None => Err(consumer_not_found(scope, consumer_arn)),
        }
    }

    /// Resolves ConsumerARN or StreamARN + ConsumerName, checking that they agree.
    fn resolve_consumer(
        &self,
        scope: &Scope,
        r: ConsumerRef<'_>,
    ) -> BrokerResult<(Arc<Stream>, ConsumerMeta)> {
        match (r.consumer_arn, r.stream_arn, r.consumer_name) {
            (Some(a), stream_arn, name) => {
                if let Some(parsed) = arn::parse_consumer_arn(a) {
                    if let Some(s) = stream_arn {
                        let given = arn::parse_stream_arn(s);
                        if given.as_ref() != Some(&parsed.stream) {
                            return Err(BrokerError::InvalidArgument(format!(
                                "StreamARN {s} and ConsumerARN {a} do not name the same stream."
                            )));
                        }
                    }
                    if let Some(n) = name {
                        if n != parsed.name {
                            return Err(BrokerError::InvalidArgument(format!(
                                "ConsumerName {n} and ConsumerARN {a} do not name the same \
                                 consumer."
                            )));
                        }
                    }
                }
                self.find_consumer(scope, a)
            }
            (None, Some(s), Some(n)) => {
                let stream = self.stream(
                    scope,
                    StreamRef {
                        name: None,
                        arn: Some(s),
                    },
                )?;
                let found = {
                    let meta = stream.meta.lock().unwrap_or_else(|p| p.into_inner());
                    meta.consumers.iter().find(|c| c.name == n).cloned()
                };
                match found {
                    Some(c) => Ok((stream, c)),
                    None => Err(BrokerError::ResourceNotFound(format!(
                        "Consumer {n} under stream {s} not found for account {}.",
                        scope.account
                    ))),
                }
            }
            _ => Err(BrokerError::InvalidArgument(
                "Either ConsumerARN or both StreamARN and ConsumerName must be provided.".into(),
            )),
        }
    }

    pub fn register_consumer(
        self: &Arc<Self>,
        scope: &Scope,
        stream_arn: &str,
        name: &str,
        tags: BTreeMap<String, String>,
    ) -> BrokerResult<ConsumerView> {
        check_tags(&tags, TagRules::Resource)?;
        let control = self.lock_control();
        let stream = self.stream(
            scope,
            StreamRef {
                name: None,
                arn: Some(stream_arn),
            },
        )?;
        if !matches!(stream.status(), StreamState::Active | StreamState::Updating) {
            return Err(stream.not_active(scope));
        }
        let mut meta = stream.meta();
        if meta.consumers.iter().any(|c| c.name == name) {
            return Err(BrokerError::ResourceInUse(format!(
                "Consumer {name} under stream {} already exists for account {}.",
                stream.name, scope.account
            )));
        }
        let max = self.config.max_consumers_per_stream as usize;
        if meta.consumers.len() >= max {
            return Err(BrokerError::LimitExceeded(format!(
                "Stream {} under account {} already has {} consumers; at most {max} may be \
                 registered with one stream.",
                stream.name,
                scope.account,
                meta.consumers.len()
            )));
        }
        if self.config.limits.enabled {
            let creating: usize = self
                .streams
                .load()
                .values()
                .filter(|s| s.account == scope.account && s.region == scope.region)
                .map(|s| {
                    let m = s.meta.lock().unwrap_or_else(|p| p.into_inner());
                    m.consumers
                        .iter()
                        .filter(|c| c.state == ConsumerState::Creating)
                        .count()
                })
                .sum();
            if creating >= MAX_CREATING_CONSUMERS {
                return Err(BrokerError::LimitExceeded(format!(
                    "Account {} in {} already has {creating} consumers in CREATING state; at \
                     most {MAX_CREATING_CONSUMERS} may be registered at once.",
                    scope.account, scope.region
                )));
            }
        }
        let now = self.clock.now_ms();
        let delay = self.config.consumer_create_delay_ms;
        let consumer = ConsumerMeta {
            name: name.to_string(),
            created_ms: now,
            state: if delay == 0 {
                ConsumerState::Active
            } else {
                ConsumerState::Creating
            },
            tags,
            policy: None,
        };
        meta.consumers.push(consumer.clone());
        self.commit_meta(&stream, meta)?;
        drop(control);
        if delay > 0 {
            // Weak: a pending transition must not keep a stopped broker (and its
            // catalog lock) alive; a restart finishes the transition instead.
            let me = Arc::downgrade(self);
            let (key, stream_created) = (stream.key(), stream.created_ms);
            let name = name.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let Some(me) = me.upgrade() else { return };
                if let Err(e) =
                    me.retrying(|| me.finish_consumer_creating(&key, stream_created, &name, now))
                {
                    tracing::error!(stream = %key, consumer = %name, error = %e, "could not make the consumer ACTIVE");
                }
            });
        }
        Ok(view_of(&stream, &consumer))
    }

    /// Changes one consumer of a stream still known by `key` and `stream_created`
    /// (under `control`); `change` says whether it changed anything.
    fn change_consumer(
        &self,
        key: &str,
        stream_created: i64,
        name: &str,
        created_ms: i64,
        change: impl FnOnce(&mut Vec<ConsumerMeta>, usize) -> bool,
    ) -> BrokerResult<()> {
        let _control = self.lock_control();
        let Some(stream) = self.streams.load().get(key).cloned() else {
            return Ok(());
        };
        if stream.created_ms != stream_created {
            return Ok(());
        }
        let mut meta = stream.meta();
        let Some(i) = meta
            .consumers
            .iter()
            .position(|c| c.name == name && c.created_ms == created_ms)
        else {
            return Ok(());
        };
        if change(&mut meta.consumers, i) {
            self.commit_meta(&stream, meta)?;
        }
        Ok(())
    }

    fn finish_consumer_creating(
        &self,
        key: &str,
        stream_created: i64,
        name: &str,
        created_ms: i64,
    ) -> BrokerResult<()> {
        self.change_consumer(key, stream_created, name, created_ms, |cs, i| {
            if cs[i].state != ConsumerState::Creating {
                return false;
            }
            cs[i].state = ConsumerState::Active;
            true
        })
    }

    fn finish_consumer_deleting(
        &self,
        key: &str,
        stream_created: i64,
        name: &str,
        created_ms: i64,
    ) -> BrokerResult<()> {
        self.change_consumer(key, stream_created, name, created_ms, |cs, i| {
            cs.remove(i);
            true
        })
    }

    pub fn describe_consumer(
        &self,
        scope: &Scope,
        r: ConsumerRef<'_>,
    ) -> BrokerResult<ConsumerView> {
        let (stream, c) = self.resolve_consumer(scope, r)?;
        Ok(view_of(&stream, &c))
    }

    pub fn deregister_consumer(
        self: &Arc<Self>,
        scope: &Scope,
        r: ConsumerRef<'_>,
    ) -> BrokerResult<()> {
        let control = self.lock_control();
        let (stream, c) = self.resolve_consumer(scope, r)?;
        if c.state == ConsumerState::Deleting {
            return Ok(());
        }
        let delay = self.config.consumer_delete_delay_ms;
        let mut meta = stream.meta();
        let Some(i) = meta
            .consumers
            .iter()
            .position(|m| m.name == c.name && m.created_ms == c.created_ms)
        else {
            return Err(consumer_not_found(scope, &c.name));
        };
        if delay == 0 {
            meta.consumers.remove(i);
        } else {
            meta.consumers[i].state = ConsumerState::Deleting;
        }
        self.commit_meta(&stream, meta)?;
        drop(control);
        if delay > 0 {
            let me = Arc::downgrade(self);
            let (key, stream_created) = (stream.key(), stream.created_ms);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let Some(me) = me.upgrade() else { return };
                if let Err(e) = me.retrying(|| {
                    me.finish_consumer_deleting(&key, stream_created, &c.name, c.created_ms)
                }) {
                    tracing::error!(stream = %key, consumer = %c.name, error = %e, "could not finish deregistering the consumer");
                }
            });
        }
        Ok(())
    }

    pub fn list_consumers(
        &self,
        scope: &Scope,
        q: ListConsumersQuery<'_>,
    ) -> BrokerResult<ConsumerPage> {
        let now = self.clock.now_ms();
        let stream = self.stream(
            scope,
            StreamRef {
                name: None,
                arn: Some(q.stream_arn),
            },
        )?;
        let after = match q.next_token {
            Some(token) => {
                if q.stream_creation_ms.is_some() {
                    return Err(BrokerError::InvalidArgument(
                        "NextToken and StreamCreationTimestamp cannot be provided together.".into(),
                    ));
                }
                Some(self.open_list_consumers_token(&stream, token, now)?)
            }
            None => {
                if let Some(ts) = q.stream_creation_ms {
                    if ts.div_euclid(1000) != stream.created_ms.div_euclid(1000) {
                        return Err(self.not_found(scope, &stream.name));
                    }
                }
                None
            }
        };
        if stream.status() == StreamState::Creating {
            return Err(stream.not_active(scope));
        }
        let limit = q.max_results.unwrap_or(PAGE_CAP).clamp(1, PAGE_CAP) as usize;
        let meta = stream.meta();
        let start = match &after {
            None => 0,
            Some((ms, name)) => meta
                .consumers
                .iter()
                .position(|c| c.created_ms == *ms && &c.name == name)
                .map(|i| i + 1)
                .or_else(|| meta.consumers.iter().position(|c| c.created_ms > *ms))
                .unwrap_or(meta.consumers.len()),
        };
        let rest = &meta.consumers[start..];
        let page: Vec<&ConsumerMeta> = rest.iter().take(limit).collect();
        let next_token = match (rest.len() > limit, page.last()) {
            (true, Some(last)) => Some(
                self.signer.seal(
                    LIST_CONSUMERS_TOKEN,
                    &Writer::default()
                        .stream_mark(now, &stream)
                        .i64(last.created_ms)
                        .str(&last.name)
                        .0,
                ),
            ),
            _ => None,
        };
        Ok(ConsumerPage {
            consumers: page.into_iter().map(|c| view_of(&stream, c)).collect(),
            next_token,
        })
    }

    /// The last consumer (creation time, name) of the previous page. A token only
    /// continues a listing of the stream it was issued for.
    fn open_list_consumers_token(
        &self,
        stream: &Stream,
        token: &str,
        now: i64,
    ) -> BrokerResult<(i64, String)> {
        let invalid = || BrokerError::InvalidArgument("Invalid NextToken.".into());
        let payload = self
            .signer
            .open(LIST_CONSUMERS_TOKEN, token)
            .ok_or_else(invalid)?;
        let mut r = Reader(&payload);
        let mark = r.stream_mark().ok_or_else(invalid)?;
        let last_ms = r.i64().ok_or_else(invalid)?;
        let last_name = r.str().ok_or_else(invalid)?;
        if !r.done() {
            return Err(invalid());
        }
        check_token_age(mark.issued_ms, now)?;
        if mark.account != stream.account
            || mark.region != stream.region
            || mark.name != stream.name
            || mark.created_ms != stream.created_ms
        {
            return Err(invalid());
        }
        Ok((last_ms, last_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_settles_transitions() {
        let c = |name: &str, state| ConsumerMeta {
            name: name.into(),
            created_ms: 1,
            state,
            tags: BTreeMap::new(),
            policy: None,
        };
        let mut meta: StreamMeta = serde_json::from_str(
            r#"{"account":"a","region":"r","name":"s","created_ms":1,"state":"Active",
                "retention_hours":24,"on_demand":false,"max_record_size_kib":1024,
                "next_shard_index":0,"shards":[]}"#,
        )
        .unwrap();
        assert!(meta.consumers.is_empty());
        assert!(!settle_at_start(&mut meta));
        meta.consumers = vec![
            c("a", ConsumerState::Creating),
            c("b", ConsumerState::Deleting),
            c("c", ConsumerState::Active),
        ];
        assert!(settle_at_start(&mut meta));
        assert_eq!(
            meta.consumers,
            vec![c("a", ConsumerState::Active), c("c", ConsumerState::Active)]
        );
    }
}
