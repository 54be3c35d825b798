//! Stream and account settings: encryption (Start/StopStreamEncryption, which choose
//! the key new records are sealed with, `kms`); and what is bookkeeping on this
//! server: enhanced monitoring, warm throughput, DescribeLimits
//! and the account's minimum throughput billing commitment.

use std::sync::Arc;

use super::{Broker, BrokerError, BrokerResult, Scope, Stream, StreamRef};
use crate::storage::catalog::{BillingCommitment, CatalogOp, StreamState};

/// Settings-table key prefix of an account's settings (`account/<id>`).
pub const SETTING_ACCOUNT_PREFIX: &str = "account/";

/// Every shard-level metric, in the model's order; `ALL` stands for all of them.
pub const METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

/// Successful StartStreamEncryption / StopStreamEncryption calls per stream in a
/// rolling 24 hours, as on AWS.
pub const MAX_ENCRYPTION_CHANGES_PER_DAY: usize = 25;
const DAY_MS: i64 = 24 * 3_600_000;
/// The commitment cannot end earlier than this after it started.
pub const MIN_COMMITMENT_MS: i64 = DAY_MS;
/// OnDemandStreamCountLimit, as AWS's default quota.
pub const ON_DEMAND_STREAM_LIMIT: u32 = 50;
/// UpdateStreamWarmThroughput's ceiling: 10 GiB/s.
pub const MAX_WARM_THROUGHPUT_MIBPS: u32 = 10_240;

/// What Enable/DisableEnhancedMonitoring report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoringChange {
    pub stream_name: String,
    pub stream_arn: String,
    pub current: Vec<String>,
    pub desired: Vec<String>,
}

/// What UpdateStreamWarmThroughput reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmThroughput {
    pub stream_name: String,
    pub stream_arn: String,
    pub target_mibps: Option<u32>,
    pub current_mibps: u32,
}

/// DescribeLimits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    pub shard_limit: u32,
    pub open_shard_count: u32,
    pub on_demand_stream_count: u32,
    pub on_demand_stream_limit: u32,
}

/// The commitment as DescribeAccountSettings shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitmentStatus {
    Enabled,
    Disabled,
    EnabledUntilEarliestAllowedEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitmentView {
    pub status: CommitmentStatus,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub earliest_allowed_end_ms: Option<i64>,
}

impl CommitmentView {
    /// Whether the commitment is in force (warm throughput may be set).
    pub fn in_force(&self) -> bool {
        self.status != CommitmentStatus::Disabled
    }
}

fn view_commitment(c: &BillingCommitment, now: i64) -> CommitmentView {
    let status = match (c.enabled, c.ended_ms) {
        (true, _) => CommitmentStatus::Enabled,
        (false, Some(end)) if end > now => CommitmentStatus::EnabledUntilEarliestAllowedEnd,
        _ => CommitmentStatus::Disabled,
    };
    CommitmentView {
        status,
        started_ms: c.started_ms,
        ended_ms: c.ended_ms,
        earliest_allowed_end_ms: c.earliest_end_ms,
    }
}

/// Expands `ALL` and returns metrics in the model's order, without duplicates.
pub fn expand_metrics(names: &[String]) -> BrokerResult<Vec<String>> {
    let all = names.iter().any(|n| n == "ALL");
    for n in names {
        if n != "ALL" && !METRICS.contains(&n.as_str()) {
            return Err(BrokerError::InvalidArgument(format!(
                "Unknown shard-level metric {n}."
            )));
        }
    }
    Ok(METRICS
        .iter()
        .filter(|m| all || names.iter().any(|n| n == *m))
        .map(|m| m.to_string())
        .collect())
}

/// A KMS key as StartStreamEncryption accepts it: a key id (GUID or `mrk-...`), a key
/// ARN, an alias name (`alias/...`) or an alias ARN.
pub fn valid_key_id(k: &str) -> bool {
    let key_id =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let alias = |s: &str| {
        s.strip_prefix("alias/").is_some_and(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
        })
    };
    if let Some(rest) = k.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return parts.len() == 5
            && parts[0].starts_with("aws")
            && parts[1] == "kms"
            && (parts[4].strip_prefix("key/").is_some_and(key_id) || alias(parts[4]));
    }
    alias(k) || key_id(k)
}

impl Broker {
    fn active_for_setting(&self, scope: &Scope, r: StreamRef<'_>) -> BrokerResult<Arc<Stream>> {
        let stream = self.stream(scope, r)?;
        if stream.status() != StreamState::Active {
            return Err(stream.not_active(scope));
        }
        Ok(stream)
    }

    /// StartStreamEncryption (`key_id` Some) or StopStreamEncryption (None).
    pub fn set_encryption(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        key_id: Option<&str>,
    ) -> BrokerResult<()> {
        let _control = self.lock_control();
        let stream = self.active_for_setting(scope, r)?;
        if let Some(k) = key_id {
            if !valid_key_id(k) {
                return Err(BrokerError::InvalidArgument(format!(
                    "Invalid KeyId {k}: expected a KMS key id, key ARN, alias name \
                     (alias/<name>) or alias ARN."
                )));
            }
            // KMS's answer for a key the key source does not have, or has disabled.
            self.kms.sealer(k)?;
        }
        let mut meta = stream.meta();
        if meta.encryption_key_id.as_deref() == key_id {
            // Nothing changes (already encrypted with this key, or already NONE).
            return Ok(());
        }
        let now = self.clock.now_ms();
        meta.encryption_changes_ms.retain(|&t| now - t < DAY_MS);
        if meta.encryption_changes_ms.len() >= MAX_ENCRYPTION_CHANGES_PER_DAY {
            return Err(BrokerError::LimitExceeded(format!(
                "Stream {} under account {} has already had {MAX_ENCRYPTION_CHANGES_PER_DAY} \
                 encryption changes in the last 24 hours.",
                stream.name, scope.account
            )));
        }
        meta.encryption_changes_ms.push(now);
        meta.encryption_key_id = key_id.map(str::to_string);
        self.commit_updating(&stream, meta)
    }

    /// EnableEnhancedMonitoring (`enable`) or DisableEnhancedMonitoring.
    pub fn change_monitoring(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        metrics: &[String],
        enable: bool,
    ) -> BrokerResult<MonitoringChange> {
        let asked = expand_metrics(metrics)?;
        let _control = self.lock_control();
        let stream = self.active_for_setting(scope, r)?;
        let mut meta = stream.meta();
        let current = meta.shard_level_metrics.clone();
        let desired: Vec<String> = METRICS
            .iter()
            .map(|m| m.to_string())
            .filter(|m| {
                let had = current.contains(m);
                let named = asked.contains(m);
                if enable {
                    had || named
                } else {
                    had && !named
                }
            })
            .collect();
        if desired != current {
            meta.shard_level_metrics = desired.clone();
            self.commit_updating(&stream, meta)?;
        }
        Ok(MonitoringChange {
            stream_name: stream.name.clone(),
            stream_arn: stream.arn(),
            current,
            desired,
        })
    }

    /// The write capacity an on-demand stream has now: 1 MiB/s per open shard.
    pub fn current_warm_mibps(&self, stream: &Stream) -> u32 {
        stream.shards().open.len() as u32
    }

    pub fn update_warm_throughput(
        self: &Arc<Self>,
        scope: &Scope,
        r: StreamRef<'_>,
        mibps: u32,
    ) -> BrokerResult<WarmThroughput> {
        let _control = self.lock_control();
        let stream = self.stream(scope, r)?;
        if !stream.is_on_demand() {
            return Err(BrokerError::Validation(format!(
                "UpdateStreamWarmThroughput is only supported for ON_DEMAND streams; stream {} \
                 under account {} is PROVISIONED.",
                stream.name, scope.account
            )));
        }
        if !self.account_settings(scope).in_force() {
            return Err(BrokerError::Validation(format!(
                "Warm throughput requires the minimum throughput billing commitment to be \
                 enabled for account {}; enable it with UpdateAccountSettings.",
                scope.account
            )));
        }
        if mibps > MAX_WARM_THROUGHPUT_MIBPS {
            return Err(BrokerError::InvalidArgument(format!(
                "WarmThroughputMiBps {mibps} exceeds the maximum of {MAX_WARM_THROUGHPUT_MIBPS}."
            )));
        }
        if stream.status() != StreamState::Active {
            return Err(stream.not_active(scope));
        }
        let mut meta = stream.meta();
        meta.warm_throughput_mibps = Some(mibps);
        self.commit_updating(&stream, meta)?;
        Ok(WarmThroughput {
            stream_name: stream.name.clone(),
            stream_arn: stream.arn(),
            target_mibps: Some(mibps),
            current_mibps: self.current_warm_mibps(&stream),
        })
    }

    /// One more ON_DEMAND stream must stay within OnDemandStreamCountLimit.
    pub(super) fn check_on_demand_quota(&self, scope: &Scope) -> BrokerResult<()> {
        let count = self.describe_limits(scope).on_demand_stream_count;
        if count >= ON_DEMAND_STREAM_LIMIT {
            return Err(BrokerError::LimitExceeded(format!(
                "Account {} in {} already has {count} ON_DEMAND streams; the limit is \
                 {ON_DEMAND_STREAM_LIMIT}.",
                scope.account, scope.region
            )));
        }
        Ok(())
    }

    pub fn describe_limits(&self, scope: &Scope) -> AccountLimits {
        let mut open = 0u32;
        let mut on_demand = 0u32;
        for s in self
            .streams
            .load()
            .values()
            .filter(|s| s.account == scope.account && s.region == scope.region)
        {
            if s.is_on_demand() {
                on_demand += 1;
            } else {
                open += s.shards().open.len() as u32;
            }
        }
        AccountLimits {
            shard_limit: self.config.shard_limit,
            open_shard_count: open,
            on_demand_stream_count: on_demand,
            on_demand_stream_limit: ON_DEMAND_STREAM_LIMIT,
        }
    }

    pub fn account_settings(&self, scope: &Scope) -> CommitmentView {
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let c = accounts.get(&scope.account).copied().unwrap_or_default();
        view_commitment(&c, self.clock.now_ms())
    }

    /// UpdateAccountSettings: enabling starts a commitment (or keeps the one in force);
    /// disabling ends it now, or at its earliest allowed end if that is still ahead.
    pub fn update_account_settings(
        &self,
        scope: &Scope,
        enable: bool,
    ) -> BrokerResult<CommitmentView> {
        let _control = self.lock_control();
        let now = self.clock.now_ms();
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let old = accounts.get(&scope.account).copied().unwrap_or_default();
        let in_force = view_commitment(&old, now).in_force();
        let new = match (enable, in_force) {
            (true, true) => BillingCommitment {
                enabled: true,
                ended_ms: None,
                ..old
            },
            (true, false) => BillingCommitment {
                enabled: true,
                started_ms: Some(now),
                ended_ms: None,
                earliest_end_ms: Some(now + MIN_COMMITMENT_MS),
            },
            (false, true) => BillingCommitment {
                enabled: false,
                ended_ms: Some(
                    old.ended_ms
                        .unwrap_or_else(|| old.earliest_end_ms.map_or(now, |e| e.max(now))),
                ),
                ..old
            },
            (false, false) => old,
        };
        if new != old {
            self.catalog.commit(&[CatalogOp::PutSetting {
                name: format!("{SETTING_ACCOUNT_PREFIX}{}", scope.account),
                value: new.to_bytes(),
            }])?;
            accounts.insert(scope.account.clone(), new);
        }
        Ok(view_commitment(&new, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_expand_and_keep_order() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(expand_metrics(&v(&["ALL"])).unwrap(), v(&METRICS));
        assert_eq!(
            expand_metrics(&v(&[
                "IteratorAgeMilliseconds",
                "IncomingBytes",
                "IncomingBytes"
            ]))
            .unwrap(),
            v(&["IncomingBytes", "IteratorAgeMilliseconds"])
        );
        assert!(expand_metrics(&v(&["Bogus"])).is_err());
    }

    #[test]
    fn key_ids() {
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/aws/kinesis",
            "alias/my-key",
            "arn:aws:kms:us-east-1:123456789012:alias/my-key",
        ] {
            assert!(valid_key_id(ok), "{ok}");
        }
        for bad in [
            "",
            "alias/",
            "arn:aws:s3:::x",
            "arn:aws:kms:us-east-1:1:bucket/x",
            "a b",
        ] {
            assert!(!valid_key_id(bad), "{bad}");
        }
    }

    #[test]
    fn commitment_ends_no_earlier_than_allowed() {
        let started = BillingCommitment {
            enabled: true,
            started_ms: Some(0),
            ended_ms: None,
            earliest_end_ms: Some(DAY_MS),
        };
        assert_eq!(
            view_commitment(&started, 5).status,
            CommitmentStatus::Enabled
        );
        let ending = BillingCommitment {
            enabled: false,
            ended_ms: Some(DAY_MS),
            ..started
        };
        assert_eq!(
            view_commitment(&ending, 5).status,
            CommitmentStatus::EnabledUntilEarliestAllowedEnd
        );
        assert_eq!(
            view_commitment(&ending, DAY_MS).status,
            CommitmentStatus::Disabled
        );
        assert_eq!(
            view_commitment(&BillingCommitment::default(), 0).status,
            CommitmentStatus::Disabled
        );
    }
}
