//! Commands the driver gave in the wrong state (rustls's `ApiMisuse`, h2's `UserError`).

use std::fmt;

use crate::TransferId;

/// A command that does not fit the transfer's state: a bug in the driver, or a transfer that
/// ended meanwhile (see the [`Event::Ended`](super::Event::Ended) already queued for it).
/// Nothing was sent and nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// No transfer with this id runs in the direction the command is for.
    NotRunning(TransferId),
    /// [`Connection::offer`](super::Connection::offer) of an id that runs on this connection
    /// (either direction) or is used up on it (§4.2).
    IdInUse(TransferId),
    /// The transfer is not in the phase this command belongs to (an `accept` twice, a
    /// `verify` before every byte arrived, ...).
    WrongPhase(TransferId),
    /// A chunk that is not the next one, longer than `max_chunk`, past the size or past the
    /// window.
    OutsideWindow(TransferId),
    /// [`Connection::connection_lost`](super::Connection::connection_lost) was called.
    ConnectionLost,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRunning(id) => write!(f, "no transfer {id} runs here"),
            Self::IdInUse(id) => write!(f, "transfer id {id} is in use on this connection"),
            Self::WrongPhase(id) => write!(f, "transfer {id} is not in the phase for this"),
            Self::OutsideWindow(id) => write!(f, "chunk of transfer {id} outside its window"),
            Self::ConnectionLost => f.write_str("the connection is lost"),
        }
    }
}

impl std::error::Error for CommandError {}
