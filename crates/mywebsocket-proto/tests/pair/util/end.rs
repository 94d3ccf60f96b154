//! One end of the pair: its connection and everything it saw and wrote.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mywebsocket_proto::{
    CloseFrame, Connection, ConnectionError, Event, FrameHeader, Message, OpCode, State,
};

/// Which end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

use Side::{Client, Server};

impl Side {
    pub(crate) const BOTH: [Self; 2] = [Client, Server];

    pub(crate) const fn peer(self) -> Self {
        match self {
            Client => Server,
            Server => Client,
        }
    }
}

/// A frame as an end wrote it, unmasked again.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) header: FrameHeader,
    pub(crate) payload: Bytes,
    /// When it was written, from the pair's epoch.
    pub(crate) at: Duration,
}

impl Sent {
    pub(crate) fn opcode(&self) -> OpCode {
        self.header.opcode
    }

    /// The close code of a close frame (`None`: none, or not a close frame).
    pub(crate) fn close_code(&self) -> Option<u16> {
        (self.opcode() == OpCode::Close && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Bytes in flight in one direction.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    pub(crate) bytes: BytesMut,
    /// The writer closed its transport: the reader sees EOF once `bytes` is read.
    pub(crate) closed: bool,
}

/// One end and everything it saw.
pub(crate) struct End {
    pub(crate) conn: Connection,
    /// Bytes read from the wire, not decoded yet.
    pub(crate) read_buf: BytesMut,
    pub(crate) events: Vec<Event>,
    /// Errors from `receive`, `handle_timeout` and `handle_eof`, in order.
    pub(crate) errors: Vec<ConnectionError>,
    /// Every frame written, in order.
    pub(crate) sent: Vec<Sent>,
    /// What `handle_eof` returned, once EOF was seen.
    pub(crate) eof: Option<Result<(), ConnectionError>>,
    /// This end closed its transport.
    pub(crate) transport_closed: bool,
    /// Leave what the connection queues in its queue (a socket that takes nothing).
    pub(crate) hold_writes: bool,
    /// Never close the transport, whatever the connection says (a misbehaving peer).
    pub(crate) keep_transport: bool,
    /// The most bytes moved from the wire into the read buffer per read.
    pub(crate) chunk: usize,
    /// Bytes read but never decoded (after the connection stopped decoding).
    pub(crate) discarded: usize,
    /// The largest `queued_bytes` seen.
    pub(crate) max_queued: usize,
    /// Of `queued_bytes`, about how many are our own frames (data and pings) rather than
    /// replies owed to the peer (pongs, close frames): at least that many.
    pub(crate) own_queued: usize,
}

impl End {
    pub(super) fn new(conn: Connection) -> Self {
        Self {
            conn,
            read_buf: BytesMut::new(),
            events: Vec::new(),
            errors: Vec::new(),
            sent: Vec::new(),
            eof: None,
            transport_closed: false,
            hold_writes: false,
            keep_transport: false,
            chunk: usize::MAX,
            discarded: 0,
            max_queued: 0,
            own_queued: 0,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.conn.state()
    }

    /// The data messages received, in order.
    pub(crate) fn messages(&self) -> Vec<Message> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn pings(&self) -> Vec<Bytes> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Ping(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn pongs(&self) -> Vec<Bytes> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Pong(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// The peer's close frame as received (`Some(None)`: no status code).
    pub(crate) fn close_received(&self) -> Option<Option<CloseFrame>> {
        self.events.iter().find_map(|e| match e {
            Event::Close(c) => Some(c.clone()),
            _ => None,
        })
    }

    /// The frames written with `opcode`.
    pub(crate) fn sent_of(&self, opcode: OpCode) -> Vec<&Sent> {
        self.sent.iter().filter(|s| s.opcode() == opcode).collect()
    }

    /// The close codes written (one entry per close frame; `None` for an empty close).
    pub(crate) fn closes_sent(&self) -> Vec<Option<u16>> {
        self.sent_of(OpCode::Close)
            .iter()
            .map(|s| s.close_code())
            .collect()
    }

    /// Queued bytes that are replies (pongs, our close) rather than our own frames.
    pub(crate) fn reply_bytes(&self) -> usize {
        self.conn.queued_bytes() - self.own_queued
    }

    pub(super) fn note_queued(&mut self) {
        let queued = self.conn.queued_bytes();
        self.max_queued = self.max_queued.max(queued);
        self.own_queued = self.own_queued.min(queued);
    }

    /// Runs `f`, counting what it adds to the queue as our own.
    pub(super) fn own<R>(&mut self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let before = self.conn.queued_bytes();
        let r = f(&mut self.conn);
        self.own_queued += self.conn.queued_bytes().saturating_sub(before);
        self.note_queued();
        r
    }
}

/// Decodes what `end` has read until it needs more bytes, fails or stops decoding.
pub(super) fn decode(end: &mut End, now: Instant) {
    loop {
        if !end.conn.state().can_receive() {
            end.discarded += end.read_buf.len();
            end.read_buf.clear();
            return;
        }
        match end.conn.receive(now, &mut end.read_buf) {
            Ok(Some(event)) => end.events.push(event),
            Ok(None) => return,
            Err(e) => end.errors.push(e),
        }
        end.note_queued();
    }
}
