//! The Redis broker: many nodes sharing one Redis, or a Redis Cluster.
//!
//! Per room, a stream `<prefix>:s:<room>` holds the history (`XADD ... MAXLEN`) and a channel
//! `<prefix>:c:<room>` carries each message to the nodes subscribed to it: a node subscribes
//! to a room's channel while its hub has members there ([`rooms`]). One Lua script appends to the
//! stream and publishes, so the channel's order is the stream's order (one order per room),
//! and a per-node sequence number makes a retried publish a no-op (no duplicates after a
//! reconnect). Presence lives in a hash per room; each node refreshes `<prefix>:alive:<node>`
//! with a TTL, and any node reaps the members of a node whose key expired.
//!
//! When Redis goes away, broadcasts wait in an in-order buffer; the subscriber reconnects
//! with backoff, resubscribes, restores this node's presence and asks the hub to fetch from
//! the streams what its rooms missed.
//!
//! On a Redis Cluster ([`RedisBroker::cluster`]) a room's names share a hash tag, so its
//! stream, channel and presence live on one shard; channels are sharded (`SSUBSCRIBE`,
//! `SPUBLISH`), so a message crosses only that shard; the publisher waits for a replica to
//! hold each batch and marks what it publishes again after a failure, so a failover costs
//! members a gap notice, never a silent loss; and when a shard's connection drops, the
//! subscriber subscribes again and the hub resyncs from the streams.
//!
//! [`keys`] names what the broker keeps in Redis, [`conn`] is one command connection for
//! both deployments, [`scripts`] the Lua and the formats of what
//! it stores and publishes; three tasks run per node: the [`publisher`], the [`subscriber`]
//! (with [`rooms`], which keeps the per-room subscriptions) and [`liveness`]; [`presence`]
//! reads and writes the members of rooms.

mod cluster;
mod conn;
mod keys;
mod liveness;
mod presence;
mod publisher;
mod rooms;
mod scripts;
mod subscriber;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mywebsocket::Message;
use tokio::sync::mpsc;

use self::cluster::ClusterClients;
use self::conn::Conn;
use self::keys::Keys;
use self::publisher::{Pending, Publisher};
use self::rooms::Rooms;
use super::{BoxFuture, Broker, BrokerSink, History, Target};
use crate::config::HubConfig;
use crate::error::{HubError, Result};
use crate::id::{ConnId, NodeId, StreamId};
use crate::presence::{Member, Presence};

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What a started broker holds.
struct Running {
    node: NodeId,
    conn: Conn,
    publish: mpsc::Sender<Pending>,
    seq: AtomicU64,
}

/// Where the broker connects.
enum Server {
    Single(redis::Client),
    Cluster(Box<ClusterClients>),
}

/// A broker on Redis (5.0 or later; streams and Lua), or on a Redis Cluster (7.0 or later;
/// sharded pub/sub), for hubs on several nodes.
pub struct RedisBroker {
    server: Server,
    keys: Keys,
    replica_acks: usize,
    history_len: usize,
    ttl: Duration,
    outage_buffer: usize,
    rooms: Arc<Rooms>,
    running: OnceLock<Running>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// A broker for the Redis at `url` (`redis://host:port/db`), with the history length,
    /// presence TTL, outage buffer and key prefix of `config`. Connects in
    /// [`HubBuilder::build`](crate::HubBuilder::build).
    ///
    /// # Errors
    /// `url` is not a Redis URL.
    pub fn new(url: &str, config: &HubConfig) -> Result<Self> {
        Ok(Self::with_server(
            Server::Single(redis::Client::open(url)?),
            false,
            config,
        ))
    }

    /// A broker for the Redis Cluster reached through `seeds` (`redis://host:port` of one or
    /// more of its nodes; the rest are discovered), with the settings of `config`, including
    /// [`HubConfig::redis_replica_acks`]. Rooms spread over the shards by hash slot; each
    /// room's messages cross only its shard. Connects in
    /// [`HubBuilder::build`](crate::HubBuilder::build).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), mywebsocket_hub::HubError> {
    /// use mywebsocket_hub::{Hub, HubConfig, RedisBroker};
    /// let config = HubConfig::default();
    /// let seeds = ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"];
    /// let broker = RedisBroker::cluster(seeds, &config)?;
    /// let hub = Hub::builder(config).broker(broker).build().await?;
    /// # let _ = hub; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A seed is not a Redis URL, or there is none.
    pub fn cluster<I, S>(seeds: I, config: &HubConfig) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let seeds: Vec<String> = seeds.into_iter().map(|s| s.as_ref().to_owned()).collect();
        Ok(Self::with_server(
            Server::Cluster(Box::new(ClusterClients::new(&seeds)?)),
            true,
            config,
        ))
    }

    fn with_server(server: Server, cluster: bool, config: &HubConfig) -> Self {
        Self {
            server,
            keys: Keys::new(&config.redis_prefix, cluster),
            replica_acks: config.redis_replica_acks,
            history_len: config.history_len,
            ttl: config.presence_ttl,
            outage_buffer: config.outage_buffer.max(1),
            rooms: Arc::new(Rooms::new()),
            running: OnceLock::new(),
        }
    }

    fn running(&self) -> Result<&Running> {
        self.running.get().ok_or(HubError::BrokerNotRunning)
    }
}

impl Broker for RedisBroker {
    fn start(&self, node: NodeId, sink: Arc<dyn BrokerSink>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let (conn, publishing) = match &self.server {
                Server::Single(client) => {
                    let conn = Conn::Single(client.get_connection_manager().await?);
                    (conn.clone(), conn)
                }
                Server::Cluster(clients) => (
                    Conn::Cluster(clients.commands.get_async_connection().await?),
                    Conn::Cluster(clients.publisher.get_async_connection().await?),
                ),
            };
            let (publish, queue) = mpsc::channel(self.outage_buffer);
            let running = Running {
                node: node.clone(),
                conn: conn.clone(),
                publish,
                seq: AtomicU64::new(0),
            };
            if self.running.set(running).is_err() {
                return Err(HubError::BrokerAlreadyStarted);
            }
            let keys = self.keys.clone();
            let publisher = Publisher {
                conn: publishing,
                keys: keys.clone(),
                node: node.clone(),
                history_len: self.history_len,
                replica_acks: self.replica_acks,
                short_of_replicas: std::sync::atomic::AtomicBool::new(false),
            };
            tokio::spawn(publisher::run_publisher(publisher, queue));
            tokio::spawn(liveness::run_liveness(
                conn.clone(),
                keys.clone(),
                node,
                self.ttl,
                Arc::clone(&sink),
            ));
            let (subscribed, ready) = tokio::sync::oneshot::channel();
            let rooms = Arc::clone(&self.rooms);
            match &self.server {
                Server::Cluster(clients) => {
                    let pushes = clients
                        .pushes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take()
                        .ok_or(HubError::BrokerAlreadyStarted)?;
                    let subscriptions = clients.subscriptions.get_async_connection().await?;
                    tokio::spawn(subscriber::run_cluster_subscriber(
                        subscriber::ClusterSubscriber {
                            subscriptions,
                            commands: conn,
                            keys,
                            rooms,
                            sink,
                        },
                        pushes,
                        subscribed,
                    ));
                }
                Server::Single(client) => {
                    tokio::spawn(subscriber::run_subscriber(
                        client.clone(),
                        keys,
                        rooms,
                        sink,
                        subscribed,
                    ));
                }
            }
            ready
                .await
                // The subscriber stops before subscribing only when the hub is gone.
                .map_err(|_| HubError::BrokerNotRunning)
        })
    }

    fn publish(
        &self,
        room: String,
        except: Option<ConnId>,
        msg: Message,
    ) -> BoxFuture<'_, Result<()>> {
        let result = self
            .running()
            .and_then(|running| running.enqueue(room, except, msg, self.outage_buffer));
        Box::pin(async move { result })
    }

    fn send_direct(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let running = self.running()?;
            publisher::send_direct(&running.conn, &self.keys, &target, &msg).await
        })
    }

    fn history(
        &self,
        room: String,
        since: Option<StreamId>,
        latest: usize,
    ) -> BoxFuture<'_, Result<History>> {
        Box::pin(async move {
            let running = self.running()?;
            let (keys, len) = (&self.keys, self.history_len);
            scripts::history(&running.conn, keys, len, &room, since, latest).await
        })
    }

    fn presence_add(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let running = self.running()?;
            presence::add(&running.conn, &self.keys, &running.node, &room, &member).await
        })
    }

    fn presence_remove(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let running = self.running()?;
            presence::remove(&running.conn, &self.keys, &room, &member).await
        })
    }

    fn presence(&self, room: String, limit: usize) -> BoxFuture<'_, Result<Presence>> {
        Box::pin(async move {
            let running = self.running()?;
            presence::members(&running.conn, &self.keys, &room, limit).await
        })
    }

    fn set_interest(&self, room: &str, interested: bool) {
        self.rooms.set_interest(room, interested);
    }

    fn room_ready(&self, room: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.rooms.ready(&room).await })
    }
}

impl RedisBroker {
    /// A handle on what this broker receives from Redis, which stays readable after the
    /// broker is given to the hub.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            received: self.rooms.received_counter(),
        }
    }
}

/// What a [`RedisBroker`] received from Redis; from [`RedisBroker::traffic`].
#[derive(Debug, Clone)]
pub struct Traffic {
    received: Arc<std::sync::atomic::AtomicU64>,
}

impl Traffic {
    /// Room messages (broadcasts and presence changes) this node has received from Redis
    /// since it started. A node subscribes only to the rooms it hosts members of, so this
    /// grows with their traffic, not with all rooms': compare it with the deliveries made.
    pub fn room_messages(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Runs an idempotent request, retrying twice when the connection turns out to be broken (the
/// first request after a Redis restart fails while the connection manager reconnects).
async fn retry<T, F, Fut>(mut request: F) -> redis::RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        match request().await {
            Err(e)
                if attempt < 3
                    && (e.is_io_error()
                        || e.is_connection_dropped()
                        || e.is_connection_refusal()) =>
            {
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            result => return result,
        }
    }
}
