//! The stored form of a record of an encrypted stream. The store keeps a record as a
//! key field and a data field; for an encrypted record the key field is this header
//! (it begins with 0xFF, a byte no UTF-8 partition key can start with, so a plain
//! record is never mistaken for one) and the data field is the AES-256-GCM sealing
//! of the partition key and the data, with the header and the record's place (its
//! stream and shard log, [`context`]) as associated data: a sealed record copied into
//! another shard or stream does not open.
//!
//! Header: `0xFF`, version `1`, the key version's fingerprint (8 bytes), the data
//! key's salt (16), the nonce (12). Sealed: `u16 LE` partition key length, the
//! partition key, the data; then the 16-byte tag.

use bytes::Bytes;
use ring::aead::{Aad, LessSafeKey, Nonce};

use super::KmsError;

pub type Fingerprint = [u8; 8];
pub type Salt = [u8; 16];
/// A sealed record: (key field, data field) as the store keeps them.
pub type Sealed = (Vec<u8>, Vec<u8>);

const MARK: u8 = 0xFF;
const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 2 + 8 + 16 + 12;
/// Bytes an encrypted record takes beyond its partition key and data.
pub const OVERHEAD: usize = HEADER_LEN + 2 + 16;

/// Where a record is stored, bound into its sealing: the stream (account, region and
/// name, and its creation time, so a stream made again under the same name is another)
/// and the shard's log.
pub fn context(stream_key: &str, created_ms: i64, log_id: u64) -> Vec<u8> {
    let mut c = Vec::with_capacity(stream_key.len() + 32);
    c.extend_from_slice(b"shoal record\0");
    c.extend_from_slice(stream_key.as_bytes());
    c.push(0);
    c.extend_from_slice(&created_ms.to_le_bytes());
    c.extend_from_slice(&log_id.to_le_bytes());
    c
}

fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    [header, context].concat()
}

/// Whether a stored key field is an envelope header rather than a partition key.
pub fn is_sealed(key: &[u8]) -> bool {
    key.first() == Some(&MARK)
}

pub struct Header {
    pub fingerprint: Fingerprint,
    pub salt: Salt,
    nonce: [u8; 12],
}

impl Header {
    pub fn parse(b: &[u8]) -> Option<Header> {
        if b.len() != HEADER_LEN || b[0] != MARK || b[1] != VERSION {
            return None;
        }
        Some(Header {
            fingerprint: b[2..10].try_into().ok()?,
            salt: b[10..26].try_into().ok()?,
            nonce: b[26..38].try_into().ok()?,
        })
    }
}

/// `(header, sealed)` for one record stored at `context`; `counter` must never
/// repeat under `key`.
pub fn seal(
    key: &LessSafeKey,
    (fingerprint, salt, counter): (Fingerprint, Salt, u64),
    context: &[u8],
    partition_key: &[u8],
    data: &[u8],
) -> Sealed {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&counter.to_le_bytes());
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&[MARK, VERSION]);
    header.extend_from_slice(&fingerprint);
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    // Partition keys are at most 256 characters (1 KiB), checked before a put.
    let klen = u16::try_from(partition_key.len()).expect("a partition key fits in u16");
    let mut body = Vec::with_capacity(2 + partition_key.len() + data.len() + 16);
    body.extend_from_slice(&klen.to_le_bytes());
    body.extend_from_slice(partition_key);
    body.extend_from_slice(data);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad(&header, context)),
        &mut body,
    )
    .expect("AES-GCM seals any record a put accepts");
    (header, body)
}

/// `(partition key, data)` of a record sealed under `key` at `context`; the data is
/// the opened buffer itself, not a copy.
pub fn open(
    key: &LessSafeKey,
    header: &[u8],
    context: &[u8],
    sealed: &[u8],
) -> Result<(Vec<u8>, Bytes), KmsError> {
    let damaged = || KmsError::Damaged("a stored record failed its integrity check".into());
    let h = Header::parse(header).ok_or_else(damaged)?;
    let mut body = sealed.to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(h.nonce),
            Aad::from(aad(header, context)),
            &mut body,
        )
        .map_err(|_| damaged())?
        .len();
    let klen = body[..plain]
        .get(..2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
        .filter(|k| 2 + k <= plain)
        .ok_or_else(damaged)?;
    let partition_key = body[2..2 + klen].to_vec();
    body.truncate(plain);
    Ok((partition_key, Bytes::from(body).slice(2 + klen..)))
}

#[cfg(test)]
mod tests {
    use ring::aead::{UnboundKey, AES_256_GCM};

    use super::*;

    fn key(b: u8) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[b; 32]).unwrap())
    }

    #[test]
    fn a_sealed_record_opens_and_any_change_is_refused() {
        let here = context("000000000000/us-east-1/s", 5, 7);
        let (h, s) = seal(&key(1), ([7; 8], [9; 16], 3), &here, b"pk", b"payload");
        assert!(is_sealed(&h) && !is_sealed(b"pk"));
        assert_eq!(h.len(), HEADER_LEN);
        assert_eq!(s.len() + h.len(), b"pkpayload".len() + OVERHEAD);
        assert!(
            !s.windows(7).any(|w| w == b"payload"),
            "the data is not in the clear"
        );
        assert_eq!(
            open(&key(1), &h, &here, &s).unwrap(),
            (b"pk".to_vec(), Bytes::from_static(b"payload"))
        );
        assert!(open(&key(2), &h, &here, &s).is_err(), "another key");
        for elsewhere in [
            context("000000000000/us-east-1/s", 5, 8),
            context("000000000000/us-east-1/s", 6, 7),
            context("000000000000/us-east-1/t", 5, 7),
        ] {
            assert!(open(&key(1), &h, &elsewhere, &s).is_err(), "another place");
        }
        let mut h2 = h.clone();
        h2[30] ^= 1;
        assert!(open(&key(1), &h2, &here, &s).is_err(), "a changed header");
        let mut s2 = s.clone();
        s2[3] ^= 1;
        assert!(open(&key(1), &h, &here, &s2).is_err(), "a changed body");
    }

    #[test]
    fn empty_data_seals_too() {
        let (h, s) = seal(&key(1), ([0; 8], [0; 16], 0), b"c", b"k", b"");
        assert_eq!(
            open(&key(1), &h, b"c", &s).unwrap(),
            (b"k".to_vec(), Bytes::new())
        );
    }
}
