//! Request ids for the `x-amzn-RequestId` and `x-amz-id-2` headers. They only need to
//! be unique, not unpredictable, so they come from a per-thread generator seeded once
//! from the OS: `Uuid::new_v4` asks the kernel for randomness on every call, two
//! syscalls per request on the PutRecord path.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// splitmix64: a full-period sequence, so ids from one thread never repeat, and a
/// thread's seed is random, so threads do not follow each other.
fn next() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// 16 bytes for one id.
pub fn bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&next().to_le_bytes());
    b[8..].copy_from_slice(&next().to_le_bytes());
    b
}

/// A version-4 UUID, the shape of AWS's request ids.
pub fn uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(bytes()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| uuid()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|u| u.get_version_num() == 4));
        let other = std::thread::spawn(uuid).join().unwrap();
        assert!(!ids.contains(&other));
    }
}
