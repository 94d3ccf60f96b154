//! The sender's read-ahead: a task that reads the next chunks while the current one is being
//! sent, so file reads overlap with the socket writes instead of taking turns with them.
//!
//! A file is read by a blocking thread of its own with plain `read` calls straight into the
//! chunk buffers. `tokio::fs::File` would hop to the blocking pool for every read and copy each
//! byte once more, out of its own buffer; at loopback speeds that copy and those hops were a
//! fifth of the sender's time.

use bytes::{BufMut, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::send::Source;
use crate::{chunk_buffer, chunk_header, TransferId, CHUNK_HEADER_LEN};

/// Chunks read ahead of the one being sent: enough to cover a read's latency, few enough that
/// memory stays bounded (with 256 KiB chunks, 1 MiB per transfer).
const DEPTH: usize = 4;

/// Whole chunks (header and data) from `offset` to the end, in order.
pub(crate) struct ReadAhead {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    task: JoinHandle<()>,
}

impl ReadAhead {
    /// Positions `source` at `offset` and reads chunks of `chunk_len` data bytes (the last one
    /// shorter) until `size`.
    pub(crate) fn start(
        source: Source,
        id: TransferId,
        offset: u64,
        size: u64,
        chunk_len: u64,
    ) -> Self {
        let (tx, rx) = mpsc::channel(DEPTH);
        let task = match source {
            Source::File(file) => tokio::spawn(async move {
                let file = file.into_std().await;
                // Ends when the transfer is dropped (the send fails) or the file does.
                let _ = tokio::task::spawn_blocking(move || {
                    read_file(file, &tx, id, offset, size, chunk_len);
                })
                .await;
            }),
            Source::Reader(reader) => {
                tokio::spawn(read_reader(reader, tx, id, offset, size, chunk_len))
            }
        };
        Self { rx, task }
    }

    /// The next chunk; an error when the source failed or ended before `size`.
    pub(crate) async fn next(&mut self) -> std::io::Result<Bytes> {
        self.rx.recv().await.unwrap_or_else(|| {
            Err(std::io::Error::other(
                "the read-ahead stopped before the end",
            ))
        })
    }
}

impl Drop for ReadAhead {
    /// A transfer that ends early stops its reads too, even one waiting on a slow source.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The blocking loop for a file: seek once, then one chunk after another into `tx`.
fn read_file(
    mut file: std::fs::File,
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
    id: TransferId,
    offset: u64,
    size: u64,
    chunk_len: u64,
) {
    use std::io::{Read, Seek, SeekFrom};
    if let Err(e) = file.seek(SeekFrom::Start(offset)) {
        let _ = tx.blocking_send(Err(e));
        return;
    }
    let mut next = offset;
    while next < size {
        let len = usize::try_from(chunk_len.min(size - next)).expect("at most a chunk");
        // `read_to_end` reads into the spare capacity without zeroing it first.
        let mut buf = Vec::with_capacity(CHUNK_HEADER_LEN + len);
        buf.extend_from_slice(&chunk_header(id, next));
        let chunk = match (&mut file).take(len as u64).read_to_end(&mut buf) {
            Ok(n) if n == len => Ok(Bytes::from(buf)),
            Ok(_) => Err(std::io::ErrorKind::UnexpectedEof.into()),
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return;
        }
        next += len as u64;
    }
}

/// The loop for any other reader: skip to `offset` (a plain reader cannot seek), then one
/// chunk after another into `tx`.
async fn read_reader(
    mut reader: Box<dyn AsyncRead + Unpin + Send>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    id: TransferId,
    offset: u64,
    size: u64,
    chunk_len: u64,
) {
    let skipped = tokio::io::copy(&mut (&mut reader).take(offset), &mut tokio::io::sink()).await;
    match skipped {
        Ok(n) if n == offset => {}
        Ok(_) => {
            let _ = tx.send(Err(std::io::ErrorKind::UnexpectedEof.into())).await;
            return;
        }
        Err(e) => {
            let _ = tx.send(Err(e)).await;
            return;
        }
    }
    let mut next = offset;
    while next < size {
        let len = usize::try_from(chunk_len.min(size - next)).expect("at most a chunk");
        let chunk = read_chunk(&mut reader, id, next, len).await;
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
        next += len as u64;
    }
}

async fn read_chunk(
    reader: &mut (dyn AsyncRead + Unpin + Send),
    id: TransferId,
    offset: u64,
    len: usize,
) -> std::io::Result<Bytes> {
    let mut buf = chunk_buffer(id, offset, len);
    while buf.len() < CHUNK_HEADER_LEN + len {
        let missing = CHUNK_HEADER_LEN + len - buf.len();
        // Limited: a capacity above the request must not take bytes of the next chunk.
        if reader.read_buf(&mut (&mut buf).limit(missing)).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Chunk;

    const ID: TransferId = TransferId([9; 16]);

    /// Every chunk until the end: (offset, data).
    async fn all(mut chunks: ReadAhead, size: u64) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut next = 0;
        while next < size {
            let chunk = Chunk::parse(chunks.next().await.unwrap()).unwrap();
            assert_eq!(chunk.id, ID);
            next = chunk.offset + chunk.data.len() as u64;
            out.push((chunk.offset, chunk.data.to_vec()));
        }
        out
    }

    #[tokio::test]
    async fn a_reader_is_skipped_to_the_offset_then_read_in_chunks() {
        let data: Vec<u8> = (0..10).collect();
        let source = Source::Reader(Box::new(std::io::Cursor::new(data)));
        let chunks = all(ReadAhead::start(source, ID, 4, 10, 4), 10).await;
        assert_eq!(chunks, [(4, vec![4, 5, 6, 7]), (8, vec![8, 9])]);
    }

    #[tokio::test]
    async fn a_file_is_read_from_the_offset_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, (0..10).collect::<Vec<u8>>()).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let chunks = all(ReadAhead::start(Source::File(file), ID, 3, 10, 4), 10).await;
        assert_eq!(chunks, [(3, vec![3, 4, 5, 6]), (7, vec![7, 8, 9])]);
    }

    #[tokio::test]
    async fn a_source_shorter_than_announced_is_an_error() {
        let short = Source::Reader(Box::new(std::io::Cursor::new(vec![1u8; 5])));
        let mut chunks = ReadAhead::start(short, ID, 0, 8, 4);
        assert!(chunks.next().await.is_ok());
        let error = chunks.next().await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [1u8; 2]).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let mut chunks = ReadAhead::start(Source::File(file), ID, 0, 8, 4);
        let error = chunks.next().await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
