//! Bytes on disk (or in memory): per-shard append-only logs and the metadata catalog.
//!
//! This layer speaks only of logs, offsets, arrival times and opaque metadata records;
//! it never imports `broker` or `api`.

pub mod catalog;
pub mod error;
pub mod fs;
pub mod log;

pub use error::StorageError;
