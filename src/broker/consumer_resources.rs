//! Tags and resource policies on consumers: the ARN-addressed operations (TagResource,
//! PutResourcePolicy, ...) when the ARN names a consumer.

use std::collections::BTreeMap;

use super::consumers::{consumer_not_found, ConsumerStatus};
use super::tags::{check_tags, TagRules, MAX_TAGS};
use super::{Broker, BrokerError, BrokerResult, Scope};
use crate::storage::catalog::{
    ConsumerMeta, ConsumerState, PolicyStatement, ResourcePolicy, StreamState,
};

impl Broker {
    /// Applies `change` to the consumer a ResourceARN names, under `control`, and
    /// commits when it says something changed. The stream must be ACTIVE or UPDATING
    /// and the consumer not DELETING (or, with `active_only`, ACTIVE).
    fn update_consumer(
        &self,
        scope: &Scope,
        consumer_arn: &str,
        active_only: bool,
        change: impl FnOnce(&mut ConsumerMeta) -> BrokerResult<bool>,
    ) -> BrokerResult<()> {
        let _control = self.lock_control();
        let (stream, c) = self.find_consumer(scope, consumer_arn)?;
        if !matches!(stream.status(), StreamState::Active | StreamState::Updating) {
            return Err(stream.not_active(scope));
        }
        let usable = match c.state {
            ConsumerState::Active => true,
            ConsumerState::Creating => !active_only,
            ConsumerState::Deleting => false,
        };
        if !usable {
            return Err(BrokerError::ResourceInUse(format!(
                "Consumer {consumer_arn} under account {} not ACTIVE, instead in state {}",
                scope.account,
                ConsumerStatus::from(c.state).as_str()
            )));
        }
        let mut meta = stream.meta();
        let Some(m) = meta
            .consumers
            .iter_mut()
            .find(|m| m.name == c.name && m.created_ms == c.created_ms)
        else {
            return Err(consumer_not_found(scope, consumer_arn));
        };
        if change(m)? {
            self.commit_meta(&stream, meta)?;
        }
        Ok(())
    }

    pub(crate) fn add_consumer_tags(
        &self,
        scope: &Scope,
        consumer_arn: &str,
        tags: BTreeMap<String, String>,
    ) -> BrokerResult<()> {
        check_tags(&tags, TagRules::Resource)?;
        self.update_consumer(scope, consumer_arn, false, |c| {
            let mut union = c.tags.clone();
            union.extend(tags);
            if union.len() > MAX_TAGS {
                return Err(BrokerError::InvalidArgument(format!(
                    "Failed to add tags to consumer {consumer_arn} because a given consumer \
                     cannot have more than {MAX_TAGS} tags associated with it (it has {}, the \
                     request would make it {}).",
                    c.tags.len(),
                    union.len()
                )));
            }
            if union == c.tags {
                return Ok(false);
            }
            c.tags = union;
            Ok(true)
        })
    }

    pub(crate) fn remove_consumer_tags(
        &self,
        scope: &Scope,
        consumer_arn: &str,
        keys: &[String],
    ) -> BrokerResult<()> {
        self.update_consumer(scope, consumer_arn, false, |c| {
            let before = c.tags.len();
            for k in keys {
                c.tags.remove(k);
            }
            Ok(c.tags.len() != before)
        })
    }

    /// A consumer's tags, sorted by key.
    pub(crate) fn consumer_tags(
        &self,
        scope: &Scope,
        consumer_arn: &str,
    ) -> BrokerResult<Vec<(String, String)>> {
        let (_, c) = self.find_consumer(scope, consumer_arn)?;
        Ok(c.tags.into_iter().collect())
    }

    /// The statements of a consumer's own resource policy, if it exists and has one.
    pub fn consumer_policy_statements(
        &self,
        scope: &Scope,
        consumer_arn: &str,
    ) -> Option<Vec<PolicyStatement>> {
        let (_, c) = self.find_consumer(scope, consumer_arn).ok()?;
        c.policy.map(|p| p.statements)
    }

    pub(crate) fn put_consumer_policy(
        &self,
        scope: &Scope,
        consumer_arn: &str,
        policy: ResourcePolicy,
    ) -> BrokerResult<()> {
        self.update_consumer(scope, consumer_arn, true, |c| {
            c.policy = Some(policy);
            Ok(true)
        })
    }

    pub(crate) fn get_consumer_policy(
        &self,
        scope: &Scope,
        consumer_arn: &str,
    ) -> BrokerResult<Option<String>> {
        let (_, c) = self.find_consumer(scope, consumer_arn)?;
        Ok(c.policy.map(|p| p.document))
    }

    pub(crate) fn delete_consumer_policy(
        &self,
        scope: &Scope,
        consumer_arn: &str,
    ) -> BrokerResult<()> {
        self.update_consumer(scope, consumer_arn, true, |c| {
            if c.policy.take().is_none() {
                return Err(BrokerError::ResourceNotFound(format!(
                    "No resource policy found for resource {consumer_arn}."
                )));
            }
            Ok(true)
        })
    }
}
