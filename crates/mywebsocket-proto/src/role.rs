//! Which end of the connection we are.

/// The side of a connection. Masking rules depend on it (RFC 6455 §5.1): a client masks every
/// frame it sends and a server never does; each rejects frames that break the rule.
///
/// Not `#[non_exhaustive]`: a WebSocket connection has these two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the opening handshake.
    Client,
    /// The end that accepted it.
    Server,
}

impl Role {
    /// Whether frames sent by this end must be masked.
    #[inline]
    pub const fn masks_outgoing(self) -> bool {
        matches!(self, Self::Client)
    }
}
