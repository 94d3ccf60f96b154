//! A stream that counts the bytes read from and written to the socket under it, and keeps the
//! first response head written, so that a case can report what really went over the wire.
//! tokio-util's inspecting adapters see the bytes; [`Counters`] keeps the counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::io::{InspectReader, InspectWriter};

/// The most bytes of the response head kept.
const MAX_HEAD: usize = 16 << 10;

/// What a [`counting`] stream saw; shared, so that it can be read while the stream is in use
/// (by the connection's reader and its write task).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    read: AtomicU64,
    written: AtomicU64,
    head: Mutex<Vec<u8>>,
}

impl Counters {
    /// Bytes read from the socket so far.
    pub(crate) fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Bytes written to the socket so far.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// The first bytes written, up to and including the first empty line: the HTTP response
    /// head, exactly as sent (or as far as it got).
    pub(crate) fn response_head(&self) -> Vec<u8> {
        let head = self.head.lock().unwrap_or_else(|e| e.into_inner());
        match find_end_of_head(&head) {
            Some(end) => head[..end].to_vec(),
            None => head.clone(),
        }
    }

    fn did_read(&self, bytes: &[u8]) {
        self.read.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }

    fn wrote(&self, bytes: &[u8]) {
        self.written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let mut head = self.head.lock().unwrap_or_else(|e| e.into_inner());
        if head.len() < MAX_HEAD && find_end_of_head(&head).is_none() {
            let room = MAX_HEAD - head.len();
            head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

/// The length of the head in `buf`, through its terminating empty line.
fn find_end_of_head(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// `inner`, counting into `counters` what is read from and written to it.
pub(crate) fn counting<S: AsyncRead + AsyncWrite>(
    inner: S,
    counters: Arc<Counters>,
) -> impl AsyncRead + AsyncWrite {
    let on_write = Arc::clone(&counters);
    let inner = InspectWriter::new(inner, move |bytes: &[u8]| on_write.wrote(bytes));
    InspectReader::new(inner, move |bytes: &[u8]| counters.did_read(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_ways_and_keeps_the_head() {
        let (mut peer, ours) = tokio::io::duplex(1024);
        let counters = Arc::new(Counters::default());
        let mut stream = counting(ours, Arc::clone(&counters));
        stream
            .write_all(b"HTTP/1.1 101 OK\r\nX: y\r\n\r\nframes")
            .await
            .unwrap();
        stream.write_all(b"more").await.unwrap();
        peer.write_all(b"hello").await.unwrap();
        let mut buf = [0; 5];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(counters.read(), 5);
        assert_eq!(counters.written(), 35);
        assert_eq!(counters.response_head(), b"HTTP/1.1 101 OK\r\nX: y\r\n\r\n");
    }
}
