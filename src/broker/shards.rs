//! ListShards: shard filters, and NextTokens that carry the whole query so later pages
//! need nothing else.

use std::collections::HashSet;
use std::sync::Arc;

use super::streams::{check_token_age, ShardView};
use super::token::{Reader, Writer};
use super::{arn, Broker, BrokerError, BrokerResult, Scope, Shard, Stream, StreamRef};
use crate::storage::catalog::StreamState;

/// ListShards' ShardFilter, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardFilter {
    AfterShardId(u32),
    AtTrimHorizon,
    FromTrimHorizon,
    AtLatest,
    AtTimestamp(i64),
    FromTimestamp(i64),
}

/// The members of a ListShards request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListShardsQuery<'a> {
    pub stream: StreamRef<'a>,
    pub next_token: Option<&'a str>,
    pub exclusive_start_shard_id: Option<&'a str>,
    pub max_results: Option<u32>,
    pub filter: Option<ShardFilter>,
    pub stream_creation_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ShardPage {
    pub shards: Vec<ShardView>,
    pub next_token: Option<String>,
}

const LIST_SHARDS_TOKEN: u8 = 2;
const PAGE_CAP: usize = 1000;

/// A decoded query position: which stream, which filter, after which shard index.
struct Position {
    stream: Arc<Stream>,
    filter: ShardFilter,
    after: Option<u32>,
}

impl Broker {
    pub fn list_shards(&self, scope: &Scope, q: ListShardsQuery<'_>) -> BrokerResult<ShardPage> {
        let now = self.clock.now_ms();
        let pos = match q.next_token {
            Some(token) => {
                let conflicts = [
                    ("StreamName", q.stream.name.is_some()),
                    ("StreamARN", q.stream.arn.is_some()),
                    (
                        "ExclusiveStartShardId",
                        q.exclusive_start_shard_id.is_some(),
                    ),
                    ("ShardFilter", q.filter.is_some()),
                    ("StreamCreationTimestamp", q.stream_creation_ms.is_some()),
                ];
                if let Some((field, _)) = conflicts.iter().find(|c| c.1) {
                    return Err(BrokerError::InvalidArgument(format!(
                        "NextToken and {field} cannot be provided together."
                    )));
                }
                self.open_list_shards_token(scope, token, now)?
            }
            None => {
                if q.stream.name.is_none() && q.stream.arn.is_none() {
                    return Err(BrokerError::InvalidArgument(
                        "Either NextToken or StreamName/StreamARN must be provided.".into(),
                    ));
                }
                let stream = self.stream(scope, q.stream)?;
                if let Some(ts) = q.stream_creation_ms {
                    if ts.div_euclid(1000) != stream.created_ms.div_euclid(1000) {
                        return Err(self.not_found(scope, &stream.name));
                    }
                }
                let mut after = q.exclusive_start_shard_id.and_then(arn::parse_shard_id);
                let filter = q.filter.unwrap_or(ShardFilter::FromTrimHorizon);
                if let ShardFilter::AfterShardId(id) = filter {
                    after = Some(after.map_or(id, |a| a.max(id)));
                }
                Position {
                    stream,
                    filter,
                    after,
                }
            }
        };
        if pos.stream.status() == StreamState::Creating {
            return Err(BrokerError::ResourceInUse(format!(
                "Stream {} under account {} not ACTIVE, instead in state CREATING",
                pos.stream.name, scope.account
            )));
        }
        let limit = q
            .max_results
            .unwrap_or(PAGE_CAP as u32)
            .clamp(1, PAGE_CAP as u32) as usize;
        let set = pos.stream.shards();
        let trim_horizon = pos.stream.retention_cutoff(now);
        let live: HashSet<u32> = set.all.iter().map(|s| s.meta.index).collect();
        let mut matching = set
            .all
            .iter()
            .filter(|s| pos.after.is_none_or(|a| s.meta.index > a))
            .filter(|s| matches(pos.filter, s, trim_horizon, &live));
        let mut shards = Vec::new();
        let mut last = None;
        for s in matching.by_ref().take(limit) {
            last = Some(s.meta.index);
            shards.push(pos.stream.shard_view(s));
        }
        let next_token = match (matching.next(), last) {
            (Some(_), Some(last)) => {
                Some(self.list_shards_token(&pos.stream, pos.filter, last, now))
            }
            _ => None,
        };
        Ok(ShardPage { shards, next_token })
    }

    fn list_shards_token(
        &self,
        stream: &Stream,
        filter: ShardFilter,
        last: u32,
        now: i64,
    ) -> String {
        let (code, arg) = match filter {
            ShardFilter::AfterShardId(id) => (0, id as i64),
            ShardFilter::AtTrimHorizon => (1, 0),
            ShardFilter::FromTrimHorizon => (2, 0),
            ShardFilter::AtLatest => (3, 0),
            ShardFilter::AtTimestamp(ts) => (4, ts),
            ShardFilter::FromTimestamp(ts) => (5, ts),
        };
        let w = Writer::default()
            .stream_mark(now, stream)
            .u8(code)
            .i64(arg)
            .u32(last);
        self.signer.seal(LIST_SHARDS_TOKEN, &w.0)
    }

    fn open_list_shards_token(
        &self,
        scope: &Scope,
        token: &str,
        now: i64,
    ) -> BrokerResult<Position> {
        let invalid = || BrokerError::InvalidArgument("Invalid NextToken.".into());
        let payload = self
            .signer
            .open(LIST_SHARDS_TOKEN, token)
            .ok_or_else(invalid)?;
        let mut r = Reader(&payload);
        let mark = r.stream_mark().ok_or_else(invalid)?;
        let (code, arg, last) = (
            r.u8().ok_or_else(invalid)?,
            r.i64().ok_or_else(invalid)?,
            r.u32().ok_or_else(invalid)?,
        );
        check_token_age(mark.issued_ms, now)?;
        if mark.account != scope.account || mark.region != scope.region {
            return Err(invalid());
        }
        let filter = match code {
            0 => ShardFilter::AfterShardId(arg as u32),
            1 => ShardFilter::AtTrimHorizon,
            2 => ShardFilter::FromTrimHorizon,
            3 => ShardFilter::AtLatest,
            4 => ShardFilter::AtTimestamp(arg),
            5 => ShardFilter::FromTimestamp(arg),
            _ => return Err(invalid()),
        };
        let stream = self
            .lookup(scope, &mark.name)
            .filter(|s| s.created_ms == mark.created_ms)
            .ok_or_else(|| self.not_found(scope, &mark.name))?;
        Ok(Position {
            stream,
            filter,
            after: Some(last),
        })
    }
}

/// Whether a shard belongs in a filtered listing. `live` holds the indexes of every
/// shard still kept, so "oldest retained" shards are those without a live parent.
fn matches(filter: ShardFilter, s: &Shard, trim_horizon: i64, live: &HashSet<u32>) -> bool {
    let m = &s.meta;
    let closed_ms = m.closed.map(|c| c.closed_ms);
    let open_at = |ts: i64| m.created_ms <= ts && closed_ms.is_none_or(|c| c >= ts);
    let has_live_parent = [m.parent, m.adjacent_parent]
        .iter()
        .flatten()
        .any(|p| live.contains(p));
    match filter {
        ShardFilter::AfterShardId(_) | ShardFilter::FromTrimHorizon => true,
        ShardFilter::AtLatest => m.closed.is_none(),
        ShardFilter::AtTrimHorizon => open_at(trim_horizon) || !has_live_parent,
        ShardFilter::AtTimestamp(ts) => open_at(ts),
        ShardFilter::FromTimestamp(ts) => ts <= trim_horizon || closed_ms.is_none_or(|c| c >= ts),
    }
}
