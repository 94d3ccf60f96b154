//! The one error type users match on.

use std::{fmt, io};

use mywebsocket_proto::{CloseFrame, HandshakeError, ProtocolError};

/// Which end started the closing of a connection: decided by the protocol crate's
/// [`Control`](mywebsocket_proto::Control), re-exported here.
pub use mywebsocket_proto::Initiator;

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
    /// The URL given to `connect` is not a `ws://` or `wss://` URL we can reach.
    InvalidUrl(UrlError),
    /// A subprotocol in [`Config::protocols`](crate::Config::protocols) cannot be offered: it
    /// is not an HTTP token (RFC 6455 §4.1), such as a name with a space or a comma. Holds the
    /// name.
    InvalidSubprotocol(String),
    /// TLS failed: the handshake with the server (`wss://`), or a certificate or key that
    /// rustls refused. Only made with the `tls` feature.
    Tls(TlsError),
}

/// Why a URL given to [`connect`](crate::connect) cannot be used, with the parser's error as
/// its [`source`](std::error::Error::source) when there is one.
#[derive(Debug)]
pub struct UrlError(Box<UrlErrorInner>);

#[derive(Debug)]
struct UrlErrorInner {
    what: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl UrlError {
    /// A URL we cannot use: `what` is wrong with it, and the parser's error, if any.
    pub(crate) fn new(
        what: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self(Box::new(UrlErrorInner {
            what: what.into(),
            source,
        }))
    }

    /// What is wrong with the URL, without the parser's error: `"ftp://x" is not a ws:// or
    /// wss:// URL`.
    pub fn what(&self) -> &str {
        &self.0.what
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.source {
            Some(source) => write!(f, "{}: {source}", self.0.what),
            None => f.write_str(&self.0.what),
        }
    }
}

impl std::error::Error for UrlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source: &(dyn std::error::Error + 'static) = self.0.source.as_deref()?;
        Some(source)
    }
}

/// A TLS failure, with what we were doing and the cause as its
/// [`source`](std::error::Error::source): the [`rustls::Error`] when rustls decided (such as
/// a certificate not valid for the host), otherwise the I/O or PEM error.
///
/// [`rustls::Error`]: https://docs.rs/rustls/latest/rustls/enum.Error.html
#[derive(Debug)]
pub struct TlsError(Box<TlsErrorInner>);

#[derive(Debug)]
struct TlsErrorInner {
    what: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TlsError {
    /// A TLS failure: `what` we were doing, and its cause.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn new(
        what: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self(Box::new(TlsErrorInner {
            what: what.into(),
            source,
        }))
    }

    /// What failed, without the cause: "tls handshake with example.com failed".
    pub fn what(&self) -> &str {
        &self.0.what
    }

    /// The rustls error behind this failure, if rustls decided it.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        self.0.source.as_ref()?.downcast_ref()
    }

    /// The I/O error behind this failure, if the connection failed during the TLS handshake.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.0.source.as_ref()?.downcast_ref()
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.source {
            Some(source) => write!(f, "{}: {source}", self.0.what),
            None => f.write_str(&self.0.what),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source: &(dyn std::error::Error + 'static) = self.0.source.as_deref()?;
        Some(source)
    }
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
            Self::InvalidSubprotocol(name) => write!(
                f,
                "subprotocol {name:?} is not an HTTP token (RFC 6455 section 4.1)"
            ),
            Self::Tls(e) => write!(f, "{e}"),
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
            Self::Tls(e) => Some(e),
            Self::InvalidUrl(e) => Some(e),
            Self::MessageTooBig { .. }
            | Self::Timeout(_)
            | Self::Closed { .. }
            | Self::AlreadyClosed
            | Self::InvalidInput(_)
            | Self::InvalidSubprotocol(_) => None,
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
    fn every_cause_is_a_source() {
        use std::error::Error as _;
        let io = Error::from(io::Error::other("boom"));
        assert_eq!(io.source().unwrap().to_string(), "boom");
        let tls = Error::Tls(TlsError::new(
            "tls handshake with example.com failed",
            Some(Box::new(io::Error::other("reset"))),
        ));
        assert_eq!(
            tls.to_string(),
            "tls handshake with example.com failed: reset"
        );
        let TlsError(inner) = match &tls {
            Error::Tls(e) => e,
            _ => unreachable!(),
        };
        assert_eq!(inner.what, "tls handshake with example.com failed");
        let cause = tls.source().and_then(|e| e.source()).unwrap();
        assert_eq!(cause.to_string(), "reset");
        assert!(cause.downcast_ref::<io::Error>().is_some());
        let protocol = Error::InvalidSubprotocol("a b".into());
        assert!(protocol.source().is_none());
        assert!(protocol.to_string().contains("\"a b\""), "{protocol}");
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
