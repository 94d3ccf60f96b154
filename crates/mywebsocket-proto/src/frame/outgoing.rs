//! Frames ready to send: an encoded header on the stack and the payload as shared [`Bytes`].

use bytes::{BufMut, Bytes, BytesMut};

use super::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::apply_mask;

/// One encoded frame: its header bytes and its payload, already masked when sent by a client.
///
/// The payload is a [`Bytes`], so a server frame can be encoded once and the same frame cloned to
/// many connections without copying the payload.
#[derive(Debug, Clone)]
pub struct Frame {
    head: [u8; MAX_HEADER_LEN],
    head_len: u8,
    payload: Bytes,
}

impl Frame {
    /// Encodes a frame. With `mask` (client frames), a payload nobody else holds is masked in
    /// place and any other is copied once and masked; without it, the payload is shared as it
    /// is.
    pub fn new(header: FrameHeader, payload: Bytes) -> Self {
        debug_assert_eq!(header.payload_len, payload.len() as u64);
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        let payload = match header.mask {
            Some(key) if !payload.is_empty() => {
                // A unique payload (the usual case: built for this message) is ours to change;
                // masking it in place saves a copy of every byte sent.
                let mut masked = payload
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                apply_mask(&mut masked, key, 0);
                masked.freeze()
            }
            _ => payload,
        };
        Self {
            head,
            head_len: head_len as u8,
            payload,
        }
    }

    /// A final frame of `opcode` with `payload`, masked with `mask` if given.
    pub fn single(opcode: OpCode, payload: Bytes, mask: Option<[u8; 4]>) -> Self {
        let mut header = FrameHeader::new(opcode, payload.len() as u64);
        header.mask = mask;
        Self::new(header, payload)
    }

    /// The frame's opcode.
    #[inline]
    pub fn opcode(&self) -> OpCode {
        // The header was encoded from a valid `OpCode`, so its low nibble always decodes.
        OpCode::from_u8(self.head[0] & 0x0F).unwrap_or(OpCode::Continuation)
    }

    /// The encoded header.
    #[inline]
    pub fn head(&self) -> &[u8] {
        &self.head[..usize::from(self.head_len)]
    }

    /// The payload as it goes on the wire (masked for client frames).
    #[inline]
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Header plus payload length: the bytes this frame takes on the wire.
    #[inline]
    pub fn wire_len(&self) -> usize {
        usize::from(self.head_len) + self.payload.len()
    }

    /// Appends the whole frame to `dst`.
    pub fn write_to(&self, dst: &mut impl BufMut) {
        dst.put_slice(self.head());
        dst.put_slice(&self.payload);
    }

    /// The whole frame as one contiguous buffer (copies the payload).
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.wire_len());
        self.write_to(&mut buf);
        buf.freeze()
    }
}

/// Splits a message into frames of at most `fragment_size` payload bytes (RFC 6455 §5.4).
///
/// The first frame carries the message's opcode, the others are continuations; the last has FIN.
/// A message of at most `fragment_size` bytes (or an empty one) is a single frame. The payload
/// pieces are slices of the message's [`Bytes`]: unmasked frames share its memory.
#[derive(Debug)]
pub struct Fragments<F> {
    opcode: OpCode,
    rest: Bytes,
    fragment_size: usize,
    rsv1: bool,
    started: bool,
    done: bool,
    mask: F,
}

impl<F: FnMut() -> Option<[u8; 4]>> Fragments<F> {
    /// Frames for a data message. `mask` is asked for a fresh key per frame (`None` for a
    /// server). `rsv1` marks the first frame (permessage-deflate's "compressed" bit).
    pub fn new(opcode: OpCode, payload: Bytes, fragment_size: usize, rsv1: bool, mask: F) -> Self {
        Self {
            opcode,
            rest: payload,
            fragment_size: fragment_size.max(1),
            rsv1,
            started: false,
            done: false,
            mask,
        }
    }
}

impl<F: FnMut() -> Option<[u8; 4]>> Iterator for Fragments<F> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        if self.done {
            return None;
        }
        let take = self.rest.len().min(self.fragment_size);
        let piece = self.rest.split_to(take);
        let fin = self.rest.is_empty();
        let header = FrameHeader {
            fin,
            rsv1: self.rsv1 && !self.started,
            rsv2: false,
            rsv3: false,
            opcode: if self.started {
                OpCode::Continuation
            } else {
                self.opcode
            },
            mask: (self.mask)(),
            payload_len: piece.len() as u64,
        };
        self.started = true;
        self.done = fin;
        Some(Frame::new(header, piece))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmasked_frame_shares_payload_memory() {
        let payload = Bytes::from(vec![7u8; 1000]);
        let frame = Frame::single(OpCode::Binary, payload.clone(), None);
        assert_eq!(frame.payload().as_ptr(), payload.as_ptr());
        assert_eq!(frame.head(), &[0x82, 126, 0x03, 0xE8]);
    }

    #[test]
    fn masked_frame_matches_rfc_example() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let frame = Frame::single(
            OpCode::Text,
            Bytes::from_static(b"Hello"),
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(
            &frame.to_bytes()[..],
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn a_unique_payload_is_masked_in_place() {
        let payload = Bytes::from(vec![0u8; 1000]);
        let at = payload.as_ptr();
        let frame = Frame::single(OpCode::Binary, payload, Some([1, 2, 3, 4]));
        assert_eq!(frame.payload().as_ptr(), at);
        assert_eq!(&frame.payload()[..8], &[1, 2, 3, 4, 1, 2, 3, 4]);
    }

    #[test]
    fn a_shared_payload_is_copied_and_left_as_it_was() {
        let payload = Bytes::from(vec![0u8; 1000]);
        let frame = Frame::single(OpCode::Binary, payload.clone(), Some([1, 2, 3, 4]));
        assert_ne!(frame.payload().as_ptr(), payload.as_ptr());
        assert!(payload.iter().all(|&b| b == 0));
        assert_eq!(&frame.payload()[..4], &[1, 2, 3, 4]);
        let fixed = Frame::single(OpCode::Binary, Bytes::from_static(&[0; 4]), Some([9; 4]));
        assert_eq!(&fixed.payload()[..], &[9; 4]);
    }

    #[test]
    fn fragments_large_message_into_continuations() {
        let payload = Bytes::from((0..10u8).collect::<Vec<_>>());
        let frames: Vec<_> = Fragments::new(OpCode::Text, payload, 4, false, || None).collect();
        let heads: Vec<_> = frames.iter().map(|f| f.head().to_vec()).collect();
        assert_eq!(heads, vec![vec![0x01, 4], vec![0x00, 4], vec![0x80, 2]]);
        assert_eq!(&frames[2].payload()[..], &[8, 9]);
    }

    #[test]
    fn empty_message_is_one_final_frame() {
        let frames: Vec<_> =
            Fragments::new(OpCode::Binary, Bytes::new(), 4, false, || None).collect();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].head(), &[0x82, 0]);
    }

    #[test]
    fn exact_multiple_of_fragment_size_ends_with_fin_on_last_piece() {
        let frames: Vec<_> =
            Fragments::new(OpCode::Binary, Bytes::from(vec![0u8; 8]), 4, true, || None).collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].head()[0], 0x42, "rsv1 on the first frame only");
        assert_eq!(frames[1].head()[0], 0x80);
    }
}
