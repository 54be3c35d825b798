//! Where a record goes: MD5 of the partition key (or the caller's ExplicitHashKey) as an
//! unsigned 128-bit integer, to the open shard whose hash-key range holds it.

use md5::{Digest, Md5};

/// The hash key of a partition key: MD5 of its UTF-8 bytes read big-endian, as KCL
/// computes it (`new BigInteger(1, md5(key))`).
pub fn hash_key(partition_key: &str) -> u128 {
    let digest = Md5::digest(partition_key.as_bytes());
    u128::from_be_bytes(digest.into())
}

/// Splits the whole space [0, 2^128) into `n` ranges as AWS does for a new stream:
/// width = floor(2^128 / n), the last range absorbing the remainder.
pub fn even_ranges(n: u32) -> Vec<(u128, u128)> {
    let n128 = n.max(1) as u128;
    if n128 == 1 {
        return vec![(0, u128::MAX)];
    }
    // floor(2^128 / n) without overflowing: 2^128 - 1 = n*q + r, so 2^128 = n*q + r + 1.
    let width = u128::MAX / n128 + u128::from(u128::MAX % n128 == n128 - 1);
    (0..n128)
        .map(|i| {
            let start = i * width;
            let end = if i == n128 - 1 {
                u128::MAX
            } else {
                (i + 1) * width - 1
            };
            (start, end)
        })
        .collect()
}

/// Index of the range holding `key` in `starts` (the ascending start keys of ranges
/// that tile the space).
pub fn find_range(starts: &[u128], key: u128) -> Option<usize> {
    starts.partition_point(|s| *s <= key).checked_sub(1)
}

/// Parses a decimal hash key in [0, 2^128 - 1].
pub fn parse_hash_key(s: &str) -> Option<u128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_hashes_match_aws() {
        // MD5("b") = 92eb5ffee6ae2fec3ad71c777531578f, above 2^127: the second of two shards.
        assert_eq!(hash_key("b") >> 124, 0x9);
        assert_eq!(
            hash_key("a"),
            u128::from_str_radix("0cc175b9c0f1b6a831c399e269772661", 16).unwrap()
        );
    }

    #[test]
    fn even_ranges_match_aws_layouts() {
        let two = even_ranges(2);
        assert_eq!(two[0], (0, (1u128 << 127) - 1));
        assert_eq!(two[1], (1u128 << 127, u128::MAX));
        let three = even_ranges(3);
        assert_eq!(
            three[0].1.to_string(),
            "113427455640312821154458202477256070484"
        );
        assert_eq!(three[2].1, u128::MAX);
        assert_eq!(even_ranges(1), vec![(0, u128::MAX)]);
    }

    #[test]
    fn hash_key_parsing() {
        assert_eq!(parse_hash_key("0"), Some(0));
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211455"),
            Some(u128::MAX)
        );
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211456"),
            None
        );
        assert_eq!(parse_hash_key("-1"), None);
        assert_eq!(parse_hash_key(""), None);
    }

    proptest! {
        #[test]
        fn ranges_tile_the_space_and_every_key_has_one_home(n in 1u32..2000, key: u128) {
            let ranges = even_ranges(n);
            prop_assert_eq!(ranges.len(), n as usize);
            prop_assert_eq!(ranges[0].0, 0);
            prop_assert_eq!(ranges[ranges.len() - 1].1, u128::MAX);
            for w in ranges.windows(2) {
                prop_assert!(w[0].0 <= w[0].1);
                prop_assert_eq!(w[0].1 + 1, w[1].0);
            }
            let starts: Vec<u128> = ranges.iter().map(|r| r.0).collect();
            let i = find_range(&starts, key).unwrap();
            prop_assert!(ranges[i].0 <= key && key <= ranges[i].1);
            let holders = ranges.iter().filter(|r| r.0 <= key && key <= r.1).count();
            prop_assert_eq!(holders, 1);
        }
    }
}
