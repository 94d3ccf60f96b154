//! The checks every receiver makes of an offer before its own policy (docs/file-transfer.md,
//! "Errors"): what the sender announced must be well-formed and within the receiver's limit.

use crate::id::is_lower_hex;
use crate::{Reason, MAX_SAFE_SIZE};

/// An offer refused before any policy: the reason code and an explanation for people, as the
/// `reject` message carries them.
pub type Refusal = (Reason, String);

/// Checks an offer's `size` against `max_size` and parses its `sha256` (64 lowercase hex
/// digits). [`Control::parse`](crate::Control::parse) has checked both already; this is for
/// offers built in code.
///
/// # Errors
/// [`Reason::BadOffer`] for a SHA-256 that is not 64 lowercase hex digits or a size not below 2^53
/// ([`MAX_SAFE_SIZE`]), [`Reason::TooLarge`] for a size over `max_size`.
///
/// ```
/// use mywebsocket_files_proto::{check_offer, Reason};
///
/// let sha = "ab".repeat(32);
/// assert_eq!(check_offer(10, &sha, 100), Ok([0xab; 32]));
/// assert_eq!(check_offer(101, &sha, 100).unwrap_err().0, Reason::TooLarge);
/// assert_eq!(check_offer(10, "abc", 100).unwrap_err().0, Reason::BadOffer);
/// ```
pub fn check_offer(size: u64, sha256: &str, max_size: u64) -> Result<[u8; 32], Refusal> {
    let mut digest = [0u8; 32];
    if !is_lower_hex(sha256, 64) || hex::decode_to_slice(sha256, &mut digest).is_err() {
        return Err((
            Reason::BadOffer,
            "sha256 is not 64 lowercase hex digits".to_owned(),
        ));
    }
    if size > MAX_SAFE_SIZE {
        return Err((Reason::BadOffer, format!("size {size} is not below 2^53")));
    }
    if size > max_size {
        return Err((
            Reason::TooLarge,
            format!("{size} bytes is over the limit of {max_size} bytes"),
        ));
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_malformed_hashes_unsafe_sizes_and_sizes_over_the_limit() {
        let sha = "0f".repeat(32);
        assert_eq!(check_offer(0, &sha, 0), Ok([0x0f; 32]));
        assert_eq!(check_offer(5, &sha, 5), Ok([0x0f; 32]));
        for bad in [
            "",
            "zz".repeat(32).as_str(),
            &"0f".repeat(31),
            &"0f".repeat(33),
            &"0F".repeat(32),
        ] {
            assert_eq!(
                check_offer(1, bad, 10).unwrap_err().0,
                Reason::BadOffer,
                "{bad}"
            );
        }
        assert_eq!(
            check_offer(MAX_SAFE_SIZE + 1, &sha, u64::MAX)
                .unwrap_err()
                .0,
            Reason::BadOffer
        );
        let (reason, message) = check_offer(11, &sha, 10).unwrap_err();
        assert_eq!(reason, Reason::TooLarge);
        assert!(
            message.contains("11") && message.contains("10"),
            "{message}"
        );
    }
}
