//! Rooms, presence and broadcast for MyWebsocket connections, on one node or on many.
//!
//! A [`Hub`] knows the connections of its node. Connections are registered with an optional
//! user id, join and leave rooms, and receive [`Hub::broadcast`]s, direct messages
//! ([`Hub::send_to_connection`], [`Hub::send_to_user`]) and presence changes. A broadcast is
//! framed once per node ([`mywebsocket::PreparedMessage`]) and the same bytes are queued for
//! every local member. Each connection has a bounded outbound queue with a
//! [`SlowConsumerPolicy`], so a peer that stops reading costs at most
//! [`HubConfig::queue_bytes`] (plus its socket's write buffer).
//!
//! The [`broker`] links hubs: [`MemoryBroker`] (the default) for one process, [`RedisBroker`]
//! for several nodes sharing a Redis ([`RedisBroker::new`]) or a Redis Cluster
//! ([`RedisBroker::cluster`]: rooms spread over the shards, sharded pub/sub). An [`Encoder`] turns what the hub delivers into the
//! messages a connection receives; the chat of the repository (`crates/mywebsocket-chat`)
//! has one for its JSON protocol, and the server that speaks it.
//!
//! ```
//! use mywebsocket::{connect_with, Message, Upgrader};
//! use mywebsocket_hub::{Hub, HubConfig, JoinOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new(HubConfig::default());
//! let (client_io, server_io) = tokio::io::duplex(64 * 1024);
//! let server = tokio::spawn(async move { Upgrader::default().accept(server_io).await });
//! let request = http::Request::get("ws://example.com/").body(()).unwrap();
//! let (mut client, _) = connect_with(client_io, request, Default::default()).await?;
//! let (_reader, writer) = server.await??.split();
//!
//! let conn = hub.register(writer, Some("ann".into()));
//! hub.join(conn.id(), "lobby", JoinOptions::default()).await?;
//! hub.broadcast("lobby", Message::text("hello, lobby")).await?;
//! hub.send_to_user("ann", Message::text("hello, ann")).await?;
//! assert_eq!(client.read_msg().await?, Message::text("hello, lobby"));
//! assert_eq!(client.read_msg().await?, Message::text("hello, ann"));
//! assert_eq!(hub.presence("lobby").await?.count, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Delivery guarantees
//! - **Room messages** get an id ([`StreamId`]) from the broker and are kept in a bounded
//!   history ([`HubConfig::history_len`] per room). Every node delivers a room's messages in
//!   id order, which is the order the broker accepted them: one total order per room, so
//!   also in order per sender. Each connection receives each message at most once (ids at or
//!   below its last one are dropped) and, while connected and reading, exactly once.
//! - **Recovery**: a connection that joins with the last id it saw ([`JoinOptions::since`])
//!   receives everything after it, then live messages, without duplicates; if history was
//!   trimmed past it, it first gets the encoder's gap notice. With Redis, a node that lost
//!   its connection to Redis resubscribes and fetches what its rooms missed from the streams
//!   the same way. What cannot be recovered is reported, never silently dropped.
//! - **On a Redis Cluster**, a master failover or a room's slot moving to another master is
//!   survived the same way: the node subscribes again and fetches from the streams. A publish
//!   the failed master may have taken without its replica ([`HubConfig::redis_replica_acks`])
//!   is published again, marked, and members get a gap notice before it, since it may repeat
//!   a message they already had.
//! - **During a Redis outage** a node keeps its connections; broadcasts are buffered in order
//!   (up to [`HubConfig::outage_buffer`], then refused with an error) and published when
//!   Redis is back; deliveries resume then.
//! - **Direct messages** are at most once and not kept in history.
//! - **Presence** is kept by the broker. With Redis, each node refreshes a liveness key; the
//!   members of a node that stops refreshing are removed (with leave events) within
//!   [`HubConfig::presence_ttl`] plus a third of it. Rooms past
//!   [`HubConfig::presence_limit`] list a page of members with the count, and their members
//!   get no join and leave messages (that traffic is quadratic in the room's size).
//! - **Slow consumers**: see [`SlowConsumerPolicy`].
//!
//! # Features
//! - `redis` (default): [`RedisBroker`], for hubs on several nodes sharing one Redis or a
//!   Redis Cluster. Without
//!   it (`default-features = false`) the crate does not depend on `redis` and has the
//!   in-memory broker only.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The docs link to `RedisBroker`, which a build without the feature does not have.
#![cfg_attr(not(feature = "redis"), allow(rustdoc::broken_intra_doc_links))]

pub mod broker;
mod config;
mod encoder;
mod error;
mod hub;
mod id;
mod outbox;
mod presence;

pub use broker::{Broker, MemoryBroker};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use broker::{RedisBroker, Traffic};
pub use config::{HubConfig, SlowConsumerPolicy};
pub use encoder::{Encoder, RawEncoder};
pub use error::{BrokerError, HubError, Result};
pub use hub::{Hub, HubBuilder, JoinOptions, Joined, QueueStats, Registration};
pub use id::{ConnId, InvalidStreamId, NodeId, StreamId};
pub use presence::{Member, Presence, PresenceEvent, RoomMember};
