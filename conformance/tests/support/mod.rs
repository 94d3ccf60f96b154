//! What the conformance tests share.

use std::fmt;

/// Writes a payload as `name(bytes)` in hex when it is short, otherwise as its length and FNV-1a
/// checksum, so that a failure message stays readable and two payloads can still be told apart.
pub(crate) fn fmt_payload(f: &mut fmt::Formatter<'_>, name: &str, b: &[u8]) -> fmt::Result {
    if b.len() <= 24 {
        write!(f, "{name}({b:02x?})")
    } else {
        let sum = b.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &x| {
            (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
        });
        write!(f, "{name}({} bytes, fnv {sum:016x})", b.len())
    }
}
