//! A whole WebSocket connection without I/O: bytes and time in, events and frames out.
//!
//! [`Connection`] owns every protocol decision of an established connection: decoding
//! ([`Decoder`]), the replies owed to the peer and the closing handshake ([`Control`]), and
//! the deadlines ([`Timers`]). A driver only moves bytes and time:
//!
//! ```text
//!   socket bytes ──► receive(now, buf) ──► Event (message, ping, pong, close) ──► application
//!   application ───► send / ping / close ─┐
//!                                          ├──► poll_transmit(now) ──► frames for the socket
//!   replies owed (pong, close answer) ─────┘
//!   clock ─────────► handle_timeout(now) ◄── poll_timeout() says when
//! ```
//!
//! Its methods come in four kinds, as quinn-proto's do: getters ([`Connection::state`],
//! [`Connection::wants_read`], …), input (`receive`, `handle_eof`, `handle_timeout`),
//! commands (`send`, `ping`, `close`) and output (`poll_transmit`, `poll_timeout`,
//! [`Connection::should_close_transport`]). After any input or command, drain
//! `poll_transmit`, then sleep until `poll_timeout` or the next bytes.
//!
//! A driver that decodes on one task and lets other tasks write (the tokio crate does) can
//! hold the three parts apart: the [`Decoder`] with the reading task, the [`Control`] under the
//! lock its writers take anyway, and the [`Timers`] with whichever task sleeps.

mod config;
mod control;
mod error;
mod state;
mod timers;

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use config::ConnectionConfig;
pub use control::{Control, ReplyBudget, SendError, Transmit};
pub use error::ConnectionError;
pub use state::{Initiator, State};
pub use timers::{Expired, TimerConfig, Timers};

use crate::close::CloseFrame;
use crate::decoder::{Decoder, Event};
use crate::deflate::{DeflateParams, Deflater, Inflater};
use crate::frame::{Fragments, Frame, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::message::Message;
use crate::role::Role;

/// One end of an established WebSocket connection, without I/O.
///
/// ```
/// use std::time::Instant;
/// use bytes::BytesMut;
/// use mywebsocket_proto::{Connection, ConnectionConfig, Event, Message, Role, State};
///
/// let now = Instant::now();
/// let mut keys = 0u32;
/// let mut client = Connection::new(Role::Client, ConnectionConfig::default(), now, move || {
///     keys = keys.wrapping_add(0x9e37_79b9); // a real client draws keys from a CSPRNG
///     keys.to_le_bytes()
/// });
/// let mut server = Connection::new(Role::Server, ConnectionConfig::default(), now, || [0; 4]);
///
/// client.send(Message::text("hello"))?;
/// let mut wire = BytesMut::new();
/// while let Some(frame) = client.poll_transmit(now) {
///     frame.write_to(&mut wire);
/// }
/// assert_eq!(server.receive(now, &mut wire)?, Some(Event::Message(Message::text("hello"))));
///
/// // The server closes; the client answers on its own.
/// server.close(None);
/// let mut wire = BytesMut::new();
/// while let Some(frame) = server.poll_transmit(now) {
///     frame.write_to(&mut wire);
/// }
/// assert!(matches!(client.receive(now, &mut wire)?, Some(Event::Close(None))));
/// assert_eq!(client.state(), State::CloseAcknowledged);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection {
    role: Role,
    config: ConnectionConfig,
    decoder: Decoder,
    control: Control,
    timers: Timers,
    deflater: Option<Deflater>,
    out: VecDeque<Frame>,
    out_bytes: usize,
    /// Pongs in `out`: while one waits, a new one needs room in the budget.
    pongs_out: usize,
    /// Our close frame has been taken by `poll_transmit`.
    close_written: bool,
    /// How many bytes the read buffer held after the last `receive`: more means new bytes.
    buffered: usize,
    keys: Box<dyn FnMut() -> [u8; 4] + Send>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.control.state())
            .field("queued_bytes", &self.out_bytes)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The end `role` of a connection established at `now`. `keys` gives a client's masking
    /// keys; RFC 6455 §5.3 asks for keys a page's script cannot predict, so draw them from a
    /// CSPRNG. A server never calls it.
    pub fn new(
        role: Role,
        config: ConnectionConfig,
        now: Instant,
        keys: impl FnMut() -> [u8; 4] + Send + 'static,
    ) -> Self {
        Self {
            role,
            decoder: Decoder::new(role, config.limits),
            control: Control::new(role),
            timers: Timers::new(config.timers, now),
            config,
            deflater: None,
            out: VecDeque::new(),
            out_bytes: 0,
            pongs_out: 0,
            close_written: false,
            buffered: 0,
            keys: Box::new(keys),
        }
    }

    /// Turns on permessage-deflate (RFC 7692) with the parameters the handshake negotiated.
    pub fn enable_deflate(&mut self, params: &DeflateParams) {
        self.decoder
            .enable_deflate(Inflater::new(params, self.role));
        self.deflater = Some(Deflater::new(params, self.role));
    }

    /// Which end we are.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// Where the connection is.
    pub const fn state(&self) -> State {
        self.control.state()
    }

    /// Who started the end, once it has begun.
    pub const fn initiator(&self) -> Option<Initiator> {
        self.control.initiator()
    }

    /// The peer's close frame, once it arrived (`Some(None)`: it had no status code).
    pub const fn peer_close(&self) -> Option<&Option<CloseFrame>> {
        self.control.peer_close()
    }

    /// Whether to read more bytes from the peer (see [`Control::wants_read`]; also false
    /// while a pong waits for room in the write budget).
    pub const fn wants_read(&self) -> bool {
        self.control.wants_read()
    }

    /// Bytes of frames waiting in [`Connection::poll_transmit`]'s queue.
    pub const fn queued_bytes(&self) -> usize {
        self.out_bytes
    }

    /// Whether the transport should be closed now: nothing is left to write and the
    /// connection failed, or the closing handshake is complete on a server (the server closes
    /// first, RFC 6455 §7.1.1), or it is over.
    pub fn should_close_transport(&self) -> bool {
        self.out.is_empty() && !self.control.owes_reply() && self.control.should_close_transport()
    }

    /// Decodes the next event from the front of `buf`, bytes that arrived at `now`.
    ///
    /// Replies it calls for (a pong, the answer to a close, the close frame of a violation)
    /// are queued for [`Connection::poll_transmit`]. Returns `Ok(None)` when more bytes are
    /// needed, and once nothing more is read (after the peer's close or a failure).
    ///
    /// # Errors
    /// [`ConnectionError::Protocol`] when the peer broke the protocol: the connection has
    /// failed, and its close frame is queued. Sticky: later calls return `Ok(None)`.
    pub fn receive(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<Option<Event>, ConnectionError> {
        if !self.control.state().can_receive() {
            return Ok(None);
        }
        if buf.len() > self.buffered {
            // Only bytes that arrived since the last call prove the peer alive: a peer that
            // stalls mid-frame must not keep itself alive through our repeated calls.
            self.timers.on_receive(now);
        }
        let result = self.decoder.feed(buf);
        self.buffered = buf.len();
        let event = match result {
            Ok(event) => event,
            Err(e) => {
                self.control.on_error(&e);
                self.queue_replies();
                self.timers.on_close_acknowledged(now);
                return Err(ConnectionError::Protocol(e));
            }
        };
        match &event {
            Some(Event::Message(_)) => self.timers.on_message(),
            Some(Event::Ping(payload)) => {
                self.control.on_ping(payload.clone());
                self.queue_replies();
            }
            Some(Event::Close(frame)) => {
                self.control.on_close(frame.clone());
                self.queue_replies();
                if self.control.state().is_close_acknowledged() {
                    // On a server too: the handshake is complete, so neither the close
                    // timeout nor a heartbeat may end it as a failure any more; only the
                    // wait for the transport's end is left (and for our answer to be written:
                    // see `Expired::Eof` in `handle_timeout`).
                    self.timers.on_close_acknowledged(now);
                }
            }
            _ => {}
        }
        Ok(event)
    }

    /// The application is waiting for a message from `now` (starts the read timeout).
    pub fn handle_read_start(&mut self, now: Instant) {
        self.timers.on_read_start(now);
    }

    /// The peer ended the transport.
    ///
    /// # Errors
    /// [`ConnectionError::Reset`] unless the closing handshake had completed, or the
    /// connection had already failed or was over (its end was reported then).
    pub fn handle_eof(&mut self) -> Result<(), ConnectionError> {
        let result = self.control.on_eof();
        self.drop_queue();
        result
    }

    /// Acts on the deadlines passed by `now`: sends a heartbeat ping, or fails or ends the
    /// connection.
    ///
    /// # Errors
    /// [`ConnectionError::Timeout`] when a deadline ended the connection.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        if self.control.state().is_terminated() {
            return Ok(());
        }
        while let Some(expired) = self.timers.handle_timeout(now) {
            match expired {
                Expired::Ping => {
                    // Best effort: once closing, the handshake's own timeout takes over.
                    if let Ok(ping) = self.control.ping(Bytes::new()) {
                        let frame = ping.into_frame(self.mask());
                        self.push(frame);
                    }
                }
                Expired::Eof => {
                    // The transport should have ended by now: after the handshake (the server
                    // never closed it) or after a failure (the peer never read our close).
                    let result = self.control.on_eof_timeout(self.close_written);
                    self.drop_queue();
                    return result;
                }
                _ => {
                    self.control.on_timeout(expired);
                    if self.control.state().is_terminated() {
                        self.drop_queue();
                    } else {
                        self.queue_replies();
                        self.timers.on_close_acknowledged(now);
                    }
                    return Err(ConnectionError::Timeout(expired));
                }
            }
        }
        Ok(())
    }

    /// When to call [`Connection::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.control.state().is_terminated() {
            return None;
        }
        self.timers.poll_timeout()
    }

    /// Queues a data message (text or binary), compressed when permessage-deflate is on and
    /// the message is worth it, fragmented by [`ConnectionConfig::fragment_size`]. A
    /// [`Message::Close`] starts the closing handshake as [`Connection::close`] does.
    ///
    /// The queue takes the message whatever its size: watch
    /// [`Connection::queued_bytes`] for backpressure.
    ///
    /// # Errors
    /// [`SendError::Closing`] once the closing handshake has begun.
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, Bytes::from(text)),
            Message::Binary(data) => (OpCode::Binary, data),
            Message::Close(frame) => {
                return if self.close(frame)? {
                    Ok(())
                } else {
                    Err(SendError::Closing)
                };
            }
        };
        self.control.check_send()?;
        let (payload, compressed) = match &mut self.deflater {
            Some(deflater) if deflater.should_compress(payload.len()) => {
                (deflater.compress(&payload), true)
            }
            _ => (payload, false),
        };
        if payload.len() <= self.config.fragment_size {
            let mut header = FrameHeader::new(opcode, payload.len() as u64);
            header.mask = self.mask();
            header.rsv1 = compressed;
            self.push(Frame::new(header, payload));
        } else {
            let masks = self.role.masks_outgoing();
            let keys = &mut self.keys;
            let frames: Vec<Frame> = Fragments::new(
                opcode,
                payload,
                self.config.fragment_size,
                compressed,
                || masks.then(&mut *keys),
            )
            .collect();
            frames.into_iter().for_each(|f| self.push(f));
        }
        Ok(())
    }

    /// Queues a ping.
    ///
    /// # Errors
    /// [`SendError::Closing`] once the closing handshake has begun.
    pub fn ping(&mut self, payload: Bytes) -> Result<(), SendError> {
        let ping = self.control.ping(payload)?;
        let frame = ping.into_frame(self.mask());
        self.push(frame);
        Ok(())
    }

    /// Starts the closing handshake with `frame` (`None`: no status code), queued behind what
    /// is queued. Returns whether this call started it (`false`: it had begun).
    ///
    /// # Errors
    /// As [`Control::close`]: a close code that may not be sent, or a reason too long.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<bool, SendError> {
        let started = self.control.close(frame)?;
        self.queue_replies();
        Ok(started)
    }

    /// The next frame to write, if any. Frames come in the order they were queued; replies
    /// queue behind what was already queued. Taking our close frame starts the close timeout
    /// at `now` (count it from the write, so give the time it goes out).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Frame> {
        let frame = self.out.pop_front()?;
        self.out_bytes -= frame.wire_len();
        match frame.opcode() {
            OpCode::Pong => self.pongs_out -= 1,
            OpCode::Close => {
                self.close_written = true;
                if !self.control.state().is_ending() {
                    self.timers.on_close_sent(now);
                }
            }
            _ => {}
        }
        self.queue_replies();
        Some(frame)
    }

    /// Moves the replies owed into the queue, as far as the budget lets a pong in: while no
    /// pong waits in the queue one may go past the budget (a full queue of data never delays
    /// a keepalive's answer), otherwise it needs room.
    fn queue_replies(&mut self) {
        loop {
            let room = ReplyBudget {
                queued: self.out_bytes,
                limit: self.config.write_budget,
                pong_waiting: self.pongs_out > 0,
                reply_cost: MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD,
            }
            .has_room();
            let Some(reply) = self.control.poll_transmit(room) else {
                return;
            };
            if reply.opcode() == OpCode::Pong {
                self.pongs_out += 1;
            }
            let frame = reply.into_frame(self.mask());
            self.push(frame);
        }
    }

    fn push(&mut self, frame: Frame) {
        self.out_bytes += frame.wire_len();
        self.out.push_back(frame);
    }

    fn drop_queue(&mut self) {
        self.out.clear();
        self.out_bytes = 0;
        self.pongs_out = 0;
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        self.role.masks_outgoing().then(|| (self.keys)())
    }
}
