//! `timestamp` members: epoch seconds as a JSON number (boto3 sends integers, the JS and
//! Rust SDKs floats with milliseconds), or, defensively, an ISO-8601 string.

use serde_json::Value;

/// Epoch seconds of a timestamp value, or `None` when it is not a number or an
/// ISO-8601 date-time string.
pub fn parse_timestamp(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_iso8601(s),
        _ => None,
    }
}

/// Parses `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH[:]MM]` (a missing zone means UTC).
pub fn parse_iso8601(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let d = b.get(from..from + len)?;
        d.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) as f64 * 86400.0;
    let mut i = 10;
    if i == b.len() {
        return Some(secs);
    }
    if !matches!(b[i], b'T' | b't' | b' ') {
        return None;
    }
    let (hour, minute) = (num(i + 1, 2)?, num(i + 4, 2)?);
    if b.get(i + 3) != Some(&b':') || hour > 23 || minute > 59 {
        return None;
    }
    secs += (hour * 3600 + minute * 60) as f64;
    i += 6;
    if b.get(i) == Some(&b':') {
        let second = num(i + 1, 2)?;
        if second > 60 {
            return None;
        }
        secs += second as f64;
        i += 3;
        if matches!(b.get(i), Some(b'.') | Some(b',')) {
            let start = i + 1;
            let mut end = start;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == start {
                return None;
            }
            secs += format!("0.{}", &s[start..end]).parse::<f64>().ok()?;
            i = end;
        }
    }
    match b.get(i) {
        None => Some(secs),
        Some(b'Z' | b'z') if i + 1 == b.len() => Some(secs),
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = match b.len() - i {
                3 => 0,
                5 => num(i + 3, 2)?,
                6 if b[i + 3] == b':' => num(i + 4, 2)?,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let offset = (oh * 3600 + om * 60) as f64;
            Some(if sign == b'+' {
                secs - offset
            } else {
                secs + offset
            })
        }
        _ => None,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_strings() {
        assert_eq!(parse_timestamp(&json!(1704164645)), Some(1704164645.0));
        assert_eq!(
            parse_timestamp(&json!(1704164645.678)),
            Some(1704164645.678)
        );
        assert_eq!(parse_timestamp(&json!("1970-01-01T00:00:00Z")), Some(0.0));
        assert_eq!(
            parse_timestamp(&json!("2024-01-02T03:04:05Z")),
            Some(1704164645.0)
        );
        let ms = parse_timestamp(&json!("2024-01-02T03:04:05.678Z")).unwrap();
        assert!((ms - 1704164645.678).abs() < 1e-6);
        assert_eq!(
            parse_timestamp(&json!("2024-01-02T04:04:05+01:00")),
            Some(1704164645.0)
        );
        assert_eq!(
            parse_timestamp(&json!("2024-01-02T02:04:05-0100")),
            Some(1704164645.0)
        );
        assert_eq!(parse_timestamp(&json!("2024-01-02")), Some(1704153600.0));
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-30T00:00:00Z",
            "2024-01-02T25:00Z",
            "2024-01-02T03:04:05Zjunk",
            "1704164645",
        ] {
            assert_eq!(parse_timestamp(&json!(bad)), None, "{bad}");
        }
        assert_eq!(parse_timestamp(&json!(true)), None);
    }
}
