//! Per-room subscriptions: the rooms this node wants (its hub has members in them), the
//! rooms the current Redis subscription confirmed, and the task that brings the second in
//! line with the first.
//!
//! The hub changes what it wants under its own lock, in membership order
//! ([`Rooms::set_interest`]); a join then waits for the room's subscription to be confirmed
//! ([`Rooms::ready`]) before it reads history. The reconciler subscribes and unsubscribes in
//! batches on the subscription's connection and reports what Redis confirmed.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use redis::aio::PubSubSink;
use redis::cluster_async::ClusterConnection;
use tokio::sync::{watch, Notify};

use super::keys::Keys;
use crate::error::{HubError, Result};

/// Most channels in one SUBSCRIBE or UNSUBSCRIBE.
const BATCH: usize = 512;

/// What this node wants and what Redis confirmed.
#[derive(Debug, Default)]
struct State {
    wanted: HashSet<String>,
    /// Rooms the current subscription holds, as Redis confirmed.
    confirmed: HashSet<String>,
    /// A subscription connection is up.
    connected: bool,
    /// Rooms the reconciler has subscribed and not unsubscribed. On a cluster the client
    /// keeps (and renews) subscriptions across our reconnections, so a new reconciler drops
    /// those no longer wanted first.
    held: HashSet<String>,
    /// On a cluster: rooms we are unsubscribing from, with how many of our own
    /// `SUNSUBSCRIBE`s have not yet come back as pushes. Redis also ends subscriptions by
    /// itself (a slot moved): those must not be taken for ours, nor ours for those.
    unsubscribing: std::collections::HashMap<String, u32>,
}

/// The node's room subscriptions. See the [module docs](self).
#[derive(Debug)]
pub(super) struct Rooms {
    state: Mutex<State>,
    /// Wakes the reconciler when `wanted` changes.
    changed: Notify,
    /// Bumped whenever `confirmed` or `connected` changes, for [`Rooms::ready`].
    confirmations: watch::Sender<u64>,
    /// Room messages received from Redis (for the capacity figures).
    received: Arc<AtomicU64>,
}

impl Rooms {
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            confirmations: watch::Sender::new(0),
            received: Arc::new(AtomicU64::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Updates are single set operations: a panicking holder leaves them consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hub's membership changed: this node wants `room`'s events or no longer does.
    pub(super) fn set_interest(&self, room: &str, interested: bool) {
        let mut state = self.lock();
        if interested {
            state.wanted.insert(room.to_owned());
        } else {
            state.wanted.remove(room);
        }
        drop(state);
        self.changed.notify_one();
    }

    /// Whether a `sunsubscribe` push for `room` means Redis ended a subscription this node
    /// still wants (rather than answering one of our own `SUNSUBSCRIBE`s, or a room no longer
    /// wanted).
    pub(super) fn lost_subscription(&self, room: &str) -> bool {
        let mut state = self.lock();
        if let Some(pending) = state.unsubscribing.get_mut(room) {
            *pending -= 1;
            if *pending == 0 {
                state.unsubscribing.remove(room);
            }
            return false;
        }
        state.wanted.contains(room)
    }

    /// Resolves once the subscription holds `room`, or at once when the room is no longer
    /// wanted.
    pub(super) async fn ready(&self, room: &str) -> Result<()> {
        let mut confirmations = self.confirmations.subscribe();
        loop {
            {
                let state = self.lock();
                if state.confirmed.contains(room) || !state.wanted.contains(room) {
                    return Ok(());
                }
                if !state.connected {
                    return Err(unavailable());
                }
            }
            if confirmations.changed().await.is_err() {
                return Err(unavailable());
            }
        }
    }

    /// Counts a room message received from Redis.
    pub(super) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// The counter of room messages received from Redis.
    pub(super) fn received_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.received)
    }

    /// Records that our own `SUNSUBSCRIBE`s of `rooms` will come back as pushes (cluster).
    fn expect_unsubscribes(&self, sink: &Subscriber, rooms: &[String]) {
        if matches!(sink, Subscriber::Cluster(_)) {
            let mut state = self.lock();
            for room in rooms {
                *state.unsubscribing.entry(room.clone()).or_default() += 1;
            }
        }
    }

    /// The subscription connection went away: nothing is confirmed until the next one.
    pub(super) fn disconnected(&self) {
        let mut state = self.lock();
        state.connected = false;
        state.confirmed.clear();
        state.unsubscribing.clear();
        drop(state);
        self.confirmations.send_modify(|n| *n += 1);
    }

    /// Keeps the subscription on `sink` in line with what the node wants, starting from
    /// nothing subscribed; signals `synced` after its first pass (every wanted room then
    /// confirmed). Returns when the connection fails.
    pub(super) async fn reconcile(
        &self,
        keys: &Keys,
        mut sink: Subscriber,
        synced: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut synced = Some(synced);
        let stale: Vec<String> = {
            let mut state = self.lock();
            state.connected = true;
            let held = std::mem::take(&mut state.held);
            match sink {
                // A new connection holds nothing.
                Subscriber::Single(_) => Vec::new(),
                Subscriber::Cluster(_) => {
                    let (kept, stale): (HashSet<String>, HashSet<String>) = held
                        .into_iter()
                        .partition(|room| state.wanted.contains(room));
                    state.held = kept;
                    stale.into_iter().collect()
                }
            }
        };
        for batch in stale.chunks(BATCH) {
            self.expect_unsubscribes(&sink, batch);
            let channels: Vec<String> = batch.iter().map(|room| keys.channel(room)).collect();
            if sink.unsubscribe(channels).await.is_err() {
                // Kept for the next reconciler to drop.
                self.lock().held.extend(stale.iter().cloned());
                return;
            }
        }
        // Everything wanted is subscribed again below, whatever the client kept.
        let mut held: HashSet<String> = HashSet::new();
        loop {
            // Registered before reading the wanted set, so a change after the read wakes us.
            let changed = self.changed.notified();
            let (subscribe, unsubscribe) = {
                let state = self.lock();
                let subscribe: Vec<String> = state.wanted.difference(&held).cloned().collect();
                let unsubscribe: Vec<String> = held.difference(&state.wanted).cloned().collect();
                (subscribe, unsubscribe)
            };
            for batch in subscribe.chunks(BATCH) {
                let channels: Vec<String> = batch.iter().map(|room| keys.channel(room)).collect();
                if sink.subscribe(channels).await.is_err() {
                    return;
                }
                held.extend(batch.iter().cloned());
                let mut state = self.lock();
                state.confirmed.extend(batch.iter().cloned());
                state.held.extend(batch.iter().cloned());
                drop(state);
                self.confirmations.send_modify(|n| *n += 1);
            }
            for batch in unsubscribe.chunks(BATCH) {
                self.expect_unsubscribes(&sink, batch);
                let channels: Vec<String> = batch.iter().map(|room| keys.channel(room)).collect();
                if sink.unsubscribe(channels).await.is_err() {
                    return;
                }
                let mut state = self.lock();
                for room in batch {
                    held.remove(room);
                    state.confirmed.remove(room);
                    state.held.remove(room);
                }
            }
            if subscribe.is_empty() && unsubscribe.is_empty() {
                if let Some(synced) = synced.take() {
                    let _ = synced.send(());
                }
                changed.await;
            }
        }
    }
}

/// Where the reconciler subscribes: a pub/sub connection on one Redis, sharded channels
/// (`SSUBSCRIBE`) through the cluster connection on a Redis Cluster.
pub(super) enum Subscriber {
    Single(PubSubSink),
    Cluster(ClusterConnection),
}

impl Subscriber {
    async fn subscribe(&mut self, channels: Vec<String>) -> redis::RedisResult<()> {
        match self {
            Self::Single(sink) => sink.subscribe(channels).await,
            // One command per channel: the channels of a batch live in different slots.
            Self::Cluster(conn) => each(conn, channels, true).await,
        }
    }

    async fn unsubscribe(&mut self, channels: Vec<String>) -> redis::RedisResult<()> {
        match self {
            Self::Single(sink) => sink.unsubscribe(channels).await,
            Self::Cluster(conn) => each(conn, channels, false).await,
        }
    }
}

/// `SSUBSCRIBE`s (or `SUNSUBSCRIBE`s) every channel, all at once.
async fn each(
    conn: &ClusterConnection,
    channels: Vec<String>,
    subscribe: bool,
) -> redis::RedisResult<()> {
    let requests = channels.into_iter().map(|channel| {
        let mut conn = conn.clone();
        async move {
            if subscribe {
                conn.ssubscribe(channel).await
            } else {
                conn.sunsubscribe(channel).await
            }
        }
    });
    futures_util::future::join_all(requests)
        .await
        .into_iter()
        .collect()
}

/// The error of a join while the subscription is down.
fn unavailable() -> HubError {
    HubError::BrokerUnavailable("the Redis subscription is down (reconnecting)".into())
}
