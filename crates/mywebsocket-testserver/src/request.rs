//! Reading the HTTP request head that starts every connection, before routing it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::Request;
use mywebsocket_proto::handshake;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The largest request head accepted.
const MAX_HEAD: usize = 16 << 10;
/// How long a client may take to send its head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the request head from `stream`. Returns the request and every byte read so far, the
/// head included, so that the connection can be replayed to a WebSocket upgrader.
///
/// # Errors
/// An I/O error, also for a malformed or oversized head, a timeout or an early EOF.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> io::Result<(Request<()>, BytesMut)> {
    let read = async {
        let mut buf = BytesMut::with_capacity(2048);
        loop {
            match handshake::parse_request(&buf) {
                Ok(Some((_, request))) => return Ok((request, buf)),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if buf.len() >= MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request head too large",
                ));
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    };
    tokio::time::timeout(HEAD_TIMEOUT, read)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// The value of query parameter `name` in `request`'s URI, if present. Values are used as
/// they are (the tests only put URL-safe characters in them).
pub(crate) fn query_param<'a>(request: &'a Request<()>, name: &str) -> Option<&'a str> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// A stream that first yields bytes already read from it, then reads on: how a connection
/// whose head was read for routing is handed, unread, to [`mywebsocket::Upgrader`].
#[derive(Debug)]
pub(crate) struct Rewind<S> {
    prefix: BytesMut,
    inner: S,
}

impl<S> Rewind<S> {
    /// `prefix` is yielded before anything read from `inner`.
    pub(crate) fn new(prefix: BytesMut, inner: S) -> Self {
        Self { prefix, inner }
    }

    /// The bytes not yet yielded, and the stream.
    pub(crate) fn into_parts(self) -> (BytesMut, S) {
        (self.prefix, self.inner)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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

    #[tokio::test]
    async fn rewind_replays_the_head_then_reads_on() {
        let (mut client, server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b" world")
            .await
            .unwrap();
        drop(client);
        let mut stream = Rewind::new(BytesMut::from(&b"hello"[..]), server);
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }

    #[tokio::test]
    async fn reads_a_head_and_keeps_the_bytes() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(
            &mut client,
            b"GET /echo?id=a1&x=2 HTTP/1.1\r\nHost: h\r\n\r\nrest",
        )
        .await
        .unwrap();
        let (request, buf) = read_head(&mut server).await.unwrap();
        assert_eq!(request.uri().path(), "/echo");
        assert_eq!(query_param(&request, "id"), Some("a1"));
        assert_eq!(query_param(&request, "x"), Some("2"));
        assert_eq!(query_param(&request, "y"), None);
        assert!(buf.ends_with(b"\r\n\r\nrest"));
    }
}
