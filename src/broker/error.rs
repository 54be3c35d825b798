//! Broker errors: Kinesis-level failures with their messages; the api layer alone maps
//! them to wire codes and HTTP statuses.

use crate::storage::StorageError;

#[derive(Debug)]
pub enum BrokerError {
    ResourceNotFound(String),
    ResourceInUse(String),
    InvalidArgument(String),
    LimitExceeded(String),
    ExpiredIterator(String),
    ExpiredNextToken(String),
    /// A semantic check the service reports as `ValidationException`
    /// (for example a provisioned-only call on an on-demand stream).
    Validation(String),
    ProvisionedThroughputExceeded(String),
    /// A record's data plus partition key exceeds the stream's maximum record size;
    /// `index` is its position in the request.
    RecordTooLarge {
        index: usize,
        size: usize,
        max: usize,
    },
    /// A fault of ours, reported per record in PutRecords.
    Internal(String),
    /// The store cannot take the write now (its disk is full, or a failed sync made it
    /// refuse writes until a restart): a 503 that SDKs retry.
    Unavailable(String),
    Storage(StorageError),
    /// The stream's KMS key, or the key of a stored record, is not configured.
    KmsNotFound(String),
    /// That key is disabled in the key file.
    KmsDisabled(String),
}

impl From<super::kms::KmsError> for BrokerError {
    fn from(e: super::kms::KmsError) -> Self {
        use super::kms::KmsError;
        match e {
            KmsError::NotFound(m) => BrokerError::KmsNotFound(m),
            KmsError::Disabled(m) => BrokerError::KmsDisabled(m),
            KmsError::Damaged(m) => {
                tracing::error!(error = %m, "a stored record could not be decrypted");
                BrokerError::Internal("Internal service failure.".into())
            }
        }
    }
}

impl From<StorageError> for BrokerError {
    fn from(e: StorageError) -> Self {
        BrokerError::Storage(e)
    }
}

/// What a client is told when the disk is full.
const DISK_FULL: &str = "Shoal's disk is full: the write was not stored. Writes resume once \
                             space is freed; reads keep working.";

/// What a caller hears when its control-plane change lost to another node's, again and
/// again (each loss is retried against the new state first).
pub const CONCURRENT_CHANGE: &str =
    "Another Shoal node changed this resource at the same time; retry the request.";

impl BrokerError {
    /// A storage failure as a client sees it: a 503 while the store cannot take writes,
    /// else an internal failure (storage details stay in the server's log).
    pub fn of_storage(e: &StorageError) -> BrokerError {
        match e {
            e if e.is_full() => BrokerError::Unavailable(DISK_FULL.into()),
            StorageError::Poisoned(_) => BrokerError::Unavailable(
                "Shoal refuses writes after a failed disk sync; a restart recovers everything \
                 acknowledged."
                    .into(),
            ),
            StorageError::Kafka(_) => BrokerError::Unavailable(
                "Shoal's Kafka cluster did not take the request in time; retry.".into(),
            ),
            StorageError::Conflict => BrokerError::ResourceInUse(CONCURRENT_CHANGE.into()),
            _ => BrokerError::Internal("Internal service failure.".into()),
        }
    }
}

impl std::fmt::Display for BrokerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrokerError::ResourceNotFound(m)
            | BrokerError::ResourceInUse(m)
            | BrokerError::InvalidArgument(m)
            | BrokerError::LimitExceeded(m)
            | BrokerError::ExpiredIterator(m)
            | BrokerError::ExpiredNextToken(m)
            | BrokerError::Validation(m)
            | BrokerError::ProvisionedThroughputExceeded(m)
            | BrokerError::Internal(m)
            | BrokerError::Unavailable(m)
            | BrokerError::KmsNotFound(m)
            | BrokerError::KmsDisabled(m) => f.write_str(m),
            BrokerError::RecordTooLarge { index, size, max } => write!(
                f,
                "record {index} is {size} bytes (data plus partition key), above the stream's maximum of {max}"
            ),
            BrokerError::Storage(e) => write!(f, "storage failure: {e}"),
        }
    }
}

impl std::error::Error for BrokerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BrokerError::Storage(e) => Some(e),
            _ => None,
        }
    }
}

pub type BrokerResult<T> = Result<T, BrokerError>;
