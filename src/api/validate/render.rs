//! How AWS prints a value inside `Value '...'`.

use std::fmt::Write as _;

use serde_json::Value;

use super::blob::decoded_len;
use super::types::int_value;
use crate::api::model::{Kind, Model, Shape};

/// Longest rendering of one value, in bytes: room for AWS's full rendering of 501
/// records (29 KB), the longest its tests show. AWS shortens long values in its
/// messages too; without a cap a 16 MiB list of empty records renders into hundreds of MB.
pub(super) const MAX_RENDERED: usize = 32 * 1024;

/// What ends a value cut at [`MAX_RENDERED`].
const ELLIPSIS: &str = "...";

/// [`render_all`], cut to [`MAX_RENDERED`] bytes (at a character boundary).
pub(super) fn render(m: &Model, shape: &Shape, v: &Value, out: &mut String) {
    let start = out.len();
    render_all(m, shape, v, out, start + MAX_RENDERED);
    if out.len() - start > MAX_RENDERED {
        let mut end = start + MAX_RENDERED;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(ELLIPSIS);
    }
}

/// How AWS prints a value in `Value '...'` (kinesalite `valueStr`): strings raw, numbers
/// as validated, blobs as `java.nio.HeapByteBuffer[pos=0 lim=N cap=N]`, lists `[a, b]`,
/// maps `{k=v, k2=v2}`, structures as a Java object name. Lists and maps stop once
/// `out` is longer than `stop`, so the work is bounded too.
fn render_all(m: &Model, shape: &Shape, v: &Value, out: &mut String, stop: usize) {
    match (shape.kind, v) {
        (_, Value::Null) => out.push_str("null"),
        (Kind::String, Value::String(s)) => push_cut(out, s, stop),
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
                if out.len() > stop {
                    return;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                match shape.member {
                    Some(id) => render_all(m, m.get(id), item, out, stop),
                    None => push_cut(out, &item.to_string(), stop),
                }
            }
            out.push(']');
        }
        (Kind::Map, Value::Object(entries)) => {
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if out.len() > stop {
                    return;
                }
                if i > 0 {
                    out.push_str(", ");
                }
                push_cut(out, k, stop);
                out.push('=');
                match shape.value {
                    Some(id) => render_all(m, m.get(id), item, out, stop),
                    None => push_cut(out, &item.to_string(), stop),
                }
            }
            out.push('}');
        }
        // Java's default toString of the generated class; the hash AWS prints is not
        // reproducible, kinesalite records `@2`.
        (Kind::Structure, _) => {
            let _ = write!(out, "com.amazonaws.kinesis.v20131202.{}@2", shape.name);
        }
        (_, Value::String(s)) => push_cut(out, s, stop),
        _ => push_cut(out, &v.to_string(), stop),
    }
}

/// Appends `s`, or enough of it to pass `stop` by one character (the caller cuts).
fn push_cut(out: &mut String, s: &str, stop: usize) {
    let room = (stop + 4).saturating_sub(out.len());
    let mut end = s.len().min(room);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&s[..end]);
}
