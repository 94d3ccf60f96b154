//! The protocol's decisions for one connection, both directions, without I/O: a sans-IO
//! state machine in the manner of quinn-proto's `Connection`.

mod config;
mod error;
mod event;
mod incoming;
mod outgoing;
mod receive;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

pub use config::{Config, DEFAULT_ANSWER_TIMEOUT, DEFAULT_MAX_CHUNK, DEFAULT_WINDOW};
pub use error::CommandError;
pub use event::{Direction, End, Event, OfferInfo};

use incoming::Incoming;
use outgoing::{Outgoing, Step};

use crate::{Answer, BadChunk, Chunk, Control, Malformed, Reason, Side, TransferId, UsedIds};

/// File transfers on one connection, both directions, as decisions without I/O
/// (docs/file-transfer.md): the offer checks, the chunk rules of §3, windows and acks (§5),
/// the transitions of §4.2, and the sender's answer timeout. The driver moves bytes and time.
///
/// Its methods come in four kinds (quinn-proto's order):
/// - `handle_*` take what the peer sent ([`Connection::handle_text`],
///   [`Connection::handle_binary`]) and the time ([`Connection::handle_timeout`]);
/// - commands are the application's and driver's decisions: [`Connection::offer`],
///   [`Connection::chunk_sent`], [`Connection::accept`], [`Connection::reject`],
///   [`Connection::confirmed`], [`Connection::verify`], [`Connection::complete`],
///   [`Connection::cancel`], [`Connection::connection_lost`];
/// - `poll_*` give the output: after any call, send every [`Connection::poll_transmit`] in
///   order, act on every [`Connection::poll_event`], and call
///   [`Connection::handle_timeout`] at [`Connection::poll_timeout`];
/// - getters: [`Connection::send_room`], [`Connection::is_running`].
///
/// `now` is a [`Duration`] since any epoch the driver picks (a browser has no `Instant`); it
/// must not go backwards. File data never passes through here except as a [`Chunk`] handed
/// back by [`Connection::handle_binary`].
///
/// ```
/// use std::time::Duration;
/// use mywebsocket_files_proto::{Config, Connection, Control, Event, TransferId};
///
/// let (mut alice, mut bob) = (Connection::new(Config::default()), Connection::new(Config::default()));
/// let now = Duration::ZERO;
/// let id = TransferId([1; 16]);
/// let sha256 = [0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99,
///     0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
///     0x78, 0x52, 0xb8, 0x55]; // SHA-256 of no bytes
/// alice.offer(now, id, "empty.txt", 0, "", sha256).unwrap();
/// let offer = alice.poll_transmit().unwrap();
/// bob.handle_text(now, &offer);
/// assert!(matches!(bob.poll_event(), Some(Event::Offered(_))));
/// bob.accept(id, 0).unwrap();
/// assert!(bob.verify(id, sha256).unwrap()); // nothing to receive: compare at once
/// bob.complete(id).unwrap();
/// while let Some(text) = bob.poll_transmit() {
///     alice.handle_text(now, &text); // accept, then done
/// }
/// assert!(matches!(alice.poll_event(), Some(Event::Accepted { offset: 0, .. })));
/// assert!(matches!(alice.poll_event(), Some(Event::Ended { .. })));
/// ```
#[derive(Debug)]
pub struct Connection {
    config: Config,
    outgoing: HashMap<TransferId, Outgoing>,
    incoming: HashMap<TransferId, Incoming>,
    /// Ids used up on this connection (§4.2).
    used: UsedIds,
    events: VecDeque<Event>,
    /// Each with the id of the transfer whose offer it is, for [`Connection::poll_transmit_offer`].
    transmits: VecDeque<(String, Option<TransferId>)>,
    lost: bool,
}

impl Connection {
    /// A connection with no transfers, receiving under `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            used: UsedIds::default(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            lost: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next control message to send, as the text of a WebSocket text message, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.transmits.pop_front().map(|(text, _)| text)
    }

    /// [`Connection::poll_transmit`], with the id of the outgoing transfer when the message
    /// is its `offer`: a driver with [`Config::report_writes`] reports that offer to
    /// [`Connection::written`] once it is written.
    #[must_use]
    pub fn poll_transmit_offer(&mut self) -> Option<(String, Option<TransferId>)> {
        self.transmits.pop_front()
    }

    /// The next event for the driver or the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Connection::handle_timeout`] next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        let timeout = self.config.answer_timeout;
        self.outgoing
            .values()
            .filter_map(|t| t.deadline(timeout))
            .min()
    }

    /// Whether a transfer with this id runs in `direction` (offered or accepted, not ended).
    pub fn is_running(&self, id: TransferId, direction: Direction) -> bool {
        match direction {
            Direction::Send => self.outgoing.contains_key(&id),
            Direction::Receive => self.incoming.contains_key(&id),
        }
    }

    /// For an outgoing transfer: the next offset to send and how many bytes from it the
    /// receiver's window allows now (never past the size). `None` before `accept` or when no
    /// such transfer runs. Send a chunk of at most this many bytes and at most `max_chunk`
    /// ([`Event::Accepted`]); a sender may also wait until a whole chunk fits.
    pub fn send_room(&self, id: TransferId) -> Option<(u64, u64)> {
        self.outgoing.get(&id)?.room()
    }

    /// A text message the peer sent: a control message, or a malformed one (§4.1); text that
    /// is not a control message ([`is_control`](crate::is_control)) is the application's and
    /// must not be passed here (it would be ignored as malformed).
    pub fn handle_text(&mut self, now: Duration, text: &str) {
        match Control::parse(text) {
            Ok(control) => self.handle_control(now, control),
            Err(malformed) => self.handle_malformed(&malformed),
        }
    }

    /// A binary message the peer sent that starts with the chunk magic. Returns the chunk
    /// when it passed §3: the driver writes and hashes its data at its offset, then reports
    /// with [`Connection::confirmed`]. A chunk that broke §3 is answered here.
    #[must_use]
    pub fn handle_binary(&mut self, now: Duration, message: Bytes) -> Option<Chunk> {
        match Chunk::parse(message) {
            Ok(chunk) => self.handle_chunk(now, chunk),
            Err(BadChunk {
                id: Some(id),
                message,
            }) => {
                self.refuse_chunk(id, message);
                None
            }
            // Shorter than an id: it names no transfer (§3).
            Err(BadChunk { id: None, .. }) => None,
        }
    }

    /// A parsed chunk; see [`Connection::handle_binary`].
    #[must_use]
    pub fn handle_chunk(&mut self, _now: Duration, chunk: Chunk) -> Option<Chunk> {
        let len = chunk.data.len() as u64;
        let verdict = match self.incoming.get_mut(&chunk.id) {
            Some(transfer) => transfer.chunk(chunk.offset, len),
            None => Err(format!("no transfer {} is being received here", chunk.id)),
        };
        match verdict {
            Ok(()) => Some(chunk),
            Err(message) => {
                self.refuse_chunk(chunk.id, message);
                None
            }
        }
    }

    /// A parsed control message.
    pub fn handle_control(&mut self, now: Duration, control: Control) {
        let id = control.id();
        match control {
            Control::Offer {
                id,
                name,
                size,
                media_type,
                sha256,
            } => self.handle_offer(id, name, size, media_type, &sha256),
            Control::Cancel {
                reason, message, ..
            } if self.incoming.contains_key(&id) => {
                let by = Side::Remote;
                self.end_incoming(
                    id,
                    End::Cancelled {
                        by,
                        reason,
                        message,
                    },
                );
            }
            // Answers to a sender make no sense to the receiving end of a transfer.
            answer if self.incoming.contains_key(&id) => {
                let message = format!(
                    "{} is an answer to a sender; this end receives {id}",
                    kind_name(&answer)
                );
                self.cancel(id, Reason::Protocol, message);
            }
            answer => {
                let Some(transfer) = self.outgoing.get_mut(&id) else {
                    // Ended here, or never offered: nobody waits for an answer to an answer.
                    return;
                };
                match transfer.answer(answer, now) {
                    Step::Accepted(a) => self.events.push_back(Event::Accepted {
                        id,
                        offset: a.offset,
                        window: a.window,
                        max_chunk: a.max_chunk,
                    }),
                    Step::Acked(offset) => self.events.push_back(Event::Acked { id, offset }),
                    Step::Ended(end) => self.end_outgoing(id, end),
                    Step::Violation(message) => {
                        self.cancel(id, Reason::Protocol, message);
                    }
                }
            }
        }
    }

    /// A control message that [`Control::parse`] refused: answered as §4.1 says.
    pub fn handle_malformed(&mut self, malformed: &Malformed) {
        match malformed.answer() {
            Answer::Reject(reply) => self.transmits.push_back((reply, None)),
            Answer::CancelIfRunning { id, message } => {
                self.cancel(id, Reason::Protocol, message);
            }
            Answer::Ignore => {}
        }
    }

    /// Time passed: outgoing transfers whose receiver owes an answer for longer than
    /// [`Config::answer_timeout`] end with `cancel{timeout}`.
    pub fn handle_timeout(&mut self, now: Duration) {
        let timeout = self.config.answer_timeout;
        let expired: Vec<TransferId> = self
            .outgoing
            .iter()
            .filter(|(_, t)| t.deadline(timeout).is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let (reason, message) = outgoing::timeout_message(timeout);
            self.cancel(id, reason, message);
        }
    }

    /// Offers a file: queues the `offer`; its answer arrives as [`Event::Accepted`] or
    /// [`Event::Ended`].
    ///
    /// # Errors
    /// [`CommandError::IdInUse`] when `id` runs here or is used up on this connection (the
    /// receiver would answer `duplicate_id`), [`CommandError::ConnectionLost`].
    pub fn offer(
        &mut self,
        now: Duration,
        id: TransferId,
        name: &str,
        size: u64,
        media_type: &str,
        sha256: [u8; 32],
    ) -> Result<(), CommandError> {
        if self.lost {
            return Err(CommandError::ConnectionLost);
        }
        if self.in_use(id) {
            return Err(CommandError::IdInUse(id));
        }
        let transfer = if self.config.report_writes {
            Outgoing::offered_unwritten(size, sha256)
        } else {
            Outgoing::offered(size, sha256, now)
        };
        self.outgoing.insert(id, transfer);
        self.send(Control::Offer {
            id,
            name: name.to_owned(),
            size,
            media_type: media_type.to_owned(),
            sha256: hex::encode(sha256),
        });
        Ok(())
    }

    /// The driver is about to hand the chunk `[offset, offset + len)` of an outgoing transfer
    /// to the socket. Call it before the write: an `ack` for these bytes may come back before
    /// the write returns.
    ///
    /// # Errors
    /// [`CommandError::OutsideWindow`] when the chunk is not the next one, is empty, longer
    /// than `max_chunk` or past the window or size ([`Connection::send_room`]);
    /// [`CommandError::NotRunning`].
    pub fn chunk_sent(
        &mut self,
        now: Duration,
        id: TransferId,
        offset: u64,
        len: u64,
    ) -> Result<(), CommandError> {
        let transfer = self
            .outgoing
            .get_mut(&id)
            .ok_or(CommandError::NotRunning(id))?;
        if transfer.sent(offset, len, now) {
            Ok(())
        } else {
            Err(CommandError::OutsideWindow(id))
        }
    }

    /// With [`Config::report_writes`]: the offer, or the oldest chunk not yet reported, of the
    /// outgoing transfer `id` was written to the connection at `now` (it left this end's own
    /// queue). Only what was written is owed an answer (§5): the clock starts here when
    /// nothing was owed, and bytes still waiting in this end's queue keep none running.
    /// Report the chunks in the order of [`Connection::chunk_sent`]. `false` when no such
    /// transfer runs.
    pub fn written(&mut self, now: Duration, id: TransferId) -> bool {
        match self.outgoing.get_mut(&id) {
            Some(transfer) => {
                transfer.written(now);
                true
            }
            None => false,
        }
    }

    /// Stops a transfer this end runs, either direction, in any phase: queues `cancel`; the
    /// transfer ends ([`Event::Ended`] with `by: Local`). `false` when none runs with `id`.
    pub fn cancel(&mut self, id: TransferId, reason: Reason, message: impl Into<String>) -> bool {
        let message = message.into();
        let end = End::Cancelled {
            by: Side::Local,
            reason,
            message: message.clone(),
        };
        let running = if self.incoming.contains_key(&id) {
            self.end_incoming(id, end);
            true
        } else if self.outgoing.contains_key(&id) {
            self.end_outgoing(id, end);
            true
        } else {
            false
        };
        if running {
            self.send(Control::Cancel {
                id,
                reason,
                message,
            });
        }
        running
    }

    /// The connection ended: every transfer ends with [`End::ConnectionLost`], and later
    /// offers are refused.
    pub fn connection_lost(&mut self) {
        self.lost = true;
        self.transmits.clear();
        for (id, transfer) in std::mem::take(&mut self.outgoing) {
            let end = End::ConnectionLost {
                confirmed: transfer.acked(),
            };
            self.ended(id, Direction::Send, end);
        }
        for (id, transfer) in std::mem::take(&mut self.incoming) {
            let end = End::ConnectionLost {
                confirmed: transfer.expected(),
            };
            self.ended(id, Direction::Receive, end);
        }
    }

    /// A chunk that broke §3 and names `id`: the transfer it names ends with
    /// `cancel{bad_chunk}`; an id used up here is not answered again (its chunks may still be
    /// in flight); one never seen here gets the cancel once, and is used up.
    fn refuse_chunk(&mut self, id: TransferId, message: String) {
        if self.cancel(id, Reason::BadChunk, message.clone()) || !self.used.insert(id) {
            return;
        }
        self.send(Control::Cancel {
            id,
            reason: Reason::BadChunk,
            message,
        });
    }

    /// Whether an offer of `id` from this end would collide (§4.2).
    fn in_use(&self, id: TransferId) -> bool {
        self.outgoing.contains_key(&id) || self.incoming.contains_key(&id) || self.used.contains(id)
    }

    pub(super) fn end_incoming(&mut self, id: TransferId, end: End) {
        // An offer never accepted that the peer or this end cancels is used up too.
        if self.incoming.remove(&id).is_some() {
            self.used.insert(id);
            self.ended(id, Direction::Receive, end);
        }
    }

    fn end_outgoing(&mut self, id: TransferId, end: End) {
        if self.outgoing.remove(&id).is_some() {
            self.used.insert(id);
            self.ended(id, Direction::Send, end);
        }
    }

    fn ended(&mut self, id: TransferId, direction: Direction, end: End) {
        self.events.push_back(Event::Ended { id, direction, end });
    }

    pub(super) fn send(&mut self, control: Control) {
        if !self.lost {
            let offer = match control {
                Control::Offer { id, .. } => Some(id),
                _ => None,
            };
            self.transmits.push_back((control.to_text(), offer));
        }
    }
}

/// The `ft` of a control message, for explanations.
fn kind_name(control: &Control) -> &'static str {
    match control {
        Control::Offer { .. } => "offer",
        Control::Accept { .. } => "accept",
        Control::Reject { .. } => "reject",
        Control::Ack { .. } => "ack",
        Control::Done { .. } => "done",
        Control::Cancel { .. } => "cancel",
    }
}
