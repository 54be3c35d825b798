//! The embedded Kinesis service model (`model/kinesis-2013-12-02.json`), parsed once.
//!
//! Only what input validation and the CBOR transcoder need is kept: shape types,
//! members in model order, `required`, `min`/`max`, `pattern` (compiled once,
//! anchored), `enum` values and each operation's input and output shapes.

use std::collections::HashMap;
use std::sync::OnceLock;

pub use super::pattern::Pattern;
use serde_json::Value;

const MODEL_JSON: &str = include_str!("model/kinesis-2013-12-02.json");

/// Index of a shape inside [`Model`].
pub type ShapeId = usize;

/// The model type of a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Long,
    Boolean,
    Blob,
    Timestamp,
    List,
    Map,
    Structure,
}

/// A structure member.
#[derive(Debug)]
pub struct Member {
    /// Wire name, e.g. `StreamName`.
    pub name: String,
    /// Name used in validation paths: first letter lower-cased, e.g. `streamName`.
    pub path_name: String,
    pub shape: ShapeId,
    pub required: bool,
}

/// One shape of the model.
#[derive(Debug)]
pub struct Shape {
    pub name: String,
    pub kind: Kind,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<Pattern>,
    /// Enum values in model order (empty when the shape is not an enum).
    pub enum_values: Vec<String>,
    /// Structure members in model order.
    pub members: Vec<Member>,
    /// List member shape.
    pub member: Option<ShapeId>,
    /// Map key and value shapes.
    pub key: Option<ShapeId>,
    pub value: Option<ShapeId>,
    /// True for structures marked `exception`, `event` or `eventstream`.
    pub is_exception_or_event: bool,
}

/// The parsed service model.
#[derive(Debug)]
pub struct Model {
    shapes: Vec<Shape>,
    by_name: HashMap<String, ShapeId>,
    /// (operation name, input shape, output shape), in model order.
    operations: Vec<(String, Option<ShapeId>, Option<ShapeId>)>,
    op_index: HashMap<String, usize>,
}

static MODEL: OnceLock<Model> = OnceLock::new();

/// The embedded model, parsed and compiled on first use.
pub fn model() -> &'static Model {
    MODEL.get_or_init(|| Model::parse(MODEL_JSON).expect("embedded Kinesis model is valid"))
}

/// `true` when the model defines the operation (e.g. `"PutRecords"`).
pub fn has_operation(name: &str) -> bool {
    model().has_operation(name)
}

/// Lower-cases the first character, as AWS does for validation member paths.
pub fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn as_i64(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

impl Model {
    /// Parses a service model document (botocore `service-2.json` layout).
    pub fn parse(json: &str) -> Result<Model, String> {
        let doc: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let shapes_json = doc
            .get("shapes")
            .and_then(Value::as_object)
            .ok_or("model has no shapes")?;
        let by_name: HashMap<String, ShapeId> = shapes_json
            .keys()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        let target = |v: Option<&Value>, ctx: &str| -> Result<Option<ShapeId>, String> {
            match v.and_then(|t| t.get("shape")).and_then(Value::as_str) {
                None => Ok(None),
                Some(name) => by_name
                    .get(name)
                    .copied()
                    .map(Some)
                    .ok_or_else(|| format!("{ctx}: unknown shape {name}")),
            }
        };
        let mut shapes = Vec::with_capacity(shapes_json.len());
        for (name, s) in shapes_json {
            let kind = match s.get("type").and_then(Value::as_str).unwrap_or("") {
                "string" => Kind::String,
                "integer" => Kind::Integer,
                "long" => Kind::Long,
                "boolean" => Kind::Boolean,
                "blob" => Kind::Blob,
                "timestamp" => Kind::Timestamp,
                "list" => Kind::List,
                "map" => Kind::Map,
                "structure" => Kind::Structure,
                other => return Err(format!("shape {name}: unsupported type {other:?}")),
            };
            let pattern = match s.get("pattern").and_then(Value::as_str) {
                None => None,
                Some(p) => {
                    Some(Pattern::new(p).map_err(|e| format!("shape {name}: bad pattern: {e}"))?)
                }
            };
            let enum_values = s
                .get("enum")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut members = Vec::new();
            if let Some(ms) = s.get("members").and_then(Value::as_object) {
                for (mname, m) in ms {
                    let shape = target(Some(m), name)?
                        .ok_or_else(|| format!("shape {name}: member {mname} has no shape"))?;
                    members.push(Member {
                        name: mname.clone(),
                        path_name: lower_first(mname),
                        shape,
                        required: required.contains(&mname.as_str()),
                    });
                }
            }
            let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
            shapes.push(Shape {
                name: name.clone(),
                kind,
                min: as_i64(s.get("min")),
                max: as_i64(s.get("max")),
                pattern,
                enum_values,
                members,
                member: target(s.get("member"), name)?,
                key: target(s.get("key"), name)?,
                value: target(s.get("value"), name)?,
                is_exception_or_event: flag("exception") || flag("event") || flag("eventstream"),
            });
        }
        let ops_json = doc
            .get("operations")
            .and_then(Value::as_object)
            .ok_or("model has no operations")?;
        let mut operations = Vec::with_capacity(ops_json.len());
        for (name, op) in ops_json {
            operations.push((
                name.clone(),
                target(op.get("input"), name)?,
                target(op.get("output"), name)?,
            ));
        }
        let op_index = operations
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| (n.clone(), i))
            .collect();
        Ok(Model {
            shapes,
            by_name,
            operations,
            op_index,
        })
    }

    /// The shape with this id (ids come from this model).
    pub fn get(&self, id: ShapeId) -> &Shape {
        &self.shapes[id]
    }

    /// Looks a shape up by its model name.
    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.by_name.get(name).map(|&i| &self.shapes[i])
    }

    /// `true` when the model defines the operation.
    pub fn has_operation(&self, name: &str) -> bool {
        self.op_index.contains_key(name)
    }

    /// The input shape of an operation; `None` for an unknown operation or one without input.
    pub fn input_shape(&self, operation: &str) -> Option<&Shape> {
        let &i = self.op_index.get(operation)?;
        self.operations[i].1.map(|id| &self.shapes[id])
    }

    /// The output shape of an operation; `None` for an unknown operation or one without output.
    pub fn output_shape(&self, operation: &str) -> Option<&Shape> {
        let &i = self.op_index.get(operation)?;
        self.operations[i].2.map(|id| &self.shapes[id])
    }

    /// The shape of a structure's member called `name`.
    pub fn member_shape(&self, structure: &Shape, name: &str) -> Option<&Shape> {
        structure
            .members
            .iter()
            .find(|m| m.name == name)
            .map(|m| &self.shapes[m.shape])
    }

    /// Operation names in model order.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.iter().map(|(n, _, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_embedded_model() {
        let m = model();
        assert_eq!(m.operation_names().count(), 39);
        assert!(has_operation("PutRecords"));
        assert!(!has_operation("PutRecord2"));
        let input = m.input_shape("PutRecords").unwrap();
        assert_eq!(input.kind, Kind::Structure);
        assert_eq!(input.members[0].name, "Records");
        assert!(input.members[0].required);
        assert_eq!(input.members[1].path_name, "streamName");
        let name = m.shape("StreamName").unwrap();
        assert_eq!((name.min, name.max), (Some(1), Some(128)));
        let p = name.pattern.as_ref().unwrap();
        assert_eq!(p.source, "[a-zA-Z0-9_.-]+");
        assert!(p.is_match("abc") && !p.is_match("a b"));
        let hk = m.shape("HashKey").unwrap().pattern.as_ref().unwrap();
        assert!(hk.is_match("0") && hk.is_match("12") && !hk.is_match("012") && !hk.is_match(""));
        assert_eq!(m.shape("Data").unwrap().max, Some(10485760));
        let out = m.output_shape("GetRecords").unwrap();
        assert_eq!(out.name, "GetRecordsOutput");
        assert!(m.output_shape("CreateStream").is_none());
        let records = m.member_shape(out, "Records").unwrap();
        let record = m.get(records.member.unwrap());
        let ts = m
            .member_shape(record, "ApproximateArrivalTimestamp")
            .unwrap();
        assert_eq!(ts.kind, Kind::Timestamp);
    }

    #[test]
    fn lower_first_works() {
        assert_eq!(lower_first("StreamARN"), "streamARN");
        assert_eq!(lower_first(""), "");
    }
}
