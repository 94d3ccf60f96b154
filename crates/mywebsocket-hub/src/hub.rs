//! The hub: local connections, their rooms, and delivery of what the broker hands over.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mywebsocket::{CloseCode, Message, PreparedMessage, Writer};
use tokio::sync::broadcast;

use crate::broker::{Broker, BrokerEvent, BrokerSink, MemoryBroker, RoomMessage, Target};
use crate::config::HubConfig;
use crate::encoder::{Encoder, RawEncoder};
use crate::error::{HubError, Result};
use crate::id::{ConnId, NodeId, StreamId};
use crate::outbox::Outbox;
use crate::presence::{Member, Presence, PresenceEvent, RoomMember};

/// Tries to fetch a room's history after an outage before reporting a gap instead.
const RESYNC_ATTEMPTS: u32 = 8;

/// Where a connection stands in one room's message sequence.
#[derive(Debug)]
enum Cursor {
    /// Joining: history is being fetched; live messages wait here (at most the queue bound).
    Joining(Vec<(StreamId, PreparedMessage)>),
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

pub(crate) struct Inner {
    node: NodeId,
    config: HubConfig,
    broker: Arc<dyn Broker>,
    encoder: Arc<dyn Encoder>,
    state: Mutex<State>,
    next_conn: AtomicU64,
    presence_events: broadcast::Sender<PresenceEvent>,
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
            presence_events: broadcast::channel(1024).0,
        });
        let sink = BrokerSink {
            hub: Arc::downgrade(&inner),
        };
        inner.broker.start(inner.node.clone(), sink).await?;
        Ok(Hub { inner })
    }
}

/// A connection's registration with a hub. Dropping it (or [`Registration::unregister`])
/// takes the connection out of every room.
#[derive(Debug)]
pub struct Registration {
    hub: Hub,
    id: ConnId,
    outbox: Arc<Outbox>,
    done: bool,
}

impl Registration {
    /// The connection's id, unique across nodes.
    pub fn id(&self) -> &ConnId {
        &self.id
    }

    /// Waits until the hub closes the connection (the slow-consumer policy); returns the
    /// close code it sent.
    pub async fn closed(&self) -> CloseCode {
        self.outbox.wait_closed().await
    }

    /// What waits in this connection's outbound queue, and what the slow-consumer policy
    /// dropped from it.
    pub fn queued(&self) -> QueueStats {
        let (bytes, messages, dropped) = self.outbox.stats();
        QueueStats {
            messages,
            bytes,
            dropped,
        }
    }

    /// Leaves every room and forgets the connection, announcing the leaves.
    pub async fn unregister(mut self) {
        self.done = true;
        self.hub.unregister(&self.id).await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.done {
            let hub = self.hub.clone();
            let id = self.id.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { hub.unregister(&id).await });
            }
        }
    }
}

/// A connection's outbound queue, from [`Registration::queued`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Messages waiting to be handed to the connection's writer.
    pub messages: usize,
    /// Their wire bytes (what counts against [`HubConfig::queue_bytes`]).
    pub bytes: usize,
    /// Messages dropped since registration by
    /// [`SlowConsumerPolicy::DropOldest`](crate::SlowConsumerPolicy::DropOldest).
    pub dropped: u64,
}

/// Options of [`Hub::join`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct JoinOptions {
    /// The last message id the connection saw in this room: it receives what came after, or
    /// a gap notice if history no longer reaches back that far. Without it, it receives the
    /// latest [`HubConfig::history_on_join`] messages.
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

/// What [`Hub::join`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Joined {
    /// Messages replayed from history.
    pub replayed: usize,
    /// History did not reach back to `since`: the connection missed messages (it was sent
    /// the encoder's gap notice).
    pub gap: bool,
    /// Who is in the room now, the joiner included (cut to
    /// [`HubConfig::presence_limit`] members).
    pub presence: Presence,
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
            presence_events: broadcast::channel(1024).0,
        });
        let sink = BrokerSink {
            hub: Arc::downgrade(&inner),
        };
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

    /// Puts `conn` in `room`: replays history (see [`JoinOptions::since`]), then live
    /// messages, each exactly once and in room order; announces the join.
    ///
    /// # Errors
    /// [`HubError::UnknownConnection`], or the broker's error (the connection is then not in
    /// the room).
    pub async fn join(&self, conn: &ConnId, room: &str, opts: JoinOptions) -> Result<Joined> {
        let member = {
            let mut st = self.inner.lock();
            let local = st.conns.get_mut(conn).ok_or(HubError::UnknownConnection)?;
            let member = Member {
                conn: conn.to_string(),
                node: self.inner.node.to_string(),
                user: local.user.clone(),
                meta: opts.meta.clone(),
            };
            local.rooms.insert(
                room.to_owned(),
                (Cursor::Joining(Vec::new()), member.clone()),
            );
            st.rooms
                .entry(room.to_owned())
                .or_default()
                .insert(conn.clone());
            st.room_last.entry(room.to_owned()).or_default();
            member
        };
        let history = self
            .inner
            .broker
            .history(
                room.to_owned(),
                opts.since,
                self.inner.config.history_on_join,
            )
            .await;
        let history = match history {
            Ok(h) => h,
            Err(e) => {
                self.inner.forget_member(conn, room);
                return Err(e);
            }
        };
        let replayed = self
            .inner
            .go_live(conn, room, opts.since, &history.messages, history.gap);
        self.inner
            .broker
            .presence_add(room.to_owned(), member)
            .await?;
        let presence = self.presence(room).await?;
        Ok(Joined {
            replayed,
            gap: history.gap,
            presence,
        })
    }

    /// Takes `conn` out of `room` and announces the leave. Leaving a room one is not in does
    /// nothing.
    ///
    /// # Errors
    /// The broker's error announcing it.
    pub async fn leave(&self, conn: &ConnId, room: &str) -> Result<()> {
        match self.inner.forget_member(conn, room) {
            Some(member) => {
                self.inner
                    .broker
                    .presence_remove(room.to_owned(), member)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Sends `msg` to every member of `room` on every node, and keeps it in the room's
    /// history.
    ///
    /// # Errors
    /// [`HubError::BrokerUnavailable`] when the broker cannot take it,
    /// [`HubError::OutageBufferFull`] when it is unreachable and enough broadcasts wait.
    pub async fn broadcast(&self, room: &str, msg: Message) -> Result<()> {
        self.inner.broker.publish(room.to_owned(), None, msg).await
    }

    /// [`Hub::broadcast`] to everyone but `except` (typically the sender).
    ///
    /// # Errors
    /// As [`Hub::broadcast`].
    pub async fn broadcast_except(&self, room: &str, except: &ConnId, msg: Message) -> Result<()> {
        self.inner
            .broker
            .publish(room.to_owned(), Some(except.clone()), msg)
            .await
    }

    /// Sends `msg` to one connection, on whichever node holds it. Not kept in history.
    ///
    /// # Errors
    /// The broker's error when the connection is on another node.
    pub async fn send_to_connection(&self, conn: &ConnId, msg: Message) -> Result<()> {
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
    /// The broker's error.
    pub async fn send_to_user(&self, user: &str, msg: Message) -> Result<()> {
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

    async fn unregister(&self, conn: &ConnId) {
        let removed = {
            let mut st = self.inner.lock();
            let Some(local) = st.conns.remove(conn) else {
                return;
            };
            local.outbox.close(CloseCode::GOING_AWAY);
            if let Some(user) = &local.user {
                if let Some(set) = st.users.get_mut(user) {
                    set.remove(conn);
                    if set.is_empty() {
                        st.users.remove(user);
                    }
                }
            }
            for room in local.rooms.keys() {
                st.remove_room_member(room, conn);
            }
            local.rooms
        };
        for (room, (_, member)) in removed {
            if let Err(e) = self
                .inner
                .broker
                .presence_remove(room.clone(), member)
                .await
            {
                tracing::warn!(%room, error = %e, "could not announce a leave");
            }
        }
    }
}

impl State {
    fn remove_room_member(&mut self, room: &str, conn: &ConnId) {
        if let Some(set) = self.rooms.get_mut(room) {
            set.remove(conn);
            if set.is_empty() {
                self.rooms.remove(room);
                self.room_last.remove(room);
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
        st.remove_room_member(room, conn);
        Some(member)
    }

    fn prepare(&self, room: &str, message: &RoomMessage) -> PreparedMessage {
        PreparedMessage::new(self.encoder.room_message(room, message.id, &message.msg))
    }

    /// Gives a joining connection its history, then what arrived meanwhile, and makes it live.
    fn go_live(
        &self,
        conn: &ConnId,
        room: &str,
        since: Option<StreamId>,
        history: &[RoomMessage],
        gap: bool,
    ) -> usize {
        let mut st = self.lock();
        let Some(local) = st.conns.get_mut(conn) else {
            return 0;
        };
        let Some((cursor, _)) = local.rooms.get_mut(room) else {
            return 0;
        };
        let mut last = since.unwrap_or(StreamId::ZERO);
        if gap {
            if let Some(notice) = self.encoder.gap(room, last) {
                local.outbox.push(PreparedMessage::new(notice));
            }
        }
        let mut replayed = 0;
        for message in history {
            if message.id <= last {
                continue;
            }
            last = message.id;
            if message.except.as_ref() != Some(conn) {
                local.outbox.push(self.prepare(room, message));
                replayed += 1;
            }
        }
        if let Cursor::Joining(waiting) = std::mem::replace(cursor, Cursor::Live(last)) {
            for (id, prepared) in waiting {
                if id > last {
                    last = id;
                    local.outbox.push(prepared);
                }
            }
            *cursor = Cursor::Live(last);
        }
        replayed
    }

    pub(crate) fn handle_event(&self, event: BrokerEvent) {
        match event {
            BrokerEvent::Room { room, message } => self.deliver_room(&room, &message),
            BrokerEvent::Direct { target, msg } => self.deliver_direct(&target, msg),
            BrokerEvent::Presence(event) => self.deliver_presence(event),
        }
    }

    fn deliver_room(&self, room: &str, message: &RoomMessage) {
        let mut st = self.lock();
        let State {
            conns,
            rooms,
            room_last,
            ..
        } = &mut *st;
        let (Some(members), Some(room_last)) = (rooms.get(room), room_last.get_mut(room)) else {
            return;
        };
        if message.id > *room_last {
            *room_last = message.id;
        }
        let mut prepared = None;
        for conn in members {
            if message.except.as_ref() == Some(conn) {
                continue;
            }
            let Some(local) = conns.get_mut(conn) else {
                continue;
            };
            let Some((cursor, _)) = local.rooms.get_mut(room) else {
                continue;
            };
            let prepared = prepared.get_or_insert_with(|| self.prepare(room, message));
            match cursor {
                Cursor::Live(last) if message.id > *last => {
                    *last = message.id;
                    local.outbox.push(prepared.clone());
                }
                Cursor::Live(_) => {}
                Cursor::Joining(waiting) => {
                    if waiting.len() < self.config.queue_messages {
                        waiting.push((message.id, prepared.clone()));
                    } else {
                        // As if its queue had overflowed: the policy's answer, not silent loss.
                        local.outbox.close(match self.config.slow_consumer {
                            crate::SlowConsumerPolicy::Close(code) => code,
                            _ => CloseCode::TRY_AGAIN_LATER,
                        });
                    }
                }
            }
        }
    }

    fn deliver_direct(&self, target: &Target, msg: Message) {
        let st = self.lock();
        let prepared = PreparedMessage::new(msg);
        match target {
            Target::Connection(conn) => {
                if let Some(local) = st.conns.get(conn) {
                    local.outbox.push(prepared);
                }
            }
            Target::User(user) => {
                for conn in st.users.get(user).into_iter().flatten() {
                    if let Some(local) = st.conns.get(conn) {
                        local.outbox.push(prepared.clone());
                    }
                }
            }
        }
    }

    fn deliver_presence(&self, event: PresenceEvent) {
        // Past the limit every join would cost a message per member: members of large rooms
        // ask for presence instead (see `HubConfig::presence_limit`).
        let announce = self
            .lock()
            .rooms
            .get(event.room())
            .is_some_and(|m| m.len() <= self.config.presence_limit);
        if let Some(msg) = announce.then(|| self.encoder.presence(&event)).flatten() {
            let prepared = PreparedMessage::new(msg);
            let st = self.lock();
            for conn in st.rooms.get(event.room()).into_iter().flatten() {
                let Some(local) = st.conns.get(conn) else {
                    continue;
                };
                // A joiner learns the members from its join reply; its own join event would
                // arrive before that reply, so it is not sent to it.
                if matches!(&event, PresenceEvent::Join { member, .. } if member.conn == conn.as_str())
                {
                    continue;
                }
                local.outbox.push(prepared.clone());
            }
        }
        let _ = self.presence_events.send(event);
    }

    pub(crate) fn local_presence(&self) -> Vec<RoomMember> {
        let st = self.lock();
        st.conns
            .values()
            .flat_map(|c| {
                c.rooms.iter().map(|(room, (_, m))| RoomMember {
                    room: room.clone(),
                    member: m.clone(),
                })
            })
            .collect()
    }

    /// Fetches from history what each local room missed since the last delivery here.
    pub(crate) async fn resync(&self) {
        let rooms: Vec<(String, StreamId)> = self
            .lock()
            .room_last
            .iter()
            .map(|(room, last)| (room.clone(), *last))
            .collect();
        for (room, last) in rooms {
            let since = (last != StreamId::ZERO).then_some(last);
            // The first command after an outage can fail on a connection that has not noticed
            // yet; retry a few times before giving up on this room.
            let mut backoff = std::time::Duration::from_millis(50);
            let mut attempt = 0;
            let history = loop {
                attempt += 1;
                match self
                    .broker
                    .history(room.clone(), since, self.config.history_len)
                    .await
                {
                    Ok(history) => break Some(history),
                    Err(e) if attempt < RESYNC_ATTEMPTS => {
                        tracing::debug!(%room, error = %e, "resynchronisation failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                    }
                    Err(e) => {
                        tracing::error!(%room, error = %e, "could not resynchronise room: members are told of a gap");
                        break None;
                    }
                }
            };
            let Some(history) = history else {
                self.report_gap(&room, last);
                continue;
            };
            if history.gap {
                tracing::warn!(%room, %last, "history no longer reaches the last delivered message: members are told of a gap");
                self.report_gap(&room, last);
            }
            let recovered = history.messages.len();
            for message in &history.messages {
                self.deliver_room(&room, message);
            }
            tracing::info!(%room, recovered, "resynchronised room from history");
        }
    }

    fn report_gap(&self, room: &str, since: StreamId) {
        let Some(notice) = self.encoder.gap(room, since) else {
            return;
        };
        let prepared = PreparedMessage::new(notice);
        let st = self.lock();
        for conn in st.rooms.get(room).into_iter().flatten() {
            if let Some(local) = st.conns.get(conn) {
                local.outbox.push(prepared.clone());
            }
        }
    }
}
