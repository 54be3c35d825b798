//! Stateless, tamper-evident tokens: shard iterators and pagination tokens carry their
//! whole position plus an HMAC, so the server keeps no table of them and they survive
//! restarts (the key lives in the catalog).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAC_LEN: usize = 16;

/// Signs and checks token payloads with one secret key.
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(key: Vec<u8>) -> Self {
        Signer { key }
    }

    fn mac(&self, kind: u8, payload: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(&[kind]);
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// `kind` separates token families, so a pagination token is never a valid iterator.
    pub fn seal(&self, kind: u8, payload: &[u8]) -> String {
        let mut buf = Vec::with_capacity(1 + payload.len() + MAC_LEN);
        buf.push(kind);
        buf.extend_from_slice(payload);
        buf.extend_from_slice(&self.mac(kind, payload));
        STANDARD.encode(buf)
    }

    /// The payload, if the token is well-formed, of this kind and untampered.
    pub fn open(&self, kind: u8, token: &str) -> Option<Vec<u8>> {
        let buf = STANDARD.decode(token).ok()?;
        if buf.len() < 1 + MAC_LEN || buf[0] != kind {
            return None;
        }
        let (body, tag) = buf[1..].split_at(buf.len() - 1 - MAC_LEN);
        let expected = self.mac(kind, body);
        // Constant-time comparison: the tag must not leak byte by byte.
        let diff = expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then(|| body.to_vec())
    }
}

/// The head of a pagination token: when it was issued, and which incarnation of which
/// stream it pages (a stream deleted and created again under the same name is another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMark {
    pub issued_ms: i64,
    pub created_ms: i64,
    pub account: String,
    pub region: String,
    pub name: String,
}

/// A little-endian writer/reader for token payloads.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A [`StreamMark`] for `stream`, issued at `issued_ms`.
    pub fn stream_mark(self, issued_ms: i64, stream: &super::Stream) -> Self {
        self.i64(issued_ms)
            .i64(stream.created_ms)
            .str(&stream.account)
            .str(&stream.region)
            .str(&stream.name)
    }

    /// A string of at most 255 bytes (names, regions, accounts).
    pub fn str(mut self, s: &str) -> Self {
        let b = &s.as_bytes()[..s.len().min(255)];
        self.0.push(b.len() as u8);
        self.0.extend_from_slice(b);
        self
    }
}

pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    pub fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
    pub fn i64(&mut self) -> Option<i64> {
        self.take(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
    }
    pub fn str(&mut self) -> Option<String> {
        let n = self.u8()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    pub fn stream_mark(&mut self) -> Option<StreamMark> {
        Some(StreamMark {
            issued_ms: self.i64()?,
            created_ms: self.i64()?,
            account: self.str()?,
            region: self.str()?,
            name: self.str()?,
        })
    }

    pub fn done(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let s = Signer::new(b"secret".to_vec());
        let t = s.seal(1, b"hello");
        assert_eq!(s.open(1, &t).as_deref(), Some(&b"hello"[..]));
        assert_eq!(s.open(2, &t), None);
        let mut raw = STANDARD.decode(&t).unwrap();
        raw[2] ^= 1;
        assert_eq!(s.open(1, &STANDARD.encode(raw)), None);
        assert_eq!(Signer::new(b"other".to_vec()).open(1, &t), None);
        assert_eq!(s.open(1, "not base64!"), None);
    }
}
