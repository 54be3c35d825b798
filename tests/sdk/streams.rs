//! The stream life cycle through the SDK: CreateStream, DeleteStream, DescribeStream,
//! DescribeStreamSummary, ListStreams, StreamARN addressing and region namespacing.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{StreamMode, StreamStatus};

use crate::common::*;

const MAX_HASH: &str = "340282366920938463463374607431768211455";

fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:kinesis:{region}:000000000000:stream/{name}")
}

async fn status(c: &aws_sdk_kinesis::Client, name: &str) -> StreamStatus {
    c.describe_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap()
        .stream_description()
        .unwrap()
        .stream_status()
        .clone()
}

#[tokio::test]
async fn create_with_shard_count_gives_that_many_shards() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "five", 5).await;
    let d = c
        .describe_stream()
        .stream_name("five")
        .send()
        .await
        .unwrap();
    let d = d.stream_description().unwrap();
    assert_eq!(d.stream_name(), "five");
    assert_eq!(d.stream_status(), &StreamStatus::Active);
    assert_eq!(
        d.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::Provisioned
    );
    let ids: Vec<&str> = d.shards().iter().map(|s| s.shard_id()).collect();
    assert_eq!(
        ids,
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002",
            "shardId-000000000003",
            "shardId-000000000004"
        ]
    );
    assert!(!d.has_more_shards());
    assert_eq!(d.retention_period_hours(), 24);
    for sh in d.shards() {
        let r = sh.sequence_number_range().unwrap();
        assert!(!r.starting_sequence_number().is_empty());
        assert!(r.ending_sequence_number().is_none(), "new shards are open");
        assert!(sh.parent_shard_id().is_none());
    }
}

#[tokio::test]
async fn on_demand_stream_has_four_shards_and_on_demand_mode() {
    let s = start().await;
    let c = &s.client;
    create_on_demand(c, "od").await;
    let sum = summary(c, "od").await;
    assert_eq!(sum.open_shard_count(), 4);
    assert_eq!(
        sum.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::OnDemand
    );
    let shards = c.list_shards().stream_name("od").send().await.unwrap();
    assert_eq!(shards.shards().len(), 4);
}

#[tokio::test]
async fn hash_ranges_split_evenly_as_aws() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "three", 3).await;
    let d = c
        .describe_stream()
        .stream_name("three")
        .send()
        .await
        .unwrap();
    let shards = d.stream_description().unwrap().shards();
    assert_eq!(shards.len(), 3);
    let ranges: Vec<(u128, u128)> = shards
        .iter()
        .map(|s| {
            let r = s.hash_key_range().unwrap();
            (
                r.starting_hash_key().parse().unwrap(),
                r.ending_hash_key().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(ranges[0].0, 0);
    assert_eq!(
        shards[0].hash_key_range().unwrap().ending_hash_key(),
        "113427455640312821154458202477256070484"
    );
    assert_eq!(
        shards[1].hash_key_range().unwrap().ending_hash_key(),
        "226854911280625642308916404954512140969"
    );
    assert_eq!(
        shards[2].hash_key_range().unwrap().ending_hash_key(),
        MAX_HASH
    );
    for w in ranges.windows(2) {
        assert_eq!(w[0].1 + 1, w[1].0, "ranges are contiguous");
    }
    // Two shards split at 2^127.
    create_active(c, "two", 2).await;
    let d = c.describe_stream().stream_name("two").send().await.unwrap();
    let shards = d.stream_description().unwrap().shards();
    assert_eq!(
        shards[1].hash_key_range().unwrap().starting_hash_key(),
        (1u128 << 127).to_string()
    );
}

#[tokio::test]
async fn creating_then_active_with_a_delay() {
    let s = start_with(true, |c| c.streams.create_delay_ms = 1000).await;
    let c = &s.client;
    create_stream(c, "slow", 1).await;
    assert_eq!(status(c, "slow").await, StreamStatus::Creating);
    let sum = summary(c, "slow").await;
    assert_eq!(sum.stream_status(), &StreamStatus::Creating);
    let err = try_put(c, "slow", "k", b"x").await.unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    wait_active(c, "slow").await;
    assert_eq!(status(c, "slow").await, StreamStatus::Active);
    put(c, "slow", "k", b"x").await;
}

#[tokio::test]
async fn a_creating_stream_can_be_deleted_as_on_aws() {
    let s = start_with(true, |c| {
        c.streams.create_delay_ms = 300;
        c.streams.delete_delay_ms = 0;
    })
    .await;
    let c = &s.client;
    create_stream(c, "brief", 1).await;
    assert_eq!(status(c, "brief").await, StreamStatus::Creating);
    c.delete_stream().stream_name("brief").send().await.unwrap();
    // Its CREATING timer, when it fires, finds nothing to make ACTIVE.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let err = c
        .describe_stream_summary()
        .stream_name("brief")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // The name is free again.
    create_stream(c, "brief", 2).await;
}

#[tokio::test]
async fn duplicate_name_is_resource_in_use() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "dup", 1).await;
    let err = c
        .create_stream()
        .stream_name("dup")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    assert_eq!(
        message(&err),
        "Stream dup under account 000000000000 already exists."
    );
}

#[tokio::test]
async fn shard_quota_is_limit_exceeded() {
    let s = start_with(true, |c| c.streams.shard_limit = 3).await;
    let c = &s.client;
    create_active(c, "a", 2).await;
    let err = c
        .create_stream()
        .stream_name("b")
        .shard_count(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "LimitExceededException");
    assert!(message(&err).contains("shard limit"), "{}", message(&err));
    // Exactly up to the limit is fine.
    create_active(c, "c", 1).await;
    // Deleting frees quota.
    c.delete_stream().stream_name("a").send().await.unwrap();
    create_active(c, "b", 2).await;
}

#[tokio::test]
async fn delete_goes_deleting_then_gone_and_name_is_reusable() {
    let s = start_with(true, |c| c.streams.delete_delay_ms = 1000).await;
    let c = &s.client;
    create_active(c, "del", 2).await;
    c.delete_stream().stream_name("del").send().await.unwrap();
    assert_eq!(status(c, "del").await, StreamStatus::Deleting);
    // While DELETING the name is still taken, and listings show the status.
    let err = c
        .create_stream()
        .stream_name("del")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    let l = c.list_streams().send().await.unwrap();
    assert_eq!(
        l.stream_summaries()[0].stream_status(),
        &StreamStatus::Deleting
    );
    let mut gone = false;
    for _ in 0..200 {
        match c.describe_stream().stream_name("del").send().await {
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => {
                assert_eq!(code(&e), "ResourceNotFoundException");
                assert_eq!(
                    message(&e),
                    "Stream del under account 000000000000 not found."
                );
                gone = true;
                break;
            }
        }
    }
    assert!(gone, "the stream never disappeared");
    let err = c
        .delete_stream()
        .stream_name("del")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // The name is free again, and the new stream starts empty.
    create_active(c, "del", 1).await;
    let d = c.describe_stream().stream_name("del").send().await.unwrap();
    assert_eq!(d.stream_description().unwrap().shards().len(), 1);
}

#[tokio::test]
async fn unknown_stream_is_not_found() {
    let s = start().await;
    let c = &s.client;
    let err = c
        .describe_stream()
        .stream_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    assert_eq!(
        message(&err),
        "Stream nope under account 000000000000 not found."
    );
    let err = c
        .describe_stream_summary()
        .stream_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = c
        .delete_stream()
        .stream_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn describe_stream_pages_with_limit_and_exclusive_start() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "paged", 5).await;
    let mut seen = Vec::new();
    let mut start_after: Option<String> = None;
    let mut pages = 0;
    loop {
        let d = c
            .describe_stream()
            .stream_name("paged")
            .limit(2)
            .set_exclusive_start_shard_id(start_after.clone())
            .send()
            .await
            .unwrap();
        let d = d.stream_description().unwrap();
        pages += 1;
        assert!(d.shards().len() <= 2);
        seen.extend(d.shards().iter().map(|s| s.shard_id().to_string()));
        if !d.has_more_shards() {
            break;
        }
        assert_eq!(d.shards().len(), 2);
        start_after = d.shards().last().map(|s| s.shard_id().to_string());
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..5).map(|i| format!("shardId-{i:012}")).collect();
    assert_eq!(seen, expected);
    // Exactly at the end: nothing more.
    let d = c
        .describe_stream()
        .stream_name("paged")
        .exclusive_start_shard_id("shardId-000000000004")
        .send()
        .await
        .unwrap();
    assert!(d.stream_description().unwrap().shards().is_empty());
    assert!(!d.stream_description().unwrap().has_more_shards());
}

#[tokio::test]
async fn describe_stream_summary_fields() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "sum", 3).await;
    let d = summary(c, "sum").await;
    assert_eq!(d.stream_name(), "sum");
    assert_eq!(d.stream_arn(), arn("us-east-1", "sum"));
    assert_eq!(d.stream_status(), &StreamStatus::Active);
    assert_eq!(d.open_shard_count(), 3);
    assert_eq!(d.retention_period_hours(), 24);
    assert_eq!(d.max_record_size_in_kib(), Some(1024));
    assert_eq!(d.consumer_count(), Some(0));
    assert_eq!(
        d.stream_mode_details().unwrap().stream_mode(),
        &StreamMode::Provisioned
    );
    assert_eq!(d.encryption_type().map(|e| e.as_str()), Some("NONE"));
    let created = d.stream_creation_timestamp().to_millis().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now - created).abs() < 60_000,
        "creation time {created} vs now {now}"
    );
}

#[tokio::test]
async fn stream_arn_works_instead_of_name() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "byarn", 2).await;
    let a = arn("us-east-1", "byarn");
    let d = c.describe_stream().stream_arn(&a).send().await.unwrap();
    assert_eq!(d.stream_description().unwrap().stream_name(), "byarn");
    let d = c
        .describe_stream_summary()
        .stream_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.stream_description_summary().unwrap().stream_name(),
        "byarn"
    );
    let l = c.list_shards().stream_arn(&a).send().await.unwrap();
    assert_eq!(l.shards().len(), 2);
    let p = c
        .put_record()
        .stream_arn(&a)
        .partition_key("k")
        .data(Blob::new("v"))
        .send()
        .await
        .unwrap();
    assert!(p.shard_id().starts_with("shardId-"));
    // Both, agreeing, is fine too (KCL's ListShards sends both).
    let l = c
        .list_shards()
        .stream_name("byarn")
        .stream_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(l.shards().len(), 2);
    c.describe_stream_summary()
        .stream_name("byarn")
        .stream_arn(&a)
        .send()
        .await
        .unwrap();
    c.delete_stream().stream_arn(&a).send().await.unwrap();
    let err = c
        .describe_stream()
        .stream_name("byarn")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn name_and_arn_disagreeing_is_invalid_argument() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "one", 1).await;
    create_active(c, "other", 1).await;
    let err = c
        .describe_stream()
        .stream_name("one")
        .stream_arn(arn("us-east-1", "other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let err = c
        .describe_stream_summary()
        .stream_name("one")
        .stream_arn(arn("us-east-1", "other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn neither_name_nor_arn_is_invalid_argument() {
    let s = start().await;
    let c = &s.client;
    let err = c.describe_stream().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let err = c.describe_stream_summary().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let err = c.delete_stream().send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let err = c
        .put_record()
        .partition_key("k")
        .data(Blob::new("v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn regions_are_separate_namespaces() {
    let s = start().await;
    let east = &s.client;
    let west = client(&s.endpoint, "eu-west-1");
    create_active(east, "shared", 1).await;
    let err = west
        .describe_stream()
        .stream_name("shared")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let l = west.list_streams().send().await.unwrap();
    assert!(l.stream_names().is_empty());
    // An ARN for us-east-1 sent from eu-west-1 does not reach the other region's stream.
    let err = west
        .describe_stream_summary()
        .stream_arn(arn("us-east-1", "shared"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    // The same name can exist in both regions, each with its own ARN.
    create_active(&west, "shared", 2).await;
    let w = summary(&west, "shared").await;
    assert_eq!(w.stream_arn(), arn("eu-west-1", "shared"));
    assert_eq!(w.open_shard_count(), 2);
    let e = summary(east, "shared").await;
    assert_eq!(e.stream_arn(), arn("us-east-1", "shared"));
    assert_eq!(e.open_shard_count(), 1);
    let l = west.list_streams().send().await.unwrap();
    assert_eq!(l.stream_names(), ["shared"]);
    assert_eq!(
        l.stream_summaries()[0].stream_arn(),
        arn("eu-west-1", "shared")
    );
}

#[tokio::test]
async fn list_streams_sorted_with_limit_and_summaries() {
    let s = start().await;
    let c = &s.client;
    for name in ["delta", "alpha", "charlie", "bravo", "echo"] {
        create_active(c, name, 1).await;
    }
    let all = c.list_streams().send().await.unwrap();
    assert_eq!(
        all.stream_names(),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert!(!all.has_more_streams());
    assert!(all.next_token().is_none());
    let sums: Vec<&str> = all
        .stream_summaries()
        .iter()
        .map(|s| s.stream_name())
        .collect();
    assert_eq!(sums, ["alpha", "bravo", "charlie", "delta", "echo"]);
    for sm in all.stream_summaries() {
        assert_eq!(sm.stream_arn(), arn("us-east-1", sm.stream_name()));
        assert_eq!(sm.stream_status(), &StreamStatus::Active);
        assert!(sm.stream_creation_timestamp().is_some());
        assert_eq!(
            sm.stream_mode_details().unwrap().stream_mode(),
            &StreamMode::Provisioned
        );
    }
    let first = c.list_streams().limit(2).send().await.unwrap();
    assert_eq!(first.stream_names(), ["alpha", "bravo"]);
    assert!(first.has_more_streams());
    assert!(first.next_token().is_some());
    let after = c
        .list_streams()
        .exclusive_start_stream_name("bravo")
        .send()
        .await
        .unwrap();
    assert_eq!(after.stream_names(), ["charlie", "delta", "echo"]);
    assert!(!after.has_more_streams());
    let after = c
        .list_streams()
        .exclusive_start_stream_name("c")
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(after.stream_names(), ["charlie"]);
    assert!(after.has_more_streams());
}

#[tokio::test]
async fn list_streams_next_token_pages_through_everything() {
    let s = start().await;
    let c = &s.client;
    let mut names: Vec<String> = (0..7).map(|i| format!("s{i}")).collect();
    for n in &names {
        create_active(c, n, 1).await;
    }
    names.sort();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut req = c.list_streams();
        req = match &token {
            Some(t) => req.next_token(t),
            None => req.limit(3),
        };
        if token.is_some() {
            req = req.limit(3);
        }
        let out = req.send().await.unwrap();
        pages += 1;
        seen.extend(out.stream_names().iter().cloned());
        if !out.has_more_streams() {
            assert!(out.next_token().is_none());
            break;
        }
        token = Some(
            out.next_token()
                .expect("NextToken with HasMoreStreams")
                .to_string(),
        );
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, names);
}

#[tokio::test]
async fn list_streams_invalid_next_token_is_invalid_argument() {
    let s = start().await;
    let c = &s.client;
    let err = c
        .list_streams()
        .next_token("bm90IGEgdG9rZW4=")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn shard_quota_is_per_region() {
    let s = start_with(true, |c| c.streams.shard_limit = 3).await;
    let east = &s.client;
    let west = client(&s.endpoint, "eu-west-1");
    create_active(east, "e", 3).await;
    create_active(&west, "w", 3).await;
    let err = west
        .create_stream()
        .stream_name("w2")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "LimitExceededException");
}

#[tokio::test]
async fn shard_count_and_mode_rules() {
    let s = start().await;
    let c = &s.client;
    // PROVISIONED (the default) needs a ShardCount.
    let err = c
        .create_stream()
        .stream_name("noshards")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c
        .create_stream()
        .stream_name("zero")
        .shard_count(0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // ON_DEMAND takes none.
    let err = c
        .create_stream()
        .stream_name("od")
        .shard_count(2)
        .stream_mode_details(mode_details(StreamMode::OnDemand))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // An explicit PROVISIONED mode with a count is fine.
    c.create_stream()
        .stream_name("prov")
        .shard_count(2)
        .stream_mode_details(mode_details(StreamMode::Provisioned))
        .send()
        .await
        .unwrap();
    wait_active(c, "prov").await;
    assert!(c.list_streams().send().await.unwrap().stream_names() == ["prov"]);
}

#[tokio::test]
async fn arns_for_other_accounts_or_malformed_are_refused() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "mine", 1).await;
    let err = c
        .describe_stream_summary()
        .stream_arn("arn:aws:kinesis:us-east-1:111111111111:stream/mine")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = c
        .describe_stream_summary()
        .stream_arn("arn:aws:kinesis:us-east-1:000000000000:stream/")
        .send()
        .await
        .unwrap_err();
    assert!(
        ["ValidationException", "InvalidArgumentException"].contains(&code(&err).as_str()),
        "{}",
        code(&err)
    );
}

#[tokio::test]
async fn stream_names_are_case_sensitive() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "Case", 1).await;
    create_active(c, "case", 2).await;
    let a = summary(c, "Case").await;
    let b = summary(c, "case").await;
    assert_eq!(a.open_shard_count(), 1);
    assert_eq!(b.open_shard_count(), 2);
    let err = c
        .describe_stream()
        .stream_name("CASE")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn list_streams_tokens_belong_to_their_region() {
    let s = start().await;
    let east = &s.client;
    let west = client(&s.endpoint, "eu-west-1");
    for n in ["a", "b", "c"] {
        create_active(east, n, 1).await;
        create_active(&west, n, 1).await;
    }
    let page = east.list_streams().limit(1).send().await.unwrap();
    let token = page.next_token().unwrap();
    let err = west
        .list_streams()
        .next_token(token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let rest = east.list_streams().next_token(token).send().await.unwrap();
    assert_eq!(rest.stream_names(), ["b", "c"]);
}
