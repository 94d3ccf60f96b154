//! Message payloads a test can regenerate from a seed (patterns, JSON-like text, random
//! bytes), and a comparison that does not print megabytes when they differ.

use std::fmt::Write as _;

/// `len` bytes of a pattern that depends on `seed` and on the position, with a period (251)
/// that is no power of two, so a lost, repeated or shifted chunk shows.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

/// `len` bytes of printable ASCII following a pattern like [`pattern`], for text messages.
pub fn text_pattern(len: usize, seed: u8) -> String {
    pattern(len, seed)
        .into_iter()
        .map(|b| char::from(b' ' + b % 95))
        .collect()
}

/// Asserts that `data` is `expected` without printing megabytes on failure: reports the
/// lengths and the first differing offset.
///
/// # Panics
/// When they differ.
pub fn assert_same_bytes(data: &[u8], expected: &[u8], what: &str) {
    assert_eq!(data.len(), expected.len(), "{what}: length");
    if let Some(at) = data.iter().zip(expected).position(|(a, b)| a != b) {
        panic!(
            "{what}: first difference at byte {at}: got {:#04x}, expected {:#04x}",
            data[at], expected[at]
        );
    }
}

/// `len` bytes of JSON-like text (records with repeated keys and varying values), as chat
/// or API traffic looks: compressible several times. Different seeds give different text.
pub fn json_text(len: usize, seed: u32) -> String {
    let mut text = String::with_capacity(len + 128);
    let mut n = seed;
    text.push('[');
    while text.len() < len {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let _ = write!(
            text,
            r#"{{"id":{},"user":"user-{}","room":"room-{}","text":"message number {} says hello","ok":{}}},"#,
            n % 100_000,
            n % 97,
            n % 13,
            n % 1000,
            n.is_multiple_of(2)
        );
    }
    text.truncate(len);
    text
}

/// `len` pseudo-random bytes (xorshift64*, seeded): deflate cannot shrink them.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}
