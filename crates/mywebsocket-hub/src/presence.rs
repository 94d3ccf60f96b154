//! Presence: who is in a room, and the join and leave events.

use serde::{Deserialize, Serialize};

use crate::id::ConnId;

/// One connection's presence in one room.
///
/// `#[non_exhaustive]`: build one with [`Member::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// The member for connection `conn` (on the node its id names), registered with `user`,
    /// with the application data `meta`.
    pub fn new(conn: &ConnId, user: Option<String>, meta: serde_json::Value) -> Self {
        Self {
            conn: conn.to_string(),
            node: conn.node().to_owned(),
            user,
            meta,
        }
    }

    /// The connection id.
    pub fn conn_id(&self) -> ConnId {
        ConnId::from(self.conn.as_str())
    }
}

/// A member with the room it is in; from
/// [`BrokerSink::local_presence`](crate::broker::BrokerSink::local_presence).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoomMember {
    /// The room.
    pub room: String,
    /// The member.
    pub member: Member,
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

/// Who is in a room: its members, cut to the hub's
/// [`presence_limit`](crate::HubConfig::presence_limit), and how many there are in all.
///
/// Listing every member of a room of ten thousand to each of its ten thousand joiners is
/// quadratic work and traffic; past the limit a client sees a page of members and the count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Presence {
    /// Members, ordered by connection id; at most the presence limit (which ones, in a
    /// larger room, is the broker's choice).
    pub members: Vec<Member>,
    /// Members in all. With the Redis engine it can still count, for up to the presence TTL,
    /// the members of a node that just died when the list was cut.
    pub count: usize,
}

impl Presence {
    /// `members` (in any order) cut to `limit`, counted before the cut.
    pub fn from_members(mut members: Vec<Member>, limit: usize) -> Self {
        let count = members.len();
        members.sort_by(|a, b| a.conn.cmp(&b.conn));
        members.truncate(limit);
        Self { members, count }
    }

    /// Whether [`Presence::members`] lists everyone.
    pub fn is_complete(&self) -> bool {
        self.members.len() == self.count
    }
}
