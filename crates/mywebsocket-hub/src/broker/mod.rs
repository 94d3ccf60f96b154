//! Brokers: how hubs on several nodes reach each other and keep room history.
//!
//! A [`Broker`] stores every room broadcast in a bounded history (assigning its
//! [`StreamId`]), fans it out to every node's [`BrokerSink`] in that order, carries direct
//! messages and presence, and tells the hub when it must resynchronise after an outage.
//! [`MemoryBroker`] serves one process; [`RedisBroker`] (feature `redis`, on by default) many
//! nodes. A broker reaches its hub only through the [`BrokerSink`] it is given in
//! [`Broker::start`].

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use mywebsocket::Message;

use crate::error::Result;
use crate::id::{ConnId, NodeId, StreamId};
use crate::presence::{Member, Presence, PresenceEvent, RoomMember};

pub use self::memory::MemoryBroker;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisBroker, Traffic};

/// A boxed future, so that [`Broker`] can be used as `dyn Broker`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A room broadcast as stored in history.
///
/// `#[non_exhaustive]`: a broker builds one with [`RoomMessage::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoomMessage {
    /// Its position in the room's history.
    pub id: StreamId,
    /// A connection that must not receive it ([`Hub::broadcast_except`](crate::Hub::broadcast_except)).
    pub except: Option<ConnId>,
    /// The message as broadcast.
    pub msg: Message,
    /// Published again after a failure that left unknown whether it had been delivered (a
    /// Redis failover can lose a message some nodes already delivered): the hub tells the
    /// room's members of a gap before it, so a client never takes a repeat for a new message
    /// nor a loss for silence.
    pub retried: bool,
}

/// Where a direct message goes.
///
/// `#[non_exhaustive]`: more kinds of destination may come; a broker that matches on it
/// needs a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// One connection, on whichever node holds it.
    Connection(ConnId),
    /// Every connection registered with this user id, on every node.
    User(String),
}

/// What a broker hands to the hub of its node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BrokerEvent {
    /// A room broadcast, in history order.
    Room {
        /// The room.
        room: String,
        /// The message.
        message: RoomMessage,
    },
    /// A direct message.
    Direct {
        /// Its destination.
        target: Target,
        /// The message.
        msg: Message,
    },
    /// A presence change.
    Presence(PresenceEvent),
}

/// A slice of a room's history.
///
/// `#[non_exhaustive]`: a broker builds one with [`History::new`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct History {
    /// Messages after the requested id (or the latest ones), oldest first.
    pub messages: Vec<RoomMessage>,
    /// History no longer reaches back to the requested id: messages after it were dropped
    /// (trimmed by the length cap, or lost with the broker's data).
    pub gap: bool,
}

impl RoomMessage {
    /// A message with its history id, and the connection it must not reach, if any.
    pub fn new(id: StreamId, except: Option<ConnId>, msg: Message) -> Self {
        Self {
            id,
            except,
            msg,
            retried: false,
        }
    }
}

impl History {
    /// `messages`, oldest first, and whether history no longer reached back to the id asked
    /// for.
    pub fn new(messages: Vec<RoomMessage>, gap: bool) -> Self {
        Self { messages, gap }
    }
}

/// The hub's side of a broker: where the broker hands over what it receives. The hub
/// implements it and gives one to [`Broker::start`]; this is the only way a broker reaches the
/// hub.
///
/// A sink does not keep its hub alive (the hub owns the broker, and a broker's tasks hold the
/// sink): once the hub is dropped, [`BrokerSink::is_closed`] is true and the other methods do
/// nothing, so a broker's tasks can stop.
pub trait BrokerSink: Send + Sync + 'static {
    /// Delivers an event to the node's connections. Events of one room must come in history
    /// order.
    fn deliver(&self, event: BrokerEvent);

    /// After the broker was unreachable: fetches what each room with members here missed
    /// from history and delivers it, reporting gaps to the members. The broker must deliver
    /// no newer live event of a room before this completes.
    ///
    /// # Cancel safety
    /// Not cancel-safe: it goes room by room, and the rooms it has not reached when dropped
    /// are not resynchronised (their members miss what the outage held back, with no gap
    /// notice). Await it to the end.
    fn resync(&self) -> BoxFuture<'_, ()>;

    /// The members this node holds, by room, so a broker can restore presence it lost.
    fn local_presence(&self) -> Vec<RoomMember>;

    /// The hub is gone: the broker's tasks may stop.
    fn is_closed(&self) -> bool;
}

/// A message broker for hubs. See the [module docs](self).
pub trait Broker: Send + Sync + 'static {
    /// Starts delivering events for node `node` to `sink`.
    ///
    /// # Errors
    /// The broker cannot be reached.
    fn start(&self, node: NodeId, sink: Arc<dyn BrokerSink>) -> BoxFuture<'_, Result<()>>;

    /// Appends `msg` to `room`'s history and delivers it to every node.
    ///
    /// # Errors
    /// The broker cannot take it now ([`HubError::BrokerUnavailable`](crate::HubError), or
    /// [`HubError::OutageBufferFull`](crate::HubError) when it buffers during an outage).
    fn publish(
        &self,
        room: String,
        except: Option<ConnId>,
        msg: Message,
    ) -> BoxFuture<'_, Result<()>>;

    /// Delivers a direct message to the node(s) holding its target. At most once: not kept in
    /// history.
    ///
    /// # Errors
    /// The broker cannot be reached.
    fn send_direct(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>>;

    /// `room`'s messages after `since`, or its latest `latest` messages without `since`.
    ///
    /// # Errors
    /// The broker cannot be reached.
    fn history(
        &self,
        room: String,
        since: Option<StreamId>,
        latest: usize,
    ) -> BoxFuture<'_, Result<History>>;

    /// Records `member` in `room` and announces the join to every node.
    ///
    /// # Errors
    /// The broker cannot be reached.
    fn presence_add(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>>;

    /// Removes `member` from `room` and announces the leave to every node.
    ///
    /// # Errors
    /// The broker cannot be reached.
    fn presence_remove(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>>;

    /// Who is in `room` on every live node: at most `limit` members (which ones, when there
    /// are more, is the broker's choice), and the count of all.
    ///
    /// # Errors
    /// The broker cannot be reached.
    fn presence(&self, room: String, limit: usize) -> BoxFuture<'_, Result<Presence>>;

    /// Whether this node hosts members of `room`: `true` when its first local member joins,
    /// `false` when its last one leaves. A broker that can route by room delivers a room's
    /// events only to the nodes that want them; one that delivers every room to every node
    /// ignores this (the default).
    ///
    /// The hub calls it under its own lock, in the order membership changes, so the broker's
    /// view never runs behind or ahead of the hub's: it must not block, and must not call the
    /// sink.
    fn set_interest(&self, room: &str, interested: bool) {
        let _ = (room, interested);
    }

    /// Resolves once events of `room` published from now on reach this node's sink (after
    /// [`Broker::set_interest`] with `true`, or at once if the room is no longer wanted). A
    /// join awaits it before reading the room's history, so no message falls between the
    /// history read and the live subscription. Default: at once.
    ///
    /// # Errors
    /// The broker cannot be reached.
    fn room_ready(&self, room: String) -> BoxFuture<'_, Result<()>> {
        let _ = room;
        Box::pin(async { Ok(()) })
    }
}
