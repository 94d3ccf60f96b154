//! The writer handle: cheap to clone, usable from many tasks at once.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_sink::Sink;
use mywebsocket_proto::{CloseCode, CloseFrame, Message, OpCode, Utf8Bytes};
use serde::Serialize;

use super::options::WriteOptions;
use super::queue::Shared;
use super::sink::SinkState;
use crate::error::{Error, Result};
use crate::info::ConnectionInfo;

/// Keeps the write task alive while any clone of a [`Writer`] exists.
#[derive(Debug)]
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.release_handle();
    }
}

/// The sending half of a connection.
///
/// Cloning is an `Arc` increment: hand a clone to every task that sends. Each message is
/// encoded by the task that sends it and queued whole, so messages from different tasks never
/// interleave; the connection's write task sends everything queued in one batch. When more than
/// [`Config::write_buffer_size`](crate::Config::write_buffer_size) bytes are waiting, writes wait
/// (backpressure), so a slow peer cannot make memory grow without bound.
///
/// A `write_*` call returns once its message is queued; [`Writer::flush`] waits until it is on
/// the socket. Errors from the socket come back from the next call.
pub struct Writer {
    handle: Arc<Handle>,
    /// The `Sink` implementation's in-flight wait, if any (each clone has its own).
    sink: SinkState,
}

impl Clone for Writer {
    fn clone(&self) -> Self {
        Self {
            handle: Arc::clone(&self.handle),
            sink: SinkState::default(),
        }
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("role", &self.shared().role)
            .finish()
    }
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            handle: Arc::new(Handle(shared)),
            sink: SinkState::default(),
        }
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.handle.0
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] once the connection is closing, or the socket's error.
    ///
    /// # Cancel safety
    /// As [`Writer::write_message_with`]: dropped before it completes, it has queued nothing.
    pub async fn write_string(&self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.write_message_with(Message::Text(text.into()), &WriteOptions::default())
            .await
    }

    /// Sends a binary message.
    ///
    /// # Errors
    /// As [`Writer::write_string`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_message_with`]: dropped before it completes, it has queued nothing.
    pub async fn write_binary(&self, data: impl Into<Bytes>) -> Result<()> {
        self.write_message_with(Message::Binary(data.into()), &WriteOptions::default())
            .await
    }

    /// Serializes `value` with serde_json and sends it as a text message.
    ///
    /// # Errors
    /// [`Error::Json`] if serialization fails, otherwise as [`Writer::write_string`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_message_with`]: dropped before it completes, it has queued nothing.
    pub async fn write_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.write_json_with(value, &WriteOptions::default()).await
    }

    /// Sends a message. A [`Message::Close`] starts the closing handshake instead, as
    /// [`Writer::close`] does: `Some(frame)` sends its code and reason, `None` a close frame
    /// without a status code (as tokio-tungstenite does; the peer sees 1005).
    ///
    /// # Errors
    /// As [`Writer::write_string`]; for a [`Message::Close`], as [`Writer::close`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_message_with`]: dropped before it completes, it has queued nothing.
    pub async fn write_message(&self, message: Message) -> Result<()> {
        self.write_message_with(message, &WriteOptions::default())
            .await
    }

    /// [`Writer::write_string`] with per-call options.
    ///
    /// # Errors
    /// As [`Writer::write_string`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_message_with`]: dropped before it completes, it has queued nothing.
    pub async fn write_string_with(
        &self,
        text: impl Into<Utf8Bytes>,
        opts: &WriteOptions,
    ) -> Result<()> {
        self.write_message_with(Message::Text(text.into()), opts)
            .await
    }

    /// [`Writer::write_binary`] with per-call options.
    ///
    /// # Errors
    /// As [`Writer::write_string`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_message_with`]: dropped before it completes, it has queued nothing.
    pub async fn write_binary_with(
        &self,
        data: impl Into<Bytes>,
        opts: &WriteOptions,
    ) -> Result<()> {
        self.write_message_with(Message::Binary(data.into()), opts)
            .await
    }

    /// [`Writer::write_json`] with per-call options.
    ///
    /// # Errors
    /// As [`Writer::write_json`].
    ///
    /// # Cancel safety
    /// As [`Writer::write_message_with`]: dropped before it completes, it has queued nothing.
    pub async fn write_json_with<T: Serialize + ?Sized>(
        &self,
        value: &T,
        opts: &WriteOptions,
    ) -> Result<()> {
        let json = serde_json::to_vec(value)?;
        let text = Utf8Bytes::try_from(Bytes::from(json)).expect("serde_json writes UTF-8");
        self.write_message_with(Message::Text(text), opts).await
    }

    /// Sends a message with per-call options. A [`Message::Close`] starts the closing
    /// handshake, as in [`Writer::write_message`] (the options do not apply to it).
    ///
    /// # Errors
    /// As [`Writer::write_string`]; for a [`Message::Close`], as [`Writer::close`].
    ///
    /// # Cancel safety
    /// Cancel-safe: the message is queued whole, all its frames at once, in the poll that
    /// completes the future, and never before. Dropped while it waits for room in the write
    /// queue (backpressure), the future has queued nothing: the message is not sent, and the
    /// next write's message is the next on the wire.
    pub async fn write_message_with(&self, message: Message, opts: &WriteOptions) -> Result<()> {
        let shared = self.shared();
        let (opcode, payload) = match classify(message)? {
            Outgoing::Data(opcode, payload) => (opcode, payload),
            Outgoing::Close(frame) => return self.start_close(frame),
        };
        let fragment_size = opts.fragment_size.unwrap_or(shared.fragment_size);
        if shared.should_compress(payload.len(), opts) {
            shared.wait_for_space().await?;
            return shared.push_compressed(opcode, &payload, fragment_size);
        }
        // Encode (and for a client, mask) once, outside any lock; retry only the queueing.
        let mut encoded = shared.encode(opcode, payload, fragment_size, false);
        loop {
            if shared.push_data(&mut encoded, false)? {
                return Ok(());
            }
            shared.wait_for_space().await?;
        }
    }

    /// Sends a ping with `payload` (at most 125 bytes). The peer's pong goes to the
    /// [pong handler](crate::Config::on_pong).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a payload over 125 bytes, otherwise as
    /// [`Writer::write_string`].
    ///
    /// # Cancel safety
    /// Cancel-safe: the ping is queued in the first poll, which completes the future; a
    /// future never polled sends nothing.
    pub async fn ping(&self, payload: impl Into<Bytes>) -> Result<()> {
        self.shared().push_ping(payload.into())
    }

    /// Starts the closing handshake: queues a close frame with `code` and `reason` (cut to 123
    /// bytes) behind the messages already queued. Read on until the reader returns
    /// [`Error::Closed`] (or, read as a `Stream`, yields [`Message::Close`]) to see the
    /// peer's answer, or use [`WebSocket::close`](crate::WebSocket::close), which does both.
    /// Either way the peer has [`Config::close_timeout`](crate::Config::close_timeout) from
    /// the moment the close frame is written to answer; then reads end with
    /// [`Error::Timeout`] and the socket is closed. Writing [`Message::Close`] does the same as
    /// this call.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a code that may not be sent (RFC 6455 §7.4),
    /// [`Error::AlreadyClosed`] if a close frame was already queued.
    ///
    /// # Cancel safety
    /// Cancel-safe: the close frame is queued in the first poll, which completes the future;
    /// a future never polled sends nothing.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        self.start_close(Some(CloseFrame::new(code, reason)))
    }

    /// Queues a close frame carrying `frame` (none: no status code), as [`Writer::close`]
    /// says; also how a written [`Message::Close`] is sent.
    fn start_close(&self, frame: Option<CloseFrame>) -> Result<()> {
        if self.shared().push_close(frame.as_ref())? {
            Ok(())
        } else {
            Err(Error::AlreadyClosed)
        }
    }

    /// Waits until every message queued before this call has been written to the socket.
    ///
    /// # Errors
    /// The socket's error, or [`Error::AlreadyClosed`] if the connection ended before the
    /// messages could be written.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits. Dropping it gives up the wait, and what is queued is
    /// written all the same.
    pub async fn flush(&self) -> Result<()> {
        self.shared().flush().await
    }

    /// What the stream told when the connection was made; see
    /// [`WebSocket::connection_info`](crate::WebSocket::connection_info).
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.shared().info
    }

    /// Whether the connection is closing or closed for sending.
    pub fn is_closed(&self) -> bool {
        self.shared().lock().check_writable().is_err()
    }
}

/// The `Sink` keeps one in-flight wait per `Writer` clone, tagged with the operation that
/// started it, so that no operation completes on another's wait:
///
/// - `poll_ready` is `Ready` at once while the write queue is under
///   [`Config::write_buffer_size`](crate::Config::write_buffer_size), without allocating;
///   only when the queue is full does it wait for room, in a box made the first time this
///   writer has to wait and reused after that.
/// - `start_send` queues the message (as [`Writer::write_message`]); it never waits. A flush
///   in flight does not cover it: the next `poll_flush` waits for it too.
/// - `poll_flush` waits until everything queued is written; a `poll_close` in flight is
///   continued instead (it waits for more).
/// - `poll_close` queues a close frame with code 1000 unless one is already queued (by a
///   [`Message::Close`], another clone, or the reader answering the peer's close), then waits
///   until it and everything before it is written. A ready or flush wait in flight (one whose
///   `poll_*` returned `Pending`) is given up, never taken for the close: dropping a flush
///   wait loses nothing, as the data is queued.
///
/// Each wait is cancel-safe: data and close frames are queued in the calls that queue them,
/// and only the waits are in flight.
impl Sink<Message> for Writer {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.sink.poll_ready(&this.handle.0, cx)
    }

    /// Queues `item`; a [`Message::Close`] starts the closing handshake, as
    /// [`Writer::write_message`] says.
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        let this = self.get_mut();
        this.sink.sent();
        let shared = this.shared();
        let (opcode, payload) = match classify(item)? {
            Outgoing::Data(opcode, payload) => (opcode, payload),
            Outgoing::Close(frame) => return this.start_close(frame),
        };
        let fragment_size = shared.fragment_size;
        if shared.should_compress(payload.len(), &WriteOptions::default()) {
            return shared.push_compressed(opcode, &payload, fragment_size);
        }
        let mut encoded = shared.encode(opcode, payload, fragment_size, false);
        // `poll_ready` saw room; if another clone filled the queue since, going over the limit
        // by one message keeps the Sink contract (start_send may not wait).
        shared.push_data(&mut encoded, true).map(drop)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.sink.poll_flush(&this.handle.0, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if !this.sink.closing() {
            // Queued now, before the wait starts, whatever was in flight. An error means a
            // close frame is already queued (by a `Message::Close`, another clone or the
            // reader) or the connection ended: the wait says which.
            let _ = this.start_close(Some(CloseFrame::new(CloseCode::NORMAL, "")));
        }
        this.sink.poll_close(&this.handle.0, cx)
    }
}

/// What writing a [`Message`] does.
enum Outgoing {
    /// Frames a data message with this opcode and payload.
    Data(OpCode, Bytes),
    /// Starts the closing handshake.
    Close(Option<CloseFrame>),
}

fn classify(message: Message) -> Result<Outgoing> {
    match message {
        Message::Text(t) => Ok(Outgoing::Data(OpCode::Text, t.into_bytes())),
        Message::Binary(b) => Ok(Outgoing::Data(OpCode::Binary, b)),
        Message::Close(frame) => Ok(Outgoing::Close(frame)),
        // `Message` is `#[non_exhaustive]`; every kind it has today is handled above.
        _ => Err(Error::InvalidInput(
            "a kind of message this version cannot send",
        )),
    }
}
