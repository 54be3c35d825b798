//! A minimal CBOR (RFC 8949) decoder and encoder, written here rather than pulled in
//! because the Java SDK needs only a small subset and the decoder must be hardened
//! against hostile bodies: every length is checked against the bytes actually left
//! (so a claimed 4 GiB string costs nothing), nesting is capped at [`MAX_DEPTH`], and
//! every failure is an error value, never a panic.

use std::fmt;

/// Deepest nesting of arrays, maps and tags accepted; Kinesis shapes nest about 5 deep.
pub const MAX_DEPTH: usize = 64;

const BREAK: u8 = 0xFF;

/// One decoded CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub enum Cbor {
    Unsigned(u64),
    /// The value `-1 - n`, kept as `n` so the whole major-type-1 range fits.
    Negative(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    /// Pairs in wire order; keys may be any item (the transcoder wants text).
    Map(Vec<(Cbor, Cbor)>),
    Tag(u64, Box<Cbor>),
    Bool(bool),
    Null,
    Undefined,
    Float(f64),
}

/// Why a body is not one well-formed CBOR item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CborError {
    /// The input ended inside an item (or a length points beyond its end).
    Truncated,
    /// More nesting than [`MAX_DEPTH`].
    TooDeep,
    /// A break byte (0xFF) outside an indefinite-length item.
    UnexpectedBreak,
    /// Additional information 28-30, or indefinite length where it is not allowed.
    Malformed(&'static str),
    InvalidUtf8,
    /// Bytes left after the one top-level item.
    TrailingBytes,
    /// More data items than the caller allows.
    TooMany,
}

impl fmt::Display for CborError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CborError::Truncated => f.write_str("CBOR input ends inside an item"),
            CborError::TooDeep => write!(f, "CBOR nesting deeper than {MAX_DEPTH}"),
            CborError::UnexpectedBreak => f.write_str("unexpected CBOR break byte"),
            CborError::Malformed(why) => write!(f, "malformed CBOR: {why}"),
            CborError::InvalidUtf8 => f.write_str("CBOR text string is not UTF-8"),
            CborError::TrailingBytes => f.write_str("bytes after the CBOR item"),
            CborError::TooMany => f.write_str("more CBOR data items than allowed"),
        }
    }
}

impl std::error::Error for CborError {}

/// Decodes exactly one data item spanning all of `buf`.
pub fn decode(buf: &[u8]) -> Result<Cbor, CborError> {
    decode_bounded(buf, usize::MAX)
}

/// [`decode`], refusing more than `max_items` data items: one byte can be an empty map,
/// which decodes into dozens of bytes, so the input's size alone bounds nothing.
pub fn decode_bounded(buf: &[u8], max_items: usize) -> Result<Cbor, CborError> {
    let mut d = Decoder {
        buf,
        pos: 0,
        items_left: max_items,
    };
    let item = d.item(0)?;
    if d.pos != buf.len() {
        return Err(CborError::TrailingBytes);
    }
    Ok(item)
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    items_left: usize,
}

impl<'a> Decoder<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self.buf.get(self.pos).ok_or(CborError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn peek(&self) -> Result<u8, CborError> {
        self.buf.get(self.pos).copied().ok_or(CborError::Truncated)
    }

    /// Takes `n` bytes, checking against what is left before anything is allocated.
    fn take(&mut self, n: u64) -> Result<&'a [u8], CborError> {
        let n = usize::try_from(n).map_err(|_| CborError::Truncated)?;
        if n > self.remaining() {
            return Err(CborError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn uint(&mut self, len: u64) -> Result<u64, CborError> {
        Ok(self
            .take(len)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// The argument of a head with definite length (info 0-27).
    fn arg(&mut self, info: u8) -> Result<u64, CborError> {
        match info {
            0..=23 => Ok(u64::from(info)),
            24 => self.uint(1),
            25 => self.uint(2),
            26 => self.uint(4),
            27 => self.uint(8),
            28..=30 => Err(CborError::Malformed("reserved additional information")),
            _ => Err(CborError::Malformed("indefinite length not allowed here")),
        }
    }

    fn item(&mut self, depth: usize) -> Result<Cbor, CborError> {
        if depth > MAX_DEPTH {
            return Err(CborError::TooDeep);
        }
        self.items_left = self.items_left.checked_sub(1).ok_or(CborError::TooMany)?;
        let ib = self.byte()?;
        if ib == BREAK {
            return Err(CborError::UnexpectedBreak);
        }
        let (major, info) = (ib >> 5, ib & 0x1F);
        match major {
            0 => Ok(Cbor::Unsigned(self.arg(info)?)),
            1 => Ok(Cbor::Negative(self.arg(info)?)),
            2 => Ok(Cbor::Bytes(self.string(2, info)?)),
            3 => String::from_utf8(self.string(3, info)?)
                .map(Cbor::Text)
                .map_err(|_| CborError::InvalidUtf8),
            4 => self.array(info, depth),
            5 => self.map(info, depth),
            6 => {
                let tag = self.arg(info)?;
                Ok(Cbor::Tag(tag, Box::new(self.item(depth + 1)?)))
            }
            _ => self.simple(info),
        }
    }

    /// A byte or text string's bytes; indefinite strings are definite chunks of the
    /// same major type up to a break.
    fn string(&mut self, major: u8, info: u8) -> Result<Vec<u8>, CborError> {
        if info != 31 {
            let n = self.arg(info)?;
            return Ok(self.take(n)?.to_vec());
        }
        let mut out = Vec::new();
        loop {
            let ib = self.byte()?;
            if ib == BREAK {
                return Ok(out);
            }
            if ib >> 5 != major || ib & 0x1F == 31 {
                return Err(CborError::Malformed(
                    "bad chunk in indefinite-length string",
                ));
            }
            let n = self.arg(ib & 0x1F)?;
            out.extend_from_slice(self.take(n)?);
        }
    }

    /// True (and consumed) when the next byte is a break; only called inside
    /// indefinite-length containers.
    fn at_break(&mut self) -> Result<bool, CborError> {
        if self.peek()? == BREAK {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn array(&mut self, info: u8, depth: usize) -> Result<Cbor, CborError> {
        let mut items = Vec::new();
        if info == 31 {
            while !self.at_break()? {
                items.push(self.item(depth + 1)?);
            }
        } else {
            let n = self.arg(info)?;
            // Every item takes at least a byte: capping by what is left bounds the allocation.
            items.reserve(n.min(self.remaining() as u64) as usize);
            for _ in 0..n {
                items.push(self.item(depth + 1)?);
            }
        }
        Ok(Cbor::Array(items))
    }

    fn map(&mut self, info: u8, depth: usize) -> Result<Cbor, CborError> {
        let mut pairs = Vec::new();
        if info == 31 {
            while !self.at_break()? {
                let k = self.item(depth + 1)?;
                pairs.push((k, self.item(depth + 1)?));
            }
        } else {
            let n = self.arg(info)?;
            pairs.reserve(n.min(self.remaining() as u64 / 2) as usize);
            for _ in 0..n {
                let k = self.item(depth + 1)?;
                pairs.push((k, self.item(depth + 1)?));
            }
        }
        Ok(Cbor::Map(pairs))
    }

    fn simple(&mut self, info: u8) -> Result<Cbor, CborError> {
        match info {
            20 => Ok(Cbor::Bool(false)),
            21 => Ok(Cbor::Bool(true)),
            22 => Ok(Cbor::Null),
            23 => Ok(Cbor::Undefined),
            25 => Ok(Cbor::Float(half_to_f64(self.uint(2)? as u16))),
            26 => Ok(Cbor::Float(f64::from(f32::from_bits(self.uint(4)? as u32)))),
            27 => Ok(Cbor::Float(f64::from_bits(self.uint(8)?))),
            // Unassigned simple values carry no meaning an AWS client could intend.
            0..=19 | 24 => Err(CborError::Malformed("unassigned simple value")),
            _ => Err(CborError::Malformed("reserved additional information")),
        }
    }
}

/// IEEE 754 half precision, which `f32`/`f64` have no conversion for in stable Rust.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1F);
    let mant = f64::from(h & 0x3FF);
    sign * match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mant / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Writes a head with the shortest argument encoding (preferred serialization).
pub fn write_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xFF {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= 0xFFFF {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xFFFF_FFFF {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        write_head(out, 0, v as u64);
    } else {
        write_head(out, 1, !(v as u64));
    }
}

pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

pub fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xFB);
    out.extend_from_slice(&f.to_bits().to_be_bytes());
}

pub fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xF5 } else { 0xF4 });
}

pub fn write_null(out: &mut Vec<u8>) {
    out.push(0xF6);
}

/// Encodes an item with definite lengths (indefinite input is not preserved).
pub fn encode(item: &Cbor, out: &mut Vec<u8>) {
    match item {
        Cbor::Unsigned(n) => write_head(out, 0, *n),
        Cbor::Negative(n) => write_head(out, 1, *n),
        Cbor::Bytes(b) => write_bytes(out, b),
        Cbor::Text(s) => write_text(out, s),
        Cbor::Array(items) => {
            write_head(out, 4, items.len() as u64);
            for i in items {
                encode(i, out);
            }
        }
        Cbor::Map(pairs) => {
            write_head(out, 5, pairs.len() as u64);
            for (k, v) in pairs {
                encode(k, out);
                encode(v, out);
            }
        }
        Cbor::Tag(t, inner) => {
            write_head(out, 6, *t);
            encode(inner, out);
        }
        Cbor::Bool(b) => write_bool(out, *b),
        Cbor::Null => write_null(out),
        Cbor::Undefined => out.push(0xF7),
        Cbor::Float(f) => write_f64(out, *f),
    }
}

impl Cbor {
    /// The value of an item in a text-keyed map, if present.
    pub fn get(&self, key: &str) -> Option<&Cbor> {
        match self {
            Cbor::Map(pairs) => pairs.iter().find_map(|(k, v)| match k {
                Cbor::Text(t) if t == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode(self, &mut out);
        out
    }
}
