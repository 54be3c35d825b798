//! `GET /metrics`: Prometheus text for operators. Request latency and errors are
//! recorded here per operation; stream and shard series are read from the broker's
//! snapshots (`Broker::stats`) at scrape time, so the data path pays only relaxed atomic adds. Per-shard
//! series are dropped past `per_shard_max` shards, keeping cardinality bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::response::{IntoResponse, Response};

use super::admin::Viewer;
use super::target::Operation;
use crate::broker::stats::ShardStats;
use crate::broker::{Broker, Stream};
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

/// How a shard series becomes a stream series.
#[derive(Clone, Copy)]
enum PerStream {
    Sum,
    /// The worst shard's value (iterator age).
    Max,
}

/// Reads one figure off a shard's snapshot.
type Read = fn(&ShardStats) -> u64;

/// A counter or gauge read off each shard's snapshot.
struct ShardSeries {
    suffix: &'static str,
    kind: &'static str,
    help: &'static str,
    per_stream: PerStream,
    read: Read,
}

const fn series(
    suffix: &'static str,
    kind: &'static str,
    help: &'static str,
    read: Read,
) -> ShardSeries {
    ShardSeries {
        suffix,
        kind,
        help,
        per_stream: PerStream::Sum,
        read,
    }
}

const SERIES: &[ShardSeries] = &[
    series(
        "incoming_bytes_total",
        "counter",
        "Bytes of data and partition keys written.",
        |s| s.incoming_bytes,
    ),
    series(
        "incoming_records_total",
        "counter",
        "Records written.",
        |s| s.incoming_records,
    ),
    series(
        "outgoing_bytes_total",
        "counter",
        "Bytes returned by GetRecords and SubscribeToShard.",
        |s| s.outgoing_bytes,
    ),
    series(
        "outgoing_records_total",
        "counter",
        "Records returned by GetRecords and SubscribeToShard.",
        |s| s.outgoing_records,
    ),
    series(
        "write_throttled_total",
        "counter",
        "Records refused by the shard's write limit.",
        |s| s.write_throttled,
    ),
    series(
        "read_throttled_total",
        "counter",
        "GetRecords calls refused by the shard's read limit.",
        |s| s.read_throttled,
    ),
    ShardSeries {
        per_stream: PerStream::Max,
        ..series(
            "iterator_age_milliseconds",
            "gauge",
            "MillisBehindLatest last reported to a reader (the largest shard's, per stream).",
            |s| s.millis_behind,
        )
    },
    series(
        "subscriptions",
        "gauge",
        "Open SubscribeToShard subscriptions.",
        |s| s.subscriptions,
    ),
    series(
        "storage_bytes",
        "gauge",
        "Bytes the shard logs occupy.",
        |s| s.stored_bytes,
    ),
    series(
        "storage_segments",
        "gauge",
        "Segment files of the shard logs.",
        |s| s.segments,
    ),
];

/// Renders every series.
pub fn render(
    broker: &Broker,
    requests: &RequestMetrics,
    opts: MetricsOptions,
    viewer: &Viewer,
) -> String {
    let mut streams = broker.stats();
    streams.retain(|s| viewer.sees(&s.stream.account));
    let all = || streams.iter().flat_map(|s| s.shards.iter());
    let shard_total = all().count();
    let open_total = all().filter(|s| s.is_open()).count();
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
        "Streams held, in every account and region (in the login's account once credentials are configured).",
    );
    e.sample("shoal_streams", "", streams.len());
    e.family("shoal_shards", "gauge", "Shards held, by state.");
    e.sample("shoal_shards", &labels(&[("state", "open")]), open_total);
    e.sample(
        "shoal_shards",
        &labels(&[("state", "closed")]),
        shard_total - open_total,
    );
    for series in SERIES {
        let name = format!("shoal_stream_{}", series.suffix);
        e.family(&name, series.kind, series.help);
        for s in &streams {
            let values = s.shards.iter().map(series.read);
            let value = match series.per_stream {
                PerStream::Sum => values.sum(),
                PerStream::Max => values.max().unwrap_or(0),
            };
            e.sample(&name, &stream_labels(&s.stream, None), value);
        }
    }
    if opts.per_shard && shard_total <= opts.per_shard_max {
        for series in SERIES {
            let name = format!("shoal_shard_{}", series.suffix);
            e.family(&name, series.kind, series.help);
            for s in &streams {
                for shard in &s.shards {
                    let labels = stream_labels(&s.stream, Some(&shard.view.shard_id));
                    e.sample(&name, &labels, (series.read)(shard));
                }
            }
        }
    }
    let totals: [(&str, &str, Read); 3] = [
        (
            "shoal_subscriptions_open",
            "Open SubscribeToShard subscriptions.",
            |s| s.subscriptions,
        ),
        (
            "shoal_storage_bytes",
            "Bytes the shard logs shown here occupy.",
            |s| s.stored_bytes,
        ),
        (
            "shoal_storage_segments",
            "Segment files of the shard logs shown here.",
            |s| s.segments,
        ),
    ];
    for (name, help, read) in totals {
        e.family(name, "gauge", help);
        e.sample(name, "", all().map(read).sum::<u64>());
    }
    let problem = broker.storage_problem();
    e.family(
        "shoal_storage_writable",
        "gauge",
        "1 while the store takes writes; 0 after a failed sync (restart it) or while the disk is full (free space); /health says why.",
    );
    e.sample("shoal_storage_writable", "", u8::from(problem.is_none()));
    e.family(
        "shoal_storage_disk_full",
        "gauge",
        "1 while writes fail for lack of disk space.",
    );
    e.sample(
        "shoal_storage_disk_full",
        "",
        u8::from(matches!(problem, Some((false, _)))),
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
