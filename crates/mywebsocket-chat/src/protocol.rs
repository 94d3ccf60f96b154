//! The JSON wire protocol between browsers (or any client) and a node.
//!
//! Every message is a JSON object in a text frame, with a `"type"` field.
//!
//! Client to node:
//! ```text
//! {"type":"join","room":"lobby","nick":"ann","since":"1700000000000-0"}  since optional
//! {"type":"leave","room":"lobby"}
//! {"type":"publish","room":"lobby","text":"hello"}
//! {"type":"presence","room":"lobby"}
//! ```
//! Node to client:
//! ```text
//! {"type":"hello","conn":"<conn id>","node":"<node id>"}           on connect
//! {"type":"gap","room":"lobby","since":"<id>"}       history no longer reaches <id>: messages were missed
//! {"type":"message","room":"lobby","id":"<id>","from":"ann","conn":"<conn id>","text":"hello"}
//! {"type":"joined","room":"lobby","replayed":3,"gap":false,"count":1,"members":[{"conn":..,"node":..,"meta":{"nick":"ann"}}]}
//! {"type":"left","room":"lobby"}
//! {"type":"presence","room":"lobby","count":1,"members":[..]}         answer to a presence request
//! {"type":"presence_join","room":"lobby","member":{..}}
//! {"type":"presence_leave","room":"lobby","member":{..}}
//! {"type":"error","message":"..."}                                    e.g. a publish the broker refused
//! ```
//! `count` is the room's size; `members` lists at most
//! [`HubConfig::presence_limit`](mywebsocket_hub::HubConfig::presence_limit) of them, and rooms larger than that on a node
//! get no `presence_join` / `presence_leave` there (members ask with `presence` instead).
//! On join, replayed history (and a gap notice first if needed) arrives *before* `joined`.
//! Without `since`, the latest
//! [`HubConfig::history_on_join`](mywebsocket_hub::HubConfig::history_on_join) messages are
//! replayed. A client keeps the `id` of the last `message` per room and sends it as `since`
//! when it reconnects: it then receives each message exactly once, in room order, or a `gap`.
//! A `gap` means what follows may not continue exactly from `since`: messages after it may
//! be missing (history no longer reaches back), or, after a Redis Cluster failover, the next
//! message may repeat one already received (it was published again because the failed
//! master could not confirm it). A client that must be exact reloads the room's history.

use std::fmt::Write as _;

use mywebsocket::Message;
use serde::{Deserialize, Serialize};

use mywebsocket_hub::{Encoder, Member, PresenceEvent, StreamId};

/// Longest room name accepted, in bytes.
pub const MAX_ROOM_LEN: usize = 128;
/// Longest nickname accepted, in bytes.
pub const MAX_NICK_LEN: usize = 64;
/// Longest text a client may publish, in bytes.
pub const MAX_TEXT_LEN: usize = 16 * 1024;

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// Join a room.
    Join {
        /// The room.
        room: String,
        /// The name shown to others.
        #[serde(default)]
        nick: String,
        /// The last message id seen in this room, to recover what was missed.
        #[serde(default)]
        since: Option<String>,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: String,
    },
    /// Send text to a room one has joined.
    Publish {
        /// The room.
        room: String,
        /// The text.
        text: String,
    },
    /// Ask who is in a room.
    Presence {
        /// The room.
        room: String,
    },
}

/// A message from a node (all but `message`, which the [`ProtocolEncoder`] writes directly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// Sent once on connect.
    Hello {
        /// The connection's id.
        conn: String,
        /// The node's id.
        node: String,
    },
    /// A chat message.
    Message {
        /// The room.
        room: String,
        /// Its history id.
        id: String,
        /// The sender's nickname.
        from: String,
        /// The sender's connection.
        conn: String,
        /// The text.
        text: String,
    },
    /// Answer to a join.
    Joined {
        /// The room.
        room: String,
        /// Messages replayed before this answer.
        replayed: usize,
        /// Whether messages after `since` were lost (a `gap` was sent too).
        gap: bool,
        /// How many are in the room.
        count: usize,
        /// Who is in the room (at most the presence limit).
        members: Vec<Member>,
    },
    /// Answer to a leave.
    Left {
        /// The room.
        room: String,
    },
    /// History no longer reaches back to `since`.
    Gap {
        /// The room.
        room: String,
        /// The last id the client had.
        since: String,
    },
    /// Answer to a presence request.
    Presence {
        /// The room.
        room: String,
        /// How many are in it.
        count: usize,
        /// Who is in it (at most the presence limit).
        members: Vec<Member>,
    },
    /// Someone joined a room one is in.
    PresenceJoin {
        /// The room.
        room: String,
        /// Who.
        member: Member,
    },
    /// Someone left a room one is in (or their node died).
    PresenceLeave {
        /// The room.
        room: String,
        /// Who.
        member: Member,
    },
    /// A request failed.
    Error {
        /// Why.
        message: String,
    },
}

impl ServerMessage {
    /// As a text message.
    pub fn to_message(&self) -> Message {
        Message::text(serde_json::to_string(self).expect("server messages serialize"))
    }
}

/// What the node broadcasts for a `publish`: the sender and the text. The encoder adds the
/// room and id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChatPayload {
    pub(crate) from: String,
    pub(crate) conn: String,
    pub(crate) text: String,
}

/// The [`Encoder`] of this protocol.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProtocolEncoder;

impl Encoder for ProtocolEncoder {
    fn room_message(&self, room: &str, id: StreamId, msg: &Message) -> Message {
        // The payload is a JSON object: splice the type, room and id in front of its fields
        // instead of parsing and serializing it again.
        let body = msg
            .as_text()
            .and_then(|t| t.strip_prefix('{'))
            .filter(|b| b.len() > 1);
        let room = serde_json::to_string(room).expect("strings serialize");
        let mut out = String::with_capacity(64 + msg.as_text().map_or(0, str::len));
        let _ = write!(out, r#"{{"type":"message","room":{room},"id":"{id}","#);
        match body {
            Some(body) => out.push_str(body),
            None => {
                let text = msg.as_text().map(str::to_owned).unwrap_or_default();
                let _ = write!(
                    out,
                    r#""text":{}}}"#,
                    serde_json::to_string(&text).expect("strings serialize")
                );
            }
        }
        Message::text(out)
    }

    fn presence(&self, event: &PresenceEvent) -> Option<Message> {
        let msg = match event.clone() {
            PresenceEvent::Join { room, member } => ServerMessage::PresenceJoin { room, member },
            PresenceEvent::Leave { room, member } => ServerMessage::PresenceLeave { room, member },
            // A kind of change the protocol has no message for yet.
            _ => return None,
        };
        Some(msg.to_message())
    }

    fn gap(&self, room: &str, since: StreamId) -> Option<Message> {
        Some(
            ServerMessage::Gap {
                room: room.to_owned(),
                since: since.to_string(),
            }
            .to_message(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_message_splices_into_a_valid_message() {
        let payload = serde_json::to_string(&ChatPayload {
            from: "ann".into(),
            conn: "n.1".into(),
            text: "hi \"there\"".into(),
        })
        .unwrap();
        let id = StreamId { ms: 5, seq: 2 };
        let out = ProtocolEncoder.room_message("lo\"bby", id, &Message::text(payload));
        let parsed: ServerMessage = serde_json::from_str(out.as_text().unwrap()).unwrap();
        assert_eq!(
            parsed,
            ServerMessage::Message {
                room: "lo\"bby".into(),
                id: "5-2".into(),
                from: "ann".into(),
                conn: "n.1".into(),
                text: "hi \"there\"".into(),
            }
        );
    }

    #[test]
    fn client_messages_parse() {
        let join: ClientMessage =
            serde_json::from_str(r#"{"type":"join","room":"r","nick":"a","since":"1-2"}"#).unwrap();
        assert_eq!(
            join,
            ClientMessage::Join {
                room: "r".into(),
                nick: "a".into(),
                since: Some("1-2".into())
            }
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"nope"}"#).is_err());
    }
}
