//! The frame header (RFC 6455 §5.2): parse from bytes, encode into a stack buffer.

use super::OpCode;
use crate::error::ProtocolError;

/// The longest header: 2 bytes, an 8-byte extended length and a 4-byte mask key (RFC 6455 §5.2).
pub const MAX_HEADER_LEN: usize = 14;

/// A frame header as it appears on the wire.
///
/// Not `#[non_exhaustive]`: these are the fields of RFC 6455 §5.2, which extensions give
/// meaning to but do not add to, so a literal is the way to build one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whether this is the final fragment of a message.
    pub fin: bool,
    /// RSV1: meaningful only with a negotiated extension (permessage-deflate uses it).
    pub rsv1: bool,
    /// RSV2: no extension we support uses it.
    pub rsv2: bool,
    /// RSV3: no extension we support uses it.
    pub rsv3: bool,
    /// What the payload means.
    pub opcode: OpCode,
    /// The masking key; present exactly on frames sent by a client (RFC 6455 §5.3).
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// A final, unmasked header with no reserved bits: the common case for a server.
    pub const fn new(opcode: OpCode, payload_len: u64) -> Self {
        Self {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// Parses a header from the start of `input`.
    ///
    /// Returns `Ok(None)` when `input` does not yet hold the whole header: "incomplete" is not an
    /// error. On success returns the header and its length in bytes. Non-minimal length encodings
    /// are accepted, as RFC 6455 §5.2 does not forbid them for receivers.
    ///
    /// # Errors
    /// [`ProtocolError::ReservedOpCode`] for opcodes 0x3-0x7 and 0xB-0xF, and
    /// [`ProtocolError::InvalidPayloadLength`] for a 64-bit length with its top bit set.
    pub fn parse(input: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, rest @ ..] = input else {
            return Ok(None);
        };
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::ReservedOpCode(b0 & 0x0F))?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, len_bytes) = match b1 & 0x7F {
            126 => match rest {
                [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
                _ => return Ok(None),
            },
            127 => match rest.first_chunk::<8>() {
                Some(bytes) => {
                    let len = u64::from_be_bytes(*bytes);
                    if len & (1 << 63) != 0 {
                        return Err(ProtocolError::InvalidPayloadLength);
                    }
                    (len, 8)
                }
                None => return Ok(None),
            },
            small => (u64::from(small), 0),
        };
        let mut header_len = 2 + len_bytes;
        let mask = if masked {
            match input[header_len..].first_chunk::<4>() {
                Some(key) => {
                    header_len += 4;
                    Some(*key)
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some((
            Self {
                fin: b0 & 0x80 != 0,
                rsv1: b0 & 0x40 != 0,
                rsv2: b0 & 0x20 != 0,
                rsv3: b0 & 0x10 != 0,
                opcode,
                mask,
                payload_len,
            },
            header_len,
        )))
    }

    /// Encodes the header with the shortest length encoding into `out` and returns how many bytes
    /// of `out` it used.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut len = match self.payload_len {
            n @ 0..=125 => {
                // Fits in 7 bits by the match arm.
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        len
    }

    /// The encoded length of this header.
    pub const fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        if self.mask.is_some() {
            len + 4
        } else {
            len
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(header: FrameHeader) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let len = header.encode(&mut buf);
        assert_eq!(len, header.encoded_len());
        let (parsed, parsed_len) = FrameHeader::parse(&buf[..len]).unwrap().unwrap();
        assert_eq!(parsed, header);
        assert_eq!(parsed_len, len);
        // Every strict prefix is "incomplete", never an error.
        for cut in 0..len {
            assert_eq!(
                FrameHeader::parse(&buf[..cut]).unwrap(),
                None,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn round_trips_boundary_lengths_masked_and_unmasked() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, (1 << 63) - 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                for opcode in [OpCode::Text, OpCode::Binary, OpCode::Continuation] {
                    round_trip(FrameHeader {
                        fin: len % 2 == 0,
                        rsv1: true,
                        rsv2: false,
                        rsv3: true,
                        opcode,
                        mask,
                        payload_len: len,
                    });
                }
            }
        }
    }

    #[test]
    fn uses_the_shortest_length_encoding() {
        let mut buf = [0u8; MAX_HEADER_LEN];
        assert_eq!(FrameHeader::new(OpCode::Binary, 125).encode(&mut buf), 2);
        assert_eq!(FrameHeader::new(OpCode::Binary, 126).encode(&mut buf), 4);
        assert_eq!(FrameHeader::new(OpCode::Binary, 65536).encode(&mut buf), 10);
    }

    #[test]
    fn accepts_non_minimal_length_encodings() {
        // 5 bytes in the 16-bit form and in the 64-bit form.
        let (h, n) = FrameHeader::parse(&[0x82, 126, 0, 5]).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (5, 4));
        let (h, n) = FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5])
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (5, 10));
    }

    #[test]
    fn rejects_64_bit_length_with_top_bit_set() {
        let input = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            FrameHeader::parse(&input),
            Err(ProtocolError::InvalidPayloadLength)
        );
    }

    #[test]
    fn rejects_reserved_opcodes() {
        for op in [0x3, 0x7, 0xB, 0xF] {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpCode(op))
            );
        }
    }

    #[test]
    fn parses_flags() {
        let (h, _) = FrameHeader::parse(&[0x71, 0x80, 9, 9, 9, 9])
            .unwrap()
            .unwrap();
        assert!(!h.fin && h.rsv1 && h.rsv2 && h.rsv3);
        assert_eq!(h.opcode, OpCode::Text);
        assert_eq!(h.mask, Some([9, 9, 9, 9]));
    }
}
