//! Close codes and close frames (RFC 6455 §5.5.1, §7.4).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::message::Utf8Bytes;

/// A close status code. A newtype rather than an enum, so that codes from the private range
/// (4000-4999) and codes registered after this crate was written still fit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: the endpoint cannot accept this type of data.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no code was present. Reported locally, never sent.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection ended without a close frame. Reported locally, never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: a message's data did not match its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message broke the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (overload).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway got an invalid response upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: the TLS handshake failed. Reported locally, never sent.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Wraps any code, valid on the wire or not.
    #[inline]
    pub const fn new(code: u16) -> Self {
        Self(code)
    }

    /// The numeric code.
    #[inline]
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether the code may appear in a close frame (RFC 6455 §7.4.1-7.4.2): the registered
    /// codes except 1004 (reserved) and 1005, 1006 and 1015 (local-only), plus 3000-4999.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The body of a close frame: a code and a UTF-8 reason.
///
/// `#[non_exhaustive]`: build one with [`CloseFrame::new`] (or [`CloseFrame::parse`]); the
/// fields stay public to read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseFrame {
    /// Why the connection is closing.
    pub code: CloseCode,
    /// A human-readable reason; at most 123 bytes so the frame stays a valid control frame.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// The longest reason that fits in a control frame after the 2-byte code.
    pub const MAX_REASON_LEN: usize = MAX_CONTROL_PAYLOAD - 2;

    /// A close frame with `code` and `reason`, the reason cut at a character boundary to
    /// [`CloseFrame::MAX_REASON_LEN`] bytes.
    pub fn new(code: CloseCode, reason: &str) -> Self {
        let mut end = reason.len().min(Self::MAX_REASON_LEN);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            code,
            reason: Utf8Bytes::from(&reason[..end]),
        }
    }

    /// Parses the payload of a received close frame. An empty payload means "no status"
    /// (`Ok(None)`).
    ///
    /// # Errors
    /// [`ProtocolError::InvalidClosePayload`] for a 1-byte payload,
    /// [`ProtocolError::InvalidCloseCode`] for a code not allowed on the wire (both 1002), and
    /// [`ProtocolError::InvalidUtf8`] for a reason that is not UTF-8 (1007).
    pub fn parse(payload: Bytes) -> Result<Option<Self>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(ProtocolError::InvalidClosePayload),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = Utf8Bytes::try_from(payload.slice(2..))
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(Self { code, reason }))
            }
        }
    }

    /// The payload of a close frame carrying this code and reason.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(2 + self.reason.len());
        buf.put_u16(self.code.0);
        buf.put_slice(self.reason.as_bytes());
        buf.freeze()
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "code {}", self.code)
        } else {
            write!(f, "code {} ({:?})", self.code, self.reason.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_follows_rfc_6455_section_7_4() {
        for code in 0..=u16::MAX {
            let valid = CloseCode(code).is_valid_on_wire();
            let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(valid, expected, "code {code}");
        }
        for local_only in [1004, 1005, 1006, 1015, 0, 999, 1016, 2999, 5000] {
            assert!(!CloseCode(local_only).is_valid_on_wire(), "{local_only}");
        }
    }

    #[test]
    fn parses_empty_payload_as_no_status() {
        assert_eq!(CloseFrame::parse(Bytes::new()), Ok(None));
    }

    #[test]
    fn rejects_one_byte_payload() {
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(&[3])),
            Err(ProtocolError::InvalidClosePayload)
        );
    }

    #[test]
    fn rejects_codes_not_allowed_on_the_wire() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000] {
            let payload = Bytes::copy_from_slice(&code.to_be_bytes());
            assert_eq!(
                CloseFrame::parse(payload),
                Err(ProtocolError::InvalidCloseCode(code))
            );
        }
    }

    #[test]
    fn rejects_invalid_utf8_reason_with_1007() {
        let err = CloseFrame::parse(Bytes::from_static(b"\x03\xe8ok\xff")).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidUtf8);
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }

    #[test]
    fn round_trips_code_and_reason() {
        let frame = CloseFrame::new(CloseCode::new(4001), "bye ☃");
        let parsed = CloseFrame::parse(frame.encode()).unwrap().unwrap();
        assert_eq!(parsed, frame);
    }

    #[test]
    fn truncates_long_reason_at_a_char_boundary() {
        let frame = CloseFrame::new(CloseCode::NORMAL, &"€".repeat(100));
        assert!(frame.reason.len() <= CloseFrame::MAX_REASON_LEN);
        assert_eq!(frame.reason.len() % 3, 0);
    }
}
