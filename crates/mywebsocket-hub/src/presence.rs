//! Presence: who is in a room, and the join and leave events.

use serde::{Deserialize, Serialize};

use crate::id::ConnId;

/// One connection's presence in one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The connection.
    pub conn: String,
    /// The node holding it.
    pub node: String,
    /// The user it was registered with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Application data given at join (the chat puts the nickname here).
    #[serde(default)]
    pub meta: serde_json::Value,
}

impl Member {
    /// The connection id.
    pub fn conn_id(&self) -> ConnId {
        ConnId::from(self.conn.as_str())
    }
}

/// A change in a room's presence, delivered on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceEvent {
    /// `member` joined `room`.
    Join {
        /// The room.
        room: String,
        /// Who joined.
        member: Member,
    },
    /// `member` left `room` (or its node died).
    Leave {
        /// The room.
        room: String,
        /// Who left.
        member: Member,
    },
}

impl PresenceEvent {
    /// The room of the event.
    pub fn room(&self) -> &str {
        match self {
            Self::Join { room, .. } | Self::Leave { room, .. } => room,
        }
    }

    /// The member of the event.
    pub fn member(&self) -> &Member {
        match self {
            Self::Join { member, .. } | Self::Leave { member, .. } => member,
        }
    }
}
