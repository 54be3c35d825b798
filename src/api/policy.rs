//! Resource policy documents: parsing the JSON a caller puts into the statements the
//! broker's evaluator (`crate::broker::policy`) understands, and enforcing them on
//! requests when `ApiConfig::enforce_policies` is on.

use serde_json::Value;

use super::error::ApiError;
use super::target::Operation;
use crate::broker::policy::PolicyStatement;
use crate::broker::policy::{evaluate, principal_account, Decision};
use crate::broker::{arn, Broker, Scope, StreamRef};

fn invalid(why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_argument(format!("Invalid resource policy: {why}."))
}

/// A string or a list of strings.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, ApiError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(format!("{what} must be a string or a list of strings")))
            })
            .collect(),
        _ => Err(invalid(format!(
            "{what} must be a string or a list of strings"
        ))),
    }
}

fn principals(v: &Value) -> Result<Vec<String>, ApiError> {
    match v {
        Value::String(s) if s == "*" => Ok(vec!["*".into()]),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (kind, who) in map {
                let names = strings(who, &format!("Principal.{kind}"))?;
                // Only AWS principals name accounts; service principals never match a
                // caller of this server.
                if kind != "AWS" {
                    continue;
                }
                for n in names {
                    out.push(principal_account(&n).ok_or_else(|| {
                        invalid(format!(
                            "principal {n} is not an account id, an IAM ARN or \"*\""
                        ))
                    })?);
                }
            }
            Ok(out)
        }
        _ => Err(invalid(
            "Principal must be \"*\" or an object such as {\"AWS\": ...}",
        )),
    }
}

fn statement(v: &Value) -> Result<PolicyStatement, ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("each Statement must be an object"))?;
    for unsupported in ["NotPrincipal", "NotAction", "NotResource"] {
        if obj.contains_key(unsupported) {
            return Err(invalid(format!(
                "{unsupported} is not supported by this server"
            )));
        }
    }
    let allow = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err(invalid("each Statement needs an Effect of Allow or Deny")),
    };
    let principals = principals(
        obj.get("Principal")
            .ok_or_else(|| invalid("each Statement needs a Principal"))?,
    )?;
    let actions = strings(
        obj.get("Action")
            .ok_or_else(|| invalid("each Statement needs an Action"))?,
        "Action",
    )?;
    let resources = match obj.get("Resource") {
        Some(r) => strings(r, "Resource")?,
        None => Vec::new(),
    };
    Ok(PolicyStatement {
        allow,
        principals,
        actions,
        resources,
        conditional: obj.contains_key("Condition"),
    })
}

/// Parses a policy document: a JSON object with a `Statement` (one or a list).
pub fn parse_policy(doc: &str) -> Result<Vec<PolicyStatement>, ApiError> {
    let v: Value =
        serde_json::from_str(doc).map_err(|e| invalid(format!("not valid JSON ({e})")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("the document must be a JSON object"))?;
    match obj.get("Statement") {
        Some(Value::Array(items)) if !items.is_empty() => items.iter().map(statement).collect(),
        Some(one @ Value::Object(_)) => Ok(vec![statement(one)?]),
        _ => Err(invalid("the document must have a non-empty Statement")),
    }
}

/// The stream a request names: (account, region, name, ARN as named).
fn target(
    broker: &Broker,
    scope: &Scope,
    op: Operation,
    input: &Value,
) -> Option<(String, String, String)> {
    let str_of = |k: &str| input.get(k).and_then(Value::as_str);
    // The iterator decides which stream GetRecords reads, whatever StreamARN says (the
    // handler refuses a StreamARN that names another).
    if op == Operation::GetRecords {
        return broker.iterator_stream(str_of("ShardIterator")?);
    }
    if let Some(a) = str_of("StreamARN")
        .or_else(|| str_of("ResourceARN"))
        .or_else(|| str_of("ConsumerARN"))
    {
        // A consumer ARN is governed by its stream's policy here.
        let stream_part = a.split("/consumer/").next().unwrap_or(a);
        let p = arn::parse_stream_arn(stream_part)?;
        return Some((p.account, p.region, p.name));
    }
    if let Some(n) = str_of("StreamName") {
        return Some((scope.account.clone(), scope.region.clone(), n.to_string()));
    }
    None
}

/// Applies the named stream's resource policy to the caller. An explicit Deny refuses
/// the request; a stream of another account is reachable only through an explicit
/// Allow, and the request then acts as that account (`scope.account` is switched).
pub fn authorize(
    broker: &Broker,
    scope: &mut Scope,
    op: Operation,
    input: &Value,
) -> Result<(), ApiError> {
    let Some((owner, region, name)) = target(broker, scope, op, input) else {
        return Ok(());
    };
    if region != scope.region {
        // Not reachable from this region at all: the operation reports it missing.
        return Ok(());
    }
    let action = format!("kinesis:{}", op.name());
    let resource = arn::stream_arn(&region, &owner, &name);
    let owner_scope = Scope {
        account: owner.clone(),
        region: region.clone(),
    };
    let statements = broker
        .stream(
            &owner_scope,
            StreamRef {
                name: Some(&name),
                arn: None,
            },
        )
        .ok()
        .and_then(|s| s.policy_statements());
    let mut decision = statements.map_or(Decision::NoOpinion, |s| {
        evaluate(&s, &scope.account, &action, &resource)
    });
    // A consumer's own policy applies to requests naming the consumer, next to its
    // stream's: an explicit Deny in either wins, an Allow in either allows.
    let consumer_arn = ["ConsumerARN", "ResourceARN"]
        .iter()
        .filter_map(|k| input.get(*k).and_then(Value::as_str))
        .find(|a| a.contains("/consumer/"));
    if let Some(ca) = consumer_arn {
        let own = broker
            .consumer_policy_statements(&owner_scope, ca)
            .map_or(Decision::NoOpinion, |s| {
                evaluate(&s, &scope.account, &action, ca)
            });
        decision = match (decision, own) {
            (Decision::Deny, _) | (_, Decision::Deny) => Decision::Deny,
            (Decision::Allow, _) | (_, Decision::Allow) => Decision::Allow,
            _ => Decision::NoOpinion,
        };
    }
    let denied = |why: &str| {
        ApiError::client(
            "AccessDeniedException",
            format!(
                "User: arn:aws:iam::{}:root is not authorized to perform: {action} on resource: {resource} {why}",
                scope.account
            ),
        )
    };
    if decision == Decision::Deny {
        return Err(denied("with an explicit deny in a resource-based policy"));
    }
    if owner == scope.account {
        return Ok(());
    }
    let policy_op = matches!(
        op,
        Operation::PutResourcePolicy
            | Operation::GetResourcePolicy
            | Operation::DeleteResourcePolicy
    );
    if decision == Decision::Allow && !policy_op {
        scope.account = owner;
        return Ok(());
    }
    Err(denied(&format!(
        "because no resource-based policy allows the {action} action"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documents() {
        let s = parse_policy(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222222222222:root","333333333333"]},
                 "Action":["kinesis:PutRecord","kinesis:Get*"],"Resource":"arn:aws:kinesis:us-east-1:111111111111:stream/s"},
                {"Effect":"Deny","Principal":"*","Action":"kinesis:DeleteStream","Condition":{"Bool":{"aws:SecureTransport":"false"}}}
            ]}"#,
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].allow);
        assert_eq!(s[0].principals, vec!["222222222222", "333333333333"]);
        assert_eq!(s[0].actions, vec!["kinesis:PutRecord", "kinesis:Get*"]);
        assert_eq!(s[0].resources.len(), 1);
        assert!(!s[0].conditional);
        assert!(!s[1].allow && s[1].conditional);
        assert_eq!(s[1].principals, vec!["*"]);

        let one =
            parse_policy(r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"*"}}"#)
                .unwrap();
        assert_eq!(one.len(), 1);

        for bad in [
            "not json",
            "[]",
            "{}",
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":7}]}"#,
        ] {
            let e = parse_policy(bad).unwrap_err();
            assert_eq!(e.code, "InvalidArgumentException", "{bad}");
        }
    }
}
