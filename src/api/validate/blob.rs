//! Base64 checks for `blob` members, worded as AWS (via kinesalite `validations/index.js`),
//! done without decoding.

/// Checks a base64 string the way AWS's JSON deserializer does and returns its decoded
/// length, or the `SerializationException` message.
///
/// Order (kinesalite): length multiple of 4, then the first character that is not in the
/// standard alphabet or an `=` followed by a non-`=`, then canonical form (at most two pad
/// characters, unused bits of the last non-pad character zero).
pub fn check_base64(s: &str) -> Result<usize, String> {
    let b = s.as_bytes();
    // The common case, a valid string, in one branch-free pass over the bytes (profiled:
    // the careful walk below cost more than decoding). Anything else takes that walk,
    // which finds the error AWS reports.
    if b.len() % 4 == 0 {
        let pad = b.iter().rev().take(3).take_while(|&&c| c == b'=').count();
        let body = &b[..b.len() - pad];
        if pad <= 2 && all_base64(body) && canonical_tail(b, pad) {
            return Ok(b.len() / 4 * 3 - pad);
        }
    }
    check_base64_slowly(s)
}

/// Whether every byte is in the standard alphabet (no padding); written so the
/// compiler can use vector compares.
fn all_base64(body: &[u8]) -> bool {
    body.chunks(64).all(|chunk| {
        let mut bad = false;
        for &c in chunk {
            let ok = (c.wrapping_sub(b'A') < 26)
                | (c.wrapping_sub(b'a') < 26)
                | (c.wrapping_sub(b'0') < 10)
                | (c == b'+')
                | (c == b'/');
            bad |= !ok;
        }
        !bad
    })
}

/// With `pad` trailing `=`, the unused bits of the last character are zero.
fn canonical_tail(b: &[u8], pad: usize) -> bool {
    match pad {
        0 => true,
        1 | 2 if b.len() > pad => {
            let last = sextet(b[b.len() - pad - 1]);
            let unused_mask = if pad == 1 { 0b11 } else { 0b1111 };
            last & unused_mask == 0
        }
        _ => false,
    }
}

fn check_base64_slowly(s: &str) -> Result<usize, String> {
    let b = s.as_bytes();
    // AWS (Java) and kinesalite (JS) measure the string in UTF-16 units.
    let units = if s.is_ascii() {
        b.len()
    } else {
        s.encode_utf16().count()
    };
    if units % 4 != 0 {
        return Err(format!(
            "'{s}' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: {units}"
        ));
    }
    for (i, &c) in b.iter().enumerate() {
        let bad = match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => false,
            b'=' => i + 1 < b.len() && b[i + 1] != b'=',
            _ => true,
        };
        if bad {
            // Report the whole (possibly multi-byte) character.
            let ch = s[i..].chars().next().unwrap_or('?');
            return Err(format!(
                "'{s}' can not be converted to a Blob: Invalid Base64 character: '{ch}'"
            ));
        }
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if !canonical_tail(b, pad) {
        return Err(format!(
            "'{s}' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"
        ));
    }
    Ok(b.len() / 4 * 3 - pad)
}

/// Decoded length of an already validated base64 string.
pub fn decoded_len(s: &str) -> usize {
    let b = s.as_bytes();
    let pad = b.iter().rev().take(2).take_while(|&&c| c == b'=').count();
    (b.len() / 4 * 3).saturating_sub(pad)
}

fn sextet(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    proptest::proptest! {
        /// The fast path answers exactly what the careful walk answers.
        #[test]
        fn the_fast_path_agrees_with_the_walk(s in "[A-Za-z0-9+/=!\u{e9}]{0,16}") {
            proptest::prop_assert_eq!(check_base64(&s), check_base64_slowly(&s));
        }
    }

    #[test]
    fn kinesalite_cases() {
        assert_eq!(
            check_base64("23456").unwrap_err(),
            "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 5"
        );
        assert_eq!(
            check_base64("=+/=").unwrap_err(),
            "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='"
        );
        assert_eq!(
            check_base64("+/+=").unwrap_err(),
            "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"
        );
        assert_eq!(
            check_base64("ab!d").unwrap_err(),
            "'ab!d' can not be converted to a Blob: Invalid Base64 character: '!'"
        );
        assert!(check_base64("A===").is_err());
        assert!(check_base64("====").is_err());
        assert!(check_base64("QQ==QQ==").is_err());
        // Lengths are UTF-16 units: 3 units (4 bytes) is a length error.
        assert_eq!(
            check_base64("a\u{e9}a").unwrap_err(),
            "'a\u{e9}a' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3"
        );
        assert_eq!(
            check_base64("ab\u{e9}d").unwrap_err(),
            "'ab\u{e9}d' can not be converted to a Blob: Invalid Base64 character: '\u{e9}'"
        );
    }

    #[test]
    fn decoded_lengths_match_the_base64_crate() {
        let e = base64::engine::general_purpose::STANDARD;
        for n in 0..40usize {
            let data: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            let s = e.encode(&data);
            assert_eq!(check_base64(&s), Ok(n), "{s}");
            assert_eq!(decoded_len(&s), n);
        }
        assert_eq!(check_base64(""), Ok(0));
    }
}
