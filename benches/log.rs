//! Append and read throughput of the disk log store, so format or locking changes show
//! their cost. Run with `cargo bench --bench log`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shoal::storage::log::{DiskLogStore, DiskOptions, Durability, LogStore, RecordIn};

fn records(n: usize) -> Vec<RecordIn> {
    (0..n)
        .map(|i| RecordIn {
            key: Bytes::from(format!("key-{i}")),
            data: Bytes::from(vec![(i % 251) as u8; 1024]),
        })
        .collect()
}

fn store(dir: &std::path::Path, durability: Durability) -> Arc<DiskLogStore> {
    let opts = DiskOptions {
        durability,
        ..DiskOptions::default()
    };
    DiskLogStore::open(dir, opts).expect("open store")
}

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("append_1KiB");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for durability in [Durability::None, Durability::Sync] {
        for batch in [1usize, 500] {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = store(dir.path(), durability);
            let log = store.create(1).expect("create");
            let recs = records(batch);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(format!("{durability:?}/batch_{batch}"), |b| {
                b.iter(|| {
                    let a = log.append(0, &recs).expect("append");
                    rt.block_on(a.durable.wait()).expect("durable");
                })
            });
            store.shutdown().expect("shutdown");
        }
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), Durability::None);
    let log = store.create(1).expect("create");
    let recs = records(500);
    for _ in 0..20 {
        log.append(0, &recs).expect("append");
    }
    let end = log.bounds().end_offset;
    let mut group = c.benchmark_group("read_1KiB");
    group.throughput(Throughput::Elements(500));
    group.bench_function("500_records", |b| {
        let mut at = 0u64;
        b.iter_batched(
            || {
                at = (at + 500) % end;
                at
            },
            |from| {
                let r = log.read(from, 500, 10 << 20).expect("read");
                assert!(!r.records.is_empty());
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    store.shutdown().expect("shutdown");
}

criterion_group!(benches, append, read);
criterion_main!(benches);
