//! The control half of a connection: the replies we owe the peer and the closing handshake.
//!
//! Every RFC 6455 rule about what we send on our own lives here: a ping is answered with a
//! pong carrying its payload (§5.5.2), only the latest of several unanswered pings needs an
//! answer (§5.5.3), a close is answered with a close and nothing follows a close (§5.5.1), a
//! violation fails the connection with one close frame naming it (§7.1.7, §7.4.1). The
//! caller decides only *when* a reply can be written (its write budget); `Control` decides
//! *what* is written.

use bytes::Bytes;

use super::error::ConnectionError;
use super::state::{Initiator, State};
use super::timers::Expired;
use crate::close::{CloseCode, CloseFrame};
use crate::error::ProtocolError;
use crate::frame::{Frame, OpCode, MAX_CONTROL_PAYLOAD};
use crate::role::Role;

/// A control frame the connection owes the peer, from [`Control::poll_transmit`].
///
/// It is a value, not bytes, so that the caller masks it with a key of its own (a client's
/// keys come from a random source, which this crate does not have).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a reply owed to the peer is lost unless it is written"]
pub struct Transmit {
    opcode: OpCode,
    payload: Bytes,
}

impl Transmit {
    /// The frame's opcode: [`OpCode::Pong`], [`OpCode::Ping`] or [`OpCode::Close`].
    pub const fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The frame's payload.
    pub const fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Whether this is our close frame: the last frame the connection sends.
    pub fn is_close(&self) -> bool {
        self.opcode == OpCode::Close
    }

    /// The frame to write, masked with `mask` (a client's fresh key, `None` for a server).
    pub fn into_frame(self, mask: Option<[u8; 4]>) -> Frame {
        Frame::single(self.opcode, self.payload, mask)
    }
}

/// Why a frame may not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The closing handshake has begun (or the connection failed): no data or ping may follow
    /// our close frame, and none is sent after the peer's (RFC 6455 §5.5.1).
    Closing,
    /// A control frame's payload may be at most 125 bytes (RFC 6455 §5.5).
    ControlPayloadTooLong {
        /// The payload's length.
        len: usize,
    },
    /// This close code may not be sent (RFC 6455 §7.4.1-7.4.2: 1005, 1006 and 1015 are for
    /// reporting only; 0-999, 1004 and 1016-2999 are reserved).
    InvalidCloseCode(CloseCode),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closing => f.write_str("the connection is closing: nothing more may be sent"),
            Self::ControlPayloadTooLong { len } => write!(
                f,
                "a control frame's payload may be at most {MAX_CONTROL_PAYLOAD} bytes, not {len}"
            ),
            Self::InvalidCloseCode(code) => {
                write!(
                    f,
                    "close code {code} may not be sent (RFC 6455 section 7.4)"
                )
            }
        }
    }
}

/// How full a writer's queue is, to decide whether a pong may join it now.
///
/// The rule: while no pong of ours waits unsent in the queue, one may go in past the limit (a
/// full queue of data never delays the answer to a keepalive); while one waits, the next needs
/// room. Together with [`Control`] keeping only the latest pong owed (RFC 6455 §5.5.3), a peer
/// that pings and never reads holds at most the limit plus two pongs of our memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyBudget {
    /// What the queue holds now, in the unit of `limit`.
    pub queued: usize,
    /// The queue's limit.
    pub limit: usize,
    /// Whether a pong of ours waits in the queue, not yet taken for writing.
    pub pong_waiting: bool,
    /// What one more control frame would add to `queued`, at most.
    pub reply_cost: usize,
}

impl ReplyBudget {
    /// Whether a pong may be queued now.
    pub const fn has_room(&self) -> bool {
        !self.pong_waiting || self.queued + self.reply_cost <= self.limit
    }
}

impl std::error::Error for SendError {}

/// The decisions of one connection about control frames, apart from decoding.
///
/// [`Connection`](super::Connection) holds one beside its decoder; a driver that decodes on
/// one task and writes from others (the tokio crate) can keep this half behind the lock its
/// writers already take, and the decoder outside it.
#[derive(Debug, Clone)]
pub struct Control {
    role: Role,
    state: State,
    initiator: Option<Initiator>,
    /// The answer to the most recent ping, not handed out yet.
    pong: Option<Bytes>,
    /// Our close frame, not handed out yet (`Some(None)`: a close without a status code).
    close: Option<Option<CloseFrame>>,
    /// Our close frame has been handed out: nothing may follow it.
    close_sent: bool,
    /// The close frame the peer sent (`Some(None)`: it had no status code).
    received: Option<Option<CloseFrame>>,
    /// The close frame we failed the connection with.
    failure: Option<CloseFrame>,
}

impl Control {
    /// A new, open connection's control half, for the end `role`.
    pub const fn new(role: Role) -> Self {
        Self {
            role,
            state: State::Open,
            initiator: None,
            pong: None,
            close: None,
            close_sent: false,
            received: None,
            failure: None,
        }
    }

    /// Which end we are.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// Where the connection is.
    pub const fn state(&self) -> State {
        self.state
    }

    /// Who started the end, once it has begun.
    pub const fn initiator(&self) -> Option<Initiator> {
        self.initiator
    }

    /// The peer's close frame, once it arrived (`Some(None)`: it had no status code).
    pub const fn peer_close(&self) -> Option<&Option<CloseFrame>> {
        self.received.as_ref()
    }

    /// The close frame we failed the connection with, if we failed it.
    pub const fn failure(&self) -> Option<&CloseFrame> {
        self.failure.as_ref()
    }

    /// Whether our close frame has been handed out by [`Control::poll_transmit`].
    pub const fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Whether a reply is waiting to be handed out. A driver stops reading from the peer
    /// while one is (see [`Control::wants_read`]).
    pub const fn owes_reply(&self) -> bool {
        self.pong.is_some() || self.close.is_some()
    }

    /// Whether more bytes should be read from the peer: it is still heard, and no pong waits
    /// for room. A peer that pings faster than it reads our pongs is then pushed back by its
    /// own transport (the kernel's window) instead of growing our memory; bytes already read
    /// may still be decoded, and their pings only replace the pong owed (RFC 6455 §5.5.3).
    pub const fn wants_read(&self) -> bool {
        self.state.can_receive() && self.pong.is_none()
    }

    /// Checks that a data message may be sent now.
    ///
    /// # Errors
    /// [`SendError::Closing`] once the closing handshake has begun.
    pub const fn check_send(&self) -> Result<(), SendError> {
        if self.state.can_send() {
            Ok(())
        } else {
            Err(SendError::Closing)
        }
    }

    /// A ping of ours (the application's, or a heartbeat's) to write.
    ///
    /// # Errors
    /// [`SendError::Closing`] once the closing handshake has begun.
    /// [`SendError::ControlPayloadTooLong`] past 125 bytes.
    pub fn ping(&mut self, payload: Bytes) -> Result<Transmit, SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong { len: payload.len() });
        }
        self.check_send()?;
        Ok(Transmit {
            opcode: OpCode::Ping,
            payload,
        })
    }

    /// Starts the closing handshake with `frame` (`None`: a close without a status code).
    /// Returns whether this call started it; once it has begun (by either end) this does
    /// nothing.
    ///
    /// # Errors
    /// [`SendError::InvalidCloseCode`] for a code that may not be sent, and
    /// [`SendError::ControlPayloadTooLong`] for a reason over 123 bytes (checked first: a bad
    /// frame is refused even when the handshake has begun).
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<bool, SendError> {
        if let Some(frame) = &frame {
            if !frame.code.is_valid_on_wire() {
                return Err(SendError::InvalidCloseCode(frame.code));
            }
            if frame.reason.len() > CloseFrame::MAX_REASON_LEN {
                return Err(SendError::ControlPayloadTooLong {
                    len: 2 + frame.reason.len(),
                });
            }
        }
        if self.state != State::Open {
            return Ok(false);
        }
        self.state = State::ClosedByUs;
        self.initiator = Some(Initiator::Local);
        self.close = Some(frame);
        Ok(true)
    }

    /// The peer pinged: its pong is owed. An older pong not yet handed out is replaced, as
    /// RFC 6455 §5.5.3 allows; no pong follows our close frame.
    pub fn on_ping(&mut self, payload: Bytes) {
        if self.state.can_receive() && !self.close_sent {
            self.pong = Some(payload);
        }
    }

    /// The peer's close frame arrived. If we had not sent ours, our answer (the same code,
    /// RFC 6455 §5.5.1) is owed; either way the handshake is then complete on our side.
    pub fn on_close(&mut self, frame: Option<CloseFrame>) {
        match self.state {
            State::Open => {
                self.close = Some(frame.as_ref().map(|f| CloseFrame::new(f.code, "")));
                self.received = Some(frame);
                self.initiator = Some(Initiator::Remote);
                self.state = State::ClosedByPeer;
            }
            State::ClosedByUs => {
                self.received = Some(frame);
                self.state = State::CloseAcknowledged;
            }
            // Nothing is decoded after a close or a failure.
            _ => {}
        }
    }

    /// Fails the connection with `frame` (the code of a [`ProtocolError`](crate::ProtocolError),
    /// or 1001 for a timeout): unless a close frame was already sent or owed, `frame` is the
    /// last frame written; the transport is closed after it (RFC 6455 §7.1.7).
    pub fn fail(&mut self, frame: CloseFrame) {
        if self.state.is_terminated() || self.state == State::Failed {
            return;
        }
        if !self.close_sent && self.close.is_none() {
            self.close = Some(Some(frame.clone()));
        }
        self.failure = Some(frame);
        self.initiator.get_or_insert(Initiator::Local);
        self.state = State::Failed;
    }

    /// The peer broke the protocol: fails the connection with the close frame that names the
    /// violation ([`ProtocolError::close_code`] and its description as the reason).
    pub fn on_error(&mut self, error: &ProtocolError) {
        self.fail(CloseFrame::new(error.close_code(), &error.to_string()));
    }

    /// A fatal deadline passed (see [`Expired::is_fatal`]): a silent peer or an unanswered
    /// read fails the connection with 1001; an unanswered close, or a server that never ends
    /// the transport after the handshake, ends it at once. A heartbeat ping is not fatal and
    /// changes nothing here.
    pub fn on_timeout(&mut self, expired: Expired) {
        match expired {
            Expired::Heartbeat => {
                self.fail(CloseFrame::new(CloseCode::GOING_AWAY, "heartbeat timeout"));
            }
            Expired::Read => self.fail(CloseFrame::new(CloseCode::GOING_AWAY, "read timeout")),
            Expired::Close | Expired::Eof => self.terminate(),
            Expired::Ping => {}
        }
    }

    /// Whether the transport should be closed once what is queued has been written: after a
    /// failure, or after the closing handshake on a server (the server closes the TCP
    /// connection first, RFC 6455 §7.1.1; a client waits for that).
    pub const fn should_close_transport(&self) -> bool {
        match self.state {
            State::Failed | State::Terminated => true,
            State::CloseAcknowledged => matches!(self.role, Role::Server),
            _ => false,
        }
    }

    /// The peer ended the transport. That is a clean end once the closing handshake has
    /// completed (or the connection had already failed or ended, its end reported then);
    /// before, the peer vanished without a close frame (RFC 6455 §7.1.5: 1006).
    ///
    /// # Errors
    /// [`ConnectionError::Reset`] when the end was not clean.
    pub fn on_eof(&mut self) -> Result<(), ConnectionError> {
        let clean = matches!(
            self.state,
            State::CloseAcknowledged | State::Failed | State::Terminated
        );
        self.terminate();
        if clean {
            Ok(())
        } else {
            Err(ConnectionError::Reset)
        }
    }

    /// The wait for the transport's end ran out ([`Expired::Eof`]: a server that never
    /// closed it after the handshake, or a peer that never read our failure's close frame):
    /// the transport is given up. `close_written` says whether our close frame reached the
    /// transport.
    ///
    /// # Errors
    /// [`ConnectionError::Timeout`] with [`Expired::Close`] when our answer to the peer's close
    /// never got out: the handshake did not complete on the wire.
    pub fn on_eof_timeout(&mut self, close_written: bool) -> Result<(), ConnectionError> {
        let answered = close_written || self.state == State::Failed;
        self.on_timeout(Expired::Eof);
        if answered {
            Ok(())
        } else {
            Err(ConnectionError::Timeout(Expired::Close))
        }
    }

    /// The transport is gone (the peer closed it, it failed, or we gave up waiting): nothing
    /// owed can be written any more.
    pub fn terminate(&mut self) {
        if self.state == State::Open {
            // The peer vanished without a close frame.
            self.initiator.get_or_insert(Initiator::Remote);
        }
        self.pong = None;
        self.close = None;
        self.state = State::Terminated;
    }

    /// The next reply to write, if one is owed.
    ///
    /// `room` says whether the caller's write budget can take a pong now. Without room the
    /// pong stays owed (and newer pings replace it) until it can be written; a close frame is
    /// handed out regardless, and a pong that cannot go ahead of it is dropped (nothing may
    /// follow our close).
    pub fn poll_transmit(&mut self, room: bool) -> Option<Transmit> {
        if room && !self.close_sent {
            if let Some(payload) = self.pong.take() {
                return Some(Transmit {
                    opcode: OpCode::Pong,
                    payload,
                });
            }
        }
        let frame = self.close.take()?;
        self.pong = None;
        self.close_sent = true;
        if self.state == State::ClosedByPeer {
            self.state = State::CloseAcknowledged;
        }
        Some(Transmit {
            opcode: OpCode::Close,
            payload: frame.as_ref().map(CloseFrame::encode).unwrap_or_default(),
        })
    }
}
