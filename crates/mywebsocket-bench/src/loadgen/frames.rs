//! Client frames, built and masked once before a run.

/// Opcode of a text frame (RFC 6455 §5.2).
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;

/// A final, masked client frame with `opcode` and `payload`; `rsv1` marks a compressed message
/// (RFC 7692). Uses the shortest length encoding.
pub fn client_frame(opcode: u8, rsv1: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | (u8::from(rsv1) << 6) | (opcode & 0x0F));
    match payload.len() {
        // Each arm's range makes the casts lossless.
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(
        payload
            .iter()
            .zip(key.iter().cycle())
            .map(|(byte, k)| byte ^ k),
    );
    frame
}

/// `copies` back-to-back copies of `frame`: what one write sends when that many messages may
/// go out at once.
pub fn repeated(frame: &[u8], copies: usize) -> Vec<u8> {
    frame.repeat(copies.max(1))
}

/// A payload of `len` bytes that is also valid UTF-8 (so text and binary servers treat it
/// alike): lowercase letters.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The mask key used for echo traffic: any non-zero key works; servers pay the same for all.
pub const MASK_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

#[cfg(test)]
mod tests {
    use super::*;
    use mywebsocket_proto::FrameHeader;

    #[test]
    fn frames_parse_with_the_protocol_crate_at_every_length_class() {
        for len in [0, 1, 125, 126, 65535, 65536] {
            let frame = client_frame(OP_BINARY, false, &payload(len), MASK_KEY);
            let (header, header_len) = FrameHeader::parse(&frame).unwrap().unwrap();
            assert_eq!(header.payload_len, len as u64);
            assert_eq!(header.mask, Some(MASK_KEY));
            assert_eq!(frame.len(), header_len + len);
            let mut unmasked = frame[header_len..].to_vec();
            mywebsocket_proto::apply_mask(&mut unmasked, MASK_KEY, 0);
            assert_eq!(unmasked, payload(len));
        }
    }

    #[test]
    fn rsv1_marks_compressed_frames() {
        let frame = client_frame(OP_TEXT, true, b"x", MASK_KEY);
        let (header, _) = FrameHeader::parse(&frame).unwrap().unwrap();
        assert!(header.rsv1);
    }
}
