//! The harness: a client and a server [`Connection`] wired back to back in memory, with a
//! simulated clock (in the spirit of quinn-proto's `tests/util.rs`).
//!
//! Each direction is a [`Wire`]: bytes one end wrote and the other has not read yet, and
//! whether the writer closed its transport. An end reads from its wire only while its
//! connection [`wants_read`](Connection::wants_read) (otherwise the bytes stay in flight, as
//! a kernel's window would hold them), except once it no longer decodes anything: then it
//! reads and discards until EOF, as a driver waiting for the transport's end does. An end
//! closes its transport when [`Connection::should_close_transport`] says so; the other end
//! sees EOF once it has read what was in flight. Closing is a half-close: the end that closed
//! still sees the peer's EOF later, which is what finally terminates it.

mod data;
mod end;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mywebsocket_proto::deflate::{accept_response, negotiate, offer, DeflateConfig};
use mywebsocket_proto::{
    apply_mask, Connection, ConnectionConfig, FrameHeader, Message, OpCode, Role,
};

pub(crate) use data::{binary, client_frame, raw_frame, text};
use end::decode;
pub(crate) use end::{End, Sent, Side, Wire};
pub(crate) use Side::{Client, Server};

/// A client and a server back to back, and a clock.
pub(crate) struct Pair {
    pub(crate) client: End,
    pub(crate) server: End,
    /// Client → server.
    pub(crate) to_server: Wire,
    /// Server → client.
    pub(crate) to_client: Wire,
    pub(crate) epoch: Instant,
    pub(crate) now: Instant,
}

/// Deterministic masking keys (a real client draws them from a CSPRNG).
fn keys() -> impl FnMut() -> [u8; 4] + Send + 'static {
    let mut k = 0x1234_5678u32;
    move || {
        k = k.wrapping_mul(0x9e37_79b9).wrapping_add(1);
        k.to_le_bytes()
    }
}

impl Pair {
    pub(crate) fn new(config: ConnectionConfig) -> Self {
        Self::with(config, config, None)
    }

    /// Both ends with `config`, permessage-deflate on when `deflate` is given.
    pub(crate) fn deflate(config: ConnectionConfig, deflate: Option<DeflateConfig>) -> Self {
        Self::with(config, config, deflate)
    }

    pub(crate) fn with(
        client: ConnectionConfig,
        server: ConnectionConfig,
        deflate: Option<DeflateConfig>,
    ) -> Self {
        let epoch = Instant::now();
        let mut c = Connection::new(Role::Client, client, epoch, keys());
        let mut s = Connection::new(Role::Server, server, epoch, || [0; 4]);
        if let Some(config) = deflate {
            let negotiated =
                negotiate([offer(&config).as_str()], &config).expect("the server accepts");
            let client_params = accept_response([negotiated.response_header.as_str()], &config)
                .expect("the client accepts");
            s.enable_deflate(&negotiated.params);
            c.enable_deflate(&client_params);
        }
        Self {
            client: End::new(c),
            server: End::new(s),
            to_server: Wire::default(),
            to_client: Wire::default(),
            epoch,
            now: epoch,
        }
    }

    pub(crate) fn end(&self, side: Side) -> &End {
        match side {
            Client => &self.client,
            Server => &self.server,
        }
    }

    pub(crate) fn end_mut(&mut self, side: Side) -> &mut End {
        match side {
            Client => &mut self.client,
            Server => &mut self.server,
        }
    }

    pub(crate) fn conn(&mut self, side: Side) -> &mut Connection {
        &mut self.end_mut(side).conn
    }

    /// The end and the wire it reads from / writes to.
    fn parts(&mut self, side: Side) -> (&mut End, &mut Wire, &mut Wire) {
        match side {
            Client => (&mut self.client, &mut self.to_client, &mut self.to_server),
            Server => (&mut self.server, &mut self.to_server, &mut self.to_client),
        }
    }

    /// The wire towards `side`.
    pub(crate) fn wire_to(&mut self, side: Side) -> &mut Wire {
        match side {
            Client => &mut self.to_client,
            Server => &mut self.to_server,
        }
    }

    /// Time since the epoch.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// Sends a message (the result of [`Connection::send`]).
    pub(crate) fn send(
        &mut self,
        side: Side,
        message: Message,
    ) -> Result<(), mywebsocket_proto::SendError> {
        self.end_mut(side).own(|c| c.send(message))
    }

    /// Pings (the result of [`Connection::ping`]).
    pub(crate) fn ping(
        &mut self,
        side: Side,
        payload: Bytes,
    ) -> Result<(), mywebsocket_proto::SendError> {
        self.end_mut(side).own(|c| c.ping(payload))
    }

    /// The application of `side` starts waiting for a message now.
    pub(crate) fn read_start(&mut self, side: Side) {
        let now = self.now;
        self.conn(side).handle_read_start(now);
    }

    /// Writes up to `max` queued frames of `side` onto the wire, then closes its transport if
    /// the connection says so. Returns whether anything happened.
    pub(crate) fn transmit_some(&mut self, side: Side, max: usize) -> bool {
        let now = self.now;
        let at = self.elapsed();
        let (end, _, out) = self.parts(side);
        let mut progress = false;
        if end.transport_closed {
            assert!(
                end.conn.poll_transmit(now).is_none(),
                "{side:?} queued a frame after closing its transport"
            );
            return false;
        }
        if !end.hold_writes {
            for _ in 0..max {
                let Some(frame) = end.conn.poll_transmit(now) else {
                    break;
                };
                if frame.opcode().is_data() || frame.opcode() == OpCode::Ping {
                    end.own_queued = end.own_queued.saturating_sub(frame.wire_len());
                }
                end.note_queued();
                progress = true;
                let (mut header, len) = FrameHeader::parse(frame.head())
                    .expect("a valid header")
                    .expect("a whole header");
                assert_eq!(len, frame.head().len());
                let mut payload = BytesMut::from(&frame.payload()[..]);
                if let Some(key) = header.mask.take() {
                    apply_mask(&mut payload, key, 0);
                }
                assert_eq!(side == Client, frame.head()[1] & 0x80 != 0, "masking");
                end.sent.push(Sent {
                    header,
                    payload: payload.freeze(),
                    at,
                });
                frame.write_to(&mut out.bytes);
            }
        }
        if end.conn.should_close_transport() && !end.keep_transport {
            end.transport_closed = true;
            out.closed = true;
            progress = true;
        }
        progress
    }

    pub(crate) fn transmit(&mut self, side: Side) -> bool {
        self.transmit_some(side, usize::MAX)
    }

    /// Reads up to `max` bytes (in reads of at most the end's `chunk`) from the wire towards
    /// `side` and decodes them; sees EOF once the wire is drained and closed. Returns whether
    /// anything happened.
    pub(crate) fn deliver(&mut self, side: Side, max: usize) -> bool {
        let now = self.now;
        let (end, wire, _) = self.parts(side);
        let mut progress = false;
        let mut budget = max;
        loop {
            let decoding = end.conn.state().can_receive();
            if budget == 0 || wire.bytes.is_empty() || (decoding && !end.conn.wants_read()) {
                break;
            }
            let n = wire.bytes.len().min(end.chunk).min(budget);
            budget -= n;
            end.read_buf.extend_from_slice(&wire.bytes.split_to(n));
            progress = true;
            decode(end, now);
        }
        // Bytes read before a pong had to wait are decoded whatever `wants_read` says.
        if !end.read_buf.is_empty() {
            let before = end.events.len();
            decode(end, now);
            progress |= end.events.len() != before;
        }
        if wire.closed && wire.bytes.is_empty() && end.eof.is_none() {
            let r = end.conn.handle_eof();
            if let Err(e) = r {
                end.errors.push(e);
            }
            end.eof = Some(r);
            end.note_queued();
            progress = true;
        }
        progress
    }

    /// Moves everything both ends write to the other until nothing changes.
    pub(crate) fn drive(&mut self) {
        for _ in 0..100_000 {
            let mut progress = false;
            for side in Side::BOTH {
                progress |= self.transmit(side);
                progress |= self.deliver(side, usize::MAX);
            }
            if !progress {
                return;
            }
        }
        panic!("drive did not come to rest");
    }

    /// Calls `handle_timeout` on every end whose deadline has come.
    pub(crate) fn timeouts(&mut self) {
        let now = self.now;
        for side in Side::BOTH {
            let end = self.end_mut(side);
            if end.conn.poll_timeout().is_some_and(|t| t <= now) {
                // A heartbeat ping is ours (a failure's close frame is counted with it).
                if let Err(e) = end.own(|c| c.handle_timeout(now)) {
                    end.errors.push(e);
                }
            }
        }
    }

    /// Moves the clock on by `by` (handling the deadlines it passes, one at a time, in order),
    /// without driving any I/O.
    pub(crate) fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        for _ in 0..10_000 {
            let next = Side::BOTH
                .iter()
                .filter_map(|&s| self.end(s).conn.poll_timeout())
                .filter(|&t| t <= target)
                .min();
            match next {
                Some(t) => {
                    self.now = self.now.max(t);
                    self.timeouts();
                }
                None => {
                    self.now = target;
                    return;
                }
            }
        }
        panic!("deadlines keep expiring at {:?}", self.elapsed());
    }

    /// Drives, and moves the clock on by `by` stopping at every deadline on the way to
    /// handle it and drive again.
    pub(crate) fn run(&mut self, by: Duration) {
        let target = self.now + by;
        self.drive();
        for _ in 0..100_000 {
            let next = Side::BOTH
                .iter()
                .filter_map(|&s| self.end(s).conn.poll_timeout())
                .filter(|&t| t <= target)
                .min();
            let Some(t) = next else {
                self.now = target;
                self.drive();
                return;
            };
            self.now = self.now.max(t);
            self.timeouts();
            self.drive();
        }
        panic!("deadlines keep expiring at {:?}", self.elapsed());
    }

    /// Moves the clock to `at` after the epoch (see [`Pair::advance`]).
    pub(crate) fn advance_to(&mut self, at: Duration) {
        let by = (self.epoch + at).saturating_duration_since(self.now);
        self.advance(by);
    }

    /// Drives, then moves the clock to each next deadline and drives again, until no deadline
    /// is left within `limit` of now.
    pub(crate) fn settle(&mut self, limit: Duration) {
        let end = self.now + limit;
        for _ in 0..10_000 {
            self.drive();
            let next = Side::BOTH
                .iter()
                .filter_map(|&s| self.end(s).conn.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.timeouts();
                }
                _ => return,
            }
        }
        panic!("deadlines keep expiring at {:?}", self.elapsed());
    }

    /// Puts raw bytes on the wire towards `side`, as if its peer wrote them.
    pub(crate) fn inject(&mut self, side: Side, bytes: &[u8]) {
        self.wire_to(side).bytes.extend_from_slice(bytes);
    }
}
