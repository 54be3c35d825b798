//! Referrer counts over a sliding window of event time, plus totals since start.

use std::collections::{BTreeMap, HashMap};

/// Counts per second of arrival time; seconds older than the window are dropped.
pub struct Window {
    width_secs: u64,
    buckets: BTreeMap<u64, HashMap<String, u64>>,
    totals: HashMap<String, u64>,
    records: u64,
}

/// One line of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub referrer: String,
    pub in_window: u64,
    pub total: u64,
}

impl Window {
    pub fn new(width_secs: u64) -> Self {
        Window {
            width_secs: width_secs.max(1),
            buckets: BTreeMap::new(),
            totals: HashMap::new(),
            records: 0,
        }
    }

    pub fn width_secs(&self) -> u64 {
        self.width_secs
    }

    /// Records read since start.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Counts one record that arrived in the stream at `at_secs` (epoch seconds).
    /// Records already older than the window count only towards the totals.
    pub fn add(&mut self, at_secs: u64, referrer: &str, now_secs: u64) {
        self.records += 1;
        *self.totals.entry(referrer.to_string()).or_default() += 1;
        // A clock slightly behind the server's must not put records in the future.
        let at = at_secs.min(now_secs);
        if at + self.width_secs > now_secs {
            *self
                .buckets
                .entry(at)
                .or_default()
                .entry(referrer.to_string())
                .or_default() += 1;
        }
    }

    /// The table at `now_secs`: the last `width_secs` seconds (this one included),
    /// largest first, then by total, then by name.
    pub fn rows(&mut self, now_secs: u64) -> Vec<Row> {
        let oldest = (now_secs + 1).saturating_sub(self.width_secs);
        self.buckets = self.buckets.split_off(&oldest);
        let mut in_window: HashMap<&str, u64> = HashMap::new();
        for counts in self.buckets.values() {
            for (referrer, n) in counts {
                *in_window.entry(referrer.as_str()).or_default() += n;
            }
        }
        let mut rows: Vec<Row> = self
            .totals
            .iter()
            .map(|(referrer, total)| Row {
                referrer: referrer.clone(),
                in_window: in_window.get(referrer.as_str()).copied().unwrap_or(0),
                total: *total,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.in_window
                .cmp(&a.in_window)
                .then(b.total.cmp(&a.total))
                .then(a.referrer.cmp(&b.referrer))
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_seconds_leave_the_window_but_stay_in_the_totals() {
        let mut w = Window::new(10);
        w.add(100, "a", 100);
        w.add(105, "b", 105);
        w.add(105, "b", 105);
        w.add(50, "c", 105); // read late: older than the window already
        let rows = w.rows(105);
        assert_eq!(
            rows.iter()
                .map(|r| (r.referrer.as_str(), r.in_window, r.total))
                .collect::<Vec<_>>(),
            [("b", 2, 2), ("a", 1, 1), ("c", 0, 1)]
        );
        // At 110 the second 100 is out (window 101..=110), 105 still in.
        let rows = w.rows(110);
        assert_eq!((rows[0].referrer.as_str(), rows[0].in_window), ("b", 2));
        assert_eq!((rows[1].referrer.as_str(), rows[1].in_window), ("a", 0));
        assert_eq!(w.records(), 4);
    }

    #[test]
    fn future_arrival_times_count_as_now() {
        let mut w = Window::new(5);
        w.add(1_000, "a", 990);
        assert_eq!(w.rows(990)[0].in_window, 1);
        assert_eq!(w.rows(995)[0].in_window, 0);
    }
}
