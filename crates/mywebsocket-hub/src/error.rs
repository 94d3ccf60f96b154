//! Errors of hub operations.

use std::fmt;

/// Why a hub operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HubError {
    /// The connection id is not registered on this node.
    UnknownConnection,
    /// The broker could not be reached and its outage buffer is full (or the operation cannot
    /// be buffered): the message was not accepted.
    BrokerUnavailable(String),
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownConnection => f.write_str("unknown connection"),
            Self::BrokerUnavailable(why) => write!(f, "broker unavailable: {why}"),
        }
    }
}

impl std::error::Error for HubError {}

impl From<redis::RedisError> for HubError {
    fn from(e: redis::RedisError) -> Self {
        Self::BrokerUnavailable(e.to_string())
    }
}

/// A hub operation's result.
pub type Result<T, E = HubError> = std::result::Result<T, E>;
