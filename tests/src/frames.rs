//! Frames by hand, with tungstenite's frame code so that what our library writes is checked
//! by an independent implementation: building frames to send ([`raw_frame`], [`rsv1_frame`],
//! [`encode_frame`]) and taking received ones from a buffer ([`take_frame`]).

use std::io::Cursor;

use bytes::{Buf, Bytes, BytesMut};
use tungstenite::protocol::frame::coding::{Control, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};

#[cfg(doc)]
use crate::RawPeer;

/// A frame read by [`RawPeer`]: tungstenite's parse of the header, and the payload unmasked.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// The header as it was on the wire (including its mask key, if any).
    pub header: FrameHeader,
    /// The payload, unmasked.
    pub payload: Bytes,
}

impl RawFrame {
    /// The close code and reason if this is a close frame with a code.
    pub fn close_code(&self) -> Option<(u16, String)> {
        if self.header.opcode != OpCode::Control(Control::Close) || self.payload.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        let reason = String::from_utf8_lossy(&self.payload[2..]).into_owned();
        Some((code, reason))
    }
}

/// A frame to send with [`RawPeer::send_frame`]: `opcode`, FIN as given, masked with `mask`.
pub fn raw_frame(
    fin: bool,
    opcode: OpCode,
    payload: impl Into<Bytes>,
    mask: Option<[u8; 4]>,
) -> Frame {
    let header = FrameHeader {
        is_final: fin,
        opcode,
        mask,
        ..FrameHeader::default()
    };
    Frame::from_payload(header, payload.into())
}

/// [`raw_frame`] with RSV1 set: the first frame of a compressed message under
/// permessage-deflate (RFC 7692 §6), or a violation where it was not negotiated.
pub fn rsv1_frame(
    fin: bool,
    opcode: OpCode,
    payload: impl Into<Bytes>,
    mask: Option<[u8; 4]>,
) -> Frame {
    let mut frame = raw_frame(fin, opcode, payload, mask);
    frame.header_mut().rsv1 = true;
    frame
}

/// The wire bytes of `frame`, encoded by tungstenite (masked if it has a mask key).
pub fn encode_frame(frame: Frame) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len());
    frame
        .format(&mut out)
        .expect("encoding into a Vec cannot fail");
    out
}

/// Takes one whole frame from the front of `buf` (unmasking its payload), or `None` if
/// `buf` does not hold a whole frame yet.
///
/// # Panics
/// If the bytes are not a valid frame header.
pub fn take_frame(buf: &mut BytesMut) -> Option<RawFrame> {
    let mut cursor = Cursor::new(&buf[..]);
    let (header, len) = FrameHeader::parse(&mut cursor).expect("frame header")?;
    let header_len = usize::try_from(cursor.position()).expect("header length fits");
    let len = usize::try_from(len).expect("frame length fits in memory");
    if buf.len() < header_len + len {
        return None;
    }
    buf.advance(header_len);
    let mut payload = buf.split_to(len);
    if let Some(key) = header.mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some(RawFrame {
        header,
        payload: payload.freeze(),
    })
}
