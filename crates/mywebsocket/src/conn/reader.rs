//! The receiving half of a connection: reads, decodes, answers control frames, keeps time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use mywebsocket_proto::{CloseCode, CloseFrame, Decoder, Event, Message};
use sync_wrapper::SyncWrapper;
use tokio::io::AsyncRead;
use tokio::time::{Instant, Sleep};

use super::queue::{PongOutcome, Shared};
use crate::config::Config;
use crate::error::{Error, Initiator, Result, TimeoutKind};
use crate::info::ConnectionInfo;

pub(crate) type BoxedRead = Box<dyn AsyncRead + Send + Unpin>;

/// How a finished connection ended; reported by every read after the end.
#[derive(Debug, Clone)]
struct Ended {
    frame: Option<CloseFrame>,
    initiator: Initiator,
    /// `frame` came in a close frame from the peer (the closing handshake completed), rather
    /// than being the one we sent when failing the connection, or absent because it broke.
    from_peer: bool,
}

impl Ended {
    fn to_error(&self) -> Error {
        Error::Closed {
            frame: self.frame.clone(),
            initiator: self.initiator,
        }
    }
}

#[derive(Debug)]
enum Phase {
    Open,
    /// A client after the close handshake: the server closes TCP first (RFC 6455 §7.1.1), so
    /// wait for that, up to the close timeout.
    AwaitEof {
        deadline: Instant,
        ended: Ended,
    },
    Done(Ended),
}

/// The receiving half of a connection, from [`WebSocket::split`](crate::WebSocket::split).
///
/// Pings are answered, pongs handed to the pong handler and the closing handshake completed
/// while reading, so keep a read pending (with [`Reader::read_msg`] or as a [`Stream`]) for the
/// connection to stay healthy: the heartbeat runs only while a read is waiting.
pub struct Reader {
    /// Only ever used through `&mut self`, so the wrapper makes `Reader` (and a `WebSocket`
    /// borrowed across a write's `.await`) `Sync` without asking the stream to be.
    io: SyncWrapper<BoxedRead>,
    buf: BytesMut,
    decoder: Decoder,
    shared: Arc<Shared>,
    config: Arc<Config>,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    last_rx: Instant,
    next_ping: Option<Instant>,
    read_started: Option<Instant>,
    /// Set once we sent a close: the peer must answer by then.
    close_deadline: Option<Instant>,
    phase: Phase,
    /// The `Stream` interface has ended: it yielded the peer's close, or an error.
    stream_done: bool,
    /// Set when the peer pings faster than it reads our pongs: the socket is not read until
    /// the pong waiting in the queue is taken.
    paused: Option<Paused>,
}

/// Reading paused until the queued pong is taken: the wait, and the pong still owed, if any
/// (the answer to the most recent ping; RFC 6455 §5.5.3 lets it stand for all of them).
struct Paused {
    pong: Option<mywebsocket_proto::Frame>,
    room: SyncWrapper<Pin<Box<dyn Future<Output = Result<()>> + Send>>>,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("role", &self.shared.role)
            .field("buffered", &self.buf.len())
            .field("phase", &self.phase)
            .finish()
    }
}

impl Reader {
    pub(crate) fn new(
        io: BoxedRead,
        buf: BytesMut,
        shared: Arc<Shared>,
        config: Arc<Config>,
    ) -> Self {
        let now = Instant::now();
        Self {
            io: SyncWrapper::new(io),
            buf,
            decoder: Decoder::new(shared.role, config.limits),
            next_ping: config.heartbeat_interval.map(|i| now + i),
            shared,
            config,
            timer: Box::pin(tokio::time::sleep_until(now)),
            timer_at: None,
            last_rx: now,
            read_started: None,
            close_deadline: None,
            phase: Phase::Open,
            stream_done: false,
            paused: None,
        }
    }

    /// What the stream told when the connection was made; see
    /// [`WebSocket::connection_info`](crate::WebSocket::connection_info).
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.shared.info
    }

    /// Waits for the next text or binary message. Never returns [`Message::Close`]: the end
    /// of the connection is the [`Error::Closed`] error. (Read as a [`Stream`], the reader
    /// yields the close instead; its `impl Stream` says why the two differ.)
    ///
    /// # Cancel safety
    /// Cancel-safe: a message is taken from the connection only by the poll that returns it.
    /// Dropped before that, the future loses nothing: the bytes read so far stay buffered
    /// (pings read meanwhile have been answered), and the next call carries on from there.
    /// The [read timeout](crate::Config::read_timeout) is not restarted by a new call.
    ///
    /// # Errors
    /// [`Error::Closed`] once the closing handshake is done (and on every call after),
    /// [`Error::Protocol`] or [`Error::MessageTooBig`] when the peer broke the rules (the
    /// connection is then closed with the matching code), [`Error::Timeout`] for the
    /// heartbeat and read timeouts, [`Error::Io`] when the socket fails or the peer vanished
    /// without a close frame.
    pub async fn read_msg(&mut self) -> Result<Message> {
        std::future::poll_fn(|cx| self.poll_read_msg(cx)).await
    }

    /// The polling form of [`Reader::read_msg`].
    ///
    /// # Errors
    /// As [`Reader::read_msg`].
    pub fn poll_read_msg(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        if self.read_started.is_none() && self.config.read_timeout.is_some() {
            self.read_started = Some(Instant::now());
        }
        loop {
            match &self.phase {
                Phase::Done(ended) => return Poll::Ready(Err(ended.to_error())),
                Phase::AwaitEof { .. } => {
                    ready!(self.poll_await_eof(cx));
                    continue;
                }
                Phase::Open => {}
            }
            match self.decoder.feed(&mut self.buf) {
                Ok(Some(Event::Message(message))) => {
                    self.read_started = None;
                    return Poll::Ready(Ok(message));
                }
                Ok(Some(Event::Ping(payload))) => {
                    if let Some(handler) = &self.config.ping_handler {
                        handler(&payload);
                    }
                    let pong = self.shared.pong_frame(payload);
                    if let Some(paused) = &mut self.paused {
                        // Already waiting: this answer replaces the one owed.
                        paused.pong = Some(pong);
                        continue;
                    }
                    match self.shared.push_pong(pong) {
                        Ok(PongOutcome::Queued | PongOutcome::Dropped) => {}
                        Ok(PongOutcome::Replaced) => self.pause(),
                        Err(e) => return Poll::Ready(Err(self.write_side_failed(e))),
                    }
                    continue;
                }
                Ok(Some(Event::Pong(payload))) => {
                    if let Some(handler) = &self.config.pong_handler {
                        handler(&payload);
                    }
                    continue;
                }
                Ok(Some(Event::Close(frame))) => {
                    self.on_close(frame);
                    continue;
                }
                // Events of extensions this driver does not negotiate cannot occur.
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    self.fail(CloseFrame::new(e.close_code(), &e.to_string()));
                    return Poll::Ready(Err(e.into()));
                }
            }
            if self.paused.is_some() {
                match self.poll_resume(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(self.write_side_failed(e))),
                    Poll::Pending => {
                        ready!(self.poll_timers(cx))?;
                        continue;
                    }
                }
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(0)) => {
                    self.end(None, Initiator::Remote);
                    return Poll::Ready(Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "peer closed the connection without a close frame (1006)",
                    ))));
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => {
                    self.end(None, Initiator::Remote);
                    return Poll::Ready(Err(Error::Io(e)));
                }
                Poll::Pending => self.release_idle_buffer(),
            }
            ready!(self.poll_timers(cx))?;
        }
    }

    /// Stops reading the socket until the pong waiting in the queue has been taken by the
    /// write task: the peer pings faster than it reads our answers, so it fills its own socket
    /// buffers instead of our memory, and the kernel's window pushes back on it, while the
    /// write timeout ends it if it never reads. What is already buffered is still decoded (its
    /// pings only replace the pong owed).
    fn pause(&mut self) {
        let shared = Arc::clone(&self.shared);
        let room: Pin<Box<dyn Future<Output = Result<()>> + Send>> =
            Box::pin(async move { shared.wait_pong_taken().await });
        self.paused = Some(Paused {
            pong: None,
            room: SyncWrapper::new(room),
        });
    }

    /// Waits until the queued pong has been taken, then queues the one owed, if any (which
    /// may pause reading again).
    fn poll_resume(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let paused = self.paused.as_mut().expect("called while paused");
        let taken = ready!(paused.room.get_mut().as_mut().poll(cx));
        let paused = self.paused.take().expect("still paused");
        Poll::Ready(match (taken, paused.pong) {
            (Ok(()), Some(pong)) => match self.shared.push_pong(pong) {
                Ok(PongOutcome::Queued | PongOutcome::Dropped) => Ok(()),
                Ok(PongOutcome::Replaced) => {
                    self.pause();
                    Ok(())
                }
                Err(e) => Err(e),
            },
            (Ok(()), None) => Ok(()),
            // A close was queued while we waited: no pong may follow it.
            (Err(Error::AlreadyClosed), _) => Ok(()),
            (Err(e), _) => Err(e),
        })
    }

    /// The write side can no longer answer the peer (the write task failed or timed out, or
    /// the connection is closing): reading on would only discard what the peer is owed.
    fn write_side_failed(&mut self, error: Error) -> Error {
        self.paused = None;
        self.end(None, Initiator::Local);
        error
    }

    /// Reads more bytes into the buffer; the buffer grows in `read_buffer_size` steps and the
    /// decoder reserves ahead for large frames.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let step = self.config.read_buffer_size;
        if self.buf.capacity() - self.buf.len() < step.min(1024) {
            self.buf.reserve(step);
        }
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(self.io.get_mut()),
            cx,
            &mut self.buf
        ))?;
        if n > 0 {
            self.last_rx = Instant::now();
        }
        Poll::Ready(Ok(n))
    }

    /// An idle connection keeps no read buffer: with nothing buffered and no frame half-read,
    /// the next read allocates a fresh one. Most connections are idle most of the time, and
    /// the allocation costs far less than the read that needs it.
    fn release_idle_buffer(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 && !self.decoder.in_frame() {
            self.buf = BytesMut::new();
        }
    }

    fn on_close(&mut self, frame: Option<CloseFrame>) {
        // Echo the code (RFC 6455 §5.5.1); if we sent our close first, this is the answer.
        let echo = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
        let initiator = if self.shared.push_close(echo.as_ref(), false) {
            Initiator::Remote
        } else {
            Initiator::Local
        };
        let ended = Ended {
            frame,
            initiator,
            from_peer: true,
        };
        match self.shared.role {
            mywebsocket_proto::Role::Server => {
                // The server closes TCP first (RFC 6455 §7.1.1).
                self.shared.request_shutdown();
                self.phase = Phase::Done(ended);
            }
            mywebsocket_proto::Role::Client => {
                self.phase = Phase::AwaitEof {
                    deadline: Instant::now() + self.config.close_timeout,
                    ended,
                };
            }
        }
    }

    fn poll_await_eof(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let Phase::AwaitEof { deadline, .. } = &self.phase else {
                return Poll::Ready(());
            };
            let deadline = *deadline;
            self.buf.clear();
            match self.poll_fill(cx) {
                Poll::Ready(Ok(n)) if n > 0 => continue,
                Poll::Ready(_) => break,
                Poll::Pending => {}
            }
            self.arm_timer(deadline);
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            break;
        }
        if let Phase::AwaitEof { ended, .. } = std::mem::replace(&mut self.phase, Phase::Open) {
            self.shared.request_shutdown();
            self.phase = Phase::Done(ended);
        }
        Poll::Ready(())
    }

    /// Fails the connection: `frame` goes out ahead of anything unsent, then the socket closes.
    fn fail(&mut self, frame: CloseFrame) {
        self.shared.push_close(Some(&frame), true);
        self.phase = Phase::Done(Ended {
            frame: Some(frame),
            initiator: Initiator::Local,
            from_peer: false,
        });
    }

    fn end(&mut self, frame: Option<CloseFrame>, initiator: Initiator) {
        self.shared.request_shutdown();
        self.phase = Phase::Done(Ended {
            frame,
            initiator,
            from_peer: false,
        });
    }

    pub(crate) fn enable_deflate(&mut self, inflater: mywebsocket_proto::deflate::Inflater) {
        self.decoder.enable_deflate(inflater);
    }

    /// After we sent a close frame: the peer's answer must arrive within the close timeout,
    /// or reads end with [`TimeoutKind::Close`] and the socket is closed.
    pub(crate) fn expect_close_answer(&mut self) {
        if self.close_deadline.is_none() {
            self.close_deadline = Some(Instant::now() + self.config.close_timeout);
        }
    }

    /// Sends a ping or ends the connection when a deadline has passed; otherwise arms the
    /// timer for the earliest deadline.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.close_deadline.is_none() && self.shared.close_written_or_watch(cx.waker()) {
            // A writer handle closed: the peer owes an answer, as after `WebSocket::close`.
            self.expect_close_answer();
        }
        let now = Instant::now();
        let silence_deadline = self.config.heartbeat_timeout.map(|t| self.last_rx + t);
        let read_deadline = self
            .config
            .read_timeout
            .zip(self.read_started)
            .map(|(t, s)| s + t);
        if silence_deadline.is_some_and(|d| now >= d) {
            self.fail(CloseFrame::new(CloseCode::GOING_AWAY, "heartbeat timeout"));
            return Poll::Ready(Err(Error::Timeout(TimeoutKind::Heartbeat)));
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            self.end(None, Initiator::Local);
            return Poll::Ready(Err(Error::Timeout(TimeoutKind::Close)));
        }
        if read_deadline.is_some_and(|d| now >= d) {
            self.fail(CloseFrame::new(CloseCode::GOING_AWAY, "read timeout"));
            return Poll::Ready(Err(Error::Timeout(TimeoutKind::Read)));
        }
        if let (Some(at), Some(interval)) = (self.next_ping, self.config.heartbeat_interval) {
            if now >= at {
                self.next_ping = Some(now + interval);
                // A failure here shows up on the next read or write; the ping is best effort.
                let _ = self.shared.push_ping(Bytes::new());
                return Poll::Ready(Ok(()));
            }
        }
        let earliest = [
            silence_deadline,
            read_deadline,
            self.next_ping,
            self.close_deadline,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(deadline) = earliest else {
            return Poll::Pending;
        };
        self.arm_timer(deadline);
        ready!(self.timer.as_mut().poll(cx));
        Poll::Ready(Ok(()))
    }

    fn arm_timer(&mut self, deadline: Instant) {
        if self.timer_at != Some(deadline) {
            self.timer.as_mut().reset(deadline);
            self.timer_at = Some(deadline);
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.shared.release_handle();
    }
}

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
