//! The API layer: the Kinesis service model and model-driven input validation.

pub mod model;
pub mod validate;
