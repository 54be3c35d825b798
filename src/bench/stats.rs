//! What a bench run counts: requests, records, bytes, throttles, errors and latencies,
//! shared by its workers through atomics, with a progress line each second and the
//! figures at the end.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Latencies kept for percentiles; a run keeps at most this many (later ones are
/// sampled into the counters only), so memory stays bounded.
const MAX_SAMPLES: usize = 20_000_000;

#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub throttled: AtomicU64,
    pub errors: AtomicU64,
    /// Microseconds, unsorted.
    latencies: Mutex<Vec<u32>>,
    /// The first error seen, to show what went wrong.
    pub first_error: Mutex<Option<String>>,
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub count: usize,
}

impl Stats {
    pub fn ok(&self, records: u64, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn latencies(&self, batch: &[u32]) {
        let mut l = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_SAMPLES.saturating_sub(l.len());
        l.extend_from_slice(&batch[..batch.len().min(room)]);
    }

    pub fn error(&self, throttled: bool, what: impl FnOnce() -> String) {
        if throttled {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(what());
        }
    }

    pub fn percentiles(&self) -> Percentiles {
        let mut l = self
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        percentiles(&mut l)
    }
}

pub fn percentiles(micros: &mut [u32]) -> Percentiles {
    if micros.is_empty() {
        return Percentiles::default();
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
        micros[i] as f64 / 1000.0
    };
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: micros[micros.len() - 1] as f64 / 1000.0,
        count: micros.len(),
    }
}

/// Latency in whole microseconds since `t`.
pub fn micros_since(t: Instant) -> u32 {
    t.elapsed().as_micros().min(u32::MAX as u128) as u32
}

/// Prints a progress line on stderr every second until `stop` is set.
pub async fn progress(stats: &Stats, started: Instant, stop: &AtomicBool, label: &str) {
    let mut last = (0u64, 0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let now = (
            stats.requests.load(Ordering::Relaxed),
            stats.records.load(Ordering::Relaxed),
            stats.bytes.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            std::io::stderr(),
            "[{label} {:>4.0}s] {:>8} req/s {:>9} rec/s {:>8.1} MiB/s  throttled {} errors {}",
            started.elapsed().as_secs_f64(),
            now.0 - last.0,
            now.1 - last.1,
            (now.2 - last.2) as f64 / (1024.0 * 1024.0),
            stats.throttled.load(Ordering::Relaxed),
            stats.errors.load(Ordering::Relaxed),
        );
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        let p = percentiles(&mut v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(percentiles(&mut []).count, 0);
    }
}
