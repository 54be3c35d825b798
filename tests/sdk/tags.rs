//! Tags by stream (AddTagsToStream, RemoveTagsFromStream, ListTagsForStream) and by ARN
//! (TagResource, UntagResource, ListTagsForResource), with AWS's limits.

use aws_sdk_kinesis::Client;

use crate::common::*;

async fn keys(c: &Client, name: &str) -> Vec<(String, String)> {
    c.list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
        .collect()
}

#[tokio::test]
async fn tags_at_creation_add_overwrite_remove_and_list_sorted() {
    let s = start_in_memory().await;
    let c = &s.client;
    c.create_stream()
        .stream_name("t")
        .shard_count(1)
        .tags("zeta", "1")
        .tags("alpha", "2")
        .send()
        .await
        .unwrap();
    wait_active(c, "t").await;
    assert_eq!(
        keys(c, "t").await,
        vec![("alpha".into(), "2".into()), ("zeta".into(), "1".into())]
    );
    c.add_tags_to_stream()
        .stream_name("t")
        .tags("alpha", "two")
        .tags("mid dle", "")
        .send()
        .await
        .unwrap();
    // By ARN too.
    c.add_tags_to_stream()
        .stream_arn(stream_arn("t"))
        .tags("beta", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys(c, "t").await,
        vec![
            ("alpha".into(), "two".into()),
            ("beta".into(), "b".into()),
            ("mid dle".into(), "".into()),
            ("zeta".into(), "1".into())
        ]
    );
    c.remove_tags_from_stream()
        .stream_name("t")
        .tag_keys("beta")
        .tag_keys("never-there")
        .send()
        .await
        .unwrap();
    let k: Vec<String> = keys(c, "t").await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(k, vec!["alpha", "mid dle", "zeta"]);
}

#[tokio::test]
async fn list_tags_for_stream_pages_with_limit_and_exclusive_start() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "p", 1).await;
    let mut req = c.add_tags_to_stream().stream_name("p");
    for i in 0..7 {
        req = req.tags(format!("k{i}"), format!("v{i}"));
    }
    req.send().await.unwrap();
    let mut seen = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let out = c
            .list_tags_for_stream()
            .stream_name("p")
            .limit(3)
            .set_exclusive_start_tag_key(start.clone())
            .send()
            .await
            .unwrap();
        let page: Vec<String> = out.tags().iter().map(|t| t.key().to_string()).collect();
        assert!(page.len() <= 3);
        seen.extend(page.clone());
        if !out.has_more_tags() {
            assert_eq!(page.len(), 1, "7 tags in pages of 3: the last page has one");
            break;
        }
        start = page.last().cloned();
    }
    assert_eq!(seen, (0..7).map(|i| format!("k{i}")).collect::<Vec<_>>());
    let all = c
        .list_tags_for_stream()
        .stream_name("p")
        .send()
        .await
        .unwrap();
    assert_eq!(all.tags().len(), 7);
    assert!(!all.has_more_tags());
    let err = c
        .list_tags_for_stream()
        .stream_name("p")
        .limit(51)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

#[tokio::test]
async fn at_most_fifty_tags_and_aws_character_rules() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "lim", 1).await;
    let mut req = c.add_tags_to_stream().stream_name("lim");
    for i in 0..50 {
        req = req.tags(format!("k{i:02}"), "v");
    }
    req.send().await.unwrap();
    // Overwriting an existing key keeps the count at 50.
    c.add_tags_to_stream()
        .stream_name("lim")
        .tags("k00", "new")
        .send()
        .await
        .unwrap();
    let err = c
        .add_tags_to_stream()
        .stream_name("lim")
        .tags("k50", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    assert!(
        message(&err).contains("more than 50 tags"),
        "{}",
        message(&err)
    );
    assert_eq!(keys(c, "lim").await.len(), 50);

    create_active(c, "chars", 1).await;
    for (k, v) in [
        ("bad#key", "v"),
        ("k", "bad*value"),
        ("a:b", "v"),
        ("aws:owner", "me"),
        ("tab\there", "v"),
        ("k", "two\nlines"),
    ] {
        let err = c
            .add_tags_to_stream()
            .stream_name("chars")
            .tags(k, v)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidArgumentException", "{k}={v}");
    }
    // Key too long: the model's constraint.
    let err = c
        .add_tags_to_stream()
        .stream_name("chars")
        .tags("k".repeat(129), "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // Unicode letters, digits, spaces and _ . / = + - % @ are fine.
    c.add_tags_to_stream()
        .stream_name("chars")
        .tags("Équipe 1_./=+-%@", "données ok")
        .send()
        .await
        .unwrap();
    // The keys RemoveTagsFromStream names follow the key rules too.
    for bad in ["new\nline", "bad#key"] {
        let err = c
            .remove_tags_from_stream()
            .stream_name("chars")
            .tag_keys(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "InvalidArgumentException", "{bad:?}");
    }
    c.remove_tags_from_stream()
        .stream_name("chars")
        .tag_keys("Équipe 1_./=+-%@")
        .send()
        .await
        .unwrap();
    // CreateStream's tags follow the same rules.
    let err = c
        .create_stream()
        .stream_name("badtags")
        .shard_count(1)
        .tags("aws:x", "y")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
}

#[tokio::test]
async fn tag_resource_by_arn_allows_colons_and_consumers_are_not_found() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "r", 1).await;
    c.tag_resource()
        .resource_arn(stream_arn("r"))
        .tags("team:name", "data:eng")
        .tags("cost", "1")
        .send()
        .await
        .unwrap();
    let out = c
        .list_tags_for_resource()
        .resource_arn(stream_arn("r"))
        .send()
        .await
        .unwrap();
    let got: Vec<(&str, Option<&str>)> = out.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(
        got,
        vec![("cost", Some("1")), ("team:name", Some("data:eng"))]
    );
    // The same tags seen per stream.
    assert_eq!(keys(c, "r").await.len(), 2);
    c.untag_resource()
        .resource_arn(stream_arn("r"))
        .tag_keys("cost")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys(c, "r").await,
        vec![("team:name".into(), "data:eng".into())]
    );

    let err = c
        .tag_resource()
        .resource_arn(stream_arn("missing"))
        .tags("a", "b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let consumer = format!("{}/consumer/c1:1700000000", stream_arn("r"));
    let err = c
        .list_tags_for_resource()
        .resource_arn(&consumer)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    assert!(message(&err).contains("Consumer"), "{}", message(&err));
    let err = c
        .tag_resource()
        .resource_arn(stream_arn("r"))
        .tags("aws:reserved", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");
    let err = c
        .list_tags_for_stream()
        .stream_name("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn tags_cannot_change_while_creating() {
    let s = start_with(false, |c| c.streams.create_delay_ms = 60_000).await;
    let c = &s.client;
    create_stream(c, "slow", 1).await;
    let err = c
        .add_tags_to_stream()
        .stream_name("slow")
        .tags("a", "b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    // Listing is fine in any state.
    assert!(keys(c, "slow").await.is_empty());
}
