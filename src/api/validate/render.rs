//! How AWS prints a value inside `Value '...'`.

use std::fmt::Write as _;

use serde_json::Value;

use super::blob::decoded_len;
use super::types::int_value;
use crate::api::model::{Kind, Model, Shape};

/// How AWS prints a value in `Value '...'` (kinesalite `valueStr`): strings raw, numbers
/// as validated, blobs as `java.nio.HeapByteBuffer[pos=0 lim=N cap=N]`, lists `[a, b]`,
/// maps `{k=v, k2=v2}`, structures as a Java object name.
pub(super) fn render(m: &Model, shape: &Shape, v: &Value, out: &mut String) {
    match (shape.kind, v) {
        (_, Value::Null) => out.push_str("null"),
        (Kind::String, Value::String(s)) => out.push_str(s),
        (Kind::Blob, Value::String(s)) => {
            let n = decoded_len(s);
            let _ = write!(out, "java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]");
        }
        (Kind::Integer | Kind::Long, Value::Number(n)) => {
            let _ = write!(out, "{}", int_value(shape.kind, n));
        }
        (Kind::List, Value::Array(items)) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match shape.member {
                    Some(id) => render(m, m.get(id), item, out),
                    None => out.push_str(&item.to_string()),
                }
            }
            out.push(']');
        }
        (Kind::Map, Value::Object(entries)) => {
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                match shape.value {
                    Some(id) => render(m, m.get(id), item, out),
                    None => out.push_str(&item.to_string()),
                }
            }
            out.push('}');
        }
        // Java's default toString of the generated class; the hash AWS prints is not
        // reproducible, kinesalite records `@2`.
        (Kind::Structure, _) => {
            let _ = write!(out, "com.amazonaws.kinesis.v20131202.{}@2", shape.name);
        }
        (_, Value::String(s)) => out.push_str(s),
        _ => out.push_str(&v.to_string()),
    }
}
