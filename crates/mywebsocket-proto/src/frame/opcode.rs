//! Frame opcodes (RFC 6455 §5.2, §11.8).

use std::fmt;

/// The opcode of a frame: what its payload means.
///
/// Opcodes 0x3-0x7 and 0xB-0xF are reserved; [`OpCode::from_u8`] returns `None` for them so the
/// decoder can fail the connection with 1002 (RFC 6455 §5.2).
///
/// Not `#[non_exhaustive]`: it lists every opcode RFC 6455 defines, and a `match` on it may
/// stay exhaustive. An extension's opcode (RFC 6455 §11.8) would be a breaking change here,
/// to weigh when such an extension is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: a continuation of a fragmented data message.
    Continuation,
    /// 0x1: the first frame of a text message (UTF-8).
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: the closing handshake.
    Close,
    /// 0x9: a ping; the peer answers with a pong.
    Ping,
    /// 0xA: a pong, answering a ping or sent unsolicited as a heartbeat.
    Pong,
}

impl OpCode {
    /// Decodes the low four bits of a frame's first byte; `None` for a reserved opcode.
    #[inline]
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0x0 => Some(Self::Continuation),
            0x1 => Some(Self::Text),
            0x2 => Some(Self::Binary),
            0x8 => Some(Self::Close),
            0x9 => Some(Self::Ping),
            0xA => Some(Self::Pong),
            _ => None,
        }
    }

    /// The opcode's value on the wire.
    #[inline]
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Control frames (close, ping, pong) may not be fragmented and carry at most 125 bytes
    /// (RFC 6455 §5.5).
    #[inline]
    pub const fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }

    /// Data frames carry (part of) a message.
    #[inline]
    pub const fn is_data(self) -> bool {
        !self.is_control()
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Continuation => "continuation",
            Self::Text => "text",
            Self::Binary => "binary",
            Self::Close => "close",
            Self::Ping => "ping",
            Self::Pong => "pong",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_known_opcode_and_rejects_reserved() {
        for value in 0u8..16 {
            match OpCode::from_u8(value) {
                Some(op) => assert_eq!(op.as_u8(), value),
                None => assert!(matches!(value, 0x3..=0x7 | 0xB..=0xF)),
            }
        }
    }

    #[test]
    fn classifies_control_and_data() {
        assert!(OpCode::Ping.is_control());
        assert!(OpCode::Close.is_control());
        assert!(OpCode::Text.is_data());
        assert!(OpCode::Continuation.is_data());
    }
}
