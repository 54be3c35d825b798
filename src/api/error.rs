//! The one place that turns errors into HTTP statuses, `__type` codes and messages.

use http::StatusCode;

use super::validate::InputError;
use crate::broker::BrokerError;
use crate::storage::StorageError;

/// An error as it goes on the wire.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// The bare code, as sent in `__type` and `x-amzn-ErrorType`.
    pub code: &'static str,
    pub message: Option<String>,
    /// `SerializationException` traditionally carries `Message`; modeled errors `message`.
    pub capital_message: bool,
}

impl ApiError {
    pub fn client(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: Some(message.into()),
            capital_message: false,
        }
    }

    pub fn bare(code: &'static str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: None,
            capital_message: false,
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailureException",
            message: Some(message.into()),
            capital_message: false,
        }
    }

    /// Kinesis requests before the store is open; SDKs retry a 503.
    pub fn starting() -> ApiError {
        ApiError::unavailable("Shoal is starting: the store is being opened.")
    }

    /// Too many request bytes in flight: SDKs back off and retry a 503.
    pub fn overloaded(max_inflight_bytes: usize) -> ApiError {
        ApiError::unavailable(format!(
            "Shoal is overloaded: {max_inflight_bytes} bytes of requests are already being processed; slow down and retry."
        ))
    }

    /// A 503 SDKs back off from and retry.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "ServiceUnavailableException",
            message: Some(message.into()),
            capital_message: false,
        }
    }

    /// A request body that did not arrive at the minimum rate.
    pub fn body_timeout(min_bytes_per_sec: u64) -> ApiError {
        ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "RequestTimeoutException",
            message: Some(format!(
                "The request body did not arrive in time: it must keep moving at \
                 {min_bytes_per_sec} bytes per second or more."
            )),
            capital_message: false,
        }
    }

    pub fn unknown_operation() -> ApiError {
        ApiError::bare("UnknownOperationException")
    }

    pub fn serialization(message: Option<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "SerializationException",
            message,
            capital_message: true,
        }
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::client("ValidationException", message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::client("InvalidArgumentException", message)
    }

    /// The JSON error body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body_fields()).unwrap_or_default()
    }

    /// The error body's members, which every protocol encodes its own way.
    pub fn body_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut obj = serde_json::Map::new();
        obj.insert("__type".into(), self.code.into());
        if let Some(m) = &self.message {
            let key = if self.capital_message {
                "Message"
            } else {
                "message"
            };
            obj.insert(key.into(), m.clone().into());
        }
        obj
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Serialization(m) => ApiError::serialization(m),
            InputError::Validation(m) => ApiError::validation(m),
        }
    }
}

/// The AWS rendering of a blob in a validation message.
fn blob_value(len: usize) -> String {
    format!("java.nio.HeapByteBuffer[pos=0 lim={len} cap={len}]")
}

impl ApiError {
    /// The error a control-plane change gets when another node's change came first.
    pub fn is_concurrent_change(&self) -> bool {
        self.code == "ResourceInUseException"
            && self.message.as_deref() == Some(crate::broker::error::CONCURRENT_CHANGE)
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        match e {
            BrokerError::ResourceNotFound(m) => ApiError::client("ResourceNotFoundException", m),
            BrokerError::ResourceInUse(m) => ApiError::client("ResourceInUseException", m),
            BrokerError::InvalidArgument(m) => ApiError::client("InvalidArgumentException", m),
            BrokerError::LimitExceeded(m) => ApiError::client("LimitExceededException", m),
            BrokerError::ExpiredIterator(m) => ApiError::client("ExpiredIteratorException", m),
            BrokerError::ExpiredNextToken(m) => ApiError::client("ExpiredNextTokenException", m),
            BrokerError::Validation(m) => ApiError::validation(m),
            BrokerError::ProvisionedThroughputExceeded(m) => {
                ApiError::client("ProvisionedThroughputExceededException", m)
            }
            BrokerError::RecordTooLarge { index, size, max } => ApiError::validation(format!(
                "1 validation error detected: Value '{}' at 'records.{}.member.data' failed to \
                 satisfy constraint: Member must have length less than or equal to {max}",
                blob_value(size),
                index + 1
            )),
            BrokerError::Internal(m) => ApiError::internal(m),
            BrokerError::Unavailable(m) => ApiError::unavailable(m),
            BrokerError::Storage(e) => storage_error(e),
            BrokerError::KmsNotFound(m) => ApiError::client("KMSNotFoundException", m),
            BrokerError::KmsDisabled(m) => ApiError::client("KMSDisabledException", m),
        }
    }
}

/// Storage details (file names, OS errors) go to the server's log, never to a client.
fn storage_error(e: StorageError) -> ApiError {
    tracing::error!(error = %e, "storage failure");
    BrokerError::of_storage(&e).into()
}

/// PutRecord reports an oversized record at `data`, not at a list position.
pub fn single_record_too_large(e: BrokerError) -> ApiError {
    match e {
        BrokerError::RecordTooLarge { size, max, .. } => ApiError::validation(format!(
            "1 validation error detected: Value '{}' at 'data' failed to satisfy constraint: \
             Member must have length less than or equal to {max}",
            blob_value(size)
        )),
        other => other.into(),
    }
}

/// The per-record error code and message PutRecords reports for a failed entry.
pub fn record_failure(e: &BrokerError) -> (&'static str, String) {
    match e {
        BrokerError::ProvisionedThroughputExceeded(m) => {
            ("ProvisionedThroughputExceededException", m.clone())
        }
        BrokerError::Unavailable(m) => ("InternalFailure", m.clone()),
        _ => ("InternalFailure", "Internal Service Failure".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_failures_name_no_file() {
        let e = StorageError::io(
            "open",
            "/var/lib/shoal/logs/7/00000000000000000000.log",
            std::io::Error::other("Input/output error"),
        );
        let api = ApiError::from(BrokerError::Storage(e));
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.code, "InternalFailureException");
        let m = api.message.unwrap();
        assert!(!m.contains('/') && !m.contains("Input/output"), "{m}");
    }
}
