//! `application/vnd.amazon.eventstream` framing for SubscribeToShard: each message is a
//! prelude (total length, headers length, CRC), string headers, a payload and a CRC of
//! the whole message. Sans-I/O, so it is tested byte for byte.

/// CRC-32 (IEEE 802.3, the zlib polynomial), as the framing requires.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32_update(0, bytes)
}

fn crc32_update(crc: u32, bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    let mut c = !crc;
    for &b in bytes {
        c = table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// Header value type 7: a UTF-8 string with a 16-bit length.
const STRING: u8 = 7;

/// Encodes one message with string headers.
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(STRING);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let message_crc = crc32(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// An event message (`:message-type: event`).
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", content_type),
        ],
        payload,
    )
}

/// A modeled exception (`:message-type: exception`), e.g. ResourceInUseException.
pub fn exception(exception_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":message-type", "exception"),
            (":exception-type", exception_type),
            (":content-type", content_type),
        ],
        payload,
    )
}

/// One decoded message (for tests and for reading client frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes one message from the front of `buf`: the message and the bytes it used, or
/// None if `buf` does not hold a whole one yet, or an error for a damaged message.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, String> {
    if buf.len() < 12 {
        return Ok(None);
    }
    let total = u32::from_be_bytes(buf[0..4].try_into().unwrap()) as usize;
    let headers_len = u32::from_be_bytes(buf[4..8].try_into().unwrap()) as usize;
    if u32::from_be_bytes(buf[8..12].try_into().unwrap()) != crc32(&buf[0..8]) {
        return Err("prelude CRC mismatch".into());
    }
    if total < 16 || headers_len > total - 16 {
        return Err(format!("bad lengths: total {total}, headers {headers_len}"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let crc_at = total - 4;
    if u32::from_be_bytes(buf[crc_at..total].try_into().unwrap()) != crc32(&buf[..crc_at]) {
        return Err("message CRC mismatch".into());
    }
    let mut headers = Vec::new();
    let mut h = &buf[12..12 + headers_len];
    while !h.is_empty() {
        let n = h[0] as usize;
        let name = h.get(1..1 + n).ok_or("truncated header name")?;
        let rest = &h[1 + n..];
        if rest.first() != Some(&STRING) || rest.len() < 3 {
            return Err("only string headers are supported".into());
        }
        let vlen = u16::from_be_bytes([rest[1], rest[2]]) as usize;
        let value = rest.get(3..3 + vlen).ok_or("truncated header value")?;
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        h = &rest[3 + vlen..];
    }
    let payload = buf[12 + headers_len..crc_at].to_vec();
    Ok(Some((Message { headers, payload }, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_zlib_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn frames_round_trip_and_damage_is_caught() {
        let m = event(
            "SubscribeToShardEvent",
            "application/json",
            br#"{"Records":[]}"#,
        );
        let (decoded, used) = decode(&m).unwrap().unwrap();
        assert_eq!(used, m.len());
        assert_eq!(decoded.header(":event-type"), Some("SubscribeToShardEvent"));
        assert_eq!(decoded.header(":message-type"), Some("event"));
        assert_eq!(decoded.payload, br#"{"Records":[]}"#);
        assert_eq!(decode(&m[..m.len() - 1]).unwrap(), None);
        let mut bad = m.clone();
        bad[20] ^= 1;
        assert!(decode(&bad).is_err());
    }

    #[test]
    fn an_empty_initial_response_has_the_known_layout() {
        let m = event("initial-response", "application/json", b"{}");
        // 12 prelude + headers + 2 payload + 4 CRC.
        let headers = 1 + 13 + 3 + 5 + 1 + 11 + 3 + 16 + 1 + 13 + 3 + 16;
        assert_eq!(m.len(), 12 + headers + 2 + 4);
        assert_eq!(
            u32::from_be_bytes(m[4..8].try_into().unwrap()) as usize,
            headers
        );
    }
}
