//! What can end a transfer early.

use std::{fmt, io};

use crate::{Reason, Side};

/// Why a transfer did not complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransferError {
    /// The receiver declined the offer.
    Rejected {
        /// The code.
        reason: Reason,
        /// The receiver's explanation.
        message: String,
    },
    /// A side cancelled; a checksum mismatch arrives as `Cancelled { reason: ChecksumMismatch }`.
    Cancelled {
        /// Who cancelled.
        by: Side,
        /// The code.
        reason: Reason,
        /// The explanation.
        message: String,
    },
    /// The connection ended first; offer again with the same id after reconnecting to resume.
    ConnectionLost {
        /// Bytes the receiver had confirmed (the receiver's own count when receiving).
        confirmed: u64,
    },
    /// Reading or writing the local file failed.
    Io(io::Error),
}

impl TransferError {
    /// The reason code sent to the peer for this error, if it is ours to send.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Rejected { reason, .. } | Self::Cancelled { reason, .. } => *reason,
            Self::ConnectionLost { .. } => Reason::Cancelled,
            Self::Io(_) => Reason::Io,
        }
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { reason, message } => write!(f, "offer rejected ({reason}): {message}"),
            Self::Cancelled {
                by,
                reason,
                message,
            } => {
                let who = if *by == Side::Local {
                    "locally"
                } else {
                    "by the peer"
                };
                write!(f, "transfer cancelled {who} ({reason}): {message}")
            }
            Self::ConnectionLost { confirmed } => {
                write!(f, "connection lost after {confirmed} confirmed bytes")
            }
            Self::Io(e) => write!(f, "file i/o failed: {e}"),
        }
    }
}

impl std::error::Error for TransferError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TransferError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}
