//! `GET /metrics`: Prometheus text for operators. Request latency and errors are
//! recorded here per operation; stream and shard series are read from the broker's
//! counters at scrape time, so the data path pays only relaxed atomic adds. Per-shard
//! series are dropped past `per_shard_max` shards, keeping cardinality bounded.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use axum::response::{IntoResponse, Response};

use super::target::Operation;
use crate::broker::{Broker, Shard, Stream};
use crate::metrics::{labels, Exposition, Histogram};

/// What the api records about requests.
#[derive(Debug)]
pub struct RequestMetrics {
    /// By `Operation as usize`.
    latency: Vec<Histogram>,
    errors: Mutex<HashMap<(&'static str, &'static str), u64>>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            latency: Operation::ALL
                .iter()
                .map(|_| Histogram::default())
                .collect(),
            errors: Mutex::new(HashMap::new()),
        }
    }
}

impl RequestMetrics {
    pub fn record(&self, op: Option<Operation>, took: Duration, error: Option<&'static str>) {
        if let Some(op) = op {
            self.latency[op as usize].observe(took);
        }
        if let Some(code) = error {
            let name = op.map_or("unknown", Operation::name);
            let mut e = self.errors.lock().unwrap_or_else(|p| p.into_inner());
            *e.entry((name, code)).or_insert(0) += 1;
        }
    }
}

/// Which series to write.
#[derive(Debug, Clone, Copy)]
pub struct MetricsOptions {
    pub per_shard: bool,
    pub per_shard_max: usize,
}

/// A counter or gauge read off each shard, summed per stream.
struct ShardSeries {
    suffix: &'static str,
    kind: &'static str,
    help: &'static str,
    read: fn(&Shard) -> u64,
}

/// Open subscriptions by (stream ARN, shard index).
type Subscribed = HashMap<(String, u32), usize>;

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

const SERIES: &[ShardSeries] = &[
    ShardSeries {
        suffix: "incoming_bytes_total",
        kind: "counter",
        help: "Bytes of data and partition keys written.",
        read: |s| load(&s.meter.bytes_written),
    },
    ShardSeries {
        suffix: "incoming_records_total",
        kind: "counter",
        help: "Records written.",
        read: |s| load(&s.meter.records_written),
    },
    ShardSeries {
        suffix: "outgoing_bytes_total",
        kind: "counter",
        help: "Bytes returned by GetRecords and SubscribeToShard.",
        read: |s| load(&s.meter.bytes_read),
    },
    ShardSeries {
        suffix: "outgoing_records_total",
        kind: "counter",
        help: "Records returned by GetRecords and SubscribeToShard.",
        read: |s| load(&s.meter.records_read),
    },
    ShardSeries {
        suffix: "write_throttled_total",
        kind: "counter",
        help: "Records refused by the shard's write limit.",
        read: |s| load(&s.meter.write_throttled),
    },
    ShardSeries {
        suffix: "read_throttled_total",
        kind: "counter",
        help: "GetRecords calls refused by the shard's read limit.",
        read: |s| load(&s.meter.read_throttled),
    },
    ShardSeries {
        suffix: "iterator_age_milliseconds",
        kind: "gauge",
        help: "MillisBehindLatest last reported to a reader (the largest shard's, per stream).",
        read: |s| s.meter.millis_behind.load(Ordering::Relaxed).max(0) as u64,
    },
    ShardSeries {
        suffix: "subscriptions",
        kind: "gauge",
        help: "Open SubscribeToShard subscriptions.",
        read: |_| 0,
    },
    ShardSeries {
        suffix: "storage_bytes",
        kind: "gauge",
        help: "Bytes the shard logs occupy.",
        read: |s| s.log.stored_bytes(),
    },
    ShardSeries {
        suffix: "storage_segments",
        kind: "gauge",
        help: "Segment files of the shard logs.",
        read: |s| s.log.segment_count(),
    },
];

fn is_gauge_max(suffix: &str) -> bool {
    suffix == "iterator_age_milliseconds"
}

/// Renders every series.
pub fn render(broker: &Broker, requests: &RequestMetrics, opts: MetricsOptions) -> String {
    let streams = broker.all_streams();
    let subscribed = broker.subscriptions.open_by_shard();
    let shard_total: usize = streams.iter().map(|s| s.shards().all.len()).sum();
    let open_total: usize = streams.iter().map(|s| s.shards().open.len()).sum();
    let mut e = Exposition::default();
    e.family("shoal_build_info", "gauge", "The running version.");
    e.sample(
        "shoal_build_info",
        &labels(&[("version", env!("CARGO_PKG_VERSION"))]),
        1,
    );
    e.family(
        "shoal_streams",
        "gauge",
        "Streams held, in every account and region.",
    );
    e.sample("shoal_streams", "", streams.len());
    e.family("shoal_shards", "gauge", "Shards held, by state.");
    e.sample("shoal_shards", &labels(&[("state", "open")]), open_total);
    e.sample(
        "shoal_shards",
        &labels(&[("state", "closed")]),
        shard_total - open_total,
    );
    let per_shard = opts.per_shard && shard_total <= opts.per_shard_max;
    for series in SERIES {
        let name = format!("shoal_stream_{}", series.suffix);
        e.family(&name, series.kind, series.help);
        for stream in &streams {
            let value = stream_value(stream, series, &subscribed);
            e.sample(&name, &stream_labels(stream, None), value);
        }
    }
    if per_shard {
        for series in SERIES {
            let name = format!("shoal_shard_{}", series.suffix);
            e.family(&name, series.kind, series.help);
            for stream in &streams {
                let arn = stream.arn();
                for shard in &stream.shards().all {
                    let value = shard_value(shard, series, &arn, &subscribed);
                    let id = crate::broker::arn::shard_id(shard.meta.index);
                    e.sample(&name, &stream_labels(stream, Some(&id)), value);
                }
            }
        }
    }
    e.family(
        "shoal_subscriptions_open",
        "gauge",
        "Open SubscribeToShard subscriptions.",
    );
    e.sample(
        "shoal_subscriptions_open",
        "",
        subscribed.values().sum::<usize>(),
    );
    let all_shards = || streams.iter().flat_map(|s| s.shards().all.clone());
    e.family(
        "shoal_storage_bytes",
        "gauge",
        "Bytes all shard logs occupy.",
    );
    e.sample(
        "shoal_storage_bytes",
        "",
        all_shards().map(|s| s.log.stored_bytes()).sum::<u64>(),
    );
    e.family(
        "shoal_storage_segments",
        "gauge",
        "Segment files of all shard logs.",
    );
    e.sample(
        "shoal_storage_segments",
        "",
        all_shards().map(|s| s.log.segment_count()).sum::<u64>(),
    );
    if let Some(h) = broker.fsync_latency() {
        e.family(
            "shoal_fsync_duration_seconds",
            "histogram",
            "Duration of each fdatasync of a log segment.",
        );
        e.histogram("shoal_fsync_duration_seconds", "", h);
    }
    e.family(
        "shoal_request_duration_seconds",
        "histogram",
        "Time to answer a Kinesis request (SubscribeToShard: to its first response), by operation.",
    );
    for op in Operation::ALL {
        let h = &requests.latency[*op as usize];
        if h.count() > 0 {
            e.histogram(
                "shoal_request_duration_seconds",
                &labels(&[("operation", op.name())]),
                h,
            );
        }
    }
    e.family(
        "shoal_request_errors_total",
        "counter",
        "Requests answered with an error, by operation and error code.",
    );
    let errors = requests
        .errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut errors: Vec<_> = errors.into_iter().collect();
    errors.sort();
    for ((op, code), n) in errors {
        e.sample(
            "shoal_request_errors_total",
            &labels(&[("operation", op), ("code", code)]),
            n,
        );
    }
    e.finish()
}

fn stream_labels(stream: &Stream, shard: Option<&str>) -> String {
    let mut pairs = vec![
        ("account", stream.account.as_str()),
        ("region", stream.region.as_str()),
        ("stream", stream.name.as_str()),
    ];
    if let Some(id) = shard {
        pairs.push(("shard", id));
    }
    labels(&pairs)
}

fn shard_value(shard: &Shard, series: &ShardSeries, arn: &str, subscribed: &Subscribed) -> u64 {
    if series.suffix == "subscriptions" {
        let key = (arn.to_string(), shard.meta.index);
        return subscribed.get(&key).copied().unwrap_or(0) as u64;
    }
    (series.read)(shard)
}

fn stream_value(stream: &Stream, series: &ShardSeries, subscribed: &Subscribed) -> u64 {
    let arn = stream.arn();
    let values = stream
        .shards()
        .all
        .iter()
        .map(|s| shard_value(s, series, &arn, subscribed))
        .collect::<Vec<_>>();
    if is_gauge_max(series.suffix) {
        values.into_iter().max().unwrap_or(0)
    } else {
        values.into_iter().sum()
    }
}

/// The text format's content type.
pub fn response(text: String) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
