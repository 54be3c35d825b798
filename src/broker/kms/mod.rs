//! Encryption at rest for streams under StartStreamEncryption: a local stand-in for KMS
//! that maps key ids, key ARNs and aliases to key material ([`Keyring`]), and the
//! envelope each record of an encrypted stream is stored in ([`envelope`]), so the
//! stores below keep opaque bytes and need no key (docs/security.md, "Encryption at
//! rest"; the envelope's bytes are in docs/on-disk-format.md).

pub mod envelope;
mod keyring;

pub use keyring::{KeySpec, Keyring, Sealer, MANAGED_ALIAS};

/// Why a key cannot be used, as KMS would answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsError {
    NotFound(String),
    Disabled(String),
    /// A stored envelope failed its authentication: damage, not a key problem.
    Damaged(String),
}
