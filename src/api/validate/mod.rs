//! Model-driven input validation with AWS's wording.
//!
//! Mirrors what AWS (as recorded by kinesalite's `validations/index.js` and its tests)
//! does before an operation runs:
//!
//! 1. type coercion: the first member of the wrong JSON type, bad base64 or an
//!    unparseable timestamp fails the whole request with a `SerializationException`
//!    (a type error wins over any constraint error, wherever it is);
//! 2. constraints (`required`, `min`/`max`, `pattern`, `enum`), walked in model member
//!    order, depth first, a container's own constraints before its members'. At most
//!    10 are reported: `N validation error(s) detected: <e1>; <e2>`.
//!
//! `null` members count as absent and unknown members are ignored at every level.
//! A valid request is checked without allocating.

mod blob;
mod path;
mod render;
mod timestamp;
mod types;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::api::model::{model, Kind, Model, Shape};
use path::Path;
use render::render;
use types::{check_type, int_value, utf16_len, TypeResult};

pub use blob::{check_base64, decoded_len};
pub use timestamp::{parse_iso8601, parse_timestamp};

/// Most constraint violations listed in one `ValidationException` (as AWS).
pub const MAX_REPORTED_ERRORS: usize = 10;

/// Why a request body was rejected before reaching the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// Wrong JSON type for a member, bad base64, unparseable timestamp: `SerializationException`.
    /// `message` is what goes in the body's `Message` member (None = no message).
    Serialization(Option<String>),
    /// Constraint violations: `ValidationException` with the full AWS sentence,
    /// e.g. "1 validation error detected: Value 'a b' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".
    Validation(String),
}

impl InputError {
    /// The `__type` wire code.
    pub fn code(&self) -> &'static str {
        match self {
            InputError::Serialization(_) => "SerializationException",
            InputError::Validation(_) => "ValidationException",
        }
    }

    /// The message: sent as `Message` for `SerializationException` (kinesalite/AWS) and
    /// as `message` for `ValidationException`.
    pub fn message(&self) -> Option<&str> {
        match self {
            InputError::Serialization(m) => m.as_deref(),
            InputError::Validation(m) => Some(m),
        }
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.message() {
            Some(m) => write!(f, "{}: {m}", self.code()),
            None => f.write_str(self.code()),
        }
    }
}

impl std::error::Error for InputError {}

/// Validates `input` (the parsed JSON body) against the input shape of `operation`.
///
/// A non-object body is `Serialization(None)`. An operation the model does not know, or
/// one without an input shape, is not this function's concern and passes (callers check
/// [`crate::api::model::has_operation`] first).
pub fn check_input(operation: &str, input: &Value) -> Result<(), InputError> {
    let m = model();
    let Some(shape) = m.input_shape(operation) else {
        return Ok(());
    };
    let Value::Object(obj) = input else {
        return Err(InputError::Serialization(None));
    };
    let mut v = Validator {
        model: m,
        errors: Vec::new(),
    };
    v.structure(shape, obj, &Path::Root)
        .map_err(|msg| InputError::Serialization(Some(msg)))?;
    if v.errors.is_empty() {
        return Ok(());
    }
    let n = v.errors.len();
    Err(InputError::Validation(format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        v.errors.join("; ")
    )))
}

struct Validator<'m> {
    model: &'m Model,
    errors: Vec<String>,
}

impl<'m> Validator<'m> {
    fn full(&self) -> bool {
        self.errors.len() >= MAX_REPORTED_ERRORS
    }

    /// Records `Value '<v>' at '<path>' failed to satisfy constraint: <msg>`.
    fn push(&mut self, value: Option<(&Shape, &Value)>, path: &Path, msg: &str) {
        if self.full() {
            return;
        }
        let mut e = String::from("Value ");
        match value {
            None => e.push_str("null"),
            Some((shape, v)) => {
                e.push('\'');
                render(self.model, shape, v, &mut e);
                e.push('\'');
            }
        }
        let _ = write!(e, " at '{path}' failed to satisfy constraint: {msg}");
        self.errors.push(e);
    }

    fn structure(&mut self, shape: &Shape, obj: &Map<String, Value>, path: &Path) -> TypeResult {
        for member in &shape.members {
            let mpath = Path::Member(path, &member.path_name);
            match obj.get(&member.name) {
                None | Some(Value::Null) => {
                    if member.required {
                        self.push(None, &mpath, "Member must not be null");
                    }
                }
                Some(v) => self.value(self.model.get(member.shape), v, &mpath)?,
            }
        }
        Ok(())
    }

    /// Checks a non-null value: its type, its own constraints, then its members.
    fn value(&mut self, shape: &Shape, v: &Value, path: &Path) -> TypeResult {
        check_type(shape, v)?;
        self.constraints(shape, v, path);
        match (shape.kind, v) {
            (Kind::Structure, Value::Object(obj)) => self.structure(shape, obj, path),
            (Kind::List, Value::Array(items)) => {
                let member = self.model.get(shape.member.ok_or("list without member")?);
                if is_scalar(member.kind) {
                    for item in items.iter().filter(|i| !i.is_null()) {
                        check_type(member, item)?;
                    }
                    if items
                        .iter()
                        .any(|i| !i.is_null() && !self.satisfies(member, i))
                    {
                        let msg = aggregate("Member must satisfy constraint: ", member);
                        self.push(Some((shape, v)), path, &msg);
                    }
                } else {
                    for (i, item) in items.iter().enumerate() {
                        if !item.is_null() {
                            let ipath = Path::Index(path, i + 1);
                            self.value(member, item, &Path::Member(&ipath, "member"))?;
                        }
                    }
                }
                Ok(())
            }
            (Kind::Map, Value::Object(entries)) => self.map(shape, v, entries, path),
            _ => Ok(()),
        }
    }

    fn map(
        &mut self,
        shape: &Shape,
        v: &Value,
        entries: &Map<String, Value>,
        path: &Path,
    ) -> TypeResult {
        let key = self.model.get(shape.key.ok_or("map without key")?);
        let value = self.model.get(shape.value.ok_or("map without value")?);
        let key_ok = entries.keys().all(|k| self.string_ok(key, k, utf16_len(k)));
        if is_scalar(value.kind) {
            for item in entries.values().filter(|i| !i.is_null()) {
                check_type(value, item)?;
            }
        }
        if !key_ok {
            let msg = aggregate("Map keys must satisfy constraint: ", key);
            self.push(Some((shape, v)), path, &msg);
        }
        if is_scalar(value.kind) {
            if entries
                .values()
                .any(|i| !i.is_null() && !self.satisfies(value, i))
            {
                let msg = aggregate("Map value must satisfy constraint: ", value);
                self.push(Some((shape, v)), path, &msg);
            }
        } else {
            for (k, item) in entries {
                if !item.is_null() {
                    let kpath = Path::Key(path, k);
                    self.value(value, item, &Path::Member(&kpath, "member"))?;
                }
            }
        }
        Ok(())
    }

    /// Pushes one error per failed constraint of `shape` on the (type-checked) value `v`,
    /// in kinesalite's order: pattern, enum, min, max.
    fn constraints(&mut self, shape: &Shape, v: &Value, path: &Path) {
        match (shape.kind, v) {
            (Kind::String, Value::String(s)) => {
                if let Some(p) = &shape.pattern {
                    if !p.is_match(s) {
                        let msg = format!(
                            "Member must satisfy regular expression pattern: {}",
                            p.source
                        );
                        self.push(Some((shape, v)), path, &msg);
                    }
                }
                if !shape.enum_values.is_empty() && !shape.enum_values.iter().any(|e| e == s) {
                    let msg = enum_phrase(shape);
                    self.push(Some((shape, v)), path, &msg);
                }
                if shape.min.is_some() || shape.max.is_some() {
                    self.lengths(shape, v, path, utf16_len(s));
                }
            }
            (Kind::Blob, Value::String(s)) => self.lengths(shape, v, path, decoded_len(s)),
            (Kind::List, Value::Array(a)) => self.lengths(shape, v, path, a.len()),
            (Kind::Map, Value::Object(o)) => self.lengths(shape, v, path, o.len()),
            (Kind::Integer | Kind::Long, Value::Number(n)) => {
                let x = int_value(shape.kind, n);
                if let Some(min) = shape.min {
                    if x < i128::from(min) {
                        let msg = format!("Member must have value greater than or equal to {min}");
                        self.push(Some((shape, v)), path, &msg);
                    }
                }
                if let Some(max) = shape.max {
                    if x > i128::from(max) {
                        let msg = format!("Member must have value less than or equal to {max}");
                        self.push(Some((shape, v)), path, &msg);
                    }
                }
            }
            _ => {}
        }
    }

    fn lengths(&mut self, shape: &Shape, v: &Value, path: &Path, len: usize) {
        let len = len as i128;
        if let Some(min) = shape.min {
            if len < i128::from(min) {
                let msg = format!("Member must have length greater than or equal to {min}");
                self.push(Some((shape, v)), path, &msg);
            }
        }
        if let Some(max) = shape.max {
            if len > i128::from(max) {
                let msg = format!("Member must have length less than or equal to {max}");
                self.push(Some((shape, v)), path, &msg);
            }
        }
    }

    /// Whether a type-checked scalar satisfies every constraint of its shape.
    fn satisfies(&self, shape: &Shape, v: &Value) -> bool {
        match (shape.kind, v) {
            (Kind::String, Value::String(s)) => self.string_ok(shape, s, utf16_len(s)),
            (Kind::Blob, Value::String(s)) => in_range(shape, decoded_len(s) as i128),
            (Kind::Integer | Kind::Long, Value::Number(n)) => {
                in_range(shape, int_value(shape.kind, n))
            }
            _ => true,
        }
    }

    fn string_ok(&self, shape: &Shape, s: &str, len: usize) -> bool {
        shape.pattern.as_ref().is_none_or(|p| p.is_match(s))
            && (shape.enum_values.is_empty() || shape.enum_values.iter().any(|e| e == s))
            && in_range(shape, len as i128)
    }
}

fn in_range(shape: &Shape, x: i128) -> bool {
    shape.min.is_none_or(|m| x >= i128::from(m)) && shape.max.is_none_or(|m| x <= i128::from(m))
}

fn is_scalar(kind: Kind) -> bool {
    !matches!(kind, Kind::List | Kind::Map | Kind::Structure)
}

fn enum_phrase(shape: &Shape) -> String {
    format!(
        "Member must satisfy enum value set: [{}]",
        shape.enum_values.join(", ")
    )
}

/// `<prefix>[<every constraint of the member shape>]`, max before min as AWS lists them
/// (kinesalite `childLengths`, `childKeyLengths`, `childValueLengths`).
fn aggregate(prefix: &str, shape: &Shape) -> String {
    let what = match shape.kind {
        Kind::Integer | Kind::Long => "value",
        _ => "length",
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(max) = shape.max {
        parts.push(format!(
            "Member must have {what} less than or equal to {max}"
        ));
    }
    if let Some(min) = shape.min {
        parts.push(format!(
            "Member must have {what} greater than or equal to {min}"
        ));
    }
    if let Some(p) = &shape.pattern {
        parts.push(format!(
            "Member must satisfy regular expression pattern: {}",
            p.source
        ));
    }
    if !shape.enum_values.is_empty() {
        parts.push(enum_phrase(shape));
    }
    format!("{prefix}[{}]", parts.join(", "))
}
