//! Encryption at rest: records written while a stream is encrypted are stored sealed
//! (nothing of them readable in the data dir) and report KMS, those written before or
//! after report NONE; keys resolve by id, ARN and alias from the key file, with KMS's
//! errors for unknown and disabled keys; rotation keeps older records readable.

use std::path::Path;

use aws_sdk_kinesis::types::{EncryptionType, ShardIteratorType};
use aws_sdk_kinesis::Client;

use crate::common::*;

const V1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const V2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
const V3: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";

/// The key file: `k-1` (alias/orders) with `versions`, and a disabled `k-off`.
fn keys(versions: &[&str]) -> String {
    let material: Vec<String> = versions.iter().map(|v| format!("\"{v}\"")).collect();
    format!(
        "[[key]]\nid = \"k-1\"\naliases = [\"alias/orders\"]\nmaterial = [{}]\n\
         [[key]]\nid = \"k-off\"\nmaterial = [\"{V3}\"]\nenabled = false\n",
        material.join(", ")
    )
}

/// (data, encryption type) of every record of shard 0, from the oldest.
async fn shard0(c: &Client, stream: &str) -> Vec<(Vec<u8>, EncryptionType)> {
    let it = iterator(c, stream, &shard(0), ShardIteratorType::TrimHorizon).await;
    read_all(c, it)
        .await
        .iter()
        .map(|r| {
            (
                r.data().as_ref().to_vec(),
                r.encryption_type().unwrap().clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn records_report_the_encryption_they_were_written_with() {
    let s = start().await;
    let c = &s.client;
    create_active(c, "enc", 1).await;
    let p = try_put(c, "enc", "k", b"before").await.unwrap();
    assert_eq!(p.encryption_type(), Some(&EncryptionType::None));
    start_encryption(c, "enc", "alias/aws/kinesis")
        .await
        .unwrap();
    let sum = summary(c, "enc").await;
    assert_eq!(sum.encryption_type(), Some(&EncryptionType::Kms));
    assert_eq!(sum.key_id(), Some("alias/aws/kinesis"));
    let p = try_put(c, "enc", "k", b"during").await.unwrap();
    assert_eq!(p.encryption_type(), Some(&EncryptionType::Kms));
    let puts = c
        .put_records()
        .stream_name("enc")
        .records(entry("k", "batch"))
        .send()
        .await
        .unwrap();
    assert_eq!(puts.encryption_type(), Some(&EncryptionType::Kms));
    c.stop_stream_encryption()
        .stream_name("enc")
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();
    assert_eq!(
        summary(c, "enc").await.encryption_type(),
        Some(&EncryptionType::None)
    );
    let p = try_put(c, "enc", "k", b"after").await.unwrap();
    assert_eq!(p.encryption_type(), Some(&EncryptionType::None));
    use EncryptionType::{Kms, None};
    assert_eq!(
        shard0(c, "enc").await,
        [
            (b"before".to_vec(), None),
            (b"during".to_vec(), Kms),
            (b"batch".to_vec(), Kms),
            (b"after".to_vec(), None)
        ]
    );

    // A reshard changes nothing: the parent reads as before, the children seal too.
    start_encryption(c, "enc", "alias/aws/kinesis")
        .await
        .unwrap();
    c.split_shard()
        .stream_name("enc")
        .shard_to_split(shard(0))
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let parent = first_batch(c, "enc", &shard(0)).await;
    assert_eq!(parent.records().len(), 4);
    assert_eq!(parent.child_shards().len(), 2);
    let (child, _) = put(c, "enc", "k", b"in a child").await;
    let it = iterator(c, "enc", &child, ShardIteratorType::TrimHorizon).await;
    let got = read_all(c, it).await;
    assert_eq!(got[0].data().as_ref(), b"in a child");
    assert_eq!(got[0].partition_key(), Some("k"));
    assert_eq!(got[0].encryption_type(), Some(&Kms));
}

/// Whether any file under `dir` holds `needle`.
fn on_disk(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            on_disk(&p, needle)
        } else {
            let bytes = std::fs::read(&p).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[tokio::test]
async fn an_encrypted_stream_leaves_nothing_readable_on_disk() {
    let s = start_with(true, |c| c.storage.durability = "sync".into()).await;
    let c = &s.client;
    create_active(c, "plain", 1).await;
    create_active(c, "sealed", 1).await;
    start_encryption(c, "sealed", "alias/aws/kinesis")
        .await
        .unwrap();
    put(c, "plain", "plain-key-7f3a", b"plain-data-7f3a").await;
    put(c, "sealed", "sealed-key-9c2e", b"sealed-data-9c2e").await;
    let dir = s.dir.expect("on disk");
    s.running.stop().await.unwrap();
    // The scan finds what is stored in the clear, so its silence means something.
    assert!(on_disk(dir.path(), b"plain-data-7f3a"));
    assert!(on_disk(dir.path(), b"plain-key-7f3a"));
    assert!(!on_disk(dir.path(), b"sealed-data-9c2e"));
    assert!(!on_disk(dir.path(), b"sealed-key-9c2e"));

    // After a restart the managed key is the same: the record reads back.
    let running = shoal::server::spawn(test_config(Some(&dir))).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    let it = iterator(&c, "sealed", &shard(0), ShardIteratorType::TrimHorizon).await;
    let got = read_all(&c, it).await;
    assert_eq!(got[0].data().as_ref(), b"sealed-data-9c2e");
    assert_eq!(got[0].partition_key(), Some("sealed-key-9c2e"));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn keys_resolve_by_id_arn_and_alias_and_others_get_kms_errors() {
    let s = start_with(true, |c| c.kms.keys = keys(&[V1])).await;
    let c = &s.client;
    create_active(c, "e", 1).await;
    for key in [
        "k-1",
        "arn:aws:kms:us-east-1:000000000000:key/k-1",
        "alias/orders",
        "arn:aws:kms:us-east-1:000000000000:alias/orders",
        "alias/aws/kinesis",
    ] {
        start_encryption(c, "e", key).await.unwrap();
        assert_eq!(summary(c, "e").await.key_id(), Some(key));
        put(c, "e", "k", key.as_bytes()).await;
    }
    let written: Vec<Vec<u8>> = shard0(c, "e").await.into_iter().map(|r| r.0).collect();
    assert_eq!(written.len(), 5);
    assert_eq!(written[2], b"alias/orders");
    for (key, expected) in [
        ("alias/nope", "KMSNotFoundException"),
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "KMSNotFoundException",
        ),
        ("k-off", "KMSDisabledException"),
        ("not a key", "InvalidArgumentException"),
    ] {
        let e = start_encryption(c, "e", key).await.unwrap_err();
        assert_eq!(e, expected, "{key}");
    }
    let e = c
        .start_stream_encryption()
        .stream_name("nope")
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException");
    let e = c
        .start_stream_encryption()
        .stream_name("e")
        .encryption_type(EncryptionType::None)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgumentException");
}

#[tokio::test]
async fn a_rotated_key_encrypts_with_its_newest_version_and_reads_with_all() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |versions: &[&str]| {
        let mut config = test_config(Some(&dir));
        config.kms.keys = keys(versions);
        shoal::server::spawn(config)
    };
    let running = serve(&[V1]).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    create_active(&c, "rot", 1).await;
    start_encryption(&c, "rot", "alias/orders").await.unwrap();
    put(&c, "rot", "k", b"under v1").await;
    running.stop().await.unwrap();

    let running = serve(&[V1, V2]).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    let (_, seq) = put(&c, "rot", "k", b"under v2").await;
    let read: Vec<Vec<u8>> = shard0(&c, "rot").await.into_iter().map(|r| r.0).collect();
    assert_eq!(read, [b"under v1".to_vec(), b"under v2".to_vec()]);
    running.stop().await.unwrap();

    // With v1 gone, what v2 sealed still reads, and what v1 sealed gets KMS's answer.
    let running = serve(&[V2]).await.unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    let it = iterator_at(
        &c,
        "rot",
        &shard(0),
        ShardIteratorType::AtSequenceNumber,
        &seq,
    )
    .await;
    assert_eq!(read_all(&c, it).await[0].data().as_ref(), b"under v2");
    let it = iterator(&c, "rot", &shard(0), ShardIteratorType::TrimHorizon).await;
    let e = c.get_records().shard_iterator(it).send().await.unwrap_err();
    assert_eq!(code(&e), "KMSNotFoundException");
    running.stop().await.unwrap();
}
