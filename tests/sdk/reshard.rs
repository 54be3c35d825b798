//! Resharding through the SDK: split, merge and uniform scaling with their errors, and
//! producers and a consumer running through a reshape without losing, duplicating or
//! reordering a key's records.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ScalingType, Shard, ShardIteratorType};
use aws_sdk_kinesis::Client;

use crate::common::*;

fn open(shards: &[Shard]) -> Vec<&Shard> {
    shards
        .iter()
        .filter(|s| {
            s.sequence_number_range()
                .unwrap()
                .ending_sequence_number()
                .is_none()
        })
        .collect()
}

fn range(s: &Shard) -> (u128, u128) {
    let r = s.hash_key_range().unwrap();
    (
        r.starting_hash_key().parse().unwrap(),
        r.ending_hash_key().parse().unwrap(),
    )
}

fn assert_tiles(open: &[&Shard]) {
    let mut ranges: Vec<(u128, u128)> = open.iter().map(|s| range(s)).collect();
    ranges.sort();
    assert_eq!(ranges[0].0, 0);
    assert_eq!(ranges.last().unwrap().1, u128::MAX);
    for w in ranges.windows(2) {
        assert_eq!(
            w[0].1 + 1,
            w[1].0,
            "open shards leave a gap or overlap: {ranges:?}"
        );
    }
}

#[tokio::test]
async fn split_closes_the_parent_and_opens_two_children() {
    let s = start_with(true, |c| c.streams.update_delay_ms = 0).await;
    let c = &s.client;
    create_active(c, "split", 1).await;
    let before = try_put(c, "split", "a", b"before").await.unwrap();
    let mid = (1u128 << 127).to_string();
    c.split_shard()
        .stream_name("split")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key(&mid)
        .send()
        .await
        .unwrap();
    let shards = all_shards(c, "split").await;
    assert_eq!(shards.len(), 3);
    let parent = &shards[0];
    let ending = parent
        .sequence_number_range()
        .unwrap()
        .ending_sequence_number()
        .unwrap();
    // AWS promises only that the end is at or past every record of the shard.
    let ending: u128 = ending.parse().unwrap();
    assert!(ending >= before.sequence_number().parse::<u128>().unwrap());
    for child in &shards[1..] {
        assert_eq!(child.parent_shard_id(), Some("shardId-000000000000"));
        let start: u128 = child
            .sequence_number_range()
            .unwrap()
            .starting_sequence_number()
            .parse()
            .unwrap();
        assert!(start > ending, "children sort above the parent");
    }
    assert_eq!(range(&shards[1]), (0, (1u128 << 127) - 1));
    assert_eq!(range(&shards[2]), (1u128 << 127, u128::MAX));

    // The parent reads to its end, then says where to go next.
    let got = first_batch(c, "split", &shard(0)).await;
    assert_eq!(got.records().len(), 1);
    assert!(got.next_shard_iterator().is_none());
    let children: Vec<&str> = got.child_shards().iter().map(|c| c.shard_id()).collect();
    assert_eq!(children, ["shardId-000000000001", "shardId-000000000002"]);
    assert_eq!(
        got.child_shards()[0].parent_shards(),
        ["shardId-000000000000"]
    );

    // New writes for the same key land in a child.
    let after = try_put(c, "split", "a", b"after").await.unwrap();
    assert_ne!(after.shard_id(), "shardId-000000000000");

    // Errors: a closed shard, a key outside the range, an unknown shard.
    let e = c
        .split_shard()
        .stream_name("split")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key(&mid)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgumentException");
    let e = c
        .split_shard()
        .stream_name("split")
        .shard_to_split("shardId-000000000001")
        .new_starting_hash_key("1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgumentException");
    assert!(
        message(&e).contains("is not both greater than one plus the shard's StartingHashKey 0"),
        "{}",
        message(&e)
    );
    let e = c
        .split_shard()
        .stream_name("split")
        .shard_to_split("shardId-000000000009")
        .new_starting_hash_key(&mid)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn merge_takes_adjacent_shards_in_either_order() {
    let s = start_with(true, |c| c.streams.update_delay_ms = 0).await;
    let c = &s.client;
    create_active(c, "merge", 3).await;
    let e = c
        .merge_shards()
        .stream_name("merge")
        .shard_to_merge("shardId-000000000000")
        .adjacent_shard_to_merge("shardId-000000000002")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgumentException");
    assert!(message(&e).contains("are not an adjacent pair of shards eligible for merging"));
    c.merge_shards()
        .stream_name("merge")
        .shard_to_merge("shardId-000000000002")
        .adjacent_shard_to_merge("shardId-000000000001")
        .send()
        .await
        .unwrap();
    let shards = all_shards(c, "merge").await;
    let child = shards
        .iter()
        .find(|s| s.shard_id() == "shardId-000000000003")
        .unwrap();
    assert_eq!(child.parent_shard_id(), Some("shardId-000000000002"));
    assert_eq!(
        child.adjacent_parent_shard_id(),
        Some("shardId-000000000001")
    );
    assert_eq!(range(child).1, u128::MAX);
    assert_eq!(range(child).0, range(&shards[1]).0);
    assert_tiles(&open(&shards));
    s.running.stop().await.unwrap();
}

/// As on AWS: while the stream shows UPDATING the parent is still open and takes the
/// writes, and no child is listed; the parent closes and the children open when the
/// stream is ACTIVE again.
#[tokio::test]
async fn a_parent_stays_open_until_the_stream_is_active_again() {
    let s = start_with(true, |c| c.streams.update_delay_ms = 2000).await;
    let c = &s.client;
    create_active(c, "upd", 1).await;
    let mid = (1u128 << 127).to_string();
    c.split_shard()
        .stream_name("upd")
        .shard_to_split(shard(0))
        .new_starting_hash_key(&mid)
        .send()
        .await
        .unwrap();
    let d = summary(c, "upd").await;
    assert_eq!(d.stream_status().as_str(), "UPDATING");
    assert_eq!(d.open_shard_count(), 1);
    let during = all_shards(c, "upd").await;
    assert_eq!(during.len(), 1, "no child is listed while UPDATING");
    assert_eq!(open(&during).len(), 1, "the parent is still open");
    let e = c
        .split_shard()
        .stream_name("upd")
        .shard_to_split(shard(0))
        .new_starting_hash_key("12345")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceInUseException");
    let (in_parent, seq) = put(c, "upd", "k", b"during").await;
    assert_eq!(
        in_parent,
        shard(0),
        "writes go to the parent while UPDATING"
    );

    wait_active(c, "upd").await;
    let shards = all_shards(c, "upd").await;
    assert_eq!(shards.len(), 3);
    let ending: u128 = shards[0]
        .sequence_number_range()
        .unwrap()
        .ending_sequence_number()
        .expect("the parent is closed once ACTIVE")
        .parse()
        .unwrap();
    assert!(ending >= seq.parse::<u128>().unwrap());
    assert_eq!(range(&shards[2]).0, 1u128 << 127);
    let (in_child, _) = put(c, "upd", "k", b"after").await;
    assert_ne!(in_child, shard(0));
    let got = first_batch(c, "upd", &shard(0)).await;
    assert_eq!(got.records().len(), 1);
    assert_eq!(got.records()[0].data().as_ref(), b"during");
    assert_eq!(got.child_shards().len(), 2);
    s.running.stop().await.unwrap();
}

/// The shard quota counts what a pending reshard will open, not only what is open now.
#[tokio::test]
async fn a_pending_reshard_counts_against_the_shard_quota() {
    let s = start_with(true, |c| {
        c.streams.update_delay_ms = 2000;
        c.streams.shard_limit = 3;
    })
    .await;
    let c = &s.client;
    create_active(c, "a", 2).await;
    c.split_shard()
        .stream_name("a")
        .shard_to_split(shard(0))
        .new_starting_hash_key("12345")
        .send()
        .await
        .unwrap();
    let e = c
        .create_stream()
        .stream_name("b")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "LimitExceededException", "{e:?}");
    s.running.stop().await.unwrap();
}

/// A stream deleted while its reshard is pending goes, and the reshard with it.
#[tokio::test]
async fn a_stream_deleted_with_a_reshard_pending_is_gone() {
    let s = start_with(true, |c| c.streams.update_delay_ms = 300).await;
    let c = &s.client;
    create_active(c, "gone", 1).await;
    c.split_shard()
        .stream_name("gone")
        .shard_to_split(shard(0))
        .new_starting_hash_key("12345")
        .send()
        .await
        .unwrap();
    c.delete_stream().stream_name("gone").send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let e = c
        .describe_stream_summary()
        .stream_name("gone")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    // The name is free again, for a stream of its own shards.
    create_active(c, "gone", 1).await;
    assert_eq!(all_shards(c, "gone").await.len(), 1);
    put(c, "gone", "k", b"new").await;
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn update_shard_count_reaches_equal_width_shards_within_bounds() {
    let s = start_with(true, |c| {
        c.streams.update_delay_ms = 0;
        c.streams.max_scalings_per_day = 3;
    })
    .await;
    let c = &s.client;
    create_active(c, "scale", 4).await;
    for (target, expect_ok) in [
        (9, false),
        (1, false),
        (3, true),
        (6, true),
        (3, true),
        (4, false),
    ] {
        let r = c
            .update_shard_count()
            .stream_name("scale")
            .target_shard_count(target)
            .scaling_type(ScalingType::UniformScaling)
            .send()
            .await;
        match (r, expect_ok) {
            (Ok(out), true) => {
                assert_eq!(out.target_shard_count(), Some(target));
                let shards = all_shards(c, "scale").await;
                let open = open(&shards);
                assert_eq!(open.len(), target as usize);
                assert_tiles(&open);
                let mut widths: Vec<u128> = open.iter().map(|s| range(s).1 - range(s).0).collect();
                widths.sort();
                assert!(widths.last().unwrap() - widths[0] <= 1 + u128::MAX % target as u128);
                for s in &shards {
                    assert!(
                        s.parent_shard_id().is_some() || s.shard_id() <= "shardId-000000000003"
                    );
                }
            }
            (Err(e), false) => {
                let code = code(&e);
                assert!(
                    code == "InvalidArgumentException" || code == "LimitExceededException",
                    "{code}"
                );
            }
            (r, _) => panic!("target {target}: unexpected {r:?}"),
        }
    }
    s.running.stop().await.unwrap();
}

/// Reads a whole stream the way KCL does: a shard only after its parents are done.
async fn consume_in_lineage_order(c: &Client, stream: &str) -> BTreeMap<String, Vec<String>> {
    let shards = all_shards(c, stream).await;
    let ids: HashSet<String> = shards.iter().map(|s| s.shard_id().to_string()).collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while done.len() < shards.len() {
        let ready: Vec<&Shard> = shards
            .iter()
            .filter(|s| !done.contains(s.shard_id()))
            .filter(|s| {
                [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                    .iter()
                    .flatten()
                    .all(|p| !ids.contains(*p) || done.contains(*p))
            })
            .collect();
        assert!(!ready.is_empty(), "lineage has a cycle");
        for shard in ready {
            let mut it = c
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator()
                .map(str::to_string);
            while let Some(i) = it {
                let got = c.get_records().shard_iterator(i).send().await.unwrap();
                for r in got.records() {
                    per_key
                        .entry(r.partition_key().unwrap_or_default().to_string())
                        .or_default()
                        .push(String::from_utf8(r.data().as_ref().to_vec()).unwrap());
                }
                if got.records().is_empty() && got.next_shard_iterator().is_some() {
                    // An open shard, read to its current end.
                    break;
                }
                if got.next_shard_iterator().is_none() {
                    assert!(
                        !got.child_shards().is_empty(),
                        "a closed shard's end names its children"
                    );
                }
                it = got.next_shard_iterator().map(str::to_string);
            }
            done.insert(shard.shard_id().to_string());
        }
    }
    per_key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_and_a_consumer_run_through_split_and_merge_without_loss_or_reorder() {
    let s = start_with(true, |c| c.streams.update_delay_ms = 0).await;
    let c = s.client.clone();
    create_active(&c, "live", 2).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..3 {
        let (c, stop) = (c.clone(), stop.clone());
        producers.push(tokio::spawn(async move {
            let keys: Vec<String> = (0..8).map(|k| format!("p{p}-k{k}")).collect();
            let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 5000 {
                let key = &keys[n % keys.len()];
                let value = format!("{key}#{n}");
                c.put_record()
                    .stream_name("live")
                    .partition_key(key)
                    .data(Blob::new(value.clone()))
                    .send()
                    .await
                    .expect("writes never fail because of a reshard");
                sent.entry(key.clone()).or_default().push(value);
                n += 1;
            }
            sent
        }));
    }
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(150));
    pause().await;
    c.split_shard()
        .stream_name("live")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 126).to_string())
        .send()
        .await
        .unwrap();
    pause().await;
    c.merge_shards()
        .stream_name("live")
        .shard_to_merge("shardId-000000000002")
        .adjacent_shard_to_merge("shardId-000000000003")
        .send()
        .await
        .unwrap();
    pause().await;
    c.update_shard_count()
        .stream_name("live")
        .target_shard_count(3)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    pause().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in producers {
        sent.extend(p.await.unwrap());
    }
    let received = consume_in_lineage_order(&c, "live").await;
    assert_eq!(
        sent.keys().collect::<Vec<_>>(),
        received.keys().collect::<Vec<_>>()
    );
    for (key, values) in &sent {
        assert_eq!(
            &received[key], values,
            "key {key}: records lost, duplicated or reordered"
        );
    }
    let total: usize = sent.values().map(Vec::len).sum();
    assert!(total > 50, "the producers ran ({total} records)");
    s.running.stop().await.unwrap();
}

#[tokio::test]
async fn shard_filters_follow_aws_semantics_for_closed_shards() {
    use aws_sdk_kinesis::primitives::DateTime;
    use aws_sdk_kinesis::types::{ShardFilter, ShardFilterType};
    let t0 = 1_800_000_000_000;
    let clock = Arc::new(shoal::broker::ManualClock::new(t0));
    let s = start_with_clock(true, |c| c.streams.update_delay_ms = 0, clock.clone()).await;
    let c = &s.client;
    create_active(c, "f", 1).await;
    clock.advance_ms(60_000);
    c.split_shard()
        .stream_name("f")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let split_at = t0 + 60_000;
    clock.advance_ms(60_000);
    let list = |kind: ShardFilterType, shard: Option<&str>, ts: Option<i64>| {
        let mut f = ShardFilter::builder().r#type(kind);
        if let Some(id) = shard {
            f = f.shard_id(id);
        }
        if let Some(ms) = ts {
            f = f.timestamp(DateTime::from_millis(ms));
        }
        let f = f.build().unwrap();
        async move {
            let r = list_shards_filtered(c, "f", f).await.unwrap();
            r.shards()
                .iter()
                .map(|s| s.shard_id().to_string())
                .collect::<Vec<_>>()
        }
    };
    let all = [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000002",
    ];
    assert_eq!(list(ShardFilterType::AtLatest, None, None).await, &all[1..]);
    assert_eq!(
        list(ShardFilterType::AtTrimHorizon, None, None).await,
        &all[..1]
    );
    assert_eq!(
        list(ShardFilterType::FromTrimHorizon, None, None).await,
        all
    );
    assert_eq!(
        list(
            ShardFilterType::AfterShardId,
            Some("shardId-000000000000"),
            None
        )
        .await,
        &all[1..]
    );
    // Before the split only the parent was open; after it, only the children.
    assert_eq!(
        list(ShardFilterType::AtTimestamp, None, Some(split_at - 1000)).await,
        &all[..1]
    );
    assert_eq!(
        list(ShardFilterType::AtTimestamp, None, Some(split_at + 1000)).await,
        &all[1..]
    );
    // FROM_TIMESTAMP: shards open at or after the time.
    assert_eq!(
        list(ShardFilterType::FromTimestamp, None, Some(split_at - 1000)).await,
        all
    );
    assert_eq!(
        list(ShardFilterType::FromTimestamp, None, Some(split_at + 1000)).await,
        &all[1..]
    );
    s.running.stop().await.unwrap();
}
