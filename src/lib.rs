//! Shoal: a durable, self-hosted broker that speaks the Amazon Kinesis Data Streams API.
//!
//! The layers, and the one rule that keeps them apart:
//!
//! ```text
//! main -> server -> api -> broker -> storage
//! ```
//!
//! - [`api`] is the only layer that knows HTTP, JSON, SigV4 headers and `__type` strings.
//! - [`broker`] holds Kinesis semantics (streams, shards, routing, sequence numbers,
//!   iterators) in plain Rust types.
//! - [`storage`] knows shard logs, offsets and an embedded catalog, not Kinesis.
//!
//! Errors flow upward by `From` (`StorageError -> BrokerError -> ApiError`) and only
//! `api::error` maps them to status codes and wire codes.

pub mod api;
pub mod bench;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
#[cfg(test)]
mod explore;
pub mod metrics;
pub mod server;
pub mod storage;
pub mod tls;
