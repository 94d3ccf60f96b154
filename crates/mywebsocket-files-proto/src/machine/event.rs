//! What a [`Connection`](super::Connection) tells its driver.

use crate::{Reason, Side, TransferId};

/// Which way a transfer's bytes go, seen from this end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// This end has the file and sends it.
    Send,
    /// This end receives the file.
    Receive,
}

/// An offer that passed every check of docs/file-transfer.md §7 up to `busy`: the application
/// decides on it with [`Connection::accept`](super::Connection::accept) or
/// [`Connection::reject`](super::Connection::reject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferInfo {
    /// The transfer.
    pub id: TransferId,
    /// The name the sender gave.
    pub offered_name: String,
    /// The name checked by [`sanitize_name`](crate::sanitize_name), safe as a file name.
    pub name: String,
    /// Size in bytes, within [`Config::max_file_size`](super::Config::max_file_size).
    pub size: u64,
    /// The sender's media type, possibly empty.
    pub media_type: String,
    /// The SHA-256 the sender announced.
    pub sha256: [u8; 32],
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum End {
    /// Sending: the receiver confirmed the file with `done`. Receiving: `done` was queued.
    Done,
    /// The offer was declined: by the peer when sending, by this end when receiving.
    Rejected {
        /// The code.
        reason: Reason,
        /// The explanation.
        message: String,
    },
    /// A side stopped the transfer with `cancel`. `by: Local` covers this end's commands, the
    /// peer's protocol violations (reason `protocol` or `bad_chunk`), a checksum mismatch
    /// found here and a timeout; the `cancel` is queued already.
    Cancelled {
        /// Who sent the `cancel`.
        by: Side,
        /// The code.
        reason: Reason,
        /// The explanation.
        message: String,
    },
    /// [`Connection::connection_lost`](super::Connection::connection_lost) was called.
    ConnectionLost {
        /// Sending: the last offset acknowledged. Receiving: the bytes accepted from chunks.
        confirmed: u64,
    },
}

/// Something the driver or the application has to act on, from
/// [`Connection::poll_event`](super::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer offers a file; decide with `accept` or `reject`.
    Offered(OfferInfo),
    /// The receiver accepted an offer of ours: send from `offset`, keeping at most `window`
    /// bytes beyond the last ack in flight, in chunks of at most `max_chunk` bytes.
    Accepted {
        /// The transfer.
        id: TransferId,
        /// Where to start (non-zero on a resume).
        offset: u64,
        /// The receiver's window.
        window: u64,
        /// The receiver's largest chunk.
        max_chunk: u64,
    },
    /// The receiver confirmed every byte below `offset`: progress, and window room again
    /// ([`Connection::send_room`](super::Connection::send_room)).
    Acked {
        /// The transfer.
        id: TransferId,
        /// Bytes confirmed.
        offset: u64,
    },
    /// The transfer is over; the id is forgotten (and used up, §4.2, unless it was rejected).
    /// Every transfer the connection knew ends with exactly one of these.
    Ended {
        /// The transfer.
        id: TransferId,
        /// Which way it went.
        direction: Direction,
        /// How it ended.
        end: End,
    },
}
