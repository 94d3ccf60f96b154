//! Realistic JSON for the compression workload, and its permessage-deflate encoding.
//!
//! The documents look like an API's list response: objects with ids, names, e-mail addresses,
//! timestamps, numbers, flags and tags, drawn from small vocabularies by a fixed pseudo-random
//! sequence, so every run sends the same bytes.

use flate2::{Compress, Compression, FlushCompress};

const FIRST: [&str; 12] = [
    "Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kaito",
    "Leila",
];
const LAST: [&str; 10] = [
    "Okafor", "Schmidt", "Tanaka", "Silva", "Novak", "Haddad", "Larsen", "Moreau", "Kowalski",
    "Ibrahim",
];
const TAGS: [&str; 8] = [
    "admin", "beta", "billing", "eu-west", "mobile", "premium", "support", "trial",
];
const STATUS: [&str; 4] = ["active", "invited", "suspended", "pending"];

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// A JSON document of about `target_len` bytes (it stops at the first record that reaches the
/// length, so it is at most one record longer).
pub fn document(target_len: usize) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::from(r#"{"type":"users.page","cursor":"c2VjcmV0LWN1cnNvcg","items":["#);
    let mut id = 100_000;
    while out.len() + 2 < target_len {
        if !out.ends_with('[') {
            out.push(',');
        }
        id += 1 + rng.next() % 50;
        let (first, last) = (rng.pick(&FIRST), rng.pick(&LAST));
        let (day, hour, minute) = (1 + rng.next() % 28, rng.next() % 24, rng.next() % 60);
        out.push_str(&format!(
            r#"{{"id":{id},"name":"{first} {last}","email":"{}.{}{}@example.com","status":"{}","score":{}.{:02},"verified":{},"created_at":"2024-03-{day:02}T{hour:02}:{minute:02}:00Z","tags":["{}","{}"]}}"#,
            first.to_ascii_lowercase(),
            last.to_ascii_lowercase(),
            id % 97,
            rng.pick(&STATUS),
            rng.next() % 100,
            rng.next() % 100,
            rng.next().is_multiple_of(2),
            rng.pick(&TAGS),
            rng.pick(&TAGS),
        ));
    }
    out.push_str("]}");
    out
}

/// `payload` compressed as one permessage-deflate message with no context takeover
/// (RFC 7692 §7.2.1): raw deflate, a sync flush, and the trailing `00 00 ff ff` removed.
pub fn compress_message(payload: &[u8]) -> Vec<u8> {
    let mut deflate = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    let mut input = payload;
    loop {
        out.reserve(4096);
        let before = deflate.total_in();
        deflate
            .compress_vec(input, &mut out, FlushCompress::Sync)
            .expect("deflate into a growing buffer cannot fail");
        let used = (deflate.total_in() - before) as usize;
        input = &input[used..];
        // Done once all input is taken and the flush left spare room in the buffer.
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    #[test]
    fn documents_are_valid_json_near_the_target_length() {
        for target in [1024, 64 << 10] {
            let doc = document(target);
            assert!(
                doc.len() >= target && doc.len() < target + 400,
                "{}",
                doc.len()
            );
            serde_json::from_str::<serde_json::Value>(&doc).unwrap();
        }
    }

    #[test]
    fn compressed_messages_inflate_back() {
        let doc = document(64 << 10);
        let mut compressed = compress_message(doc.as_bytes());
        assert!(
            compressed.len() * 3 < doc.len(),
            "JSON compresses several times"
        );
        compressed.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut inflate = Decompress::new(false);
        let mut out = Vec::with_capacity(doc.len() + 1024);
        inflate
            .decompress_vec(&compressed, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(out, doc.as_bytes());
    }
}
