//! The one error type users match on.

use std::{fmt, io};

use mywebsocket_proto::{CloseFrame, HandshakeError, ProtocolError};

/// Which end started the closing of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// We did: a call to `close`, or a protocol error or timeout we detected.
    Local,
    /// The peer did.
    Remote,
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// The opening handshake took longer than [`Config::handshake_timeout`](crate::Config).
    Handshake,
    /// The peer sent nothing for [`Config::heartbeat_timeout`](crate::Config).
    Heartbeat,
    /// No message arrived within [`Config::read_timeout`](crate::Config).
    Read,
    /// Writing to the socket took longer than [`Config::write_timeout`](crate::Config).
    Write,
    /// The peer did not finish the closing handshake within
    /// [`Config::close_timeout`](crate::Config).
    Close,
}

/// Everything that can go wrong with a WebSocket.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke RFC 6455; the connection was closed with
    /// [`ProtocolError::close_code`].
    Protocol(ProtocolError),
    /// The peer sent a frame or message over the configured limit; closed with 1009.
    MessageTooBig {
        /// The size the frame or message announced or reached, in bytes.
        size: u64,
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// A deadline passed; the connection has been ended.
    Timeout(TimeoutKind),
    /// The socket failed.
    Io(io::Error),
    /// The connection is closed: the closing handshake finished, or ended the connection.
    /// `frame` is the close frame that ended it (the peer's if it started the close).
    Closed {
        /// The close code and reason, if one was sent.
        frame: Option<CloseFrame>,
        /// Who started the close.
        initiator: Initiator,
    },
    /// A message was sent after the connection started closing, or a call was made that the
    /// connection's state does not allow.
    AlreadyClosed,
    /// The caller passed a value the protocol does not allow (a ping payload over 125 bytes, a
    /// close code that may not be sent).
    InvalidInput(&'static str),
    /// The value given to `write_json` could not be serialized.
    Json(serde_json::Error),
    /// The URL given to `connect` is not a `ws://` URL we can reach.
    InvalidUrl(String),
}

impl Error {
    /// Whether this is the normal end of a connection (a finished closing handshake).
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed { .. } | Self::AlreadyClosed)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "protocol error: {e} (closed with {})", e.close_code()),
            Self::MessageTooBig { size, limit } => write!(
                f,
                "message of {size} bytes exceeds the limit of {limit} bytes (closed with 1009)"
            ),
            Self::Handshake(e) => write!(f, "handshake failed: {e}"),
            Self::Timeout(kind) => write!(
                f,
                "timed out: {}",
                match kind {
                    TimeoutKind::Handshake => "opening handshake",
                    TimeoutKind::Heartbeat => "peer silent past the heartbeat timeout",
                    TimeoutKind::Read => "no message within the read timeout",
                    TimeoutKind::Write => "socket write took longer than the write timeout",
                    TimeoutKind::Close => "peer did not finish the closing handshake",
                }
            ),
            Self::Io(e) => write!(f, "i/o error: {e}"),
            Self::Closed {
                frame: Some(frame),
                initiator,
            } => {
                write!(
                    f,
                    "connection closed by {} with {frame}",
                    initiator_name(*initiator)
                )
            }
            Self::Closed {
                frame: None,
                initiator,
            } => {
                write!(
                    f,
                    "connection closed by {} without a status code",
                    initiator_name(*initiator)
                )
            }
            Self::AlreadyClosed => f.write_str("connection already closing or closed"),
            Self::InvalidInput(what) => write!(f, "invalid input: {what}"),
            Self::Json(e) => write!(f, "json serialization failed: {e}"),
            Self::InvalidUrl(why) => write!(f, "invalid url: {why}"),
        }
    }
}

fn initiator_name(initiator: Initiator) -> &'static str {
    match initiator {
        Initiator::Local => "us",
        Initiator::Remote => "the peer",
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Protocol(e) => Some(e),
            Self::Handshake(e) => Some(e),
            Self::Io(e) => Some(e),
            Self::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::FrameTooBig { size, limit }
            | ProtocolError::MessageTooBig { size, limit } => Self::MessageTooBig { size, limit },
            other => Self::Protocol(other),
        }
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Self::Handshake(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            Error::Timeout(_) => io::Error::new(io::ErrorKind::TimedOut, e),
            Error::Closed { .. } | Error::AlreadyClosed => {
                io::Error::new(io::ErrorKind::NotConnected, e)
            }
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits_become_message_too_big() {
        let e = Error::from(ProtocolError::MessageTooBig { size: 10, limit: 5 });
        assert!(matches!(e, Error::MessageTooBig { size: 10, limit: 5 }));
        assert!(e.to_string().contains("1009"));
    }

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 48,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
