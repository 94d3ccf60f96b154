//! One outgoing transfer: what the sender may send, and what the receiver's answers may say
//! (docs/file-transfer.md §4.2 and §5, "Sender").

use std::collections::VecDeque;
use std::time::Duration;

use crate::{Control, Reason};

use super::End;

/// What the receiver said in its `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Accepted {
    pub(super) offset: u64,
    pub(super) window: u64,
    pub(super) max_chunk: u64,
}

/// How an answer from the receiver changed the transfer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// `accept`: start at this offset.
    Accepted(Accepted),
    /// `ack` of this offset.
    Acked(u64),
    /// The transfer ended the way the peer said.
    Ended(End),
    /// The answer breaks §4.2: the sender cancels with `protocol` and this explanation.
    Violation(String),
}

/// The sender's state of one transfer.
#[derive(Debug)]
pub(super) struct Outgoing {
    size: u64,
    sha256: [u8; 32],
    accepted: Option<Accepted>,
    /// Every byte below it is handed to the socket.
    next: u64,
    /// The last offset acknowledged (the accept's before the first ack).
    acked: u64,
    /// Since when the receiver owes an answer (to the offer, for bytes in flight, the `done`
    /// after the last byte); `None` while it owes nothing.
    owed_since: Option<Duration>,
    /// Whether the driver reports writes ([`Connection::written`](super::Connection::written)):
    /// then only what left this end's queue is owed an answer.
    reports_writes: bool,
    /// Whether the offer was written (or answered, which says as much).
    offer_written: bool,
    /// Ends of the chunks counted by `sent` and not yet reported written, in order.
    unwritten: VecDeque<u64>,
    /// Every byte below it was written to the connection.
    written_to: u64,
}

impl Outgoing {
    /// A transfer whose offer goes out at `now`.
    pub(super) fn offered(size: u64, sha256: [u8; 32], now: Duration) -> Self {
        Self {
            size,
            sha256,
            accepted: None,
            next: 0,
            acked: 0,
            owed_since: Some(now),
            reports_writes: false,
            offer_written: true,
            unwritten: VecDeque::new(),
            written_to: 0,
        }
    }

    /// A transfer whose offer is queued; the driver reports when it is written.
    pub(super) fn offered_unwritten(size: u64, sha256: [u8; 32]) -> Self {
        Self {
            owed_since: None,
            reports_writes: true,
            offer_written: false,
            ..Self::offered(size, sha256, Duration::ZERO)
        }
    }

    /// The last offset acknowledged.
    pub(super) fn acked(&self) -> u64 {
        self.acked
    }

    /// When the sender gives up waiting, if it waits for anything.
    pub(super) fn deadline(&self, timeout: Duration) -> Option<Duration> {
        self.owed_since.map(|since| since.saturating_add(timeout))
    }

    /// With reported writes: whether the receiver owes an answer for what was written: to
    /// the offer, for bytes in flight, or the `done` after the last byte.
    fn owed_for_written(&self) -> bool {
        match self.accepted {
            None => self.offer_written,
            Some(_) => self.written_to > self.acked || self.written_to == self.size,
        }
    }

    /// The driver wrote the offer or the oldest chunk not yet reported to the connection at
    /// `now` (§5: "sent" is written to the connection). The clock starts if nothing was owed;
    /// a write while it runs does not move it.
    pub(super) fn written(&mut self, now: Duration) {
        if !self.offer_written {
            self.offer_written = true;
        } else if let Some(end) = self.unwritten.pop_front() {
            self.written_to = self.written_to.max(end);
        } else {
            // The offer's report after its answer: nothing to count.
            return;
        }
        if self.owed_for_written() {
            self.owed_since.get_or_insert(now);
        }
    }

    /// The next offset to send and how many bytes from it the window allows now (0 before
    /// `accept` and once every byte is sent).
    pub(super) fn room(&self) -> Option<(u64, u64)> {
        let accepted = self.accepted?;
        let in_flight = self.next - self.acked;
        let room = accepted
            .window
            .saturating_sub(in_flight)
            .min(self.size - self.next);
        Some((self.next, room))
    }

    /// The driver hands the chunk `[offset, offset + len)` to the socket at `now`.
    pub(super) fn sent(&mut self, offset: u64, len: u64, now: Duration) -> bool {
        let Some(accepted) = self.accepted else {
            return false;
        };
        let fits = self.room().is_some_and(|(next, room)| {
            offset == next && len >= 1 && len <= room && len <= accepted.max_chunk
        });
        if fits {
            self.next += len;
            if self.reports_writes {
                self.unwritten.push_back(self.next);
            } else {
                self.owed_since.get_or_insert(now);
            }
        }
        fits
    }

    /// Applies an answer from the receiver (`accept`, `ack`, `done`, `reject`, `cancel`).
    pub(super) fn answer(&mut self, answer: Control, now: Duration) -> Step {
        let accepted = self.accepted.is_some();
        match answer {
            Control::Accept { .. } if accepted => Step::Violation("a second accept".into()),
            Control::Accept { offset, .. } if offset > self.size => Step::Violation(format!(
                "accept at offset {offset} past the size {}",
                self.size
            )),
            Control::Accept {
                offset,
                window,
                max_chunk,
                ..
            } => {
                let accepted = Accepted {
                    offset,
                    window,
                    max_chunk,
                };
                self.accepted = Some(accepted);
                self.next = offset;
                self.acked = offset;
                self.offer_written = true;
                self.written_to = offset;
                // A whole file already at the receiver: its `done` is owed at once.
                self.owed_since = (offset == self.size).then_some(now);
                Step::Accepted(accepted)
            }
            Control::Ack { .. } if !accepted => Step::Violation("ack before accept".into()),
            Control::Ack { offset, .. } if offset < self.acked => {
                Step::Violation(format!("ack of {offset} after an ack of {}", self.acked))
            }
            Control::Ack { offset, .. } if offset > self.next => {
                Step::Violation(format!("ack of {offset} with {} bytes sent", self.next))
            }
            Control::Ack { offset, .. } => {
                self.acked = offset;
                // Every answer resets the clock; nothing is owed while nothing is in flight
                // and bytes remain (the sender is the one to act).
                let idle = if self.reports_writes {
                    // Bytes still in this end's queue are not owed an answer yet.
                    !self.owed_for_written()
                } else {
                    offset == self.next && self.next < self.size
                };
                self.owed_since = (!idle).then_some(now);
                Step::Acked(offset)
            }
            Control::Done { .. } if !accepted => Step::Violation("done before accept".into()),
            Control::Done { .. } if self.next < self.size => {
                Step::Violation(format!("done after {} of {} bytes", self.next, self.size))
            }
            Control::Done { sha256, .. } if sha256 != hex::encode(self.sha256) => {
                Step::Violation(format!(
                    "done with SHA-256 {sha256}, the offer said {}",
                    hex::encode(self.sha256)
                ))
            }
            Control::Done { .. } => Step::Ended(End::Done),
            Control::Reject { .. } if accepted => Step::Violation(
                "reject after accept (an accepted transfer ends with cancel)".into(),
            ),
            Control::Reject {
                reason, message, ..
            } => Step::Ended(End::Rejected { reason, message }),
            Control::Cancel {
                reason, message, ..
            } => Step::Ended(End::Cancelled {
                by: crate::Side::Remote,
                reason,
                message,
            }),
            Control::Offer { .. } => Step::Violation("an offer is not an answer".into()),
        }
    }
}

/// The `cancel` a sender sends when its receiver stays silent for `timeout`.
pub(super) fn timeout_message(timeout: Duration) -> (Reason, String) {
    (
        Reason::Timeout,
        format!("no answer from the receiver in {timeout:?}"),
    )
}
