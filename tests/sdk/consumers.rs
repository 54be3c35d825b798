//! Enhanced fan-out consumers: RegisterStreamConsumer, DescribeStreamConsumer,
//! ListStreamConsumers, DeregisterStreamConsumer; consumers and DeleteStream,
//! DescribeStreamSummary, tags and policies on consumer ARNs, and restarts.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ConsumerStatus;
use aws_sdk_kinesis::Client;
use shoal::broker::ManualClock;

use crate::common::*;

async fn status_by_arn(c: &Client, consumer_arn: &str) -> ConsumerStatus {
    c.describe_stream_consumer()
        .consumer_arn(consumer_arn)
        .send()
        .await
        .unwrap()
        .consumer_description()
        .unwrap()
        .consumer_status()
        .clone()
}

async fn consumer_count(c: &Client, stream: &str) -> Option<i32> {
    summary(c, stream).await.consumer_count()
}

async fn names(c: &Client, stream: &str) -> Vec<String> {
    c.list_stream_consumers()
        .stream_arn(stream_arn(stream))
        .send()
        .await
        .unwrap()
        .consumers()
        .iter()
        .map(|x| x.consumer_name().to_string())
        .collect()
}

#[tokio::test]
async fn register_is_creating_then_active_with_an_arn_of_the_creation_second() {
    let s = start_with(false, |c| c.streams.consumer_create_delay_ms = 300).await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let got = register_consumer(c, "s", "c1").await;
    assert_eq!(got.consumer_name(), "c1");
    assert_eq!(got.consumer_status(), &ConsumerStatus::Creating);
    let secs = got.consumer_creation_timestamp().secs();
    assert!(secs >= before && secs <= before + 2, "{secs} vs {before}");
    assert_eq!(
        got.consumer_arn(),
        format!("arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c1:{secs}")
    );
    assert_eq!(
        status_by_arn(c, got.consumer_arn()).await,
        ConsumerStatus::Creating
    );
    let mut active = false;
    for _ in 0..100 {
        if status_by_arn(c, got.consumer_arn()).await == ConsumerStatus::Active {
            active = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(active, "the consumer became ACTIVE");
}

#[tokio::test]
async fn describe_by_arn_or_by_stream_and_name() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    let got = register_consumer(c, "s", "reader").await;
    assert_eq!(got.consumer_status(), &ConsumerStatus::Active);
    let by_arn = describe_consumer(c, got.consumer_arn()).await.unwrap();
    let d = by_arn.consumer_description().unwrap();
    assert_eq!(d.consumer_name(), "reader");
    assert_eq!(d.consumer_arn(), got.consumer_arn());
    assert_eq!(d.stream_arn(), stream_arn("s"));
    assert_eq!(
        d.consumer_creation_timestamp().secs(),
        got.consumer_creation_timestamp().secs()
    );
    let by_name = c
        .describe_stream_consumer()
        .stream_arn(stream_arn("s"))
        .consumer_name("reader")
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_name.consumer_description().unwrap().consumer_arn(),
        got.consumer_arn()
    );
    // All three, consistent.
    c.describe_stream_consumer()
        .stream_arn(stream_arn("s"))
        .consumer_name("reader")
        .consumer_arn(got.consumer_arn())
        .send()
        .await
        .unwrap();
    // Inconsistent.
    let err = c
        .describe_stream_consumer()
        .consumer_name("other")
        .consumer_arn(got.consumer_arn())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    // Neither way of naming one.
    let err = c
        .describe_stream_consumer()
        .stream_arn(stream_arn("s"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    // Unknown consumers and streams.
    for (stream, name) in [("s", "nobody"), ("missing", "reader")] {
        let err = c
            .describe_stream_consumer()
            .stream_arn(stream_arn(stream))
            .consumer_name(name)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ResourceNotFoundException");
    }
    let err = describe_consumer(c, &format!("{}/consumer/reader:1", stream_arn("s")))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException", "wrong second");
    let err = try_register_consumer(c, "missing", "x").await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn list_in_creation_order_with_paging() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let s = start_with_clock(false, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    assert!(names(c, "s").await.is_empty());
    let order = ["zeta", "alpha", "mid", "beta", "omega"];
    for n in order {
        register_consumer(c, "s", n).await;
        clock.advance_ms(10);
    }
    assert_eq!(names(c, "s").await, order);

    let mut seen = Vec::new();
    let first = c
        .list_stream_consumers()
        .stream_arn(stream_arn("s"))
        .max_results(2)
        .send()
        .await
        .unwrap();
    seen.extend(
        first
            .consumers()
            .iter()
            .map(|x| x.consumer_name().to_string()),
    );
    let mut token = first.next_token().map(str::to_string);
    let saved = token.clone().unwrap();
    while let Some(t) = token {
        let page = c
            .list_stream_consumers()
            .stream_arn(stream_arn("s"))
            .next_token(t)
            .max_results(2)
            .send()
            .await
            .unwrap();
        assert!(page.consumers().len() <= 2);
        seen.extend(
            page.consumers()
                .iter()
                .map(|x| x.consumer_name().to_string()),
        );
        token = page.next_token().map(str::to_string);
    }
    assert_eq!(seen, order);

    // The SDK's paginator walks the same pages.
    let pages: Vec<_> = c
        .list_stream_consumers()
        .stream_arn(stream_arn("s"))
        .max_results(1)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let all: usize = pages.iter().map(|p| p.consumers().len()).sum();
    assert_eq!(all, 5);

    // NextToken and StreamCreationTimestamp together are refused.
    let err = c
        .list_stream_consumers()
        .stream_arn(stream_arn("s"))
        .next_token(&saved)
        .stream_creation_timestamp(DateTime::from_millis(1_700_000_000_000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    // A matching StreamCreationTimestamp alone is fine; another one is not found.
    let created = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .stream_creation_timestamp()
        .to_millis()
        .unwrap();
    c.list_stream_consumers()
        .stream_arn(stream_arn("s"))
        .stream_creation_timestamp(DateTime::from_millis(created))
        .send()
        .await
        .unwrap();
    let err = c
        .list_stream_consumers()
        .stream_arn(stream_arn("s"))
        .stream_creation_timestamp(DateTime::from_millis(created - 5000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // A garbled token.
    let err = c
        .list_stream_consumers()
        .stream_arn(stream_arn("s"))
        .next_token("bm90IGEgdG9rZW4=")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    // Tokens expire after 300 seconds.
    clock.advance_ms(301_000);
    let err = c
        .list_stream_consumers()
        .stream_arn(stream_arn("s"))
        .next_token(&saved)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ExpiredNextTokenException");
}

#[tokio::test]
async fn duplicates_and_the_per_stream_limit() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    register_consumer(c, "s", "dup").await;
    let err = try_register_consumer(c, "s", "dup").await.unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    for i in 1..20 {
        register_consumer(c, "s", &format!("c{i}")).await;
    }
    assert_eq!(consumer_count(c, "s").await, Some(20));
    let err = try_register_consumer(c, "s", "twenty-first")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "LimitExceededException");
    // The limit is per stream.
    create_active(c, "other", 1).await;
    register_consumer(c, "other", "dup").await;
    assert_eq!(consumer_count(c, "other").await, Some(1));
}

#[tokio::test]
async fn at_most_five_consumers_creating_when_throttling() {
    let s = start_with(false, |c| {
        c.limits.throttle = true;
        c.streams.consumer_create_delay_ms = 60_000;
    })
    .await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    for i in 0..5 {
        register_consumer(c, "s", &format!("c{i}")).await;
        // Stay under RegisterStreamConsumer's 5 calls per second.
        tokio::time::sleep(Duration::from_millis(210)).await;
    }
    let err = try_register_consumer(c, "s", "sixth").await.unwrap_err();
    assert_eq!(code(&err), "LimitExceededException");
    assert!(message(&err).contains("CREATING"), "{}", message(&err));
}

#[tokio::test]
async fn register_needs_an_active_stream() {
    let s = start_with(false, |c| c.streams.create_delay_ms = 60_000).await;
    let c = &s.client;
    create_stream(c, "slow", 1).await;
    let err = try_register_consumer(c, "slow", "c").await.unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
}

#[tokio::test]
async fn deregister_is_deleting_then_gone_and_reregistering_gives_a_new_arn() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let s = start_with_clock(
        false,
        |c| c.streams.consumer_delete_delay_ms = 300,
        clock.clone(),
    )
    .await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    let first = register_consumer(c, "s", "c").await;
    assert_eq!(
        first.consumer_arn(),
        format!("{}/consumer/c:1700000000", stream_arn("s"))
    );
    c.deregister_stream_consumer()
        .consumer_arn(first.consumer_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_by_arn(c, first.consumer_arn()).await,
        ConsumerStatus::Deleting
    );
    let mut gone = false;
    for _ in 0..100 {
        match describe_consumer(c, first.consumer_arn()).await {
            Err(e) => {
                assert_eq!(code(&e), "ResourceNotFoundException");
                gone = true;
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(gone, "the consumer disappeared");
    assert_eq!(consumer_count(c, "s").await, Some(0));

    clock.advance_ms(1000);
    let second = register_consumer(c, "s", "c").await;
    assert_ne!(second.consumer_arn(), first.consumer_arn());
    assert_eq!(
        second.consumer_arn(),
        format!("{}/consumer/c:1700000001", stream_arn("s"))
    );
    // The old ARN names nothing.
    let err = describe_consumer(c, first.consumer_arn())
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // By stream and name too.
    c.deregister_stream_consumer()
        .stream_arn(stream_arn("s"))
        .consumer_name("c")
        .send()
        .await
        .unwrap();
    let err = c
        .deregister_stream_consumer()
        .stream_arn(stream_arn("s"))
        .consumer_name("never")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = c.deregister_stream_consumer().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn delete_stream_with_consumers_needs_enforce_consumer_deletion() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    let a = register_consumer(c, "s", "a").await;
    register_consumer(c, "s", "b").await;
    assert_eq!(consumer_count(c, "s").await, Some(2));
    let err = c.delete_stream().stream_name("s").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    assert!(
        message(&err)
            .starts_with("DeleteStream can't delete 000000000000:s because there are consumers"),
        "{}",
        message(&err)
    );
    let err = c
        .delete_stream()
        .stream_name("s")
        .enforce_consumer_deletion(false)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    c.delete_stream()
        .stream_name("s")
        .enforce_consumer_deletion(true)
        .send()
        .await
        .unwrap();
    let err = describe_consumer(c, a.consumer_arn()).await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // A new stream of the same name starts without consumers.
    create_active(c, "s", 1).await;
    assert!(names(c, "s").await.is_empty());
    assert_eq!(consumer_count(c, "s").await, Some(0));
    // With no consumers, no flag is needed.
    c.delete_stream().stream_name("s").send().await.unwrap();
}

#[tokio::test]
async fn consumers_survive_a_restart_and_finish_their_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(Some(&dir));
    let running = shoal::server::spawn(config.clone()).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    create_active(&c, "s", 1).await;
    let kept = register_consumer(&c, "s", "kept").await;
    c.tag_resource()
        .resource_arn(kept.consumer_arn())
        .tags("team", "x")
        .send()
        .await
        .unwrap();
    running.stop().await.unwrap();

    // Long delays: a CREATING and a DELETING consumer are under way at the stop.
    config.streams.consumer_create_delay_ms = 600_000;
    config.streams.consumer_delete_delay_ms = 600_000;
    let running = shoal::server::spawn(config.clone()).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    let d = describe_consumer(&c, kept.consumer_arn()).await.unwrap();
    assert_eq!(
        d.consumer_description().unwrap().consumer_status(),
        &ConsumerStatus::Active
    );
    let creating = register_consumer(&c, "s", "creating").await;
    assert_eq!(creating.consumer_status(), &ConsumerStatus::Creating);
    let leaving = register_consumer(&c, "s", "leaving").await;
    c.deregister_stream_consumer()
        .consumer_arn(leaving.consumer_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_by_arn(&c, leaving.consumer_arn()).await,
        ConsumerStatus::Deleting
    );
    running.stop().await.unwrap();

    let running = shoal::server::spawn(config).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    assert_eq!(names(&c, "s").await, ["kept", "creating"]);
    assert_eq!(
        status_by_arn(&c, creating.consumer_arn()).await,
        ConsumerStatus::Active
    );
    let tags = c
        .list_tags_for_resource()
        .resource_arn(kept.consumer_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(consumer_count(&c, "s").await, Some(2));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn tags_on_consumer_arns() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    let got = c
        .register_stream_consumer()
        .stream_arn(stream_arn("s"))
        .consumer_name("t")
        .tags("at", "register")
        .send()
        .await
        .unwrap();
    let ca = got.consumer().unwrap().consumer_arn().to_string();
    let list = |c: &Client| {
        let c = c.clone();
        let ca = ca.clone();
        async move {
            c.list_tags_for_resource()
                .resource_arn(ca)
                .send()
                .await
                .unwrap()
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(c).await, vec![("at".into(), "register".into())]);
    c.tag_resource()
        .resource_arn(&ca)
        .tags("team:name", "eng")
        .tags("at", "later")
        .send()
        .await
        .unwrap();
    assert_eq!(
        list(c).await,
        vec![
            ("at".into(), "later".into()),
            ("team:name".into(), "eng".into())
        ]
    );
    c.untag_resource()
        .resource_arn(&ca)
        .tag_keys("at")
        .tag_keys("never-there")
        .send()
        .await
        .unwrap();
    assert_eq!(list(c).await, vec![("team:name".into(), "eng".into())]);
    // The stream's tags are its own.
    let stream_tags = c
        .list_tags_for_resource()
        .resource_arn(stream_arn("s"))
        .send()
        .await
        .unwrap();
    assert!(stream_tags.tags().is_empty());
    // Limits as for streams.
    let mut req = c.tag_resource().resource_arn(&ca);
    for i in 0..50 {
        req = req.tags(format!("k{i}"), "v");
    }
    let err = req.send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let err = c
        .tag_resource()
        .resource_arn(&ca)
        .tags("aws:no", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let err = c
        .register_stream_consumer()
        .stream_arn(stream_arn("s"))
        .consumer_name("bad-tags")
        .tags("aws:no", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    // Unknown consumers.
    let err = c
        .tag_resource()
        .resource_arn(format!("{}/consumer/nobody:1", stream_arn("s")))
        .tags("a", "b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn policies_on_consumer_arns() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    let ca = register_consumer(c, "s", "p")
        .await
        .consumer_arn()
        .to_string();
    let got = c
        .get_resource_policy()
        .resource_arn(&ca)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), "{}");
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"111111111111"}},"Action":"kinesis:SubscribeToShard","Resource":"{ca}"}}]}}"#
    );
    put_policy(c, &ca, &doc).await;
    let got = c
        .get_resource_policy()
        .resource_arn(&ca)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), doc);
    // The stream's policy is separate.
    let got = c
        .get_resource_policy()
        .resource_arn(stream_arn("s"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), "{}");
    let err = c
        .put_resource_policy()
        .resource_arn(&ca)
        .policy("not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    c.delete_resource_policy()
        .resource_arn(&ca)
        .send()
        .await
        .unwrap();
    let err = c
        .delete_resource_policy()
        .resource_arn(&ca)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = c
        .put_resource_policy()
        .resource_arn(format!("{}/consumer/nobody:1", stream_arn("s")))
        .policy(&doc)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn a_consumers_policy_is_enforced_with_its_streams() {
    let (s, other) = start_two_accounts().await;
    let c = &s.client;
    create_active(c, "s", 1).await;
    let ca = register_consumer(c, "s", "shared")
        .await
        .consumer_arn()
        .to_string();
    // Another account sees nothing without an Allow ...
    let err = describe_consumer(&other, &ca).await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // ... and with the consumer's own Allow, acts on the owner's consumer.
    put_policy(c, &ca, &format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{OTHER}"}},"Action":"kinesis:DescribeStreamConsumer"}}]}}"#
        )).await;
    let d = describe_consumer(&other, &ca).await.unwrap();
    assert_eq!(d.consumer_description().unwrap().consumer_arn(), ca);
    // A Deny in the stream's policy wins over the consumer's Allow.
    put_policy(c, &stream_arn("s"), &format!(
            r#"{{"Statement":[{{"Effect":"Deny","Principal":{{"AWS":"{OTHER}"}},"Action":"kinesis:Describe*"}}]}}"#
        )).await;
    let err = describe_consumer(&other, &ca).await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    // A Deny in the consumer's policy blocks the owner too.
    put_policy(c, &ca, &format!(
            r#"{{"Statement":[{{"Effect":"Deny","Principal":{{"AWS":"{OWNER}"}},"Action":"kinesis:ListTagsForResource"}}]}}"#
        )).await;
    let err = c
        .list_tags_for_resource()
        .resource_arn(&ca)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    c.list_tags_for_resource()
        .resource_arn(stream_arn("s"))
        .send()
        .await
        .unwrap();
}
