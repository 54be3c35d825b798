//! What the api layer knows of the connection a request came on: the client's address
//! (the key of per-client limits), whether it is TLS (Basic logins are refused in clear
//! text from other machines), and the connection's progress clock, which the api layer
//! moves whenever a request starts, a body chunk arrives, a reply slice or an event goes
//! out. The connection closes once it has not moved for the idle timeout: socket bytes
//! alone (HTTP/2 pings, window updates) do not keep it open.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set on every request by the connection that carried it.
#[derive(Debug, Clone)]
pub struct Transport {
    /// The client address, IPv6 cut to its /64 (one host can hold a whole /64).
    pub client: IpAddr,
    pub tls: bool,
    pub progress: Arc<Progress>,
}

/// The key per-client limits count under: IPv4 as is (IPv4-mapped IPv6 too), IPv6
/// by its /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

/// When a connection last made progress, in milliseconds since it opened.
#[derive(Debug)]
pub struct Progress {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Progress {
    pub fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `idle` (never, for a zero `idle`).
    pub async fn idle_for(&self, idle: Duration) {
        if idle.is_zero() {
            return std::future::pending().await;
        }
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let quiet = self.opened.elapsed().saturating_sub(last);
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[tokio::test]
    async fn idle_means_no_touch_for_the_whole_period() {
        let p = Progress::default();
        let idle = Duration::from_millis(200);
        tokio::time::sleep(Duration::from_millis(120)).await;
        p.touch();
        p.idle_for(idle).await;
        // Not before 200 ms after the touch, whatever the scheduler.
        assert!(p.opened.elapsed() >= Duration::from_millis(320));
    }
}
