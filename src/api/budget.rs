//! Memory held by request and reply bodies, counted as bytes arrive and released when
//! the reply has gone out. Two pools: the in-flight budget for callers who are known
//! (authenticated, or anyone when no credentials are configured) and, where
//! credentials are configured, a separate pool (in total and per client address) for
//! bytes read before the signature could be checked, so that callers who cannot sign
//! never crowd out those who can.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// The pools; permits are KiB (`acquire_many` takes a u32).
pub struct Budget {
    inflight: Arc<Semaphore>,
    inflight_kib: u32,
    inflight_bytes: usize,
    unauthenticated: Arc<Semaphore>,
    unauthenticated_kib: u32,
    per_client_kib: usize,
    by_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
    wait: Duration,
}

/// The sizes of [`Budget`]'s pools.
#[derive(Debug, Clone, Copy)]
pub struct BudgetSizes {
    pub inflight_bytes: usize,
    pub unauthenticated_bytes: usize,
    pub unauthenticated_bytes_per_client: usize,
    /// How long a request waits for room before its 503.
    pub wait: Duration,
}

fn kib(bytes: usize) -> u32 {
    bytes.div_ceil(1024).clamp(1, u32::MAX as usize) as u32
}

impl Budget {
    pub fn new(s: BudgetSizes) -> Budget {
        let (inflight_kib, unauthenticated_kib) =
            (kib(s.inflight_bytes), kib(s.unauthenticated_bytes));
        Budget {
            inflight: Arc::new(Semaphore::new(inflight_kib as usize)),
            inflight_kib,
            inflight_bytes: s.inflight_bytes,
            unauthenticated: Arc::new(Semaphore::new(unauthenticated_kib as usize)),
            unauthenticated_kib,
            per_client_kib: kib(s.unauthenticated_bytes_per_client) as usize,
            by_client: Arc::default(),
            wait: s.wait,
        }
    }

    /// An empty hold for one request from `client`; `known` when its caller needs no
    /// signature check (no credentials configured).
    pub fn hold(&self, client: IpAddr, known: bool) -> Held {
        Held {
            client,
            known,
            kib: 0,
            inflight: None,
            unauthenticated: None,
            by_client: None,
        }
    }

    /// `kib` permits of `pool`: at once when there is room (no timer on the hot path),
    /// else waiting up to `wait`.
    async fn take(pool: &Arc<Semaphore>, kib: u32, wait: Duration) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = pool.clone().try_acquire_many_owned(kib) {
            return Some(p);
        }
        match tokio::time::timeout(wait, pool.clone().acquire_many_owned(kib)).await {
            Ok(Ok(p)) => Some(p),
            _ => None,
        }
    }

    /// The 503 for a request or reply that found no room.
    pub(super) fn overloaded(&self) -> ApiError {
        ApiError::overloaded(self.inflight_bytes)
    }

    /// Grows `held` to cover `bytes` in total, waiting for room up to the configured
    /// wait. Known callers draw on the in-flight budget; unknown ones on the
    /// unauthenticated pools.
    pub async fn grow(&self, held: &mut Held, bytes: usize) -> Result<(), ApiError> {
        let want = kib(bytes);
        if want <= held.kib {
            return Ok(());
        }
        let more = want - held.kib;
        if held.known {
            let cap = self.inflight_kib.saturating_sub(held.kib);
            let p = Self::take(&self.inflight, more.min(cap).max(1), self.wait)
                .await
                .ok_or_else(|| self.overloaded())?;
            merge(&mut held.inflight, p);
        } else {
            {
                let mut t = self.by_client.lock().unwrap_or_else(|p| p.into_inner());
                let mine = t.get(&held.client).copied().unwrap_or(0);
                if mine + more as usize > self.per_client_kib {
                    return Err(ApiError::unavailable(format!(
                        "Too many unauthenticated request bytes from {} are in flight; \
                         slow down and retry.",
                        held.client
                    )));
                }
                t.insert(held.client, mine + more as usize);
            }
            let by_client = held.by_client.get_or_insert_with(|| ClientShare {
                table: self.by_client.clone(),
                client: held.client,
                kib: 0,
            });
            by_client.kib += more as usize;
            let cap = self.unauthenticated_kib.saturating_sub(held.kib);
            let p = Self::take(&self.unauthenticated, more.min(cap).max(1), self.wait)
                .await
                .ok_or_else(|| {
                    ApiError::unavailable(
                        "Shoal is overloaded: too many request bytes are waiting for their \
                         signatures to be checked; slow down and retry.",
                    )
                })?;
            merge(&mut held.unauthenticated, p);
        }
        held.kib = want;
        Ok(())
    }

    /// Moves what `held` covers from the unauthenticated pools into the in-flight
    /// budget, once the caller's signature checked out.
    pub async fn authenticated(&self, held: &mut Held) -> Result<(), ApiError> {
        if held.known {
            return Ok(());
        }
        let n = held.kib.clamp(1, self.inflight_kib);
        let p = Self::take(&self.inflight, n, self.wait)
            .await
            .ok_or_else(|| self.overloaded())?;
        held.inflight = Some(p);
        held.unauthenticated = None;
        held.by_client = None;
        held.known = true;
        held.kib = n;
        Ok(())
    }

    /// Grows `held` to cover a reply of `bytes` without waiting: `false` when there is
    /// no room now.
    pub fn try_grow(&self, held: &mut Held, bytes: usize) -> bool {
        let want = kib(bytes);
        if want <= held.kib || !held.known {
            return want <= held.kib;
        }
        match self
            .inflight
            .clone()
            .try_acquire_many_owned(want - held.kib)
        {
            Ok(p) => {
                merge(&mut held.inflight, p);
                held.kib = want;
                true
            }
            Err(_) => false,
        }
    }
}

fn merge(slot: &mut Option<OwnedSemaphorePermit>, p: OwnedSemaphorePermit) {
    match slot {
        Some(have) => have.merge(p),
        None => *slot = Some(p),
    }
}

/// What one request holds of the budget; dropping it gives everything back.
pub struct Held {
    client: IpAddr,
    known: bool,
    kib: u32,
    inflight: Option<OwnedSemaphorePermit>,
    unauthenticated: Option<OwnedSemaphorePermit>,
    by_client: Option<ClientShare>,
}

/// One request's share of its client address's unauthenticated bytes.
struct ClientShare {
    table: Arc<Mutex<HashMap<IpAddr, usize>>>,
    client: IpAddr,
    kib: usize,
}

impl Drop for ClientShare {
    fn drop(&mut self) {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.get_mut(&self.client) {
            *n = n.saturating_sub(self.kib);
            if *n == 0 {
                t.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget::new(BudgetSizes {
            inflight_bytes: 64 * 1024,
            unauthenticated_bytes: 32 * 1024,
            unauthenticated_bytes_per_client: 16 * 1024,
            wait: Duration::from_millis(10),
        })
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[tokio::test]
    async fn unauthenticated_bytes_never_touch_the_inflight_budget() {
        let b = budget();
        let mut one = b.hold(A, false);
        b.grow(&mut one, 16 * 1024).await.unwrap();
        // Address A is at its share; B still gets in; the in-flight budget is whole.
        let mut more = b.hold(A, false);
        let e = b.grow(&mut more, 1).await.unwrap_err();
        assert_eq!(e.code, "ServiceUnavailableException");
        let mut other = b.hold(B, false);
        b.grow(&mut other, 16 * 1024).await.unwrap();
        assert_eq!(b.inflight.available_permits(), 64);
        assert_eq!(b.unauthenticated.available_permits(), 0);
        // Authenticated, A's bytes move over and A's share frees.
        b.authenticated(&mut one).await.unwrap();
        assert_eq!(b.inflight.available_permits(), 48);
        assert_eq!(b.unauthenticated.available_permits(), 16);
        b.grow(&mut more, 1024).await.unwrap();
        drop((one, more, other));
        assert_eq!(b.inflight.available_permits(), 64);
        assert_eq!(b.unauthenticated.available_permits(), 32);
        assert!(b.by_client.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn known_callers_wait_then_get_a_503_and_replies_never_wait() {
        let b = budget();
        let mut big = b.hold(A, true);
        b.grow(&mut big, 60 * 1024).await.unwrap();
        let mut small = b.hold(B, true);
        b.grow(&mut small, 4 * 1024).await.unwrap();
        let mut late = b.hold(B, true);
        assert!(b.grow(&mut late, 1).await.is_err());
        assert!(!b.try_grow(&mut small, 5 * 1024));
        drop(big);
        assert!(b.try_grow(&mut small, 20 * 1024));
        assert_eq!(b.inflight.available_permits(), 44);
    }
}
