//! The payloads both ends of the browser tests generate and check, byte for byte.
//!
//! This file is compiled twice: into the test server, and into the browser tests
//! (`wasm-client/tests/browser/main.rs` includes it with `#[path]`), so the two ends agree on
//! every byte without either trusting the other to echo. Each direction has its own seed, so a
//! server that echoed instead of generating would fail the check. It uses only `std`, `serde`,
//! `serde_json` and the protocol crate, which both ends have.

use mywebsocket_proto::Message;
use serde::{Deserialize, Serialize};

/// The seed of what the browser sends.
pub(crate) const FROM_BROWSER: u8 = 1;
/// The seed of what the server sends.
pub(crate) const FROM_SERVER: u8 = 2;

/// The sizes every kind of message is exchanged at: empty, the largest 7-bit length, the
/// smallest 16-bit length, 64 KiB (a 64-bit length) and 16 MiB (RFC 6455 §5.2).
pub(crate) const SIZES: [usize; 5] = [0, 125, 126, 64 << 10, 16 << 20];

/// The size of each message of the fragmentation case, and of its fragments.
pub(crate) const FRAGMENTED_LEN: usize = 1 << 20;
/// The fragment size of the fragmentation case.
pub(crate) const FRAGMENT_SIZE: usize = 4 << 10;

/// The size of each message of the backpressure case, and how many the browser sends.
pub(crate) const BACKPRESSURE_MESSAGE_LEN: usize = 64 << 10;
/// How many messages the browser sends in the backpressure case (32 MiB in all).
pub(crate) const BACKPRESSURE_MESSAGES: u32 = 512;

/// A kind of message in the data exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A text message of exactly `len` bytes, mixing 1- to 4-byte UTF-8 characters.
    Text,
    /// A binary message of exactly `len` bytes.
    Binary,
    /// A JSON document ([`JsonPayload`]) whose `data` string is `len` bytes long.
    Json,
}

impl Kind {
    /// The name used in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Binary => "binary",
            Kind::Json => "json",
        }
    }

    /// The kind named `name` by [`Kind::name`].
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Kind::Text, Kind::Binary, Kind::Json]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// The document of a JSON message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JsonPayload {
    /// The length of `data` in bytes.
    pub(crate) size: usize,
    /// [`text`] of that length.
    pub(crate) data: String,
}

/// `len` bytes that repeat with period 251 (a prime, so no power-of-two offset lines up).
pub(crate) fn binary(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed.wrapping_mul(101)))
        .collect()
}

/// A string of exactly `len` bytes: `X𝄞é€` repeated (1-, 4-, 2- and 3-byte characters, so
/// fragment boundaries fall inside characters), then ASCII to make up the length. `X` is a
/// letter chosen by `seed`. Nothing in it needs escaping in JSON.
pub(crate) fn text(len: usize, seed: u8) -> String {
    let letter = char::from(b'A' + seed % 26);
    let unit: String = [letter, '𝄞', 'é', '€'].into_iter().collect();
    let mut out = String::with_capacity(len);
    while out.len() + unit.len() <= len {
        out.push_str(&unit);
    }
    let filler = char::from(b'a' + seed % 26);
    while out.len() < len {
        out.push(filler);
    }
    out
}

/// The JSON document for `len`, as [`JsonPayload`].
pub(crate) fn json_payload(len: usize, seed: u8) -> JsonPayload {
    JsonPayload {
        size: len,
        data: text(len, seed),
    }
}

/// The exact message a sender of `kind` and `len` sends with `seed`. JSON goes through
/// `serde_json::to_string`, as `write_json` does on both ends.
pub(crate) fn message(kind: Kind, len: usize, seed: u8) -> Message {
    match kind {
        Kind::Text => Message::text(text(len, seed)),
        Kind::Binary => Message::binary(binary(len, seed)),
        Kind::Json => Message::text(
            serde_json::to_string(&json_payload(len, seed)).expect("a string and a number"),
        ),
    }
}

/// One message of the backpressure case: its sequence number (4 bytes, big-endian), then
/// [`binary`] filling it to [`BACKPRESSURE_MESSAGE_LEN`] with the sequence number as seed.
pub(crate) fn numbered(seq: u32) -> Vec<u8> {
    let mut out = seq.to_be_bytes().to_vec();
    out.extend(binary(BACKPRESSURE_MESSAGE_LEN - 4, seq.to_le_bytes()[0]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_exactly_the_length_asked_for() {
        for len in (0..64).chain(SIZES) {
            assert_eq!(binary(len, FROM_BROWSER).len(), len);
            assert_eq!(text(len, FROM_SERVER).len(), len);
            assert_eq!(json_payload(len, FROM_SERVER).data.len(), len);
        }
        assert_eq!(numbered(7).len(), BACKPRESSURE_MESSAGE_LEN);
        assert_eq!(numbered(7)[..4], [0, 0, 0, 7]);
    }

    #[test]
    fn directions_differ() {
        assert_ne!(binary(10, FROM_BROWSER), binary(10, FROM_SERVER));
        assert_ne!(text(10, FROM_BROWSER), text(10, FROM_SERVER));
    }

    #[test]
    fn text_splits_characters_at_fragment_boundaries() {
        let text = text(FRAGMENTED_LEN, FROM_SERVER);
        assert!(
            !text.is_char_boundary(FRAGMENT_SIZE),
            "a fragment ends mid-character"
        );
    }

    #[test]
    fn json_needs_no_escaping() {
        let payload = json_payload(1000, FROM_BROWSER);
        let encoded = serde_json::to_string(&payload).unwrap();
        assert_eq!(
            encoded.len(),
            payload.data.len() + r#"{"size":1000,"data":""}"#.len()
        );
        assert_eq!(Kind::from_name("json"), Some(Kind::Json));
        assert_eq!(Kind::from_name("xml"), None);
    }
}
