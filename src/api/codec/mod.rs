//! The wire protocols (awsJson1_1 and its CBOR variant) as pure functions from bytes to
//! the JSON values the validator and handlers work on, and back. Sans-I/O: `http.rs`
//! picks a [`Protocol`] from the content type and calls these; nothing here knows HTTP.

pub mod cbor;
pub mod transcode;

#[cfg(test)]
mod tests;

use serde_json::Value;

use super::error::ApiError;
use super::handlers::Reply;
use super::model::model;
use super::target::Operation;

pub const JSON_1_1: &str = "application/x-amz-json-1.1";
pub const CBOR_1_1: &str = "application/x-amz-cbor-1.1";

/// Most values (objects, arrays, scalars) one request body may decode into. The
/// largest valid request, PutRecords with 500 records, has about 2000; without a
/// bound, 16 MiB of `{},` decodes into gigabytes.
pub const MAX_VALUES: usize = 20_000;

fn too_many_values() -> ApiError {
    ApiError::serialization(Some(format!(
        "The request body holds more than {MAX_VALUES} values."
    )))
}

/// How a request body is encoded, and so how its answer (or error) must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Cbor,
}

impl Protocol {
    /// The protocol of a `Content-Type` header value; `None` for anything AWS would
    /// treat as an unknown operation.
    pub fn from_content_type(content_type: &str) -> Option<Protocol> {
        match content_type.split(';').next().unwrap_or("").trim() {
            JSON_1_1 | "application/x-amz-json-1.0" | "application/json" => Some(Protocol::Json),
            CBOR_1_1 => Some(Protocol::Cbor),
            _ => None,
        }
    }

    /// The response `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::Json => JSON_1_1,
            Protocol::Cbor => CBOR_1_1,
        }
    }

    /// The request body as the JSON value the validator checks. Unparseable bodies are a
    /// message-less `SerializationException` in both protocols, as AWS answers them.
    pub fn decode_request(self, op: Operation, bytes: &[u8]) -> Result<Value, ApiError> {
        if bytes.is_empty() {
            return Err(ApiError::serialization(None));
        }
        match self {
            Protocol::Json => {
                if json_values_exceed(bytes, MAX_VALUES) {
                    return Err(too_many_values());
                }
                serde_json::from_slice(bytes).map_err(|_| ApiError::serialization(None))
            }
            Protocol::Cbor => decode_cbor_request(op, bytes),
        }
    }

    /// The success body for a handler's reply. Empty replies stay empty in both.
    pub fn encode_reply(self, op: Operation, reply: Reply) -> Result<Vec<u8>, ApiError> {
        match (self, reply) {
            (_, Reply::Empty) => Ok(Vec::new()),
            (_, Reply::Events(_)) => Err(ApiError::internal(
                "an event stream has no single body to encode",
            )),
            (Protocol::Json, Reply::Json(b)) => Ok(b),
            (Protocol::Cbor, Reply::Json(b)) => {
                let v: Value = serde_json::from_slice(&b).map_err(|e| {
                    ApiError::internal(format!("handler produced invalid JSON: {e}"))
                })?;
                let mut out = Vec::with_capacity(b.len());
                transcode::write_json(&mut out, &v, model().output_shape(op.name()));
                Ok(out)
            }
        }
    }

    /// The content type of event-stream payloads in this protocol.
    pub fn event_content_type(self) -> &'static str {
        match self {
            Protocol::Json => "application/json",
            Protocol::Cbor => "application/x-amz-cbor-1.1",
        }
    }

    /// A value in this protocol's encoding, shaped by the model's `shape` (for CBOR's
    /// blobs and timestamps) when one is named.
    pub fn encode_value(self, shape: Option<&str>, v: &Value) -> Vec<u8> {
        match self {
            Protocol::Json => serde_json::to_vec(v).unwrap_or_default(),
            Protocol::Cbor => {
                let mut out = Vec::new();
                transcode::write_json(&mut out, v, shape.and_then(|s| model().shape(s)));
                out
            }
        }
    }

    /// The error body: `{"__type": ..., "message"|"Message": ...}` in the request's encoding.
    pub fn encode_error(self, e: &ApiError) -> Vec<u8> {
        match self {
            Protocol::Json => e.body(),
            Protocol::Cbor => {
                let mut out = Vec::new();
                transcode::write_json(&mut out, &Value::Object(e.body_fields()), None);
                out
            }
        }
    }
}

/// Whether JSON text holds more than `max` values, counted before parsing (a value
/// starts at each `{`, `[` and `,` outside strings, plus the first one). Strings, most
/// of a PutRecords body, are skipped with `memchr`. Malformed text is left to the parser.
fn json_values_exceed(bytes: &[u8], max: usize) -> bool {
    let mut n = 1usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // To the closing quote: past every backslash and the byte it escapes.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[i.min(bytes.len())..]) {
                        None => return false,
                        Some(k) if bytes[i + k] == b'\\' => i += k + 2,
                        Some(k) => {
                            i += k;
                            break;
                        }
                    }
                }
            }
            b'{' | b'[' | b',' => {
                n += 1;
                if n > max {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

fn decode_cbor_request(op: Operation, bytes: &[u8]) -> Result<Value, ApiError> {
    let item = cbor::decode_bounded(bytes, MAX_VALUES).map_err(|e| {
        tracing::debug!(error = %e, "malformed CBOR request body");
        match e {
            cbor::CborError::TooMany => too_many_values(),
            _ => ApiError::serialization(None),
        }
    })?;
    transcode::to_json(item, model().input_shape(op.name())).map_err(|e| {
        tracing::debug!(error = %e, "CBOR request body has no JSON equivalent");
        ApiError::serialization(None)
    })
}
