//! JSON-type checks (`SerializationException` wording) and the numeric/length views
//! constraints are checked against.

use serde_json::{Number, Value};

use super::blob::check_base64;
use super::timestamp::parse_iso8601;
use crate::api::model::{Kind, Shape};

/// A type error (the `SerializationException` message).
pub(super) type TypeResult = Result<(), String>;

const NUMBER_CLASS: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";
const START_OF_LIST: &str = "Start of list found where not expected";
const START_OF_OBJECT: &str = "Start of structure or map found where not expected.";

fn type_err(msg: &str) -> TypeResult {
    Err(msg.to_string())
}

pub(super) fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// The numeric value AWS validates: floored (kinesalite: `Math.floor`), and for `integer`
/// shapes capped at `i32::MAX`.
pub(super) fn int_value(kind: Kind, n: &Number) -> i128 {
    let x = if let Some(i) = n.as_i64() {
        i128::from(i)
    } else if let Some(u) = n.as_u64() {
        i128::from(u)
    } else {
        // `as` saturates; JSON has no NaN.
        n.as_f64().unwrap_or(0.0).floor() as i128
    };
    if kind == Kind::Integer {
        x.min(i128::from(i32::MAX))
    } else {
        x
    }
}

/// The JSON-type check of one non-null value, with AWS's `SerializationException` wording
/// (kinesalite `validations/index.js` `checkType`, and `test/helpers.js` `assertType`).
pub(super) fn check_type(shape: &Shape, v: &Value) -> TypeResult {
    let container = |v: &Value| match v {
        Value::Array(_) => type_err(START_OF_LIST),
        _ => type_err(START_OF_OBJECT),
    };
    match shape.kind {
        Kind::String => match v {
            Value::String(_) => Ok(()),
            Value::Bool(_) => type_err("class java.lang.Boolean can not be converted to an String"),
            Value::Number(_) => Err(format!("{NUMBER_CLASS} can not be converted to an String")),
            _ => container(v),
        },
        Kind::Integer | Kind::Long => {
            let name = if shape.kind == Kind::Integer {
                "Integer"
            } else {
                "Long"
            };
            match v {
                Value::Number(_) => Ok(()),
                Value::Bool(_) => Err(format!(
                    "class java.lang.Boolean can not be converted to an {name}"
                )),
                Value::String(_) => Err(format!(
                    "class java.lang.String can not be converted to an {name}"
                )),
                _ => container(v),
            }
        }
        Kind::Boolean => match v {
            Value::Bool(_) => Ok(()),
            Value::Number(_) => Err(format!("{NUMBER_CLASS} can not be converted to an Boolean")),
            Value::String(s) => Err(format!(
                "'{}' can not be converted to an Boolean",
                s.to_uppercase()
            )),
            _ => container(v),
        },
        Kind::Blob => match v {
            Value::String(s) => check_base64(s).map(|_| ()),
            Value::Bool(_) => type_err("class java.lang.Boolean can not be converted to a Blob"),
            Value::Number(_) => Err(format!("{NUMBER_CLASS} can not be converted to a Blob")),
            _ => container(v),
        },
        Kind::Timestamp => match v {
            Value::Number(_) => Ok(()),
            Value::String(s) if parse_iso8601(s).is_some() => Ok(()),
            Value::String(_) => {
                type_err("class java.lang.String can not be converted to milliseconds since epoch")
            }
            Value::Bool(_) => {
                type_err("class java.lang.Boolean can not be converted to milliseconds since epoch")
            }
            _ => container(v),
        },
        Kind::List => match v {
            Value::Array(_) => Ok(()),
            Value::Object(_) => type_err(START_OF_OBJECT),
            _ => type_err("Expected list or null"),
        },
        Kind::Map => match v {
            Value::Object(_) => Ok(()),
            Value::Array(_) => type_err(START_OF_LIST),
            _ => type_err("Expected map or null"),
        },
        Kind::Structure => match v {
            Value::Object(_) => Ok(()),
            Value::Array(_) => type_err(START_OF_LIST),
            _ => type_err("Expected null"),
        },
    }
}
