//! Timestamps on the wire: JSON carries epoch seconds (an integer from boto3, a float
//! with milliseconds from the JS and Rust SDKs), and ISO-8601 strings are tolerated.

use serde_json::Value;

/// Epoch milliseconds from a JSON timestamp, or None if it is not one.
pub fn to_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().map(seconds_to_ms),
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .map(seconds_to_ms)
            .or_else(|| parse_iso8601(s)),
        _ => None,
    }
}

fn seconds_to_ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

/// The float-seconds form responses use, e.g. `1704164645.678`.
pub fn to_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` to epoch milliseconds.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hhmm = rest[1..].replace(':', "");
            if hhmm.len() != 4 || !hhmm.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let v: i64 = hhmm.parse().ok()?;
            sign * ((v / 100) * 60 + v % 100)
        }
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_every_client_form() {
        assert_eq!(to_ms(&json!(1704164645)), Some(1_704_164_645_000));
        assert_eq!(to_ms(&json!(1704164645.678)), Some(1_704_164_645_678));
        assert_eq!(to_ms(&json!("2024-01-02T03:04:05.678Z")), Some(1_704_164_645_678));
        assert_eq!(to_ms(&json!("2016-04-04T19:58:46.480-00:00")), Some(1_459_799_926_480));
        assert_eq!(to_ms(&json!("2024-01-02T05:04:05+02:00")), Some(1_704_164_645_000));
        assert_eq!(to_ms(&json!("yesterday")), None);
        assert_eq!(to_ms(&json!(true)), None);
    }
}
