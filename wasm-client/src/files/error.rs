//! Why a file transfer did not complete.

use std::fmt;

use mywebsocket_files_proto::{End, Reason, Side};

/// Why a transfer did not complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// The receiver declined the offer (too large, bad name, policy, busy, ...).
    Rejected {
        /// The code.
        reason: Reason,
        /// The receiver's explanation, for people.
        message: String,
    },
    /// One end cancelled: [`CancelToken::cancel`](super::CancelToken::cancel) here, or the
    /// peer (which reports a corrupt upload as `reason: ChecksumMismatch`).
    Cancelled {
        /// Who cancelled.
        by: Side,
        /// The code.
        reason: Reason,
        /// The explanation.
        message: String,
    },
    /// Every byte of a download arrived but their SHA-256 is not the offer's: the data is
    /// corrupt and no `Blob` is made. The sender has been told (`checksum_mismatch`).
    ChecksumMismatch {
        /// The SHA-256 the offer announced, 64 hex digits.
        expected: String,
        /// The SHA-256 of the bytes received.
        actual: String,
    },
    /// The peer broke the protocol for this transfer (a chunk at the wrong offset or past
    /// the window, an `ack` past the bytes sent, ...); the transfer was cancelled with the
    /// code sent to the peer.
    Protocol {
        /// The code sent to the peer (`bad_chunk` or `protocol`).
        reason: Reason,
        /// What was wrong.
        message: String,
    },
    /// The browser could not read the `Blob` or `File` (it was deleted or changed on disk).
    Read(crate::Error),
    /// The WebSocket could not send (it is closed or reconnecting).
    Connection(crate::Error),
    /// The connection ended first ([`Files::connection_lost`](super::Files::connection_lost)).
    ConnectionLost {
        /// Bytes the receiver had confirmed.
        confirmed: u64,
    },
}

impl FileError {
    /// The error for a transfer the state machine ended otherwise than with `done`: what the
    /// peer's `reject` or `cancel` said, or the violation or timeout this end cancelled for.
    pub(crate) fn from_end(end: End) -> Self {
        match end {
            End::Rejected { reason, message } => Self::Rejected { reason, message },
            End::Cancelled {
                by: Side::Local,
                reason: reason @ (Reason::Protocol | Reason::BadChunk),
                message,
            } => Self::Protocol { reason, message },
            End::Cancelled {
                by,
                reason,
                message,
            } => Self::Cancelled {
                by,
                reason,
                message,
            },
            End::ConnectionLost { confirmed } => Self::ConnectionLost { confirmed },
            other => Self::Protocol {
                reason: Reason::Protocol,
                message: format!("the transfer ended: {other:?}"),
            },
        }
    }

    /// The reason code this error is reported to the peer with.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Rejected { reason, .. }
            | Self::Cancelled { reason, .. }
            | Self::Protocol { reason, .. } => *reason,
            Self::ChecksumMismatch { .. } => Reason::ChecksumMismatch,
            Self::Read(_) => Reason::Io,
            Self::Connection(_) | Self::ConnectionLost { .. } => Reason::Cancelled,
        }
    }

    /// Whether the bytes were found corrupt, by this end or by the peer.
    pub fn is_corrupt(&self) -> bool {
        self.reason() == Reason::ChecksumMismatch
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { reason, message } => write!(f, "offer rejected ({reason}): {message}"),
            Self::Cancelled {
                by,
                reason,
                message,
            } => {
                let who = match by {
                    Side::Local => "locally",
                    Side::Remote => "by the peer",
                };
                write!(f, "transfer cancelled {who} ({reason}): {message}")
            }
            Self::ChecksumMismatch { expected, actual } => write!(
                f,
                "received file is corrupt: its SHA-256 is {actual}, the offer said {expected}"
            ),
            Self::Protocol { reason, message } => {
                write!(
                    f,
                    "peer broke the file-transfer protocol ({reason}): {message}"
                )
            }
            Self::Read(e) => write!(f, "reading the file failed: {e}"),
            Self::Connection(e) => write!(f, "sending failed: {e}"),
            Self::ConnectionLost { confirmed } => {
                write!(f, "connection lost after {confirmed} confirmed bytes")
            }
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read(e) | Self::Connection(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_is_recognised_from_either_end() {
        let local = FileError::ChecksumMismatch {
            expected: "aa".into(),
            actual: "bb".into(),
        };
        assert!(local.is_corrupt());
        assert!(local.to_string().contains("corrupt"));
        let remote = FileError::Cancelled {
            by: Side::Remote,
            reason: Reason::ChecksumMismatch,
            message: String::new(),
        };
        assert!(remote.is_corrupt());
        let rejected = FileError::Rejected {
            reason: Reason::TooLarge,
            message: "over 1 GiB".into(),
        };
        assert!(!rejected.is_corrupt());
        assert_eq!(
            rejected.to_string(),
            "offer rejected (too_large): over 1 GiB"
        );
    }
}
