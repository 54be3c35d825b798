//! Resource policies: the pure evaluator that decides whether a stream's policy allows,
//! denies or says nothing about a caller's action, and Put/Get/DeleteResourcePolicy.
//!
//! What is evaluated (the api layer parses the JSON document into statements):
//! `Effect` Allow/Deny; `Principal` `"*"` or `{"AWS": <account id | IAM ARN | "*"> or a
//! list}` (an IAM ARN stands for its account); `Action` a string or list of patterns
//! with `*` and `?` wildcards, case-insensitive (`kinesis:*`, `*`, `kinesis:Get*`);
//! `Resource` absent or patterns matched against the stream ARN. A statement with a
//! `Condition` cannot be evaluated here: as an Allow it grants nothing, as a Deny it
//! applies (the safe reading). An explicit Deny beats any Allow.

use std::sync::Arc;

use super::{Broker, BrokerError, BrokerResult, Scope, Stream};
use crate::storage::catalog::StreamState;
/// The policy types the api builds; they are persisted as the catalog stores them.
pub use crate::storage::catalog::{PolicyStatement, ResourcePolicy};

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    NoOpinion,
}

/// `*` matches any run of characters, `?` any one; ASCII case is ignored.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The account an IAM principal names: a 12-digit id, or the account field of an ARN.
pub fn principal_account(principal: &str) -> Option<String> {
    if principal == "*" {
        return Some("*".into());
    }
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal.to_string());
    }
    let mut parts = principal.splitn(6, ':');
    let (arn, _partition, service, _region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn == "arn"
        && matches!(service, "iam" | "sts")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit()))
    .then(|| account.to_string())
}

fn applies(s: &PolicyStatement, account: &str, action: &str, resource: &str) -> bool {
    s.principals.iter().any(|p| p == "*" || p == account)
        && s.actions.iter().any(|a| glob(a, action))
        && (s.resources.is_empty() || s.resources.iter().any(|r| glob(r, resource)))
}

/// Decides what the statements say about `account` doing `action` (`kinesis:PutRecord`)
/// on `resource` (the stream ARN).
pub fn evaluate(
    statements: &[PolicyStatement],
    account: &str,
    action: &str,
    resource: &str,
) -> Decision {
    let mut allowed = false;
    for s in statements
        .iter()
        .filter(|s| applies(s, account, action, resource))
    {
        if !s.allow {
            return Decision::Deny;
        }
        if !s.conditional {
            allowed = true;
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::NoOpinion
    }
}

impl Broker {
    fn policy_target(&self, scope: &Scope, arn: &str) -> BrokerResult<Arc<Stream>> {
        let stream = self.resource_stream(scope, arn)?;
        stream.require_status(scope, &[StreamState::Active, StreamState::Updating])?;
        Ok(stream)
    }

    pub fn put_resource_policy(
        &self,
        scope: &Scope,
        arn: &str,
        policy: ResourcePolicy,
    ) -> BrokerResult<()> {
        if super::tags::is_consumer_arn(arn) {
            return self.put_consumer_policy(scope, arn, policy);
        }
        let _control = self.lock_control();
        let stream = self.policy_target(scope, arn)?;
        let mut meta = stream.meta();
        meta.policy = Some(policy);
        self.commit_meta(&stream, meta)
    }

    /// The policy document, or None when the stream has no policy.
    pub fn get_resource_policy(&self, scope: &Scope, arn: &str) -> BrokerResult<Option<String>> {
        if super::tags::is_consumer_arn(arn) {
            return self.get_consumer_policy(scope, arn);
        }
        let stream = self.resource_stream(scope, arn)?;
        let meta = stream.meta.lock().unwrap_or_else(|p| p.into_inner());
        Ok(meta.policy.as_ref().map(|p| p.document.clone()))
    }

    pub fn delete_resource_policy(&self, scope: &Scope, arn: &str) -> BrokerResult<()> {
        if super::tags::is_consumer_arn(arn) {
            return self.delete_consumer_policy(scope, arn);
        }
        let _control = self.lock_control();
        let stream = self.policy_target(scope, arn)?;
        let mut meta = stream.meta();
        if meta.policy.take().is_none() {
            return Err(BrokerError::ResourceNotFound(format!(
                "No resource policy found for resource {arn}."
            )));
        }
        self.commit_meta(&stream, meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kinesis:us-east-1:111111111111:stream/s";
    const OWNER: &str = "111111111111";
    const OTHER: &str = "222222222222";

    fn st(allow: bool, principals: &[&str], actions: &[&str]) -> PolicyStatement {
        PolicyStatement {
            allow,
            principals: principals.iter().map(|s| s.to_string()).collect(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: Vec::new(),
            conditional: false,
        }
    }

    #[test]
    fn globs() {
        assert!(glob("kinesis:*", "kinesis:PutRecord"));
        assert!(glob("*", "kinesis:PutRecord"));
        assert!(glob("kinesis:put*", "kinesis:PutRecords"));
        assert!(glob("kinesis:Get?hardIterator", "kinesis:GetShardIterator"));
        assert!(glob("KINESIS:PUTRECORD", "kinesis:PutRecord"));
        assert!(!glob("kinesis:PutRecord", "kinesis:PutRecords"));
        assert!(!glob("kinesis:Get*", "kinesis:PutRecord"));
        assert!(glob("arn:aws:kinesis:*:*:stream/*", ARN));
        assert!(glob("*a*b*c", "xxaxxbxxc"));
        assert!(!glob("*a*b*c", "xxaxxcxxb"));
    }

    #[test]
    fn principals() {
        assert_eq!(
            principal_account("123456789012").as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            principal_account("arn:aws:iam::123456789012:root").as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            principal_account("arn:aws:iam::123456789012:role/reader").as_deref(),
            Some("123456789012")
        );
        assert_eq!(principal_account("*").as_deref(), Some("*"));
        assert_eq!(principal_account("arn:aws:s3:::bucket"), None);
        assert_eq!(principal_account("12345"), None);
    }

    #[test]
    fn allow_deny_and_silence() {
        let put = "kinesis:PutRecord";
        let p = vec![st(
            true,
            &[OTHER],
            &["kinesis:PutRecord", "kinesis:DescribeStreamSummary"],
        )];
        assert_eq!(evaluate(&p, OTHER, put, ARN), Decision::Allow);
        assert_eq!(
            evaluate(&p, OTHER, "kinesis:GetRecords", ARN),
            Decision::NoOpinion
        );
        assert_eq!(evaluate(&p, OWNER, put, ARN), Decision::NoOpinion);
        assert_eq!(evaluate(&[], OWNER, put, ARN), Decision::NoOpinion);

        // An explicit Deny wins, in whatever order.
        let p = vec![
            st(true, &["*"], &["kinesis:*"]),
            st(false, &[OTHER], &["kinesis:Put*"]),
        ];
        assert_eq!(evaluate(&p, OTHER, put, ARN), Decision::Deny);
        assert_eq!(
            evaluate(&p, OTHER, "kinesis:GetRecords", ARN),
            Decision::Allow
        );
        assert_eq!(evaluate(&p, OWNER, put, ARN), Decision::Allow);
        let p = vec![st(false, &["*"], &["*"])];
        assert_eq!(evaluate(&p, OWNER, put, ARN), Decision::Deny);
    }

    #[test]
    fn resources_and_conditions() {
        let put = "kinesis:PutRecord";
        let mut s = st(true, &[OTHER], &["kinesis:*"]);
        s.resources = vec!["arn:aws:kinesis:us-east-1:111111111111:stream/other".into()];
        assert_eq!(evaluate(&[s.clone()], OTHER, put, ARN), Decision::NoOpinion);
        s.resources
            .push("arn:aws:kinesis:*:111111111111:stream/s*".into());
        assert_eq!(evaluate(&[s.clone()], OTHER, put, ARN), Decision::Allow);
        // Conditions are not evaluated: a conditional Allow grants nothing ...
        s.conditional = true;
        assert_eq!(evaluate(&[s.clone()], OTHER, put, ARN), Decision::NoOpinion);
        // ... and a conditional Deny still denies.
        s.allow = false;
        assert_eq!(evaluate(&[s], OTHER, put, ARN), Decision::Deny);
    }
}
