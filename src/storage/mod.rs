//! Bytes on disk, in memory or in Kafka: per-shard append-only logs and the metadata
//! catalog.
//!
//! This layer speaks only of logs, offsets, arrival times and opaque metadata records;
//! it never imports `broker` or `api`.

pub mod catalog;
pub mod error;
pub mod fs;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod log;

pub use error::StorageError;
