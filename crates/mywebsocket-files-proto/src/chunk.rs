//! Chunks: binary messages of file data behind a 28-byte header (docs/file-transfer.md §3).

use bytes::{BufMut, Bytes, BytesMut};

use crate::TransferId;

/// The first four bytes of every chunk: `0xF7`, `F`, `T`, version 1.
pub const CHUNK_MAGIC: [u8; 4] = [0xF7, b'F', b'T', 1];

/// Magic, 16-byte id and 8-byte big-endian offset.
pub const CHUNK_HEADER_LEN: usize = 4 + 16 + 8;

/// One chunk split into its header fields and data (a slice of the message, not a copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The transfer it belongs to.
    pub id: TransferId,
    /// Where `data` starts in the file.
    pub offset: u64,
    /// The file bytes.
    pub data: Bytes,
}

/// Whether a binary message is a chunk (starts with [`CHUNK_MAGIC`]).
pub fn is_chunk(message: &[u8]) -> bool {
    message.starts_with(&CHUNK_MAGIC)
}

/// A binary message that starts like a chunk but is not a whole one (§3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChunk {
    /// The transfer it names, when the message is long enough to hold an id (20 bytes).
    pub id: Option<TransferId>,
    /// What was wrong, for people.
    pub message: String,
}

impl Chunk {
    /// Splits a binary message into a chunk.
    ///
    /// # Errors
    /// [`BadChunk`] when the message does not start with [`CHUNK_MAGIC`] or is shorter than
    /// 29 bytes (a header and at least one byte of data); its id when it has one.
    pub fn parse(message: Bytes) -> Result<Self, BadChunk> {
        if !is_chunk(&message) {
            return Err(BadChunk {
                id: None,
                message: "not a chunk: no F7 46 54 01 magic".into(),
            });
        }
        let id = message
            .get(4..20)
            .map(|id| TransferId(id.try_into().expect("16 bytes")));
        if message.len() <= CHUNK_HEADER_LEN {
            return Err(BadChunk {
                id,
                message: format!(
                    "a chunk of {} bytes; the header is {CHUNK_HEADER_LEN} and data at least 1",
                    message.len()
                ),
            });
        }
        let offset = u64::from_be_bytes(message[20..28].try_into().expect("8 bytes"));
        Ok(Self {
            id: id.expect("longer than the header"),
            offset,
            data: message.slice(CHUNK_HEADER_LEN..),
        })
    }
}

/// The header of the chunk of transfer `id` at `offset`: magic, id, big-endian offset.
pub fn chunk_header(id: TransferId, offset: u64) -> [u8; CHUNK_HEADER_LEN] {
    let mut head = [0u8; CHUNK_HEADER_LEN];
    head[..4].copy_from_slice(&CHUNK_MAGIC);
    head[4..20].copy_from_slice(&id.0);
    head[20..].copy_from_slice(&offset.to_be_bytes());
    head
}

/// A buffer holding the header of a chunk with room for `data_len` bytes of data after it, so
/// the file is read straight behind the header and the message is built with no extra copy.
pub fn chunk_buffer(id: TransferId, offset: u64, data_len: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(CHUNK_HEADER_LEN + data_len);
    buf.put_slice(&chunk_header(id, offset));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_round_trip() {
        let id = TransferId([7; 16]);
        let mut buf = chunk_buffer(id, 1 << 40, 3);
        buf.put_slice(b"abc");
        let chunk = Chunk::parse(buf.freeze()).unwrap();
        assert_eq!(chunk.id, id);
        assert_eq!(chunk.offset, 1 << 40);
        assert_eq!(&chunk.data[..], b"abc");
    }

    #[test]
    fn rejects_short_and_foreign_messages() {
        assert!(Chunk::parse(Bytes::from_static(
            b"\xF7FT\x02 not version 1......................"
        ))
        .is_err_and(|bad| bad.id.is_none()));
        assert!(!is_chunk(b"hello"));
    }

    #[test]
    fn a_short_chunk_names_its_transfer_once_the_id_is_there() {
        let id = TransferId([9; 16]);
        let whole = chunk_buffer(id, 0, 0).freeze();
        for len in 4..=CHUNK_HEADER_LEN {
            let bad = Chunk::parse(whole.slice(..len)).unwrap_err();
            assert_eq!(bad.id, (len >= 20).then_some(id), "{len} bytes");
            assert!(bad.message.contains(&len.to_string()), "{}", bad.message);
        }
    }
}
