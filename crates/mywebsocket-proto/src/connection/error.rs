//! Why a connection ended badly.

use std::fmt;

use super::timers::Expired;
use crate::error::ProtocolError;

/// Why a connection ended other than by a completed closing handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke the protocol; we failed the connection with
    /// [`ProtocolError::close_code`].
    Protocol(ProtocolError),
    /// A deadline passed: [`Expired::Heartbeat`] or [`Expired::Read`] (we failed the
    /// connection with 1001), or [`Expired::Close`] (the peer never answered our close).
    Timeout(Expired),
    /// The transport ended before the closing handshake did (1006).
    Reset,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Timeout(kind) => write!(f, "timed out: {kind:?}"),
            Self::Reset => f.write_str("the transport ended without a closing handshake (1006)"),
        }
    }
}

impl std::error::Error for ConnectionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Protocol(e) => Some(e),
            _ => None,
        }
    }
}
