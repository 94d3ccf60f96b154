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

/// The size of each payload of the permessage-deflate cases: 1 MiB.
pub(crate) const DEFLATE_LEN: usize = 1 << 20;
/// The size of each message when a permessage-deflate payload goes as many small messages
/// (256 of them).
pub(crate) const DEFLATE_CHUNK: usize = 4 << 10;

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

/// The payload of a permessage-deflate case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeflateKind {
    /// [`compressible_json`]: text that deflate shrinks several times.
    Json,
    /// [`random_bytes`]: binary that deflate cannot shrink.
    Random,
}

impl DeflateKind {
    /// The name used in URLs and reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            DeflateKind::Json => "json",
            DeflateKind::Random => "random",
        }
    }

    /// The kind named `name` by [`DeflateKind::name`].
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [DeflateKind::Json, DeflateKind::Random]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// How a permessage-deflate payload is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    /// As one message of [`DEFLATE_LEN`] bytes.
    One,
    /// As [`DEFLATE_LEN`] / [`DEFLATE_CHUNK`] messages of [`DEFLATE_CHUNK`] bytes, in order.
    Many,
}

impl Split {
    /// The name used in URLs and reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Split::One => "one",
            Split::Many => "many",
        }
    }

    /// The split named `name` by [`Split::name`].
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Split::One, Split::Many]
            .into_iter()
            .find(|split| split.name() == name)
    }
}

/// SplitMix64: a small, fast generator whose output passes for random (deflate finds nothing
/// to shrink in it), identical on both ends.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator's starting state for `seed`.
fn seeded(seed: u8, stream: u64) -> u64 {
    (u64::from(seed) << 56) ^ (stream << 32) ^ 0x6D79_7773
}

/// `len` pseudo-random bytes from `seed`: incompressible.
pub(crate) fn random_bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut state = seeded(seed, 1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The size of the files of the file-transfer case, each way: 64 MiB.
pub(crate) const FILE_LEN: u64 = 64 << 20;
/// The size of the small files of the file-transfer case (cancelled, corrupt, rejected).
pub(crate) const SMALL_FILE_LEN: u64 = 4 << 20;
/// The size of the resumed upload: 16 MiB, cut after about half.
pub(crate) const RESUME_FILE_LEN: u64 = 16 << 20;

/// Fills `out` with the bytes at `offset..` of the generated file `seed`: pseudo-random and
/// computable at any offset, so neither end ever holds a whole file to check it.
pub(crate) fn fill_file(seed: u8, offset: u64, out: &mut [u8]) {
    let base = seeded(seed, 3);
    let mut pos = offset;
    let mut done = 0;
    while done < out.len() {
        let mut state = base ^ (pos / 8);
        let block = splitmix64(&mut state).to_le_bytes();
        let from = (pos % 8) as usize;
        let n = (8 - from).min(out.len() - done);
        out[done..done + n].copy_from_slice(&block[from..from + n]);
        done += n;
        pos += n as u64;
    }
}

/// A JSON document of exactly `len` ASCII bytes (`len` at least 64): `{"records":[...],
/// "pad":"..."}`, records of users as an API would return them, with pseudo-random ids,
/// scores and tags from `seed`, then dots to make up the length. Being ASCII, it can be cut
/// anywhere into valid UTF-8 pieces.
pub(crate) fn compressible_json(len: usize, seed: u8) -> String {
    const TAGS: [&str; 8] = [
        "admin", "beta", "customer", "editor", "guest", "premium", "staff", "trial",
    ];
    const CITIES: [&str; 8] = [
        "Amsterdam",
        "Berlin",
        "Chicago",
        "Lisbon",
        "Nairobi",
        "Osaka",
        "Santiago",
        "Toronto",
    ];
    const SUFFIX: &str = r#"],"pad":""}"#;
    let mut state = seeded(seed, 2);
    let mut out = String::with_capacity(len);
    out.push_str(r#"{"records":["#);
    for id in 0u64.. {
        let r = splitmix64(&mut state);
        let pick = |shift: u32| (r >> shift) as usize % 8;
        let user = r % 100_000;
        let record = format!(
            r#"{{"id":{id},"user":"user{user:05}","email":"user{user:05}@example.com","active":{},"score":{},"city":"{}","tags":["{}","{}"],"seed":{seed}}}"#,
            (r >> 17) & 1 == 1,
            (r >> 20) % 10_000,
            CITIES[pick(40)],
            TAGS[pick(44)],
            TAGS[pick(48)],
        );
        let comma = usize::from(id > 0);
        if out.len() + comma + record.len() + SUFFIX.len() > len {
            break;
        }
        if id > 0 {
            out.push(',');
        }
        out.push_str(&record);
    }
    out.push_str(r#"],"pad":""#);
    while out.len() + 2 < len {
        out.push('.');
    }
    out.push_str(r#""}"#);
    out
}

/// The messages of a permessage-deflate case, in the order they are sent: the 1 MiB payload of
/// `kind` from `seed`, whole or cut into [`DEFLATE_CHUNK`]-byte pieces. JSON goes as text
/// messages, random bytes as binary ones.
pub(crate) fn deflate_messages(kind: DeflateKind, split: Split, seed: u8) -> Vec<Message> {
    let chunk = match split {
        Split::One => DEFLATE_LEN,
        Split::Many => DEFLATE_CHUNK,
    };
    match kind {
        DeflateKind::Json => {
            let json = compressible_json(DEFLATE_LEN, seed);
            json.as_bytes()
                .chunks(chunk)
                .map(|piece| {
                    // ASCII: every cut is a character boundary.
                    Message::text(String::from_utf8(piece.to_vec()).expect("ASCII"))
                })
                .collect()
        }
        DeflateKind::Random => random_bytes(DEFLATE_LEN, seed)
            .chunks(chunk)
            .map(|piece| Message::binary(piece.to_vec()))
            .collect(),
    }
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
    fn deflate_payloads() {
        let json = compressible_json(DEFLATE_LEN, FROM_BROWSER);
        assert_eq!(json.len(), DEFLATE_LEN);
        assert!(json.is_ascii());
        let doc: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        let records = doc["records"].as_array().expect("records");
        assert!(records.len() > 5000, "{} records", records.len());
        assert_eq!(records[1]["id"], 1);
        assert_ne!(json, compressible_json(DEFLATE_LEN, FROM_SERVER));
        for len in [64, 200, 1000] {
            let small = compressible_json(len, FROM_SERVER);
            assert_eq!(small.len(), len);
            serde_json::from_str::<serde_json::Value>(&small).expect("valid JSON");
        }

        let random = random_bytes(DEFLATE_LEN, FROM_SERVER);
        assert_eq!(random.len(), DEFLATE_LEN);
        assert_ne!(random, random_bytes(DEFLATE_LEN, FROM_BROWSER));
        // Every byte value about equally often: nothing for deflate to exploit.
        let mut counts = [0usize; 256];
        for byte in &random {
            counts[usize::from(*byte)] += 1;
        }
        let (min, max) = (counts.iter().min(), counts.iter().max());
        assert!(min > Some(&3800) && max < Some(&4400), "{min:?}..{max:?}");

        for kind in [DeflateKind::Json, DeflateKind::Random] {
            assert_eq!(DeflateKind::from_name(kind.name()), Some(kind));
            let one = deflate_messages(kind, Split::One, FROM_BROWSER);
            let many = deflate_messages(kind, Split::Many, FROM_BROWSER);
            assert_eq!(one.len(), 1);
            assert_eq!(many.len(), DEFLATE_LEN / DEFLATE_CHUNK);
            assert!(many.iter().all(|m| m.len() == DEFLATE_CHUNK));
            let joined: Vec<u8> = many.iter().flat_map(|m| m.as_bytes().to_vec()).collect();
            assert_eq!(joined, one[0].as_bytes());
            assert_eq!(one[0].is_text(), kind == DeflateKind::Json);
        }
        assert_eq!(Split::from_name("many"), Some(Split::Many));
    }

    #[test]
    fn file_bytes_are_the_same_whatever_the_slicing() {
        let mut whole = vec![0; 1000];
        fill_file(FROM_BROWSER, 3, &mut whole);
        let mut pieces = vec![0; 1000];
        for (i, piece) in pieces.chunks_mut(7).enumerate() {
            fill_file(FROM_BROWSER, 3 + i as u64 * 7, piece);
        }
        assert_eq!(whole, pieces);
        let mut other = vec![0; 1000];
        fill_file(FROM_SERVER, 3, &mut other);
        assert_ne!(whole, other);
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
