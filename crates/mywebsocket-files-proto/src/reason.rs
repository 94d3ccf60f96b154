//! Reason codes carried by `reject` and `cancel` (docs/file-transfer.md §7).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a transfer was rejected or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The size is over the receiver's limit.
    TooLarge,
    /// The name cannot be made safe (traversal, reserved, control characters).
    BadName,
    /// The application declined.
    Policy,
    /// Too many transfers are running.
    Busy,
    /// The id is already in use on this connection.
    DuplicateId,
    /// A required member of the offer was missing or malformed.
    BadOffer,
    /// A chunk broke the rules (offset, window, length).
    BadChunk,
    /// All bytes arrived but the SHA-256 differs.
    ChecksumMismatch,
    /// Reading or writing the file failed.
    Io,
    /// A person or the application stopped it.
    Cancelled,
    /// A message made no sense in the transfer's state.
    Protocol,
    /// The sender waited longer than its answer timeout for an answer it was owed (§5).
    Timeout,
    /// A code this version does not know.
    #[serde(other)]
    Other,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = serde_json::to_value(self).expect("unit variants serialize to strings");
        f.write_str(code.as_str().unwrap_or("other"))
    }
}
