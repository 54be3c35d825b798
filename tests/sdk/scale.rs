//! Thousands of shards without thousands of open files: a 2000-shard stream takes
//! writes on every shard while the process's descriptor count stays bounded.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::common::*;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_shards_stay_within_the_file_budget() {
    let max_open = 64;
    let s = start_with(true, |c| {
        c.streams.shard_limit = 2000;
        c.storage.max_open_files = max_open;
    })
    .await;
    let c = &s.client;
    let baseline = open_fds();
    create_active(c, "wide", 2000).await;
    let shards = {
        let mut all = Vec::new();
        let mut page = c.list_shards().stream_name("wide").send().await.unwrap();
        loop {
            all.extend(page.shards().iter().cloned());
            match page.next_token() {
                Some(t) => page = c.list_shards().next_token(t).send().await.unwrap(),
                None => break,
            }
        }
        all
    };
    assert_eq!(shards.len(), 2000);
    // One record per shard, aimed with ExplicitHashKey at each shard's first key.
    for chunk in shards.chunks(500) {
        let entries = chunk
            .iter()
            .map(|sh| {
                PutRecordsRequestEntry::builder()
                    .partition_key("k")
                    .explicit_hash_key(sh.hash_key_range().unwrap().starting_hash_key())
                    .data(Blob::new(sh.shard_id().as_bytes().to_vec()))
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        let r = c
            .put_records()
            .stream_name("wide")
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(r.failed_record_count(), Some(0));
        for (res, sh) in r.records().iter().zip(chunk) {
            assert_eq!(res.shard_id(), Some(sh.shard_id()));
        }
    }
    let grown = open_fds().saturating_sub(baseline);
    assert!(
        grown <= max_open + 32,
        "{grown} descriptors opened for 2000 shards (budget {max_open})"
    );
    // Every shard still reads back its own record.
    for sh in shards.iter().step_by(97) {
        let got = first_batch(c, "wide", sh.shard_id()).await;
        assert_eq!(got.records().len(), 1);
        assert_eq!(got.records()[0].data().as_ref(), sh.shard_id().as_bytes());
    }
    s.running.stop().await.unwrap();
}
