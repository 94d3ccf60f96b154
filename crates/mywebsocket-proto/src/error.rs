//! Errors: a peer's protocol violations (each with its close code) and handshake failures (each
//! with its HTTP status).

use std::fmt;

use http::StatusCode;

use crate::close::CloseCode;

/// A rule of RFC 6455 that the peer broke. Every variant maps to the close code the connection
/// is failed with, in one place: [`ProtocolError::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An opcode reserved for future use (0x3-0x7, 0xB-0xF; RFC 6455 §5.2).
    ReservedOpCode(u8),
    /// A 64-bit payload length with the most significant bit set (RFC 6455 §5.2).
    InvalidPayloadLength,
    /// RSV1, RSV2 or RSV3 set without an extension that defines it (RFC 6455 §5.2).
    ReservedBits,
    /// A client sent an unmasked frame (RFC 6455 §5.1).
    UnmaskedFrameFromClient,
    /// A server sent a masked frame (RFC 6455 §5.1).
    MaskedFrameFromServer,
    /// A control frame without FIN (RFC 6455 §5.5).
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload (RFC 6455 §5.5).
    ControlFrameTooBig {
        /// The payload length it announced.
        len: u64,
    },
    /// A continuation frame with no message in progress (RFC 6455 §5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was in progress (RFC 6455 §5.4).
    ExpectedContinuation,
    /// A text message or close reason that is not valid UTF-8 (RFC 6455 §8.1).
    InvalidUtf8,
    /// A close frame with a 1-byte payload (RFC 6455 §5.5.1).
    InvalidClosePayload,
    /// A close frame with a code that may not be sent (RFC 6455 §7.4).
    InvalidCloseCode(u16),
    /// A compressed message that does not decompress (RFC 7692 §8).
    InvalidCompressedData,
    /// A frame whose payload is over the configured frame limit.
    FrameTooBig {
        /// The payload length the frame announced.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message whose size is over the configured message limit.
    MessageTooBig {
        /// The size the message reached, counting the frame that crossed the limit.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
}

impl ProtocolError {
    /// The close code the connection is failed with (RFC 6455 §7.4.1): 1007 for invalid
    /// UTF-8, 1009 for sizes over a limit, 1002 for everything else.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooBig { .. } | Self::MessageTooBig { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::ReservedOpCode(_)
            | Self::InvalidPayloadLength
            | Self::ReservedBits
            | Self::UnmaskedFrameFromClient
            | Self::MaskedFrameFromServer
            | Self::FragmentedControlFrame
            | Self::ControlFrameTooBig { .. }
            | Self::UnexpectedContinuation
            | Self::ExpectedContinuation
            | Self::InvalidClosePayload
            | Self::InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedOpCode(op) => write!(f, "reserved opcode {op:#x}"),
            Self::InvalidPayloadLength => f.write_str("64-bit payload length has its top bit set"),
            Self::ReservedBits => f.write_str("reserved bits set without a negotiated extension"),
            Self::UnmaskedFrameFromClient => f.write_str("client sent an unmasked frame"),
            Self::MaskedFrameFromServer => f.write_str("server sent a masked frame"),
            Self::FragmentedControlFrame => f.write_str("fragmented control frame"),
            Self::ControlFrameTooBig { len } => {
                write!(f, "control frame payload of {len} bytes exceeds 125")
            }
            Self::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            Self::ExpectedContinuation => f.write_str("new data frame inside a fragmented message"),
            Self::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            Self::InvalidCompressedData => f.write_str("compressed message does not decompress"),
            Self::InvalidClosePayload => f.write_str("close frame payload of 1 byte"),
            Self::InvalidCloseCode(code) => {
                write!(f, "close code {code} is not allowed on the wire")
            }
            Self::FrameTooBig { size, limit } => {
                write!(
                    f,
                    "frame of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
            Self::MessageTooBig { size, limit } => {
                write!(
                    f,
                    "message of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Why an opening handshake failed. On the server side [`HandshakeError::status`] gives the
/// HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request or response is not valid HTTP/1.1.
    Malformed(&'static str),
    /// The head is over the configured size limit.
    HeadTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// The request method is not GET (RFC 6455 §4.2.1).
    MethodNotGet,
    /// An HTTP/2 (or later) request that is not a CONNECT: a WebSocket over HTTP/2 opens with
    /// an extended CONNECT (RFC 8441 §4).
    MethodNotConnect,
    /// An extended CONNECT whose `:protocol` is missing or not `websocket` (RFC 8441 §4).
    NotWebSocketProtocol,
    /// The request is older than HTTP/1.1.
    HttpVersion,
    /// No `Host` header.
    MissingHost,
    /// No `Upgrade: websocket` header.
    MissingUpgrade,
    /// No `Connection: Upgrade` header.
    MissingConnectionUpgrade,
    /// No `Sec-WebSocket-Key` header, or more than one.
    MissingKey,
    /// A `Sec-WebSocket-Key` that is not 16 bytes in base64.
    InvalidKey,
    /// A `Sec-WebSocket-Version` other than 13.
    UnsupportedVersion,
    /// The origin check refused the request's `Origin`.
    OriginRejected,
    /// The server already holds its maximum number of connections (server side).
    TooManyConnections {
        /// The configured maximum.
        limit: usize,
    },
    /// The server is shutting down and takes no new connections (server side).
    ShuttingDown,
    /// The server answered with a status other than 101 (client side).
    UnexpectedStatus(u16),
    /// The server's `Sec-WebSocket-Accept` does not match our key (client side).
    InvalidAccept,
    /// The HTTP/2 server did not enable the extended CONNECT protocol in its SETTINGS
    /// (`SETTINGS_ENABLE_CONNECT_PROTOCOL`, RFC 8441 §3), so no WebSocket may be opened over
    /// the connection (client side).
    ExtendedConnectDisabled,
    /// The server chose a subprotocol we did not offer (client side).
    UnexpectedProtocol,
    /// The server accepted an extension we did not offer, or with parameters we did not allow
    /// (client side).
    UnexpectedExtension,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with: 426 for a wrong version, 403 for a
    /// refused origin, 405 for a method other than GET, 431 for an oversized head, 503 when the
    /// server is full or shutting down, 400 for the rest. Errors found by a client in a
    /// response map to 502.
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            Self::OriginRejected => StatusCode::FORBIDDEN,
            Self::TooManyConnections { .. } | Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotGet | Self::MethodNotConnect => StatusCode::METHOD_NOT_ALLOWED,
            Self::HeadTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnexpectedStatus(_)
            | Self::ExtendedConnectDisabled
            | Self::InvalidAccept
            | Self::UnexpectedProtocol
            | Self::UnexpectedExtension => StatusCode::BAD_GATEWAY,
            Self::Malformed(_)
            | Self::HttpVersion
            | Self::NotWebSocketProtocol
            | Self::MissingHost
            | Self::MissingUpgrade
            | Self::MissingConnectionUpgrade
            | Self::MissingKey
            | Self::InvalidKey => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed HTTP: {what}"),
            Self::HeadTooLarge { limit } => write!(f, "HTTP head exceeds {limit} bytes"),
            Self::MethodNotGet => f.write_str("method is not GET"),
            Self::MethodNotConnect => f.write_str(
                "method is not CONNECT (a WebSocket over HTTP/2 is an extended CONNECT)",
            ),
            Self::NotWebSocketProtocol => f.write_str(
                "CONNECT is not an extended CONNECT for `:protocol websocket` (RFC 8441)",
            ),
            Self::HttpVersion => f.write_str("HTTP version is older than 1.1"),
            Self::MissingHost => f.write_str("missing Host header"),
            Self::MissingUpgrade => f.write_str("missing `Upgrade: websocket` header"),
            Self::MissingConnectionUpgrade => f.write_str("missing `Connection: Upgrade` header"),
            Self::MissingKey => f.write_str("missing or repeated Sec-WebSocket-Key header"),
            Self::InvalidKey => f.write_str("Sec-WebSocket-Key is not 16 bytes in base64"),
            Self::UnsupportedVersion => f.write_str("Sec-WebSocket-Version is not 13"),
            Self::OriginRejected => f.write_str("origin not allowed"),
            Self::TooManyConnections { limit } => {
                write!(f, "server is at its limit of {limit} connections")
            }
            Self::ShuttingDown => f.write_str("server is shutting down"),
            Self::UnexpectedStatus(code) => {
                write!(
                    f,
                    "server answered {code}, not 101 (HTTP/1.1) or 2xx (HTTP/2)"
                )
            }
            Self::ExtendedConnectDisabled => f.write_str(
                "the HTTP/2 server does not enable extended CONNECT (RFC 8441), so no WebSocket",
            ),
            Self::InvalidAccept => f.write_str("Sec-WebSocket-Accept does not match the key"),
            Self::UnexpectedProtocol => f.write_str("server chose a subprotocol we did not offer"),
            Self::UnexpectedExtension => {
                f.write_str("server accepted an extension or parameters we did not offer")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_error_maps_to_its_close_code() {
        let cases = [
            (ProtocolError::ReservedOpCode(3), 1002),
            (ProtocolError::InvalidPayloadLength, 1002),
            (ProtocolError::ReservedBits, 1002),
            (ProtocolError::UnmaskedFrameFromClient, 1002),
            (ProtocolError::MaskedFrameFromServer, 1002),
            (ProtocolError::FragmentedControlFrame, 1002),
            (ProtocolError::ControlFrameTooBig { len: 126 }, 1002),
            (ProtocolError::UnexpectedContinuation, 1002),
            (ProtocolError::ExpectedContinuation, 1002),
            (ProtocolError::InvalidUtf8, 1007),
            (ProtocolError::InvalidCompressedData, 1007),
            (ProtocolError::InvalidClosePayload, 1002),
            (ProtocolError::InvalidCloseCode(1005), 1002),
            (ProtocolError::FrameTooBig { size: 2, limit: 1 }, 1009),
            (ProtocolError::MessageTooBig { size: 2, limit: 1 }, 1009),
        ];
        for (err, code) in cases {
            assert_eq!(err.close_code().as_u16(), code, "{err}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn protocol_error_stays_small() {
        assert!(std::mem::size_of::<ProtocolError>() <= 24);
    }

    #[test]
    fn handshake_errors_map_to_statuses() {
        assert_eq!(HandshakeError::UnsupportedVersion.status(), 426);
        assert_eq!(HandshakeError::OriginRejected.status(), 403);
        assert_eq!(
            HandshakeError::TooManyConnections { limit: 1 }.status(),
            503
        );
        assert_eq!(HandshakeError::ShuttingDown.status(), 503);
        assert_eq!(HandshakeError::InvalidKey.status(), 400);
        assert_eq!(HandshakeError::MissingKey.status(), 400);
        assert_eq!(HandshakeError::HeadTooLarge { limit: 1 }.status(), 431);
    }
}
