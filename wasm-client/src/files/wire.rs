//! The messages of the file-transfer protocol (docs/file-transfer.md §2-§4): transfer ids,
//! reason codes, JSON control messages and binary chunks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prefix that marks a text message as a control message (§2).
pub const CONTROL_PREFIX: &str = r#"{"ft":"#;

/// The first four bytes of every chunk: `0xF7`, `F`, `T`, version 1 (§2).
pub const CHUNK_MAGIC: [u8; 4] = [0xF7, b'F', b'T', 1];

/// Magic, 16-byte id and 8-byte big-endian offset (§3).
pub const CHUNK_HEADER_LEN: usize = 4 + 16 + 8;

/// Offsets and sizes must stay below 2^53 so JavaScript numbers hold them exactly (§1).
pub(crate) const MAX_SAFE_SIZE: u64 = (1 << 53) - 1;

/// Whether a text message is a file-transfer control message.
pub fn is_control(text: &str) -> bool {
    text.starts_with(CONTROL_PREFIX)
}

/// Whether a binary message is a file-transfer chunk.
pub fn is_chunk(data: &[u8]) -> bool {
    data.starts_with(&CHUNK_MAGIC)
}

/// The id of one transfer: 16 bytes the sender picks, 32 lowercase hex digits in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub [u8; 16]);

impl TransferId {
    /// A fresh id from the browser's cryptographic generator (`crypto.getRandomValues`),
    /// falling back to `Math.random` where there is none.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        if crate::files::random::fill(&mut bytes).is_err() {
            for b in &mut bytes {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
        Self(bytes)
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferId({self})")
    }
}

impl FromStr for TransferId {
    type Err = hex::FromHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0; 16];
        hex::decode_to_slice(s, &mut id)?;
        Ok(Self(id))
    }
}

impl Serialize for TransferId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for TransferId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a transfer was rejected or cancelled (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The size is over the receiver's limit.
    TooLarge,
    /// The name breaks the naming rules (§8).
    BadName,
    /// The application declined.
    Policy,
    /// Too many transfers are running.
    Busy,
    /// The id is already in use on this connection.
    DuplicateId,
    /// A required member of the offer was missing or malformed.
    BadOffer,
    /// A chunk broke the rules (offset, window, length).
    BadChunk,
    /// All bytes arrived but the SHA-256 differs.
    ChecksumMismatch,
    /// Reading or writing the file failed.
    Io,
    /// A person or the application stopped it.
    Cancelled,
    /// A message made no sense in the transfer's state.
    Protocol,
    /// A code this version does not know.
    #[serde(other)]
    Other,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = serde_json::to_value(self).expect("unit variants serialize to strings");
        f.write_str(code.as_str().unwrap_or("other"))
    }
}

/// One control message (§4). Serde writes the `ft` tag first, which routing relies on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ft", rename_all = "snake_case")]
pub(crate) enum Control {
    Offer {
        id: TransferId,
        name: String,
        size: u64,
        #[serde(rename = "type", default)]
        media_type: String,
        sha256: String,
    },
    Accept {
        id: TransferId,
        offset: u64,
        window: u64,
        max_chunk: u64,
    },
    Reject {
        id: TransferId,
        reason: Reason,
        #[serde(default)]
        message: String,
    },
    Ack {
        id: TransferId,
        offset: u64,
    },
    Done {
        id: TransferId,
        sha256: String,
    },
    Cancel {
        id: TransferId,
        reason: Reason,
        #[serde(default)]
        message: String,
    },
}

impl Control {
    /// The message as JSON text.
    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(self).expect("plain structs of strings and integers serialize")
    }
}

/// A chunk split into its header fields and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    pub(crate) id: TransferId,
    pub(crate) offset: u64,
    pub(crate) data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Splits a binary message into a chunk; `None` when it is not one or carries no data.
    pub(crate) fn parse(message: &'a [u8]) -> Option<Self> {
        if !is_chunk(message) || message.len() <= CHUNK_HEADER_LEN {
            return None;
        }
        Some(Self {
            id: TransferId(message[4..20].try_into().ok()?),
            offset: u64::from_be_bytes(message[20..28].try_into().ok()?),
            data: &message[CHUNK_HEADER_LEN..],
        })
    }
}

/// A chunk message of `data_len` zero bytes after the header, for the caller to fill in place
/// (so the data is copied from the `Blob` once, straight behind the header).
pub(crate) fn chunk_message(id: TransferId, offset: u64, data_len: usize) -> Vec<u8> {
    let mut message = Vec::with_capacity(CHUNK_HEADER_LEN + data_len);
    message.extend_from_slice(&CHUNK_MAGIC);
    message.extend_from_slice(&id.0);
    message.extend_from_slice(&offset.to_be_bytes());
    message.resize(CHUNK_HEADER_LEN + data_len, 0);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_tag_comes_first_and_round_trips() {
        let ack = Control::Ack {
            id: TransferId([0xab; 16]),
            offset: 5,
        };
        let text = ack.to_text();
        assert!(is_control(&text), "{text}");
        assert_eq!(serde_json::from_str::<Control>(&text).unwrap(), ack);
    }

    #[test]
    fn parses_the_documented_messages() {
        let offer = r#"{"ft":"offer","id":"5f0c1e8a9b2d4c6e8f00112233445566","name":"photo.jpg","size":1048576,"type":"image/jpeg","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}"#;
        let Control::Offer {
            name,
            size,
            media_type,
            ..
        } = serde_json::from_str(offer).unwrap()
        else {
            panic!("not an offer")
        };
        assert_eq!(
            (name.as_str(), size, media_type.as_str()),
            ("photo.jpg", 1 << 20, "image/jpeg")
        );
        let cancel =
            r#"{"ft":"cancel","id":"5f0c1e8a9b2d4c6e8f00112233445566","reason":"new_thing"}"#;
        assert!(matches!(
            serde_json::from_str(cancel).unwrap(),
            Control::Cancel {
                reason: Reason::Other,
                ..
            }
        ));
        assert_eq!(Reason::ChecksumMismatch.to_string(), "checksum_mismatch");
    }

    #[test]
    fn chunk_round_trip_and_rejects() {
        let id = TransferId([7; 16]);
        let mut message = chunk_message(id, 1 << 40, 3);
        message[CHUNK_HEADER_LEN..].copy_from_slice(b"abc");
        let chunk = Chunk::parse(&message).unwrap();
        assert_eq!(
            (chunk.id, chunk.offset, chunk.data),
            (id, 1 << 40, &b"abc"[..])
        );
        assert!(Chunk::parse(&chunk_message(id, 0, 0)).is_none());
        assert!(!is_chunk(b"\xF7FT\x02 not version 1"));
    }
}
