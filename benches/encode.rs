//! The other hot paths of a record: routing (MD5 of the partition key, then the shard
//! whose range holds it) and encoding a GetRecords answer (base64 into JSON).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shoal::api::handlers::records_json;
use shoal::broker::records::{GetRecordsOut, RecordOut};
use shoal::broker::routing::{find_range, hash_key};

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing");
    let keys: Vec<String> = (0..1000).map(|i| format!("partition-key-{i}")).collect();
    group.throughput(Throughput::Elements(keys.len() as u64));
    for &shards in &[4u128, 1000] {
        let starts: Vec<u128> = (0..shards).map(|i| i * (u128::MAX / shards)).collect();
        group.bench_with_input(
            BenchmarkId::new("md5+find", shards),
            &starts,
            |b, starts| {
                b.iter(|| {
                    keys.iter()
                        .map(|k| find_range(starts, hash_key(k)).unwrap_or(0))
                        .sum::<usize>()
                })
            },
        );
    }
    group.finish();
}

fn get_records_answer(records: usize, size: usize) -> GetRecordsOut {
    GetRecordsOut {
        records: (0..records)
            .map(|i| RecordOut {
                sequence_number: 43_091_180_040_077_371_772_622_669_415_972_864_001 + i as u128,
                arrival_ms: 1_796_158_643_700 + i as i64,
                partition_key: format!("partition-key-{i}"),
                data: Bytes::from(vec![0x5a; size]),
                encrypted: false,
            })
            .collect(),
        next_iterator: Some("AAAAAAAAAAF7".repeat(20)),
        millis_behind_latest: 0,
        child_shards: Vec::new(),
    }
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("get_records_encode");
    for &(records, size) in &[(100usize, 1024usize), (10_000, 1024)] {
        let answer = get_records_answer(records, size);
        group.throughput(Throughput::Bytes((records * size) as u64));
        group.bench_with_input(
            BenchmarkId::new("json", format!("{records}x{size}B")),
            &answer,
            |b, answer| b.iter(|| records_json::get_records(answer.clone()).len()),
        );
    }
    group.finish();
}

criterion_group!(benches, routing, encode);
criterion_main!(benches);
