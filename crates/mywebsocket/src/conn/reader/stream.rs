//! The reader as a [`Stream`] of messages, ending with the peer's close.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use mywebsocket_proto::Message;

use super::{Ended, Phase, Reader};
use crate::error::{Error, Result};

/// Yields the messages [`Reader::read_msg`] returns; then, where `read_msg` returns
/// [`Error::Closed`], the peer's close frame as [`Message::Close`] once, and ends.
///
/// As tokio-tungstenite's and axum's streams do, so their `while let Some(msg) = ws.next()`
/// loops (and a `Message::Close(_) => break` arm) keep working. `read_msg` keeps the error,
/// for the read loop inherited from Go's libraries (`for { msg, err := ReadMessage() }`) and
/// the code already written against it.
///
/// - The close is yielded when the closing handshake is done (for a client, once the server
///   has also ended TCP, RFC 6455 §7.1.1), whichever side started it. It carries the frame the
///   peer sent: its close, or its answer to ours (which normally repeats our code; tungstenite
///   does the same), and `None` when that frame had no status code. The stream yields it once
///   even if `read_msg` or [`WebSocket::close`](crate::WebSocket::close) saw the end first.
/// - After an error (a protocol violation, a timeout, a peer that vanished without a close
///   frame) the stream yields that error and ends, with no `Close`.
impl Stream for Reader {
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.stream_done {
            return Poll::Ready(None);
        }
        match ready!(self.poll_read_msg(cx)) {
            Ok(message) => Poll::Ready(Some(Ok(message))),
            Err(Error::Closed { frame, .. }) => {
                self.stream_done = true;
                let from_peer = matches!(
                    &self.phase,
                    Phase::Done(Ended {
                        from_peer: true,
                        ..
                    })
                );
                Poll::Ready(from_peer.then_some(Ok(Message::Close(frame))))
            }
            Err(e) => {
                self.stream_done = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}
