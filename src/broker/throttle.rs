//! Throughput limits as AWS enforces them: per-shard token buckets for writes (bytes and
//! records), reads (bytes and calls) and GetShardIterator calls, and per-account rate
//! quotas for control-plane operations. Buckets live in each shard (no task per shard,
//! no global lock on the data path) and read time from the injected clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::storage::catalog::Usage;

/// The limits' own configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Off (`--no-throttle`): no bucket is consulted.
    pub enabled: bool,
    pub write_bytes_per_sec: f64,
    pub write_records_per_sec: f64,
    pub read_bytes_per_sec: f64,
    pub read_calls_per_sec: f64,
    pub iterator_calls_per_sec: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            enabled: true,
            write_bytes_per_sec: 1024.0 * 1024.0,
            write_records_per_sec: 1000.0,
            read_bytes_per_sec: 2.0 * 1024.0 * 1024.0,
            read_calls_per_sec: 5.0,
            iterator_calls_per_sec: 5.0,
        }
    }
}

/// A token bucket holding up to one second of its rate. Tokens may go negative when a
/// cost is charged after the fact (a read's bytes), which makes later calls wait.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl Bucket {
    fn full(rate: f64, now_ms: i64) -> Bucket {
        Bucket {
            tokens: rate,
            at_ms: now_ms,
        }
    }

    fn refill(&mut self, rate: f64, now_ms: i64) {
        let elapsed = (now_ms - self.at_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.at_ms = self.at_ms.max(now_ms);
    }
}

/// One shard's buckets and write counters.
#[derive(Debug)]
pub struct ShardMeter {
    write: Mutex<(Bucket, Bucket)>,
    read: Mutex<(Bucket, Bucket)>,
    iterators: Mutex<Bucket>,
    /// Everything ever written, for measuring sustained rates (on-demand scaling).
    pub bytes_written: AtomicU64,
    pub records_written: AtomicU64,
    /// Everything ever read, by GetRecords and SubscribeToShard (for /metrics).
    pub bytes_read: AtomicU64,
    pub records_read: AtomicU64,
    /// Records refused by the write limit, and GetRecords calls by the read limit.
    pub write_throttled: AtomicU64,
    pub read_throttled: AtomicU64,
    /// MillisBehindLatest as last reported to a reader of this shard.
    pub millis_behind: AtomicI64,
    /// Signalled whenever records become readable, so SubscribeToShard tails the shard
    /// without polling.
    pub appended: tokio::sync::Notify,
    /// What this process took from the buckets since it last told the other processes
    /// sharing its catalog, indexed by `WRITE_BYTES`..`ITERATOR_CALLS` (`broker::usage`).
    unreported: [AtomicU64; 5],
}

const WRITE_BYTES: usize = 0;
const WRITE_RECORDS: usize = 1;
const READ_BYTES: usize = 2;
const READ_CALLS: usize = 3;
const ITERATOR_CALLS: usize = 4;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ShardMeter {
    pub fn new(limits: &Limits, now_ms: i64) -> ShardMeter {
        ShardMeter {
            write: Mutex::new((
                Bucket::full(limits.write_bytes_per_sec, now_ms),
                Bucket::full(limits.write_records_per_sec, now_ms),
            )),
            read: Mutex::new((
                Bucket::full(limits.read_bytes_per_sec, now_ms),
                Bucket::full(limits.read_calls_per_sec, now_ms),
            )),
            iterators: Mutex::new(Bucket::full(limits.iterator_calls_per_sec, now_ms)),
            bytes_written: AtomicU64::new(0),
            records_written: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            records_read: AtomicU64::new(0),
            write_throttled: AtomicU64::new(0),
            read_throttled: AtomicU64::new(0),
            millis_behind: AtomicI64::new(0),
            appended: tokio::sync::Notify::new(),
            unreported: Default::default(),
        }
    }

    fn took(&self, what: usize, n: u64) {
        self.unreported[what].fetch_add(n, Ordering::Relaxed);
    }

    /// What this process took since the last call, for the other processes.
    pub fn take_unreported(&self) -> Usage {
        let take = |i: usize| self.unreported[i].swap(0, Ordering::Relaxed);
        Usage {
            write_bytes: take(WRITE_BYTES),
            write_records: take(WRITE_RECORDS),
            read_bytes: take(READ_BYTES),
            read_calls: take(READ_CALLS),
            iterator_calls: take(ITERATOR_CALLS),
        }
    }

    /// Charges what another process took from this shard to these buckets. They may go
    /// into debt, which holds this process back until the shard's budget refills.
    pub fn charge(&self, limits: &Limits, now_ms: i64, u: &Usage) {
        if !limits.enabled {
            return;
        }
        {
            let mut g = lock(&self.write);
            g.0.refill(limits.write_bytes_per_sec, now_ms);
            g.1.refill(limits.write_records_per_sec, now_ms);
            g.0.tokens -= u.write_bytes as f64;
            g.1.tokens -= u.write_records as f64;
        }
        {
            let mut g = lock(&self.read);
            g.0.refill(limits.read_bytes_per_sec, now_ms);
            g.1.refill(limits.read_calls_per_sec, now_ms);
            g.0.tokens -= u.read_bytes as f64;
            g.1.tokens -= u.read_calls as f64;
        }
        let mut b = lock(&self.iterators);
        b.refill(limits.iterator_calls_per_sec, now_ms);
        b.tokens -= u.iterator_calls as f64;
    }

    /// Takes capacity for one record of `size` bytes, or refuses. A record larger than
    /// a whole second of byte budget passes when the bucket is full (and empties it), so
    /// a large-record stream is slow rather than stuck.
    pub fn try_write(&self, limits: &Limits, now_ms: i64, size: usize) -> bool {
        if !limits.enabled {
            return true;
        }
        let mut g = lock(&self.write);
        let (bytes, records) = &mut *g;
        bytes.refill(limits.write_bytes_per_sec, now_ms);
        records.refill(limits.write_records_per_sec, now_ms);
        let size = size as f64;
        let fits = bytes.tokens >= size || bytes.tokens >= limits.write_bytes_per_sec;
        if !fits || records.tokens < 1.0 {
            self.write_throttled.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        bytes.tokens -= size;
        records.tokens -= 1.0;
        drop(g);
        self.took(WRITE_BYTES, size as u64);
        self.took(WRITE_RECORDS, 1);
        true
    }

    /// Counts records that were written (whether or not limits apply).
    pub fn wrote(&self, records: u64, bytes: u64) {
        self.records_written.fetch_add(records, Ordering::Relaxed);
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts records handed to a reader and how far behind the tip it now is.
    pub fn read_out(&self, records: u64, bytes: u64, millis_behind: i64) {
        self.records_read.fetch_add(records, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        self.millis_behind.store(millis_behind, Ordering::Relaxed);
    }

    /// Admits one GetRecords call, or refuses while the call budget is spent or an
    /// earlier large read left the byte budget in debt.
    pub fn try_read_call(&self, limits: &Limits, now_ms: i64) -> bool {
        if !limits.enabled {
            return true;
        }
        let mut g = lock(&self.read);
        let (bytes, calls) = &mut *g;
        bytes.refill(limits.read_bytes_per_sec, now_ms);
        calls.refill(limits.read_calls_per_sec, now_ms);
        if calls.tokens < 1.0 || bytes.tokens < 0.0 {
            self.read_throttled.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        calls.tokens -= 1.0;
        drop(g);
        self.took(READ_CALLS, 1);
        true
    }

    /// Charges the bytes a GetRecords call returned; up to 10 MiB may be returned at
    /// once, leaving the shard's read budget exhausted for the next seconds.
    pub fn charge_read(&self, limits: &Limits, bytes: usize) {
        if limits.enabled {
            lock(&self.read).0.tokens -= bytes as f64;
            self.took(READ_BYTES, bytes as u64);
        }
    }

    pub fn try_iterator_call(&self, limits: &Limits, now_ms: i64) -> bool {
        if !limits.enabled {
            return true;
        }
        let mut b = lock(&self.iterators);
        b.refill(limits.iterator_calls_per_sec, now_ms);
        if b.tokens < 1.0 {
            return false;
        }
        b.tokens -= 1.0;
        drop(b);
        self.took(ITERATOR_CALLS, 1);
        true
    }
}

/// A standalone byte budget (an enhanced fan-out subscription's 2 MiB/s).
#[derive(Debug)]
pub struct RateBucket {
    rate: f64,
    bucket: Bucket,
}

impl RateBucket {
    pub fn new(rate_per_sec: f64, now_ms: i64) -> RateBucket {
        RateBucket {
            rate: rate_per_sec,
            bucket: Bucket::full(rate_per_sec, now_ms),
        }
    }

    /// Tokens available now (negative while in debt).
    pub fn available(&mut self, now_ms: i64) -> f64 {
        self.bucket.refill(self.rate, now_ms);
        self.bucket.tokens
    }

    pub fn charge(&mut self, amount: usize) {
        self.bucket.tokens -= amount as f64;
    }

    /// Milliseconds until some budget is available again (0 if some is now).
    pub fn wait_ms(&mut self, now_ms: i64) -> u64 {
        let t = self.available(now_ms);
        if t > 0.0 {
            0
        } else {
            (((-t / self.rate) * 1000.0).ceil() as u64).max(1)
        }
    }
}

/// Per-account rates of control-plane operations (calls per second), from AWS's quotas.
pub fn control_rate(operation: &str) -> Option<f64> {
    Some(match operation {
        "CreateStream"
        | "DeleteStream"
        | "ListStreams"
        | "MergeShards"
        | "SplitShard"
        | "AddTagsToStream"
        | "RemoveTagsFromStream"
        | "ListTagsForStream"
        | "RegisterStreamConsumer"
        | "ListStreamConsumers"
        | "DeregisterStreamConsumer"
        | "DescribeAccountSettings"
        | "UpdateAccountSettings"
        | "UpdateStreamWarmThroughput" => 5.0,
        "DescribeStream" | "UpdateShardCount" => 10.0,
        "DescribeStreamSummary" | "DescribeStreamConsumer" => 20.0,
        "DescribeLimits" => 1.0,
        "ListShards" => 1000.0,
        _ => return None,
    })
}

/// Control-plane buckets by (account, operation). A lock over a map is fine here:
/// these calls are rare next to the data plane, which never comes here.
#[derive(Debug, Default)]
pub struct ControlQuotas {
    buckets: Mutex<HashMap<(String, &'static str), Bucket>>,
}

impl ControlQuotas {
    /// True if the call may proceed.
    pub fn admit(&self, account: &str, operation: &'static str, now_ms: i64) -> bool {
        let Some(rate) = control_rate(operation) else {
            return true;
        };
        let mut map = lock(&self.buckets);
        let b = map
            .entry((account.to_string(), operation))
            .or_insert_with(|| Bucket::full(rate, now_ms));
        b.refill(rate, now_ms);
        if b.tokens < 1.0 {
            return false;
        }
        b.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_is_reported_once_and_others_use_puts_the_buckets_in_debt() {
        let limits = Limits::default();
        let m = ShardMeter::new(&limits, 0);
        assert!(m.try_write(&limits, 0, 100));
        assert!(m.try_read_call(&limits, 0));
        m.charge_read(&limits, 7);
        assert!(m.try_iterator_call(&limits, 0));
        let want = Usage {
            write_bytes: 100,
            write_records: 1,
            read_bytes: 7,
            read_calls: 1,
            iterator_calls: 1,
        };
        assert_eq!(m.take_unreported(), want);
        assert!(m.take_unreported().is_zero());
        // Another node took the rest of the second and more: nothing fits until the
        // debt has refilled, and charged use is not reported again.
        let other = Usage {
            write_records: 1999,
            read_calls: 4,
            ..Usage::default()
        };
        m.charge(&limits, 0, &other);
        assert!(!m.try_write(&limits, 999, 1));
        assert!(!m.try_read_call(&limits, 0));
        assert!(m.try_write(&limits, 1001, 1));
        assert!(m.try_read_call(&limits, 1001));
        assert_eq!(m.take_unreported().write_records, 1);
    }

    #[test]
    fn writes_take_bytes_and_records_and_refill_with_time() {
        let l = Limits::default();
        let m = ShardMeter::new(&l, 0);
        for _ in 0..1000 {
            assert!(m.try_write(&l, 0, 10));
        }
        assert!(
            !m.try_write(&l, 0, 10),
            "the 1001st record in a second is refused"
        );
        assert!(
            m.try_write(&l, 1, 10),
            "one millisecond later one record fits again"
        );
        let m = ShardMeter::new(&l, 0);
        assert!(m.try_write(&l, 0, 1024 * 1024));
        assert!(!m.try_write(&l, 0, 1));
        assert!(m.try_write(&l, 500, 512 * 1024 - 1));
    }

    #[test]
    fn a_big_read_blocks_the_shard_for_seconds() {
        let l = Limits::default();
        let m = ShardMeter::new(&l, 0);
        assert!(m.try_read_call(&l, 0));
        m.charge_read(&l, 10 * 1024 * 1024);
        assert!(!m.try_read_call(&l, 1000));
        assert!(!m.try_read_call(&l, 3900));
        assert!(m.try_read_call(&l, 4100));
    }

    #[test]
    fn five_reads_per_second() {
        let l = Limits::default();
        let m = ShardMeter::new(&l, 0);
        for _ in 0..5 {
            assert!(m.try_read_call(&l, 0));
        }
        assert!(!m.try_read_call(&l, 0));
        assert!(m.try_read_call(&l, 200));
    }

    #[test]
    fn disabled_limits_admit_everything() {
        let l = Limits {
            enabled: false,
            ..Limits::default()
        };
        let m = ShardMeter::new(&l, 0);
        for _ in 0..10_000 {
            assert!(m.try_write(&l, 0, 1 << 20));
            assert!(m.try_read_call(&l, 0));
        }
    }

    #[test]
    fn control_quotas_are_per_account_and_operation() {
        let q = ControlQuotas::default();
        for _ in 0..5 {
            assert!(q.admit("a", "CreateStream", 0));
        }
        assert!(!q.admit("a", "CreateStream", 0));
        assert!(q.admit("b", "CreateStream", 0));
        assert!(q.admit("a", "DeleteStream", 0));
        assert!(q.admit("a", "CreateStream", 200));
        assert!(
            q.admit("a", "PutRecord", 0),
            "data plane has no control quota"
        );
    }
}
