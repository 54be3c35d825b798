//! Synthetic HTTP access events, the records this example puts on the stream.

use serde::{Deserialize, Serialize};

/// One HTTP request as a web server's access log would record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessEvent {
    /// When the request was served, epoch milliseconds.
    pub time_ms: u64,
    /// The page that linked here (the `Referer` header).
    pub referrer: String,
    /// The path requested.
    pub resource: String,
    pub status: u16,
    pub bytes: u32,
    pub client_ip: String,
}

/// Referrers and their weights: the larger, the more often.
pub const REFERRERS: &[(&str, u32)] = &[
    ("https://www.google.com", 40),
    ("https://www.amazon.com", 20),
    ("https://news.ycombinator.com", 12),
    ("https://www.reddit.com", 9),
    ("https://www.bing.com", 7),
    ("https://duckduckgo.com", 5),
    ("https://github.com", 4),
    ("https://www.youtube.com", 3),
];

const RESOURCES: &[&str] = &[
    "/",
    "/index.html",
    "/products",
    "/products/kinesis",
    "/cart",
    "/checkout",
    "/search?q=streams",
    "/blog/real-time-analytics",
];

/// A generator of events; seeded for tests, random otherwise.
pub struct Generator {
    rng: fastrand::Rng,
    total_weight: u32,
}

impl Generator {
    pub fn new() -> Self {
        Self::with_rng(fastrand::Rng::new())
    }

    pub fn with_rng(rng: fastrand::Rng) -> Self {
        Generator {
            rng,
            total_weight: REFERRERS.iter().map(|(_, w)| w).sum(),
        }
    }

    /// A referrer drawn with the weights of [`REFERRERS`].
    pub fn referrer(&mut self) -> &'static str {
        let mut pick = self.rng.u32(0..self.total_weight);
        for (name, weight) in REFERRERS {
            if pick < *weight {
                return name;
            }
            pick -= weight;
        }
        REFERRERS[0].0
    }

    pub fn event(&mut self, time_ms: u64) -> AccessEvent {
        let referrer = self.referrer().to_string();
        let status = match self.rng.u32(0..100) {
            0..=91 => 200,
            92..=95 => 304,
            96..=98 => 404,
            _ => 500,
        };
        AccessEvent {
            time_ms,
            referrer,
            resource: RESOURCES[self.rng.usize(0..RESOURCES.len())].to_string(),
            status,
            bytes: self.rng.u32(200..60_000),
            // 198.51.100.0/24 is reserved for documentation (RFC 5737).
            client_ip: format!("198.51.100.{}", self.rng.u8(1..255)),
        }
    }
}

/// The referrer a record's data names, or a placeholder for data that is not an
/// [`AccessEvent`] (other producers may share the stream).
pub fn referrer_of(data: &[u8]) -> String {
    match serde_json::from_slice::<AccessEvent>(data) {
        Ok(e) => e.referrer,
        Err(_) => "(not an access event)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_shape_the_draw() {
        let mut g = Generator::with_rng(fastrand::Rng::with_seed(7));
        let mut google = 0;
        let mut youtube = 0;
        for _ in 0..10_000 {
            match g.referrer() {
                "https://www.google.com" => google += 1,
                "https://www.youtube.com" => youtube += 1,
                _ => {}
            }
        }
        // Expected 4000 and 300.
        assert!((3600..4400).contains(&google), "{google}");
        assert!((200..400).contains(&youtube), "{youtube}");
    }

    #[test]
    fn events_round_trip_through_json() {
        let mut g = Generator::with_rng(fastrand::Rng::with_seed(1));
        let e = g.event(1_700_000_000_000);
        let json = serde_json::to_vec(&e).unwrap();
        assert_eq!(referrer_of(&json), e.referrer);
        assert_eq!(referrer_of(b"hello"), "(not an access event)");
    }
}
