//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, resumable mid-payload.
//!
//! The hot loop works on 8-byte words through `as_chunks_mut`, which the compiler turns into
//! vector instructions without any `unsafe`; only the tail of fewer than 8 bytes goes byte by
//! byte.

/// XORs `buf` with `key`, as if `buf` started at byte `offset` of the payload.
///
/// Masking is its own inverse, so this both masks and unmasks. The offset lets a decoder unmask
/// the part of a payload that has arrived and resume later where it stopped.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let (words, tail) = buf.as_chunks_mut::<8>();
    for chunk in words {
        *chunk = (u64::from_ne_bytes(*chunk) ^ word).to_ne_bytes();
    }
    // Whole words consumed a multiple of 4 bytes, so the tail starts at key[0] again.
    for (byte, k) in tail.iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// The key as seen from byte `offset` of the payload.
#[inline]
const fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let s = offset % 4;
    [key[s], key[(s + 1) % 4], key[(s + 2) % 4], key[(s + 3) % 4]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_byte_loop_for_all_lengths_offsets_and_alignments() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..1024 + 16).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=1024 {
            for align in 0..8 {
                for offset in 0..8 {
                    let mut fast = data[align..align + len].to_vec();
                    let mut slow = fast.clone();
                    apply_mask(&mut fast, key, offset);
                    reference(&mut slow, key, offset);
                    assert_eq!(fast, slow, "len {len} align {align} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..200u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        for cut in 0..data.len() {
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            assert_eq!(pieces, whole, "cut {cut}");
        }
    }

    #[test]
    fn rfc_example_unmasks_hello() {
        // RFC 6455 §5.7: a masked "Hello".
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }
}
