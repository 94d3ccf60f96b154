//! Where a connection is in its life, and who started its end.

/// Which end started the closing of a connection.
///
/// Not `#[non_exhaustive]`: a connection has two ends, and a close is started by one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// We did: a call to close, or a protocol error or timeout we detected.
    Local,
    /// The peer did.
    Remote,
}

/// The life of a connection (RFC 6455 §5.5.1, §7).
///
/// ```text
///            close()                      peer's close
///   Open ───────────────► ClosedByUs ─────────────────────┐
///     │                                                    ▼
///     │  peer's close (our answer is owed)        CloseAcknowledged ──► Terminated
///     └──────────────────► ClosedByPeer ──────────────────▲      (transport closed)
///     │                           our answer queued
///     └─ protocol error, timeout ─► Failed ───────────────────────────► Terminated
/// ```
///
/// `#[non_exhaustive]`: an extension may add a state (a match needs a `_` arm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Both ends may send anything.
    Open,
    /// We sent (queued) a close frame and wait for the peer's. We send no more data frames
    /// (RFC 6455 §5.5.1); the peer's data is still delivered until its close arrives.
    ClosedByUs,
    /// The peer's close frame arrived and our answer is owed: it goes out with the next
    /// transmit. Nothing more is read.
    ClosedByPeer,
    /// Both close frames are exchanged: the closing handshake is complete. The server closes
    /// the transport first; a client waits for that, up to the close timeout (RFC 6455
    /// §7.1.1).
    CloseAcknowledged,
    /// We failed the connection (a protocol error or a timeout): our close frame, if one may
    /// still be sent, is the last thing written, then the transport is closed (RFC 6455
    /// §7.1.7).
    Failed,
    /// The transport is gone: nothing is read or written any more.
    Terminated,
}

impl State {
    /// Whether data messages may be sent: only while open (RFC 6455 §5.5.1: "after sending a
    /// Close frame, the endpoint MUST NOT send any further data frames").
    #[inline]
    pub const fn can_send(self) -> bool {
        matches!(self, Self::Open)
    }

    /// Whether frames from the peer are still decoded: until its close frame arrives (nothing
    /// it sends after a close is processed, RFC 6455 §5.5.1) or we fail the connection.
    #[inline]
    pub const fn can_receive(self) -> bool {
        matches!(self, Self::Open | Self::ClosedByUs)
    }

    /// Whether a close frame has gone (or is going) out or come in: the closing handshake has
    /// begun.
    #[inline]
    pub const fn is_closing(self) -> bool {
        !matches!(self, Self::Open)
    }

    /// Whether the closing handshake completed (both close frames exchanged).
    #[inline]
    pub const fn is_close_acknowledged(self) -> bool {
        matches!(self, Self::CloseAcknowledged)
    }

    /// Whether the transport should be closed once what is queued has been written.
    #[inline]
    pub const fn is_ending(self) -> bool {
        matches!(
            self,
            Self::CloseAcknowledged | Self::Failed | Self::Terminated
        )
    }

    /// Whether the connection is over.
    #[inline]
    pub const fn is_terminated(self) -> bool {
        matches!(self, Self::Terminated)
    }
}
