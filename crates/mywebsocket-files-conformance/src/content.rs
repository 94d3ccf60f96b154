//! The bytes of every file the conformance cases send: a function of the offset alone, so the
//! runner and a testee generate the same file without exchanging it.

use sha2::{Digest, Sha256};

/// The byte at `offset`: `(offset * 31 + 7) mod 251`.
pub fn byte_at(offset: u64) -> u8 {
    u8::try_from((offset.wrapping_mul(31).wrapping_add(7)) % 251).expect("below 251")
}

/// `len` bytes from `offset`.
pub fn bytes(offset: u64, len: u64) -> Vec<u8> {
    (offset..offset + len).map(byte_at).collect()
}

/// The SHA-256 of the first `size` bytes, as 64 lowercase hex digits.
pub fn sha256_hex(size: u64) -> String {
    let mut hash = Sha256::new();
    let mut offset = 0;
    while offset < size {
        let len = (size - offset).min(1 << 16);
        hash.update(bytes(offset, len));
        offset += len;
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_file_has_the_spec_hash() {
        assert_eq!(
            sha256_hex(0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn pieces_join_to_the_whole() {
        let whole = bytes(0, 300_000);
        assert_eq!(&whole[70_000..70_010], &bytes(70_000, 10)[..]);
        assert_eq!(hex::encode(Sha256::digest(&whole)), sha256_hex(300_000));
    }
}
