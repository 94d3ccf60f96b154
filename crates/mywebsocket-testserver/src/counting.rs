//! A stream that counts the bytes read from and written to the socket under it, and keeps the
//! first response head written, so that a case can report what really went over the wire.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes of the response head kept.
const MAX_HEAD: usize = 16 << 10;

/// What a [`Counting`] stream saw; shared, so that it can be read while the stream is in use
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

/// `S`, counting into [`Counters`].
#[derive(Debug)]
pub(crate) struct Counting<S> {
    inner: S,
    counters: Arc<Counters>,
}

impl<S> Counting<S> {
    /// Wraps `inner`, counting into `counters`.
    pub(crate) fn new(inner: S, counters: Arc<Counters>) -> Self {
        Self { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let n = buf.filled().len() - before;
            self.counters.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.counters.wrote(&buf[..n]);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = polled {
            // Count (and capture) what was written, slice by slice.
            for slice in bufs {
                let take = n.min(slice.len());
                self.counters.wrote(&slice[..take]);
                n -= take;
                if n == 0 {
                    break;
                }
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_ways_and_keeps_the_head() {
        let (mut peer, ours) = tokio::io::duplex(1024);
        let counters = Arc::new(Counters::default());
        let mut stream = Counting::new(ours, Arc::clone(&counters));
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
