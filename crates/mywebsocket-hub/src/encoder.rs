//! How hub events become messages for a connection.

use mywebsocket::Message;

use crate::id::StreamId;
use crate::presence::PresenceEvent;

/// Turns what the hub delivers into the messages a connection receives. Each result is framed
/// once per node and shared by every local recipient.
///
/// The default methods send room messages as they were broadcast and nothing else. The chat's
/// `ProtocolEncoder` (in `mywebsocket-chat`) writes each as a message of its JSON protocol.
pub trait Encoder: Send + Sync + 'static {
    /// The message a member of `room` receives for the broadcast `msg` with history id `id`.
    fn room_message(&self, room: &str, id: StreamId, msg: &Message) -> Message {
        let _ = (room, id);
        msg.clone()
    }

    /// The message a member of the event's room receives for a presence change, if any.
    fn presence(&self, event: &PresenceEvent) -> Option<Message> {
        let _ = event;
        None
    }

    /// The message a connection receives when what follows in `room` may not continue
    /// exactly from `since`: history no longer reaches back to it (messages after `since`
    /// were lost to this connection), or the next message was published again after a
    /// broker failure and may repeat one it already had
    /// ([`RoomMessage::retried`](crate::broker::RoomMessage::retried)). `None` sends nothing.
    fn gap(&self, room: &str, since: StreamId) -> Option<Message> {
        let _ = (room, since);
        None
    }
}

/// The default [`Encoder`]: room messages as broadcast, no presence or gap messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

impl Encoder for RawEncoder {}
