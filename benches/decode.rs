//! Request decoding on the hot path: parsing a PutRecords body, checking it against the
//! service model, and decoding its base64 payloads; and the same body in CBOR, which is
//! transcoded to the JSON value first.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use shoal::api::codec::Protocol;
use shoal::api::target::Operation;

fn put_records_body(records: usize, size: usize) -> Vec<u8> {
    let data = STANDARD.encode(vec![0x5au8; size]);
    let entries: Vec<Value> = (0..records)
        .map(|i| json!({"Data": data, "PartitionKey": format!("partition-key-{i}")}))
        .collect();
    serde_json::to_vec(&json!({"StreamName": "bench", "Records": entries})).unwrap()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("put_records_decode");
    for &(records, size) in &[(1usize, 100usize), (500, 1024)] {
        let body = put_records_body(records, size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        let id = format!("{records}x{size}B");
        group.bench_with_input(BenchmarkId::new("parse", &id), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<Value>(body).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("parse+validate", &id), &body, |b, body| {
            b.iter(|| {
                let v: Value = serde_json::from_slice(body).unwrap();
                shoal::api::validate::check_input("PutRecords", &v).unwrap();
                v
            })
        });
        group.bench_with_input(
            BenchmarkId::new("parse+validate+base64", &id),
            &body,
            |b, body| {
                b.iter(|| {
                    let v: Value = serde_json::from_slice(body).unwrap();
                    shoal::api::validate::check_input("PutRecords", &v).unwrap();
                    let mut total = 0;
                    for r in v["Records"].as_array().unwrap() {
                        total += STANDARD.decode(r["Data"].as_str().unwrap()).unwrap().len();
                    }
                    total
                })
            },
        );
    }
    group.finish();
    let mut group = c.benchmark_group("put_records_decode_cbor");
    for &(records, size) in &[(1usize, 100usize), (500, 1024)] {
        let json: Value = serde_json::from_slice(&put_records_body(records, size)).unwrap();
        let shape = shoal::api::model::model().input_shape("PutRecords");
        let mut body = Vec::new();
        shoal::api::codec::transcode::write_json(&mut body, &json, shape);
        group.throughput(Throughput::Bytes(body.len() as u64));
        let id = format!("{records}x{size}B");
        group.bench_with_input(
            BenchmarkId::new("decode+validate", &id),
            &body,
            |b, body| {
                b.iter(|| {
                    let v = Protocol::Cbor
                        .decode_request(Operation::PutRecords, body)
                        .unwrap();
                    shoal::api::validate::check_input("PutRecords", &v).unwrap();
                    v
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
