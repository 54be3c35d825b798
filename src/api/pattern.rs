//! The model's `pattern` traits, compiled once. The two shapes that every data-plane
//! request checks, a character class repeated (`StreamName`) and a bounded decimal
//! (`HashKey`, `SequenceNumber`), are matched by hand: the regex engine's PikeVM cost
//! about 1.5% of the server's CPU on PutRecord. Everything else goes to the regex.

use regex_lite::Regex;

/// A compiled `pattern` trait: the model's text (used verbatim in messages) and the
/// full-match regex `^(?:pattern)$`, or a hand matcher that answers the same.
#[derive(Debug)]
pub struct Pattern {
    pub source: String,
    regex: Regex,
    fast: Option<Fast>,
}

#[derive(Debug)]
enum Fast {
    /// `[...]+` over ASCII: one bit per allowed byte.
    Class(u128),
    /// `0|([1-9]\d{0,n})`: at most `n + 1` digits, no leading zero.
    Decimal(usize),
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, String> {
        Ok(Pattern {
            source: source.to_string(),
            regex: Regex::new(&format!("^(?:{source})$")).map_err(|e| e.to_string())?,
            fast: class(source).or_else(|| decimal(source)),
        })
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        match self.fast {
            Some(Fast::Class(set)) => {
                !s.is_empty() && s.bytes().all(|b| b < 128 && set & (1 << b) != 0)
            }
            Some(Fast::Decimal(n)) => {
                let b = s.as_bytes();
                s == "0"
                    || (matches!(b.first(), Some(b'1'..=b'9'))
                        && b.len() <= n + 1
                        && b.iter().all(u8::is_ascii_digit))
            }
            None => self.regex.is_match(s),
        }
    }
}

/// `[a-zA-Z0-9_.-]+`-like: literal ASCII characters and ranges, `-` literal at the end.
fn class(source: &str) -> Option<Fast> {
    let inner = source.strip_prefix('[')?.strip_suffix("]+")?.as_bytes();
    let mut set = 0u128;
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if !c.is_ascii() || matches!(c, b'\\' | b'[' | b']' | b'^') {
            return None;
        }
        if inner.get(i + 1) == Some(&b'-') && i + 2 < inner.len() {
            let end = inner[i + 2];
            if !end.is_ascii() || end < c || matches!(end, b'\\' | b'[' | b']') {
                return None;
            }
            (c..=end).for_each(|b| set |= 1 << b);
            i += 3;
        } else {
            set |= 1 << c;
            i += 1;
        }
    }
    (set != 0).then_some(Fast::Class(set))
}

fn decimal(source: &str) -> Option<Fast> {
    let n = source.strip_prefix(r"0|([1-9]\d{0,")?.strip_suffix("})")?;
    n.parse().ok().map(Fast::Decimal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_matchers_agree_with_the_regex() {
        let inputs = [
            "",
            "0",
            "00",
            "01",
            "1",
            "9",
            "10",
            "a",
            "abc",
            "a b",
            "A-z_.9",
            "-",
            ".",
            "é",
            "x\n",
            "12345678901234567890123456789012345678901",
            "1234567890123456789012345678901234567890",
            "340282366920938463463374607431768211455",
            "1a",
            " 1",
            "stream-1.test_2",
        ];
        for source in [
            r"[a-zA-Z0-9_.-]+",
            r"0|([1-9]\d{0,38})",
            r"0|([1-9]\d{0,128})",
            "[a-z0-9]+",
        ] {
            let p = Pattern::new(source).unwrap();
            assert!(p.fast.is_some(), "{source} has a hand matcher");
            for s in inputs {
                assert_eq!(p.is_match(s), p.regex.is_match(s), "{source} on {s:?}");
            }
        }
        let long = "1".repeat(40);
        let p = Pattern::new(r"0|([1-9]\d{0,38})").unwrap();
        assert!(!p.is_match(&long) && p.is_match(&long[..39]));
        assert!(Pattern::new(r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+")
            .unwrap()
            .fast
            .is_none());
    }
}
