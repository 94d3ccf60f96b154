//! Incremental UTF-8 validation: text is checked as its bytes arrive, so invalid input fails
//! the connection at the first bad byte, even in the middle of a frame (RFC 6455 §8.1).

use std::str;

/// The input is not valid UTF-8.
///
/// `#[non_exhaustive]` so that it can later say where the input went wrong (as
/// [`std::str::Utf8Error::valid_up_to`] does) without breaking callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidUtf8;

impl std::fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for InvalidUtf8 {}

/// Validates a stream of UTF-8 fed in arbitrary pieces.
///
/// It carries at most three bytes of a code point split between pieces; everything else is
/// checked in place by the standard library's validator.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Self {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Validates the next piece of the text.
    ///
    /// # Errors
    /// [`InvalidUtf8`] as soon as the bytes seen so far cannot be the start of valid UTF-8. An
    /// incomplete code point at the end of `input` is not an error: it is completed by the next
    /// piece or reported by [`Utf8Validator::finish`].
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let need = sequence_len(self.partial[0]).ok_or(InvalidUtf8)?;
            let take = (need - have).min(input.len());
            self.partial[have..have + take].copy_from_slice(&input[..take]);
            let now = have + take;
            input = &input[take..];
            match str::from_utf8(&self.partial[..now]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {
                    // Still a valid prefix, and `input` is exhausted.
                    self.partial_len = now as u8;
                    return Ok(());
                }
            }
        }
        match str::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                // An incomplete but valid prefix of at most 3 bytes ends the input.
                let tail = &input[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the text.
    ///
    /// # Errors
    /// [`InvalidUtf8`] if the text ended in the middle of a code point.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Forgets any partial code point, ready for a new text.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }
}

/// The length of the sequence that a lead byte starts, for the leads that can begin an
/// incomplete-but-valid prefix.
const fn sequence_len(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_in_pieces(input: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &cut in cuts {
            v.feed(&input[start..cut])?;
            start = cut;
        }
        v.feed(&input[start..])?;
        v.finish()
    }

    #[test]
    fn accepts_valid_text_split_at_every_position() {
        let text = "κόσμε ascii 𝄞 € \u{10FFFF} end".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(valid_in_pieces(text, &[a, b]), Ok(()), "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn rejects_invalid_text_split_at_every_position() {
        let cases: [&[u8]; 6] = [
            b"ab\xFFcd",
            b"\xED\xA0\x80",     // a surrogate
            b"\xF4\x90\x80\x80", // above U+10FFFF
            b"\xC0\xAF",         // overlong
            b"ok\xE2\x82",       // truncated at the end
            b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80edited",
        ];
        for input in cases {
            for cut in 0..=input.len() {
                assert_eq!(
                    valid_in_pieces(input, &[cut]),
                    Err(InvalidUtf8),
                    "{input:?} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn fails_at_the_first_bad_byte_before_the_text_ends() {
        // RFC 6455 §8.1 lets an endpoint fail fast; Autobahn 6.4.x checks that we do.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed("κόσμε".as_bytes()), Ok(()));
        assert_eq!(
            v.feed(b"\xF4"),
            Ok(()),
            "a valid lead byte alone is a prefix"
        );
        assert_eq!(
            v.feed(b"\x90"),
            Err(InvalidUtf8),
            "but F4 90 cannot start a code point"
        );
    }

    #[test]
    fn finish_resets_for_the_next_text() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xE2\x82").unwrap();
        assert_eq!(v.finish(), Err(InvalidUtf8));
        assert_eq!(v.feed(b"plain"), Ok(()));
        assert_eq!(v.finish(), Ok(()));
    }
}
