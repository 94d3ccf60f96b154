//! The options and the outcome of [`Hub::join`](crate::Hub::join)(super::Hub::join).

use crate::id::StreamId;
use crate::presence::Presence;

/// Options of [`Hub::join`](crate::Hub::join).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct JoinOptions {
    /// The last message id the connection saw in this room: it receives what came after, or
    /// a gap notice if history no longer reaches back that far. Without it, it receives the
    /// latest [`HubConfig::history_on_join`](crate::HubConfig::history_on_join) messages.
    pub since: Option<StreamId>,
    /// Application data shown in presence (the chat's nickname).
    pub meta: serde_json::Value,
}

impl JoinOptions {
    /// Sets [`JoinOptions::since`].
    #[must_use]
    pub fn since(mut self, since: Option<StreamId>) -> Self {
        self.since = since;
        self
    }

    /// Sets [`JoinOptions::meta`].
    #[must_use]
    pub fn meta(mut self, meta: serde_json::Value) -> Self {
        self.meta = meta;
        self
    }
}

/// What [`Hub::join`](crate::Hub::join) did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Joined {
    /// Messages replayed from history.
    pub replayed: usize,
    /// History did not reach back to `since`: the connection missed messages (it was sent
    /// the encoder's gap notice).
    pub gap: bool,
    /// Who is in the room now, the joiner included (cut to
    /// [`HubConfig::presence_limit`](crate::HubConfig::presence_limit) members).
    pub presence: Presence,
}
