//! The one error type of the storage layer, carrying the cause and the file it concerns.

use std::path::PathBuf;

/// Everything that can go wrong below the broker.
#[derive(Debug)]
pub enum StorageError {
    /// An I/O call failed; `path` names the file or directory it was about.
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    /// Data on disk is damaged in a way recovery must not paper over
    /// (for example damage followed by valid batches).
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A previous fsync failed: the store refuses every further write, because the
    /// kernel may have dropped dirty pages and nothing written since can be trusted.
    Poisoned(String),
    /// The disk is full: the write was refused whole, and writes work again once space
    /// is freed.
    Full(String),
    /// The log with this id does not exist (never created, or removed).
    LogNotFound(u64),
    /// The log was sealed (its shard closed); appends must go elsewhere.
    Sealed(u64),
    /// [`crate::storage::log::ShardLog::append_quick`] would have to wait for the disk
    /// (a segment roll, a floor raise): call `append` where blocking is fine.
    WouldBlock,
    /// The catalog store failed.
    Catalog(String),
    /// The Kafka cluster refused or did not answer (ADR 0005).
    Kafka(String),
    /// A catalog shared with other nodes took a conflicting change first: the caller
    /// re-reads the state and decides again.
    Conflict,
}

impl StorageError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// Whether this is the disk running out of space.
    pub fn is_full(&self) -> bool {
        match self {
            StorageError::Full(_) => true,
            StorageError::Io { source, .. } => source.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::Io { path, op, source } => {
                write!(f, "{op} {} failed: {source}", path.display())
            }
            StorageError::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "{} is damaged at byte {offset}: {reason}",
                path.display()
            ),
            StorageError::Poisoned(why) => {
                write!(f, "the store refuses writes after a failed fsync: {why}")
            }
            StorageError::Full(why) => write!(f, "the disk is full: {why}"),
            StorageError::LogNotFound(id) => write!(f, "log {id} does not exist"),
            StorageError::Sealed(id) => write!(f, "log {id} is sealed"),
            StorageError::WouldBlock => f.write_str("the append would wait for the disk"),
            StorageError::Catalog(why) => write!(f, "catalog error: {why}"),
            StorageError::Kafka(why) => write!(f, "kafka: {why}"),
            StorageError::Conflict => f.write_str("another node changed the catalog first"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
