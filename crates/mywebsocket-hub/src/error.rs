//! Errors of hub operations.

use std::fmt;

/// The error a [`Broker`](crate::Broker) reports, kept whole (for [`RedisBroker`], a
/// `redis::RedisError`).
///
/// [`RedisBroker`]: crate::RedisBroker
pub type BrokerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a hub operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HubError {
    /// The connection id is not registered on this node.
    UnknownConnection,
    /// The broker could not be reached, or failed the request: the operation did not happen.
    /// Holds the broker's error (a `redis::RedisError` for the Redis broker), which is also
    /// the [`source`](std::error::Error::source); make one with
    /// [`HubError::broker_unavailable`].
    BrokerUnavailable(BrokerError),
    /// The broker is unreachable and the broadcasts buffered meanwhile fill its outage buffer
    /// ([`HubConfig::outage_buffer`](crate::HubConfig::outage_buffer)): the message was not
    /// accepted.
    OutageBufferFull {
        /// The buffer's size, in messages.
        capacity: usize,
    },
    /// The broker was used before [`HubBuilder::build`](crate::HubBuilder::build) started
    /// it, or after its hub was dropped.
    BrokerNotRunning,
    /// The broker was started a second time: a broker serves one hub.
    BrokerAlreadyStarted,
    /// A [`Message::Close`](mywebsocket::Message::Close) was given to a broadcast or a send:
    /// the hub delivers data messages only, since each connection runs its own closing
    /// handshake. Nothing was sent; close a connection with its own writer
    /// ([`Writer::close`](mywebsocket::Writer::close)).
    CloseNotDeliverable,
}

impl HubError {
    /// [`HubError::BrokerUnavailable`] with the broker's `error`.
    pub fn broker_unavailable(error: impl Into<BrokerError>) -> Self {
        Self::BrokerUnavailable(error.into())
    }
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownConnection => f.write_str("unknown connection"),
            Self::BrokerUnavailable(e) => write!(f, "broker unavailable: {e}"),
            Self::OutageBufferFull { capacity } => write!(
                f,
                "broker unreachable and its outage buffer of {capacity} messages is full"
            ),
            Self::BrokerNotRunning => f.write_str("broker not running"),
            Self::BrokerAlreadyStarted => f.write_str("broker already started"),
            Self::CloseNotDeliverable => {
                f.write_str("a close cannot be broadcast or sent through the hub")
            }
        }
    }
}

impl std::error::Error for HubError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::BrokerUnavailable(e) => Some(&**e),
            Self::UnknownConnection
            | Self::OutageBufferFull { .. }
            | Self::BrokerNotRunning
            | Self::BrokerAlreadyStarted
            | Self::CloseNotDeliverable => None,
        }
    }
}

#[cfg(feature = "redis")]
impl From<redis::RedisError> for HubError {
    fn from(e: redis::RedisError) -> Self {
        Self::broker_unavailable(e)
    }
}

/// A hub operation's result.
pub type Result<T, E = HubError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "redis")]
    #[test]
    fn the_redis_error_is_kept_as_the_source() {
        use std::error::Error as _;

        let redis = redis::RedisError::from((redis::ErrorKind::Io, "connection refused"));
        let e = HubError::from(redis);
        assert!(e.to_string().starts_with("broker unavailable: "), "{e}");
        let source = e.source().expect("a source");
        assert!(source.is::<redis::RedisError>());
        assert!(e.to_string().contains("connection refused"), "{e}");
    }

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<HubError>() <= 24);
    }
}
