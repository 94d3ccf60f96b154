//! Counting echoed messages by parsing frame headers and skipping payloads: no unmasking, no
//! copying, no allocation. Accepts masked frames too (the TCP ceiling echoes the client's).

use std::fmt;

/// The longest frame header (RFC 6455 §5.2).
const MAX_HEADER: usize = 14;

/// What one [`FrameCounter::feed`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Data messages completed (final frames of text, binary or continuation).
    pub messages: u64,
    /// Payload bytes of data frames skipped over.
    pub payload_bytes: u64,
    /// The server sent a close frame; nothing after it is counted.
    pub closed: bool,
}

/// The server sent something no echo server should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadEcho {
    /// An opcode RFC 6455 reserves.
    ReservedOpCode(u8),
    /// A message whose payload length differs from what was sent.
    WrongLength {
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
}

impl fmt::Display for BadEcho {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadEcho::ReservedOpCode(op) => write!(f, "server sent reserved opcode {op:#x}"),
            BadEcho::WrongLength { expected, got } => {
                write!(f, "echoed message of {got} bytes, sent {expected}")
            }
        }
    }
}

impl std::error::Error for BadEcho {}

/// Counts complete data messages in a stream of server frames fed in arbitrary pieces.
#[derive(Debug, Clone)]
pub struct FrameCounter {
    /// The start of a header split across reads.
    partial: [u8; MAX_HEADER],
    partial_len: usize,
    /// Payload bytes of the current frame still to skip.
    remaining: u64,
    /// Whether the current frame is a data frame, and whether it ends its message.
    data: bool,
    fin: bool,
    /// Payload bytes of the message so far.
    message_len: u64,
    /// The payload length every message must have, when known (not with compression).
    expect: Option<u64>,
}

/// A parsed header: its length, the payload length, the first byte.
struct Header {
    len: usize,
    payload_len: u64,
    b0: u8,
}

/// Parses a header at the start of `input`; `None` if `input` is too short.
fn parse(input: &[u8]) -> Option<Header> {
    let [b0, b1, ..] = *input else {
        return None;
    };
    let (ext, short) = match b1 & 0x7F {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let len = 2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 };
    if input.len() < len {
        return None;
    }
    let payload_len = match (short, ext) {
        (Some(n), _) => n,
        (None, 2) => u64::from(u16::from_be_bytes([input[2], input[3]])),
        _ => u64::from_be_bytes(input[2..10].try_into().expect("8 bytes checked above")),
    };
    Some(Header {
        len,
        payload_len,
        b0,
    })
}

impl FrameCounter {
    /// A counter; with `expect`, every message must have that many payload bytes.
    pub fn new(expect: Option<u64>) -> Self {
        Self {
            partial: [0; MAX_HEADER],
            partial_len: 0,
            remaining: 0,
            data: false,
            fin: false,
            message_len: 0,
            expect,
        }
    }

    /// Counts what `input` completes.
    ///
    /// # Errors
    /// [`BadEcho`] for a reserved opcode or a message of the wrong length.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<Tally, BadEcho> {
        let mut tally = Tally::default();
        loop {
            if self.remaining > 0 {
                let skip = self.remaining.min(input.len() as u64);
                // `skip` is at most `input.len()`.
                input = &input[skip as usize..];
                self.remaining -= skip;
                if self.data {
                    tally.payload_bytes += skip;
                    self.message_len += skip;
                }
                if self.remaining > 0 {
                    return Ok(tally);
                }
                self.end_frame(&mut tally)?;
            }
            if input.is_empty() {
                return Ok(tally);
            }
            let header = if self.partial_len == 0 && input.len() >= MAX_HEADER {
                let header = parse(input).expect("14 bytes hold any header");
                input = &input[header.len..];
                header
            } else {
                let have = self.partial_len;
                let take = (MAX_HEADER - have).min(input.len());
                self.partial[have..have + take].copy_from_slice(&input[..take]);
                match parse(&self.partial[..have + take]) {
                    Some(header) => {
                        input = &input[header.len - have..];
                        self.partial_len = 0;
                        header
                    }
                    None => {
                        // Fewer than 14 bytes in all, so `take` was all of `input`.
                        self.partial_len = have + take;
                        return Ok(tally);
                    }
                }
            };
            let opcode = header.b0 & 0x0F;
            match opcode {
                0x0..=0x2 => self.data = true,
                0x8 => {
                    tally.closed = true;
                    return Ok(tally);
                }
                0x9 | 0xA => self.data = false,
                other => return Err(BadEcho::ReservedOpCode(other)),
            }
            self.fin = header.b0 & 0x80 != 0;
            self.remaining = header.payload_len;
            if self.remaining == 0 {
                self.end_frame(&mut tally)?;
            }
        }
    }

    fn end_frame(&mut self, tally: &mut Tally) -> Result<(), BadEcho> {
        if self.data && self.fin {
            if let Some(expected) = self.expect {
                if self.message_len != expected {
                    return Err(BadEcho::WrongLength {
                        expected,
                        got: self.message_len,
                    });
                }
            }
            tally.messages += 1;
            self.message_len = 0;
        }
        self.data = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::frames::{client_frame, payload, MASK_KEY};

    fn server_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut header = [0; 14];
        let mut h = mywebsocket_proto::FrameHeader::new(
            mywebsocket_proto::OpCode::Binary,
            payload.len() as u64,
        );
        h.fin = b0 & 0x80 != 0;
        h.opcode = match b0 & 0x0F {
            0 => mywebsocket_proto::OpCode::Continuation,
            1 => mywebsocket_proto::OpCode::Text,
            9 => mywebsocket_proto::OpCode::Ping,
            _ => mywebsocket_proto::OpCode::Binary,
        };
        let n = h.encode(&mut header);
        let mut frame = header[..n].to_vec();
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn counts_messages_split_at_every_byte() {
        let mut wire = Vec::new();
        for len in [0, 5, 125, 126, 70_000] {
            wire.extend(server_frame(0x82, &payload(len)));
        }
        let total: u64 = [0u64, 5, 125, 126, 70_000].iter().sum();
        for split in 0..wire.len().min(300) {
            let mut counter = FrameCounter::new(None);
            let a = counter.feed(&wire[..split]).unwrap();
            let b = counter.feed(&wire[split..]).unwrap();
            assert_eq!(a.messages + b.messages, 5, "split at {split}");
            assert_eq!(a.payload_bytes + b.payload_bytes, total);
        }
    }

    #[test]
    fn counts_byte_by_byte() {
        let wire = [server_frame(0x82, b"abc"), server_frame(0x81, b"")].concat();
        let mut counter = FrameCounter::new(None);
        let messages: u64 = wire
            .iter()
            .map(|b| counter.feed(std::slice::from_ref(b)).unwrap().messages)
            .sum();
        assert_eq!(messages, 2);
    }

    #[test]
    fn fragments_count_once_and_control_frames_not_at_all() {
        let wire = [
            server_frame(0x02, b"ab"),
            server_frame(0x89, b"ping"),
            server_frame(0x80, b"cd"),
        ]
        .concat();
        let tally = FrameCounter::new(Some(4)).feed(&wire).unwrap();
        assert_eq!(tally.messages, 1);
        assert_eq!(tally.payload_bytes, 4);
    }

    #[test]
    fn accepts_masked_frames_from_the_tcp_echo() {
        let frame = client_frame(0x2, false, &payload(1000), MASK_KEY);
        let tally = FrameCounter::new(Some(1000))
            .feed(&frame.repeat(3))
            .unwrap();
        assert_eq!(tally.messages, 3);
    }

    #[test]
    fn rejects_wrong_lengths_and_reserved_opcodes_and_stops_at_close() {
        let wrong = server_frame(0x82, b"abc");
        assert_eq!(
            FrameCounter::new(Some(4)).feed(&wrong),
            Err(BadEcho::WrongLength {
                expected: 4,
                got: 3
            })
        );
        assert_eq!(
            FrameCounter::new(None).feed(&[0x83, 0]),
            Err(BadEcho::ReservedOpCode(3))
        );
        let tally = FrameCounter::new(None).feed(&[0x88, 0, 0x82, 0]).unwrap();
        assert!(tally.closed);
        assert_eq!(tally.messages, 0);
    }
}
