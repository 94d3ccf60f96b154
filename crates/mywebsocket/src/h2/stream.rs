//! One HTTP/2 stream as a byte stream (`AsyncRead + AsyncWrite`), for a client's WebSocket.
//!
//! Flow control is where a stream differs from a socket. Received data is given back to the
//! peer's window (`release_capacity`) only once the WebSocket has read it into its buffer, so
//! a WebSocket whose application stops reading stops its own stream at its window and nothing
//! else. Writes take the send window the peer grants, as much of the buffer as it allows.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use h2::{Reason, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

/// The two halves of an HTTP/2 stream opened by an extended CONNECT.
#[derive(Debug)]
pub(crate) struct H2Stream {
    send: SendStream<Bytes>,
    /// Taken only on drop, by the task that waits for the peer's end.
    recv: Option<RecvStream>,
    /// Data received but not yet read, whose window is given back as it is read.
    unread: Bytes,
    /// Whether our side of the stream has ended (END_STREAM sent).
    ended: bool,
    /// The stream's place among those the connection may hold (see
    /// [`super::MAX_STREAMS`]), given back once the stream is gone.
    slot: Option<OwnedSemaphorePermit>,
}

impl H2Stream {
    pub(crate) fn new(
        send: SendStream<Bytes>,
        recv: RecvStream,
        slot: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            send,
            recv: Some(recv),
            unread: Bytes::new(),
            ended: false,
            slot: Some(slot),
        }
    }
}

/// An h2 error as an I/O error; a stream the peer ended with `NO_ERROR` or `CANCEL` reads as
/// the end of the stream rather than as a failure.
fn io_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().expect("is_io");
    }
    io::Error::other(e)
}

fn is_clean_end(e: &h2::Error) -> bool {
    matches!(e.reason(), Some(Reason::NO_ERROR | Reason::CANCEL))
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let recv = this.recv.as_mut().expect("taken only on drop");
        while this.unread.is_empty() {
            match ready!(recv.poll_data(cx)) {
                Some(Ok(data)) => this.unread = data,
                Some(Err(e)) if is_clean_end(&e) => return Poll::Ready(Ok(())),
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread[..n]);
        this.unread.advance(n);
        // The peer may send as much again as the WebSocket has taken.
        recv.flow_control().release_capacity(n).map_err(io_error)?;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        this.send.reserve_capacity(buf.len());
        loop {
            // A reset by the peer ends the stream for writing too.
            if let Poll::Ready(reset) = this.send.poll_reset(cx) {
                return Poll::Ready(Err(match reset {
                    Ok(reason) => io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        format!("HTTP/2 stream reset by the peer: {reason}"),
                    ),
                    Err(e) => io_error(e),
                }));
            }
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(0)) => continue,
                Some(Ok(granted)) => {
                    let n = granted.min(buf.len());
                    this.send
                        .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                        .map_err(io_error)?;
                    return Poll::Ready(Ok(n));
                }
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                None => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "HTTP/2 stream closed",
                    )))
                }
            }
        }
    }

    /// The connection's task writes what is queued on the stream; there is nothing to flush
    /// here.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Ends our side of the stream (END_STREAM), as closing a socket's write half would.
    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.ended {
            this.ended = true;
            this.send.reserve_capacity(0);
            if let Err(e) = this.send.send_data(Bytes::new(), true) {
                if !is_clean_end(&e) && !e.is_reset() {
                    return Poll::Ready(Err(io_error(e)));
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// How long a dropped stream waits for the peer to end its side before it is reset.
const LINGER: Duration = Duration::from_secs(5);

impl Drop for H2Stream {
    /// Does what closing a socket does: what was written still reaches the peer, then the end
    /// of our side (END_STREAM, as TCP's FIN). Resetting at once would throw away what h2 still
    /// holds to send, such as the close frame of a connection that failed. The stream then
    /// stays open for the peer to end its side, for at most [`LINGER`], on a task that reads
    /// and discards; past that (or without a runtime to run it) it is reset.
    fn drop(&mut self) {
        if !self.ended {
            self.ended = true;
            if self.send.send_data(Bytes::new(), true).is_err() {
                return;
            }
        }
        let (Some(mut recv), slot) = (self.recv.take(), self.slot.take()) else {
            return;
        };
        if recv.is_end_stream() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.send.send_reset(Reason::CANCEL);
            return;
        };
        runtime.spawn(async move {
            let _slot = slot;
            let drained = async {
                while let Some(Ok(data)) = recv.data().await {
                    let _ = recv.flow_control().release_capacity(data.len());
                }
            };
            // Past the linger, dropping `recv` with the peer's side open resets the stream.
            let _ = tokio::time::timeout(LINGER, drained).await;
        });
    }
}
