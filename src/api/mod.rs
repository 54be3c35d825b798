//! The wire layer, and the only one that knows HTTP, JSON/CBOR, SigV4 headers and `__type`
//! codes: requests are checked against the service model, dispatched to one handler
//! per operation, and answered in the shapes the AWS SDKs parse.

pub mod admin;
pub mod auth;
pub mod body;
pub mod budget;
pub mod codec;
pub mod console;
pub mod error;
pub mod eventstream;
pub mod handlers;
pub mod health;
pub mod http;
pub mod metrics;
pub mod model;
pub mod pattern;
pub mod policy;
pub mod request_id;
pub mod shapes;
pub mod sigv4;
pub mod sts;
pub mod subscription;
pub mod target;
pub mod transport;
pub mod validate;
