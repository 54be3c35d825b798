//! Resource policies: Put/Get/DeleteResourcePolicy, and their enforcement (on when
//! credentials are configured): an explicit Deny blocks the caller, another account's
//! stream is reachable only through an explicit Allow.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::ShardIteratorType;

use crate::common::*;

fn arn(account: &str, name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{account}:stream/{name}")
}

#[tokio::test]
async fn put_get_delete_resource_policy() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "p", 1).await;
    let a = arn(OWNER, "p");
    let got = c
        .get_resource_policy()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), "{}", "no policy yet");

    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},"Action":["kinesis:DescribeStreamSummary","kinesis:PutRecord"],"Resource":"{a}"}}]}}"#
    );
    put_policy(c, &a, &doc).await;
    let got = c
        .get_resource_policy()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), doc, "returned as given");

    for bad in [
        "not json",
        r#"{"Version":"2012-10-17"}"#,
        r#"{"Statement":[{"Effect":"Perhaps","Principal":"*","Action":"*"}]}"#,
    ] {
        let err = c
            .put_resource_policy()
            .resource_arn(&a)
            .policy(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidArgumentException", "{bad}");
    }
    // A refused document leaves the old one in place.
    let got = c
        .get_resource_policy()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), doc);

    c.delete_resource_policy()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    let got = c
        .get_resource_policy()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), "{}");
    let err = c
        .delete_resource_policy()
        .resource_arn(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    let err = c
        .put_resource_policy()
        .resource_arn(arn(OWNER, "missing"))
        .policy(&doc)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = c
        .get_resource_policy()
        .resource_arn(format!("{a}/consumer/c:1700000000"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn policies_are_not_enforced_unless_turned_on() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "free", 1).await;
    put_policy(
        c,
        &arn(OWNER, "free"),
        r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kinesis:*"}]}"#,
    )
    .await;
    put(c, "free", "k", b"x").await;
}

#[tokio::test]
async fn an_explicit_deny_blocks_the_owner_too() {
    let (s, _) = start_two_accounts().await;
    let c = &s.client;
    create_active(c, "d", 1).await;
    let a = arn(OWNER, "d");
    put_policy(
        c,
        &a,
        &format!(
            r#"{{"Statement":[{{"Effect":"Deny","Principal":{{"AWS":"{OWNER}"}},"Action":"kinesis:Put*"}}]}}"#
        ),
    )
    .await;
    let err = try_put(c, "d", "k", b"x").await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert_eq!(
        message(&err),
        format!(
            "User: arn:aws:iam::{OWNER}:root is not authorized to perform: kinesis:PutRecord on resource: {a} with an explicit deny in a resource-based policy"
        )
    );
    // By ARN too, and for PutRecords.
    let err = c
        .put_records()
        .stream_arn(&a)
        .records(entry("k", "x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // Actions the policy does not name still work (the owner's own identity allows them).
    c.describe_stream_summary()
        .stream_name("d")
        .send()
        .await
        .unwrap();
    // The owner can lift the Deny.
    c.delete_resource_policy()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    put(c, "d", "k", b"x").await;
}

#[tokio::test]
async fn another_account_needs_an_explicit_allow_and_then_acts_on_the_owners_stream() {
    let (s, other) = start_two_accounts().await;
    let c = &s.client;
    create_active(c, "shared", 1).await;
    let a = arn(OWNER, "shared");

    // No policy: another account is refused, with AWS's wording.
    let err = other
        .put_record()
        .stream_arn(&a)
        .partition_key("k")
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert_eq!(
        message(&err),
        format!(
            "User: arn:aws:iam::{OTHER}:root is not authorized to perform: kinesis:PutRecord on resource: {a} because no resource-based policy allows the kinesis:PutRecord action"
        )
    );

    put_policy(
        c,
        &a,
        &format!(
            r#"{{"Statement":[
                {{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{OTHER}:root"]}},
                  "Action":["kinesis:PutRecord","kinesis:DescribeStreamSummary","kinesis:GetShardIterator","kinesis:GetRecords","kinesis:ListShards"],
                  "Resource":"{a}"}},
                {{"Effect":"Deny","Principal":{{"AWS":"{OTHER}"}},"Action":"kinesis:ListShards"}}
            ]}}"#
        ),
    )
    .await;
    let put = other
        .put_record()
        .stream_arn(&a)
        .partition_key("k")
        .data(Blob::new("from another account"))
        .send()
        .await
        .unwrap();
    let sum = other
        .describe_stream_summary()
        .stream_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(sum.stream_description_summary().unwrap().stream_arn(), a);
    // The record landed in the owner's stream and can be read back by both.
    for reader in [c, &other] {
        let it = reader
            .get_shard_iterator()
            .stream_arn(&a)
            .shard_id(put.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .unwrap()
            .to_string();
        let out = try_get_records(reader, &it).await.unwrap();
        assert_eq!(out.records().len(), 1);
        assert_eq!(out.records()[0].data().as_ref(), b"from another account");
    }
    // Deny beats the Allow.
    let err = other.list_shards().stream_arn(&a).send().await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // Actions not allowed are refused.
    let err = other
        .delete_stream()
        .stream_arn(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // Policies of another account's stream cannot be read or changed.
    let err = other
        .get_resource_policy()
        .resource_arn(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // By name, the other account means its own (absent) stream.
    let err = other
        .describe_stream_summary()
        .stream_name("shared")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    assert!(message(&err).contains(OTHER), "{}", message(&err));
    // Each account has its own namespace: the same name is free in the other account.
    create_active(&other, "shared", 1).await;
    let lim = other.describe_limits().send().await.unwrap();
    assert_eq!(lim.open_shard_count(), 1);
}
