//! Model-guided conversion between CBOR items and the JSON values the validator and
//! handlers already understand, so CBOR needs no second validator or handler set.
//!
//! Only `blob` and `timestamp` members differ between the two protocols (byte strings
//! vs base64; epoch milliseconds vs epoch seconds); everything else maps naturally, and
//! an item of the wrong type passes through unchanged so the validator reports it with
//! AWS's wording, exactly as it would for JSON.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Number, Value};

use super::cbor::{self, Cbor};
use crate::api::model::{model, Kind, Shape};

/// Why an item cannot be represented as JSON at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscodeError {
    /// Map keys must be text strings, as JSON object keys are.
    NonTextKey,
    /// NaN and infinities have no JSON number.
    NonFiniteNumber,
}

impl std::fmt::Display for TranscodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranscodeError::NonTextKey => f.write_str("CBOR map key is not a text string"),
            TranscodeError::NonFiniteNumber => f.write_str("CBOR number is not finite"),
        }
    }
}

/// The JSON value of a request item whose model shape is `shape` (`None` for members
/// the model does not know, which the validator ignores).
pub fn to_json(item: Cbor, shape: Option<&Shape>) -> Result<Value, TranscodeError> {
    let kind = shape.map(|s| s.kind);
    if kind == Some(Kind::Timestamp) {
        if let Some(ms) = millis(&item) {
            // JSON handlers take epoch seconds with millisecond precision.
            return float(ms / 1000.0);
        }
    }
    Ok(match (item, kind) {
        (Cbor::Bytes(b), Some(Kind::Blob)) => Value::String(STANDARD.encode(b)),
        // Unknown tags (and tag 1 outside timestamps) carry nothing the model needs.
        (Cbor::Tag(_, inner), _) => to_json(*inner, shape)?,
        (Cbor::Unsigned(n), _) => Value::from(n),
        (Cbor::Negative(n), _) => negative(n),
        (Cbor::Float(f), _) => float(f)?,
        // A byte string where the model wants something else: base64 is the closest
        // JSON rendering, and the validator then judges it as a string.
        (Cbor::Bytes(b), _) => Value::String(STANDARD.encode(b)),
        (Cbor::Text(s), _) => Value::String(s),
        (Cbor::Bool(b), _) => Value::Bool(b),
        (Cbor::Null | Cbor::Undefined, _) => Value::Null,
        (Cbor::Array(items), _) => {
            let member = shape
                .filter(|s| s.kind == Kind::List)
                .and_then(|s| s.member)
                .map(|id| model().get(id));
            let items: Result<Vec<Value>, _> =
                items.into_iter().map(|i| to_json(i, member)).collect();
            Value::Array(items?)
        }
        (Cbor::Map(pairs), _) => {
            let mut obj = Map::with_capacity(pairs.len());
            for (k, v) in pairs {
                let Cbor::Text(key) = k else {
                    return Err(TranscodeError::NonTextKey);
                };
                let member = shape.and_then(|s| child(s, &key));
                obj.insert(key, to_json(v, member)?);
            }
            Value::Object(obj)
        }
    })
}

/// The shape of a structure member or of a map's values.
fn child<'m>(shape: &'m Shape, key: &str) -> Option<&'m Shape> {
    let m = model();
    match shape.kind {
        Kind::Structure => m.member_shape(shape, key),
        Kind::Map => shape.value.map(|id| m.get(id)),
        _ => None,
    }
}

/// Java v2 sends timestamps as epoch milliseconds, under tag 1 (against RFC 8949,
/// whose tag 1 means seconds) or bare; `None` when the item is no number.
fn millis(item: &Cbor) -> Option<f64> {
    match item {
        Cbor::Unsigned(n) => Some(*n as f64),
        Cbor::Negative(n) => Some(-1.0 - *n as f64),
        Cbor::Float(f) => Some(*f),
        Cbor::Tag(_, inner) if !matches!(**inner, Cbor::Tag(..)) => millis(inner),
        _ => None,
    }
}

fn negative(n: u64) -> Value {
    match i64::try_from(n) {
        Ok(i) => Value::from(-1 - i),
        Err(_) => Value::from(-1.0 - n as f64),
    }
}

fn float(f: f64) -> Result<Value, TranscodeError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or(TranscodeError::NonFiniteNumber)
}

/// Appends the CBOR encoding of a JSON value whose model shape is `shape`: base64
/// `blob` members become byte strings and `timestamp` members integer epoch
/// milliseconds (what Java v2 parses; older versions use `Long.parseLong`, so never a
/// float). Written straight from the value, so a 10 MiB GetRecords is not copied twice.
pub fn write_json(out: &mut Vec<u8>, v: &Value, shape: Option<&Shape>) {
    let kind = shape.map(|s| s.kind);
    match (v, kind) {
        (Value::String(s), Some(Kind::Blob)) => match STANDARD.decode(s) {
            Ok(b) => cbor::write_bytes(out, &b),
            Err(_) => cbor::write_text(out, s),
        },
        (Value::Number(n), Some(Kind::Timestamp)) => match n.as_f64() {
            Some(secs) => cbor::write_i64(out, (secs * 1000.0).round() as i64),
            None => write_number(out, n),
        },
        (Value::Number(n), _) => write_number(out, n),
        (Value::String(s), _) => cbor::write_text(out, s),
        (Value::Bool(b), _) => cbor::write_bool(out, *b),
        (Value::Null, _) => cbor::write_null(out),
        (Value::Array(items), _) => {
            let member = shape
                .filter(|s| s.kind == Kind::List)
                .and_then(|s| s.member)
                .map(|id| model().get(id));
            cbor::write_head(out, 4, items.len() as u64);
            for i in items {
                write_json(out, i, member);
            }
        }
        (Value::Object(obj), _) => {
            cbor::write_head(out, 5, obj.len() as u64);
            for (k, v) in obj {
                cbor::write_text(out, k);
                write_json(out, v, shape.and_then(|s| child(s, k)));
            }
        }
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        cbor::write_i64(out, i);
    } else if let Some(u) = n.as_u64() {
        cbor::write_head(out, 0, u);
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        // Integral floats go out as integers: Java parses Long members with getLongValue.
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            cbor::write_i64(out, f as i64);
        } else {
            cbor::write_f64(out, f);
        }
    }
}
