//! The sender's read-ahead: a task that reads the next chunks while the current one is being
//! sent, so file reads overlap with the socket writes instead of taking turns with them.
//!
//! A file is read by a blocking thread of its own with plain `read` calls straight into the
//! chunk buffers. `tokio::fs::File` would hop to the blocking pool for every read and copy each
//! byte once more, out of its own buffer; at loopback speeds that copy and those hops were a
//! fifth of the sender's time.

use bytes::{BufMut, Bytes};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::send::Source;
use crate::{chunk_buffer, TransferId, CHUNK_HEADER_LEN};

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
        let mut source = match source {
            Source::File(file) => {
                let task = tokio::spawn(async move {
                    let file = file.into_std().await;
                    // Ends when the transfer is dropped (the send fails) or the file does.
                    let _ = tokio::task::spawn_blocking(move || {
                        read_file(file, &tx, id, offset, size, chunk_len);
                    })
                    .await;
                });
                return Self { rx, task };
            }
            reader => reader,
        };
        let task = tokio::spawn(async move {
            if let Err(e) = source.seek_to(offset).await {
                let _ = tx.send(Err(e)).await;
                return;
            }
            let mut next = offset;
            while next < size {
                let len = usize::try_from(chunk_len.min(size - next)).expect("at most a chunk");
                let chunk = read_chunk(&mut source, id, next, len).await;
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
                next += len as u64;
            }
        });
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
        buf.extend_from_slice(&chunk_buffer(id, next, 0));
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

async fn read_chunk(
    source: &mut Source,
    id: TransferId,
    offset: u64,
    len: usize,
) -> std::io::Result<Bytes> {
    let mut buf = chunk_buffer(id, offset, len);
    while buf.len() < CHUNK_HEADER_LEN + len {
        let missing = CHUNK_HEADER_LEN + len - buf.len();
        // Limited: a capacity above the request must not take bytes of the next chunk.
        if source.read_buf(&mut (&mut buf).limit(missing)).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf.freeze())
}
