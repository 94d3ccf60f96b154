//! Which end of a transfer did something.

/// Which end stopped a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This end.
    Local,
    /// The peer.
    Remote,
}
