//! Raw frames and test data.

use bytes::Bytes;
use mywebsocket_proto::apply_mask;

/// A frame as a raw peer would write it: `mask` for a client's frames.
pub(crate) fn raw_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mut body = payload.to_vec();
    if let Some(key) = mask {
        out.extend_from_slice(&key);
        apply_mask(&mut body, key, 0);
    }
    out.extend_from_slice(&body);
    out
}

/// A client's masked frame: `first` is the first header byte (FIN, RSV and opcode bits).
pub(crate) fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first, payload, Some([0xa1, 0xb2, 0xc3, 0xd4]))
}

/// Text of `len` bytes with multi-byte characters in it.
pub(crate) fn text(len: usize, seed: u8) -> String {
    let mut s = String::with_capacity(len);
    let mut i = usize::from(seed);
    while s.len() < len {
        let c = match i % 7 {
            0 if s.len() + 3 <= len => '€',
            1 if s.len() + 2 <= len => 'é',
            _ => char::from(b'a' + (i % 26) as u8),
        };
        s.push(c);
        i += 1;
    }
    s
}

/// Binary data of `len` bytes, compressible or not.
pub(crate) fn binary(len: usize, seed: u8) -> Bytes {
    let mut x = u32::from(seed) | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 3 == 0 {
                x as u8
            } else {
                seed
            }
        })
        .collect::<Vec<u8>>()
        .into()
}
