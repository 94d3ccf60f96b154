//! The subscription: the channels of the rooms this node hosts members of, and the direct
//! channel, kept up across outages, with a resynchronisation from the streams after each
//! reconnection.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use super::conn::Conn;
use super::keys::Keys;
use super::rooms::{Rooms, Subscriber};
use super::scripts::{parse_direct, parse_room_message};
use super::MAX_BACKOFF;
use crate::broker::{BrokerEvent, BrokerSink};
use crate::presence::{Member, PresenceEvent};

/// Keeps the subscription up: connects with backoff, subscribes to the direct channel and to
/// the rooms this node wants, resyncs the hub from the streams, then delivers until the
/// connection drops. Stops once the hub is gone.
pub(super) async fn run_subscriber(
    client: redis::Client,
    keys: Keys,
    rooms: Arc<Rooms>,
    sink: Arc<dyn BrokerSink>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    let mut backoff = Duration::from_millis(50);
    loop {
        if sink.is_closed() {
            return;
        }
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(keys.direct()).await?;
            Ok::<_, redis::RedisError>(pubsub.split())
        }
        .await;
        match connected {
            Ok((pubsub_sink, mut messages)) => {
                backoff = Duration::from_millis(50);
                let (synced, rooms_subscribed) = tokio::sync::oneshot::channel();
                let reconciler = {
                    let (rooms, keys) = (Arc::clone(&rooms), keys.clone());
                    let sink = Subscriber::Single(pubsub_sink);
                    tokio::spawn(async move { rooms.reconcile(&keys, sink, synced).await })
                };
                // Every wanted room is subscribed before the hub resyncs, so that what it
                // fetches and what arrives live leave no hole between them.
                if rooms_subscribed.await.is_ok() {
                    if let Some(first) = subscribed.take() {
                        let _ = first.send(());
                    } else {
                        tracing::info!(
                            "reconnected to Redis and resubscribed; recovering from streams"
                        );
                    }
                    // Messages published meanwhile wait in the subscription while the hub
                    // fetches what it missed, so they are delivered after it, in order.
                    sink.resync().await;
                    while let Some(msg) = messages.next().await {
                        handle_pubsub(
                            &keys,
                            &rooms,
                            &*sink,
                            msg.get_channel_name(),
                            msg.get_payload_bytes(),
                        );
                    }
                }
                reconciler.abort();
                rooms.disconnected();
                tracing::error!("lost the Redis subscription; reconnecting");
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot subscribe to Redis");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What the subscriber on a Redis Cluster works with.
pub(super) struct ClusterSubscriber {
    /// The connection that carries only subscriptions (see `cluster.rs`).
    pub(super) subscriptions: ClusterConnection,
    /// A command connection, to watch the cluster's slot owners.
    pub(super) commands: Conn,
    pub(super) keys: Keys,
    pub(super) rooms: Arc<Rooms>,
    pub(super) sink: Arc<dyn BrokerSink>,
}

/// The subscriber on a Redis Cluster: sharded subscriptions on their own connection, whose
/// pushes (messages, and the library's notice that a node's connection dropped) arrive on
/// `pushes`. The messages of a moment may be lost when a shard's connection drops (a master
/// failed or restarted), a shard ends one of our subscriptions (its slot moved), the slot
/// owners change (a failover the connection did not notice: a host gone without a reset), or
/// the task that subscribes fails: then the subscriber subscribes again to everything the
/// node wants and has the hub resync from the streams, as after an outage on one Redis.
pub(super) async fn run_cluster_subscriber(
    sub: ClusterSubscriber,
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let ClusterSubscriber {
        subscriptions,
        commands,
        keys,
        rooms,
        sink,
    } = sub;
    let mut subscribed = Some(subscribed);
    let mut backoff = Duration::from_millis(50);
    loop {
        if sink.is_closed() {
            return;
        }
        let before = slot_owners(&commands).await;
        match subscriptions.clone().ssubscribe(keys.direct()).await {
            Ok(()) => {
                let (synced, rooms_subscribed) = tokio::sync::oneshot::channel();
                let mut reconciler = {
                    let (rooms, keys) = (Arc::clone(&rooms), keys.clone());
                    let sink = Subscriber::Cluster(subscriptions.clone());
                    tokio::spawn(async move { rooms.reconcile(&keys, sink, synced).await })
                };
                if rooms_subscribed.await.is_ok() {
                    backoff = Duration::from_millis(50);
                    if let Some(first) = subscribed.take() {
                        let _ = first.send(());
                    } else {
                        tracing::info!(
                            "resubscribed on the Redis Cluster; recovering from streams"
                        );
                    }
                    // Pushes wait in the channel meanwhile, delivered after the resync.
                    sink.resync().await;
                    let mut watch = tokio::time::interval(TOPOLOGY_CHECK);
                    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let why = loop {
                        tokio::select! {
                            push = pushes.recv() => match push {
                                Some(push) => {
                                    if !handle_push(&keys, &rooms, &*sink, push) {
                                        break "a shard dropped our subscriptions";
                                    }
                                }
                                None => {
                                    reconciler.abort();
                                    return;
                                }
                            },
                            _ = &mut reconciler => break "subscribing failed",
                            _ = watch.tick() => {
                                if sink.is_closed() {
                                    reconciler.abort();
                                    return;
                                }
                                let now = slot_owners(&commands).await;
                                if now.is_some() && now != before {
                                    break "the slot owners changed";
                                }
                            }
                        }
                    };
                    tracing::warn!(reason = why, "resubscribing on the Redis Cluster");
                }
                reconciler.abort();
                rooms.disconnected();
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot subscribe on the Redis Cluster");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How often the subscriber compares the cluster's slot owners with those it subscribed
/// under.
const TOPOLOGY_CHECK: Duration = Duration::from_secs(1);

/// The cluster's slot ranges and the address of each range's master (`CLUSTER SLOTS`), or
/// `None` when no node answered.
async fn slot_owners(commands: &Conn) -> Option<Vec<(i64, i64, String)>> {
    let ranges: Vec<Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut commands.clone())
        .await
        .ok()?;
    let mut owners: Vec<(i64, i64, String)> = ranges
        .iter()
        .filter_map(|range| {
            let Value::Array(range) = range else {
                return None;
            };
            let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
                (range.first(), range.get(1), range.get(2))
            else {
                return None;
            };
            Some((*start, *end, format!("{master:?}")))
        })
        .collect();
    owners.sort();
    Some(owners)
}

/// Hands one push of the cluster connection to the hub; false when subscriptions may have
/// been lost (a connection dropped, or a shard ended a subscription we still want).
fn handle_push(keys: &Keys, rooms: &Rooms, sink: &dyn BrokerSink, push: PushInfo) -> bool {
    let channel = |i: usize| match push.data.get(i) {
        Some(Value::BulkString(b)) => std::str::from_utf8(b).ok(),
        Some(Value::SimpleString(s)) => Some(s.as_str()),
        _ => None,
    };
    match push.kind {
        PushKind::SMessage | PushKind::Message => {
            if let (Some(name), Some(Value::BulkString(body))) = (channel(0), push.data.get(1)) {
                handle_pubsub(keys, rooms, sink, name, body);
            }
            true
        }
        PushKind::Disconnection => false,
        PushKind::SUnsubscribe => match channel(0) {
            Some(name) if name == keys.direct() => false,
            Some(name) => keys
                .room_of(name)
                .is_none_or(|room| !rooms.lost_subscription(room)),
            None => true,
        },
        _ => true,
    }
}

/// Hands one message of the subscription to the hub.
fn handle_pubsub(keys: &Keys, rooms: &Rooms, sink: &dyn BrokerSink, channel: &str, body: &[u8]) {
    if channel == keys.direct() {
        if let Some((target, msg)) = parse_direct(body) {
            sink.deliver(BrokerEvent::Direct { target, msg });
        }
        return;
    }
    let Some(room) = keys.room_of(channel) else {
        return;
    };
    let room = room.to_owned();
    rooms.received();
    match body.first() {
        Some(b'M' | b'R') => {
            if let Some(message) = parse_room_message(body) {
                sink.deliver(BrokerEvent::Room { room, message });
            } else {
                tracing::warn!(%room, "malformed room message on Redis");
            }
        }
        Some(&kind @ (b'J' | b'L')) => {
            let Ok(member) = serde_json::from_slice::<Member>(&body[1..]) else {
                return;
            };
            let event = if kind == b'J' {
                PresenceEvent::Join { room, member }
            } else {
                PresenceEvent::Leave { room, member }
            };
            sink.deliver(BrokerEvent::Presence(event));
        }
        _ => {}
    }
}
