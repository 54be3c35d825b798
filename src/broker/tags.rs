//! Tags: AddTagsToStream / RemoveTagsFromStream / ListTagsForStream by stream, and
//! TagResource / UntagResource / ListTagsForResource by ARN, with AWS's limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Broker, BrokerError, BrokerResult, Scope, Stream, StreamRef};
use crate::storage::catalog::StreamState;

/// Most tags one stream (or consumer) may carry.
pub const MAX_TAGS: usize = 50;
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 256;

/// Which operation's character rules apply: TagResource (and CreateStream) also allow `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRules {
    Stream,
    Resource,
}

/// One page of ListTagsForStream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPage {
    pub tags: Vec<(String, String)>,
    pub has_more: bool,
}

fn allowed(c: char, rules: TagRules) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        // AWS's "white space" is the Unicode separators: a tab or a newline is refused.
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | '/' | '=' | '+' | '-' | '%' | '@')
        || (c == ':' && rules == TagRules::Resource)
}

fn charset(rules: TagRules) -> &'static str {
    match rules {
        TagRules::Stream => "Unicode letters, digits, white space and _ . / = + - % @",
        TagRules::Resource => "Unicode letters, digits, white space and _ . : / = + - % @",
    }
}

/// Checks tag keys to remove against AWS's rules for keys (length and characters).
pub fn check_keys(keys: &[String], rules: TagRules) -> BrokerResult<()> {
    keys.iter().try_for_each(|k| check_key(k, rules))
}

fn check_key(k: &str, rules: TagRules) -> BrokerResult<()> {
    let key_len = k.chars().count();
    if key_len == 0 || key_len > MAX_KEY_CHARS {
        return Err(BrokerError::InvalidArgument(format!(
            "Tag key '{k}' must be between 1 and {MAX_KEY_CHARS} characters long."
        )));
    }
    if !k.chars().all(|c| allowed(c, rules)) {
        return Err(BrokerError::InvalidArgument(format!(
            "Tag key '{k}' contains characters that are not allowed; tag keys may contain \
             only {}.",
            charset(rules)
        )));
    }
    Ok(())
}

/// Checks one set of tags against AWS's rules for keys and values.
pub fn check_tags(tags: &BTreeMap<String, String>, rules: TagRules) -> BrokerResult<()> {
    for (k, v) in tags {
        check_key(k, rules)?;
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(BrokerError::InvalidArgument(format!(
                "Tag value of key '{k}' must be at most {MAX_VALUE_CHARS} characters long."
            )));
        }
        if k.len() >= 4 && k[..4].eq_ignore_ascii_case("aws:") {
            return Err(BrokerError::InvalidArgument(format!(
                "Tag key '{k}' starts with the prefix 'aws:', which is reserved for AWS use."
            )));
        }
        if !v.chars().all(|c| allowed(c, rules)) {
            return Err(BrokerError::InvalidArgument(format!(
                "Tag value '{v}' of key '{k}' contains characters that are not allowed; tag \
                 values may contain only {}.",
                charset(rules)
            )));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(BrokerError::InvalidArgument(format!(
            "A stream cannot have more than {MAX_TAGS} tags; {} were given.",
            tags.len()
        )));
    }
    Ok(())
}

/// Whether a ResourceARN names a consumer rather than a stream.
pub fn is_consumer_arn(arn: &str) -> bool {
    arn.contains("/consumer/")
}

/// Tags may be changed while the stream is ACTIVE or UPDATING.
fn taggable(stream: &Stream, scope: &Scope) -> BrokerResult<()> {
    stream.require_status(scope, &[StreamState::Active, StreamState::Updating])
}

impl Broker {
    /// The stream a ResourceARN names; for a consumer ARN, the consumer's stream once
    /// the consumer is known to exist.
    pub fn resource_stream(&self, scope: &Scope, arn: &str) -> BrokerResult<Arc<Stream>> {
        if is_consumer_arn(arn) {
            return Ok(self.consumer_by_arn(scope, arn)?.0);
        }
        self.stream(
            scope,
            StreamRef {
                name: None,
                arn: Some(arn),
            },
        )
    }

    /// TagResource: tags a stream or a consumer by ARN.
    pub fn tag_resource(
        &self,
        scope: &Scope,
        arn: &str,
        tags: BTreeMap<String, String>,
    ) -> BrokerResult<()> {
        if is_consumer_arn(arn) {
            return self.add_consumer_tags(scope, arn, tags);
        }
        let stream = self.resource_stream(scope, arn)?;
        self.add_tags(scope, &stream, tags, TagRules::Resource)
    }

    /// UntagResource: removes tags from a stream or a consumer by ARN.
    pub fn untag_resource(&self, scope: &Scope, arn: &str, keys: &[String]) -> BrokerResult<()> {
        if is_consumer_arn(arn) {
            check_keys(keys, TagRules::Resource)?;
            return self.remove_consumer_tags(scope, arn, keys);
        }
        let stream = self.resource_stream(scope, arn)?;
        self.remove_tags(scope, &stream, keys, TagRules::Resource)
    }

    /// ListTagsForResource: a stream's or a consumer's tags, sorted by key.
    pub fn resource_tags(&self, scope: &Scope, arn: &str) -> BrokerResult<Vec<(String, String)>> {
        if is_consumer_arn(arn) {
            return self.consumer_tags(scope, arn);
        }
        let stream = self.resource_stream(scope, arn)?;
        Ok(self.list_tags(&stream, None, None).tags)
    }

    pub fn add_tags(
        &self,
        scope: &Scope,
        stream: &Stream,
        tags: BTreeMap<String, String>,
        rules: TagRules,
    ) -> BrokerResult<()> {
        check_tags(&tags, rules)?;
        let _control = self.lock_control();
        taggable(stream, scope)?;
        let mut meta = stream.meta();
        let mut union = meta.tags.clone();
        union.extend(tags);
        if union.len() > MAX_TAGS {
            return Err(BrokerError::InvalidArgument(format!(
                "Failed to add tags to stream {} under account {} because a given stream \
                 cannot have more than {MAX_TAGS} tags associated with it (it has {}, the \
                 request would make it {}).",
                stream.name,
                scope.account,
                meta.tags.len(),
                union.len()
            )));
        }
        if union == meta.tags {
            return Ok(());
        }
        meta.tags = union;
        self.commit_meta(stream, meta)
    }

    pub fn remove_tags(
        &self,
        scope: &Scope,
        stream: &Stream,
        keys: &[String],
        rules: TagRules,
    ) -> BrokerResult<()> {
        check_keys(keys, rules)?;
        let _control = self.lock_control();
        taggable(stream, scope)?;
        let mut meta = stream.meta();
        let before = meta.tags.len();
        for k in keys {
            meta.tags.remove(k);
        }
        if meta.tags.len() == before {
            return Ok(());
        }
        self.commit_meta(stream, meta)
    }

    /// Tags sorted by key, after `exclusive_start`, at most `limit` of them.
    pub fn list_tags(
        &self,
        stream: &Stream,
        exclusive_start: Option<&str>,
        limit: Option<u32>,
    ) -> TagPage {
        let meta = stream.meta.lock().unwrap_or_else(|p| p.into_inner());
        let limit = limit.map_or(usize::MAX, |l| l.max(1) as usize);
        let mut after = meta
            .tags
            .iter()
            .filter(|(k, _)| exclusive_start.is_none_or(|s| k.as_str() > s));
        let tags: Vec<(String, String)> = after
            .by_ref()
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        TagPage {
            tags,
            has_more: after.next().is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(k.to_string(), v.to_string())])
    }

    #[test]
    fn tag_rules() {
        assert!(check_tags(&one("Team é 1_./=+-%@", "v a l"), TagRules::Stream).is_ok());
        assert!(check_tags(&one("a:b", "x"), TagRules::Stream).is_err());
        assert!(check_tags(&one("a:b", "x:y"), TagRules::Resource).is_ok());
        assert!(check_tags(&one("a", "x#"), TagRules::Resource).is_err());
        assert!(check_tags(&one("AWS:name", "x"), TagRules::Resource).is_err());
        assert!(check_tags(&one(&"k".repeat(128), &"v".repeat(256)), TagRules::Stream).is_ok());
        assert!(check_tags(&one(&"k".repeat(129), ""), TagRules::Stream).is_err());
        assert!(check_tags(&one("k", &"v".repeat(257)), TagRules::Stream).is_err());
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_tags(&many, TagRules::Stream).is_err());
    }
}
