//! The receiving half of a connection: reads bytes into the decoder, hands the protocol's
//! events to [`Control`](mywebsocket_proto::Control) (which decides the replies, under the
//! queue's lock) and sleeps until the protocol's next deadline ([`Timers`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use mywebsocket_proto::{
    CloseFrame, ConnectionError, Decoder, Event, Expired, Initiator, Message, TimerConfig, Timers,
    MAX_HEADER_LEN,
};
use sync_wrapper::SyncWrapper;
use tokio::io::AsyncRead;
use tokio::time::{Instant, Sleep};

use super::queue::Shared;
use crate::config::Config;
use crate::error::{Error, Result, TimeoutKind};
use crate::info::ConnectionInfo;

/// The largest message after which the next read buffer is sized (`Reader::last_len`).
/// Beyond it a read costs little next to the bytes it carries, and a buffer that size made
/// 1 MiB echoes 7-12% slower (`bench run --only one-in-flight`); the decoder reserves the rest
/// of a larger frame as it arrives.
const MAX_READ_AHEAD: usize = 64 << 10;

mod stream;

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
    /// wait for that, up to the protocol's deadline.
    AwaitEof(Ended),
    Done(Ended),
}

/// The receiving half of a connection, from [`WebSocket::split`](crate::WebSocket::split).
///
/// Pings are answered, pongs handed to the pong handler and the closing handshake completed
/// while reading, so keep a read pending (with [`Reader::read_msg`] or as a
/// [`Stream`](futures_core::Stream)) for the connection to stay healthy: the heartbeat runs
/// only while a read is waiting.
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
    /// The protocol's deadlines: heartbeat, read, close and the wait for the server's end.
    timers: Timers,
    phase: Phase,
    /// The `Stream` interface has ended: it yielded the peer's close, or an error.
    stream_done: bool,
    /// The bytes the last message took on the wire: the size of the next read buffer, when
    /// larger than a step (see `poll_fill`).
    last_len: usize,
    /// Bytes read since the last message was handed out (with what was buffered then).
    received: usize,
    /// Set when the peer pings faster than it reads our pongs: the socket is not read until
    /// the pong owed has found room in the queue (`Control::wants_read`).
    paused: Option<SyncWrapper<WaitRoom>>,
}

/// The wait for room for the pong owed.
type WaitRoom = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

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
        // Bytes that came with the handshake count as read.
        let received = buf.len();
        let timers = TimerConfig::default()
            .heartbeat_interval(config.heartbeat_interval)
            .heartbeat_timeout(config.heartbeat_timeout)
            .read_timeout(config.read_timeout)
            .close_timeout(config.close_timeout);
        Self {
            io: SyncWrapper::new(io),
            buf,
            decoder: Decoder::new(shared.role, config.limits),
            shared,
            config,
            timer: Box::pin(tokio::time::sleep_until(now)),
            timer_at: None,
            timers: Timers::new(timers, now.into_std()),
            phase: Phase::Open,
            stream_done: false,
            last_len: 0,
            received,
            paused: None,
        }
    }

    /// What the stream told when the connection was made; see
    /// [`WebSocket::connection_info`](crate::WebSocket::connection_info).
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.shared.info
    }

    /// Waits for the next text or binary message. Never returns [`Message::Close`]: the end
    /// of the connection is the [`Error::Closed`] error. (Read as a
    /// [`Stream`](futures_core::Stream), the reader yields the close instead; its
    /// `impl Stream` says why the two differ.)
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
        if self.config.read_timeout.is_some() {
            self.timers.on_read_start(Instant::now().into_std());
        }
        self.shared.note_reader_task();
        loop {
            match &self.phase {
                Phase::Done(ended) => return Poll::Ready(Err(ended.to_error())),
                Phase::AwaitEof(_) => {
                    if let Some(error) = ready!(self.poll_await_eof(cx)) {
                        return Poll::Ready(Err(error));
                    }
                    continue;
                }
                Phase::Open => {}
            }
            match self.decoder.feed(&mut self.buf) {
                Ok(Some(Event::Message(message))) => {
                    self.timers.on_message();
                    // Bytes on the wire (compressed, with headers and control frames) since
                    // the last message, not its length: that is what the next read holds.
                    self.last_len = self.received.saturating_sub(self.buf.len());
                    self.received = self.buf.len();
                    self.shared
                        .more_input
                        .store(!self.buf.is_empty(), std::sync::atomic::Ordering::Relaxed);
                    return Poll::Ready(Ok(message));
                }
                Ok(Some(Event::Ping(payload))) => {
                    if let Some(handler) = &self.config.ping_handler {
                        handler(&payload);
                    }
                    match self.shared.on_ping(payload) {
                        Ok(true) => {}
                        Ok(false) => self.pause(),
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
                    let frame = self.shared.on_protocol_error(&e);
                    self.failed(frame);
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
                    let (clean, initiator) = self.shared.on_eof();
                    let ended = Ended {
                        frame: None,
                        initiator,
                        from_peer: false,
                    };
                    let error = match clean {
                        Ok(()) => ended.to_error(),
                        Err(_) => Error::Io(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "peer closed the connection without a close frame (1006)",
                        )),
                    };
                    self.phase = Phase::Done(ended);
                    return Poll::Ready(Err(error));
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => {
                    self.end(Initiator::Remote);
                    return Poll::Ready(Err(Error::Io(e)));
                }
                Poll::Pending => self.release_idle_buffer(),
            }
            ready!(self.poll_timers(cx))?;
        }
    }

    /// Stops reading the socket until the pong owed has found room in the queue: the peer
    /// pings faster than it reads our answers, so it fills its own socket buffers instead of
    /// our memory, and the kernel's window pushes back on it, while the write timeout ends it
    /// if it never reads. What is already buffered is still decoded (its pings only replace
    /// the pong owed, RFC 6455 §5.5.3).
    fn pause(&mut self) {
        if self.paused.is_some() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let room: WaitRoom = Box::pin(async move { shared.wait_pong_queued().await });
        self.paused = Some(SyncWrapper::new(room));
    }

    /// Waits until the pong owed has been queued (the write task queues it when it takes the
    /// one before).
    fn poll_resume(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let paused = self.paused.as_mut().expect("called while paused");
        let result = ready!(paused.get_mut().as_mut().poll(cx));
        self.paused = None;
        Poll::Ready(match result {
            // The connection is closing: no pong is owed any more.
            Ok(()) | Err(Error::AlreadyClosed) => Ok(()),
            Err(e) => Err(e),
        })
    }

    /// The write side can no longer answer the peer (the write task failed or timed out, or
    /// the connection is closing): reading on would only discard what the peer is owed.
    fn write_side_failed(&mut self, error: Error) -> Error {
        self.paused = None;
        self.end(Initiator::Local);
        error
    }

    /// Reads more bytes into the buffer; the buffer grows in `read_buffer_size` steps and the
    /// decoder reserves ahead for large frames.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let step = self.config.read_buffer_size;
        if self.buf.capacity() - self.buf.len() < step.min(1024) {
            // Where messages have been larger than a step, the next one probably is too: a
            // fresh buffer that holds it whole takes it in one read, where steps would take
            // several and a copy as the decoder grows the buffer.
            // (With room for the next header on top, as the decoder keeps.)
            let want =
                if self.buf.is_empty() && (step + 1..=MAX_READ_AHEAD).contains(&self.last_len) {
                    self.last_len + MAX_HEADER_LEN
                } else {
                    step
                };
            self.buf.reserve(want);
        }
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(self.io.get_mut()),
            cx,
            &mut self.buf
        ))?;
        if n > 0 {
            self.received += n;
            self.timers.on_receive(Instant::now().into_std());
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
        let (initiator, closing_socket) = self.shared.on_peer_close(frame.clone());
        let ended = Ended {
            frame,
            initiator,
            from_peer: true,
        };
        self.phase = if closing_socket {
            Phase::Done(ended)
        } else {
            // The peer ends TCP first; the protocol gives it until the close timeout.
            self.timers.on_close_acknowledged(Instant::now().into_std());
            Phase::AwaitEof(ended)
        };
    }

    /// A client after the closing handshake waits for the server to end TCP, ignoring what
    /// else arrives, up to the protocol's deadline. Gives the error to report when the wait
    /// ran out with our answer to the peer's close never written (the handshake did not
    /// complete on the wire); otherwise the connection ended with the handshake.
    fn poll_await_eof(&mut self, cx: &mut Context<'_>) -> Poll<Option<Error>> {
        let timed_out = loop {
            if !matches!(self.phase, Phase::AwaitEof(_)) {
                return Poll::Ready(None);
            }
            self.buf.clear();
            match self.poll_fill(cx) {
                Poll::Ready(Ok(n)) if n > 0 => continue,
                Poll::Ready(_) => break false,
                Poll::Pending => {}
            }
            let now = Instant::now().into_std();
            if self.timers.handle_timeout(now) == Some(Expired::Eof) {
                break true;
            }
            match self.timers.poll_timeout() {
                Some(deadline) => self.arm_timer(Instant::from_std(deadline)),
                None => return Poll::Pending,
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        };
        let outcome = if timed_out {
            self.shared.on_eof_timeout()
        } else {
            self.shared.on_eof().0
        };
        if let Phase::AwaitEof(ended) = std::mem::replace(&mut self.phase, Phase::Open) {
            self.phase = Phase::Done(ended);
        }
        Poll::Ready(match outcome {
            Err(ConnectionError::Timeout(_)) => Some(Error::Timeout(TimeoutKind::Close)),
            _ => None,
        })
    }

    /// The connection failed (`Control` queued `frame`, if it could, as the last frame).
    fn failed(&mut self, frame: Option<CloseFrame>) {
        self.phase = Phase::Done(Ended {
            frame,
            initiator: Initiator::Local,
            from_peer: false,
        });
    }

    fn end(&mut self, initiator: Initiator) {
        self.shared.terminate();
        self.phase = Phase::Done(Ended {
            frame: None,
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
        self.timers.on_close_sent(Instant::now().into_std());
    }

    /// Acts on the protocol's deadlines that passed (a heartbeat ping, or a timeout that ends
    /// the connection); otherwise sleeps until the next one.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if !self.timers.awaits_close() {
            match self.shared.close_written_or_watch(cx.waker()) {
                // Our close frame is on the socket (from a writer handle, or ours): the peer
                // owes an answer from now.
                Ok(true) => self.expect_close_answer(),
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(self.write_side_failed(e))),
            }
        }
        let now = Instant::now().into_std();
        match self.timers.handle_timeout(now) {
            Some(Expired::Ping) => {
                // A failure here shows up on the next read or write; the ping is best effort.
                let _ = self.shared.push_ping(bytes::Bytes::new());
                return Poll::Ready(Ok(()));
            }
            Some(expired) => {
                let (frame, initiator) = self.shared.on_timeout(expired);
                let kind = match expired {
                    Expired::Heartbeat => TimeoutKind::Heartbeat,
                    Expired::Read => TimeoutKind::Read,
                    _ => TimeoutKind::Close,
                };
                self.phase = Phase::Done(Ended {
                    frame,
                    initiator,
                    from_peer: false,
                });
                return Poll::Ready(Err(Error::Timeout(kind)));
            }
            None => {}
        }
        let Some(deadline) = self.timers.poll_timeout() else {
            return Poll::Pending;
        };
        self.arm_timer(Instant::from_std(deadline));
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
