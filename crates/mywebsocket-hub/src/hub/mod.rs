//! The hub: local connections, their rooms, and delivery of what the broker hands over.
//!
//! [`join`] puts a connection in a room (and undoes a join whose future is dropped),
//! [`registration`] holds a connection's place in the hub, [`delivery`] hands what the broker
//! receives to local members (the hub's [`BrokerSink`](crate::broker::BrokerSink)), and
//! [`resync`] catches up from history: on join, and after a broker outage.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mywebsocket::{Message, PreparedMessage, Writer};
use tokio::sync::broadcast;

use crate::broker::{Broker, MemoryBroker, Target};
use crate::config::HubConfig;
use crate::encoder::{Encoder, RawEncoder};
use crate::error::{HubError, Result};
use crate::id::{ConnId, NodeId, StreamId};
use crate::outbox::Outbox;
use crate::presence::{Member, Presence, PresenceEvent};

mod delivery;
mod join;
mod registration;
mod resync;

use delivery::HubSink;

pub use join::{JoinOptions, Joined};
pub use registration::{QueueStats, Registration};

/// Where a connection stands in one room's message sequence.
#[derive(Debug)]
enum Cursor {
    /// Joining: history is being fetched; live messages wait here (at most the queue bound),
    /// each with its id and whether it was published again ([`RoomMessage::retried`]).
    ///
    /// [`RoomMessage::retried`]: crate::broker::RoomMessage::retried
    Joining(Vec<(StreamId, bool, PreparedMessage)>),
    /// Live: the id of the last message it was given; older or equal ids are duplicates.
    Live(StreamId),
}

#[derive(Debug)]
struct LocalConn {
    outbox: Arc<Outbox>,
    user: Option<String>,
    rooms: HashMap<String, (Cursor, Member)>,
}

#[derive(Debug, Default)]
struct State {
    conns: HashMap<ConnId, LocalConn>,
    /// Local members of each room.
    rooms: HashMap<String, HashSet<ConnId>>,
    users: HashMap<String, HashSet<ConnId>>,
    /// The newest id delivered on this node per room: where a resync starts.
    room_last: HashMap<String, StreamId>,
}

struct Inner {
    node: NodeId,
    config: HubConfig,
    broker: Arc<dyn Broker>,
    encoder: Arc<dyn Encoder>,
    state: Mutex<State>,
    next_conn: AtomicU64,
    presence_events: broadcast::Sender<PresenceEvent>,
    /// Room broadcasts queued to local connections, live (not replayed from history).
    room_deliveries: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Rooms, presence and broadcast for the connections of one node, and through its
/// [`Broker`] for every node. Cheap to clone.
///
/// See the [crate docs](crate) for an example and the delivery guarantees.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// Builds a [`Hub`] with a broker and an encoder other than the defaults.
#[must_use]
pub struct HubBuilder {
    config: HubConfig,
    broker: Option<Arc<dyn Broker>>,
    encoder: Arc<dyn Encoder>,
    node: NodeId,
}

impl HubBuilder {
    /// Uses `broker` instead of an in-memory one.
    pub fn broker(mut self, broker: impl Broker) -> Self {
        self.broker = Some(Arc::new(broker));
        self
    }

    /// Uses `encoder` to turn deliveries into messages (default: [`RawEncoder`]).
    pub fn encoder(mut self, encoder: impl Encoder) -> Self {
        self.encoder = Arc::new(encoder);
        self
    }

    /// Names the node (default: random).
    pub fn node_id(mut self, node: NodeId) -> Self {
        self.node = node;
        self
    }

    /// Starts the hub.
    ///
    /// # Errors
    /// The broker cannot be reached.
    ///
    /// # Cancel safety
    /// Dropped before it completes, the hub and its broker are dropped with it; the tasks the
    /// Redis broker may have started stop on their own at their next step, once they see the
    /// hub is gone.
    pub async fn build(self) -> Result<Hub> {
        let broker = self
            .broker
            .unwrap_or_else(|| Arc::new(MemoryBroker::new(self.config.history_len)));
        let inner = Arc::new(Inner {
            node: self.node,
            config: self.config,
            broker,
            encoder: self.encoder,
            state: Mutex::default(),
            next_conn: AtomicU64::new(1),
            room_deliveries: AtomicU64::new(0),
            presence_events: broadcast::channel(1024).0,
        });
        let sink = Arc::new(HubSink(Arc::downgrade(&inner)));
        inner.broker.start(inner.node.clone(), sink).await?;
        Ok(Hub { inner })
    }
}

impl Hub {
    /// A hub on one node with the in-memory broker and the raw encoder.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn new(config: HubConfig) -> Self {
        let broker = MemoryBroker::new(config.history_len);
        let inner = Arc::new(Inner {
            node: NodeId::random(),
            config,
            broker: Arc::new(broker),
            encoder: Arc::new(RawEncoder),
            state: Mutex::default(),
            next_conn: AtomicU64::new(1),
            room_deliveries: AtomicU64::new(0),
            presence_events: broadcast::channel(1024).0,
        });
        let sink = Arc::new(HubSink(Arc::downgrade(&inner)));
        // The memory broker's start is immediate and cannot fail.
        drop(inner.broker.start(inner.node.clone(), sink));
        Self { inner }
    }

    /// A builder, to choose the broker (Redis) and the encoder.
    pub fn builder(config: HubConfig) -> HubBuilder {
        HubBuilder {
            config,
            broker: None,
            encoder: Arc::new(RawEncoder),
            node: NodeId::random(),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        &self.inner.node
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Registers a connection by its writer: the hub sends it what it is due through a
    /// bounded queue (see [`HubConfig::queue_messages`]). Must be called inside a tokio
    /// runtime (it spawns the task that drains the queue).
    pub fn register(&self, writer: Writer, user: Option<String>) -> Registration {
        let n = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let id = ConnId::new(&self.inner.node, n);
        let config = &self.inner.config;
        let outbox = Arc::new(Outbox::new(
            config.queue_messages,
            config.queue_bytes,
            config.slow_consumer,
        ));
        tokio::spawn(Arc::clone(&outbox).pump(writer));
        let mut st = self.inner.lock();
        if let Some(user) = &user {
            st.users.entry(user.clone()).or_default().insert(id.clone());
        }
        st.conns.insert(
            id.clone(),
            LocalConn {
                outbox: Arc::clone(&outbox),
                user,
                rooms: HashMap::new(),
            },
        );
        drop(st);
        Registration {
            hub: self.clone(),
            id,
            outbox,
            done: false,
        }
    }

    /// Takes `conn` out of `room` and announces the leave. Leaving a room one is not in does
    /// nothing.
    ///
    /// # Errors
    /// The broker's error announcing it.
    ///
    /// # Cancel safety
    /// The connection leaves in the first poll; announcing it runs on a task of its own and
    /// finishes even if this future is dropped, so presence never keeps a member that left.
    pub async fn leave(&self, conn: &ConnId, room: &str) -> Result<()> {
        let Some(member) = self.inner.forget_member(conn, room) else {
            return Ok(());
        };
        let (hub, room) = (self.clone(), room.to_owned());
        to_completion(async move { hub.inner.broker.presence_remove(room, member).await }).await
    }

    /// Sends `msg` to every member of `room` on every node, and keeps it in the room's
    /// history.
    ///
    /// # Errors
    /// [`HubError::BrokerUnavailable`] when the broker cannot take it,
    /// [`HubError::OutageBufferFull`] when it is unreachable and enough broadcasts wait,
    /// [`HubError::CloseNotDeliverable`] for a [`Message::Close`] (nothing is sent).
    ///
    /// # Cancel safety
    /// The message is handed to the broker in this future's first poll. With [`MemoryBroker`]
    /// (which delivers it at once) and [`RedisBroker`](crate::RedisBroker) (which queues it
    /// for publishing, in order) the future also completes in that poll, so a dropped
    /// broadcast was either never polled, and sent nothing, or has been accepted whole. With
    /// another [`Broker`], as its `publish` future says.
    pub async fn broadcast(&self, room: &str, msg: Message) -> Result<()> {
        deliverable(&msg)?;
        self.inner.broker.publish(room.to_owned(), None, msg).await
    }

    /// [`Hub::broadcast`] to everyone but `except` (typically the sender).
    ///
    /// # Errors
    /// As [`Hub::broadcast`].
    ///
    /// # Cancel safety
    /// As [`Hub::broadcast`].
    pub async fn broadcast_except(&self, room: &str, except: &ConnId, msg: Message) -> Result<()> {
        deliverable(&msg)?;
        self.inner
            .broker
            .publish(room.to_owned(), Some(except.clone()), msg)
            .await
    }

    /// Sends `msg` to one connection, on whichever node holds it. Not kept in history.
    ///
    /// # Errors
    /// The broker's error when the connection is on another node,
    /// [`HubError::CloseNotDeliverable`] for a [`Message::Close`] (nothing is sent).
    ///
    /// # Cancel safety
    /// A connection on this node gets the message in the first poll, which completes the
    /// future. For one on another node, as [`Hub::send_to_user`].
    pub async fn send_to_connection(&self, conn: &ConnId, msg: Message) -> Result<()> {
        deliverable(&msg)?;
        if conn.node() == self.inner.node.as_str() {
            self.inner
                .deliver_direct(&Target::Connection(conn.clone()), msg);
            return Ok(());
        }
        self.inner
            .broker
            .send_direct(Target::Connection(conn.clone()), msg)
            .await
    }

    /// Sends `msg` to every connection of `user`, on every node. Not kept in history.
    ///
    /// # Errors
    /// The broker's error, [`HubError::CloseNotDeliverable`] for a [`Message::Close`]
    /// (nothing is sent).
    ///
    /// # Cancel safety
    /// [`MemoryBroker`] delivers the message in the first poll, which completes the future.
    /// [`RedisBroker`](crate::RedisBroker) publishes it with one Redis command: dropped while
    /// that command is under way, the message may or may not have been sent (direct messages
    /// are at most once in any case), and nothing else is left undone.
    pub async fn send_to_user(&self, user: &str, msg: Message) -> Result<()> {
        deliverable(&msg)?;
        self.inner
            .broker
            .send_direct(Target::User(user.to_owned()), msg)
            .await
    }

    /// Who is in `room` on every live node: the count, and the members up to
    /// [`HubConfig::presence_limit`].
    ///
    /// # Errors
    /// The broker's error.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only reads.
    pub async fn presence(&self, room: &str) -> Result<Presence> {
        self.inner
            .broker
            .presence(room.to_owned(), self.inner.config.presence_limit)
            .await
    }

    /// Presence changes of every room, from every node, as they reach this node.
    pub fn presence_events(&self) -> broadcast::Receiver<PresenceEvent> {
        self.inner.presence_events.subscribe()
    }

    /// The rooms `conn` is in.
    pub fn rooms_of(&self, conn: &ConnId) -> Vec<String> {
        self.inner
            .lock()
            .conns
            .get(conn)
            .map(|c| c.rooms.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Room broadcasts this node has queued to its connections as they came (one per member
    /// reached; history replayed on a join is not counted). Beside
    /// [`Traffic::room_messages`](crate::Traffic::room_messages) it shows how much of what a
    /// node receives it delivers.
    pub fn room_deliveries(&self) -> u64 {
        self.inner.room_deliveries.load(Ordering::Relaxed)
    }

    /// Connections registered on this node.
    pub fn local_connections(&self) -> usize {
        self.inner.lock().conns.len()
    }

    /// Wire bytes waiting in all local outbound queues: what slow consumers cost this node.
    pub fn queued_bytes(&self) -> usize {
        self.inner
            .lock()
            .conns
            .values()
            .map(|c| c.outbox.stats().0)
            .sum()
    }
}

/// The hub delivers data messages only: a close belongs to one connection's own handshake
/// (and written to every member of a room it would close them all).
fn deliverable(msg: &Message) -> Result<()> {
    if msg.is_close() {
        return Err(HubError::CloseNotDeliverable);
    }
    Ok(())
}

/// Runs `work` on a task of its own and waits for it, so that dropping the caller's future
/// does not stop the work halfway: the hub's state and the broker's stay in step.
async fn to_completion<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    match tokio::spawn(work).await {
        Ok(output) => output,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime shutting down cancels the task, and that stops the caller too.
            Err(_) => std::future::pending().await,
        },
    }
}

impl State {
    /// Adds `conn` to `room`'s local members; the room's first tells `broker` this node wants
    /// its events.
    fn add_room_member(&mut self, room: &str, conn: &ConnId, broker: &dyn Broker) {
        let members = self.rooms.entry(room.to_owned()).or_insert_with(|| {
            broker.set_interest(room, true);
            HashSet::new()
        });
        members.insert(conn.clone());
        self.room_last.entry(room.to_owned()).or_default();
    }

    /// Takes `conn` out of `room`'s local members; after the last, `broker` is told this node
    /// no longer wants the room's events.
    fn remove_room_member(&mut self, room: &str, conn: &ConnId, broker: &dyn Broker) {
        if let Some(set) = self.rooms.get_mut(room) {
            set.remove(conn);
            if set.is_empty() {
                self.rooms.remove(room);
                self.room_last.remove(room);
                broker.set_interest(room, false);
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Updates are single map operations: a panicking holder leaves the maps consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget_member(&self, conn: &ConnId, room: &str) -> Option<Member> {
        let mut st = self.lock();
        let (_, member) = st.conns.get_mut(conn)?.rooms.remove(room)?;
        st.remove_room_member(room, conn, &*self.broker);
        Some(member)
    }
}
