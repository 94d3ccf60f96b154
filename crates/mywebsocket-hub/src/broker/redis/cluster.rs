//! The clients of a Redis Cluster deployment, kept apart by what they carry.
//!
//! - `commands`: history, presence, liveness and direct messages; it follows slots and
//!   retries by itself, like the connection manager on one Redis.
//! - `subscriptions`: only `SSUBSCRIBE`/`SUNSUBSCRIBE`, with the RESP3 pushes (messages, and
//!   the library's notice that a node's connection dropped) sent to the subscriber. Redis
//!   sends a `sunsubscribe` push unasked when a slot moves or its master fails over, and a
//!   client takes such a push for the answer of a request in flight on that connection; no
//!   command shares it, so none can be answered with a push.
//! - `publisher`: the publish scripts; it never retries by itself, so the publisher sees
//!   every failure and knows which batches it must mark when it sends them again.
//!
//! Every request has a deadline, and connections give up on unacknowledged data, so a master
//! that vanished without a reset (a crashed host, a partition) fails requests instead of
//! holding them for the kernel's minutes.

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::io::tcp::TcpSettings;
use redis::{PushInfo, RedisResult};
use tokio::sync::mpsc;

/// Longest wait for any one answer: above the publisher's `WAIT` for replicas.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a connection to a node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a connection keeps data the node does not acknowledge (`TCP_USER_TIMEOUT`).
const UNACKED_TIMEOUT: Duration = Duration::from_secs(5);

/// The three clients and, until the subscriber takes it, the receiving end of the pushes.
pub(super) struct ClusterClients {
    pub(super) commands: ClusterClient,
    pub(super) subscriptions: ClusterClient,
    pub(super) publisher: ClusterClient,
    pub(super) pushes: std::sync::Mutex<Option<mpsc::UnboundedReceiver<PushInfo>>>,
}

impl ClusterClients {
    /// Clients for the cluster reached through `seeds`; none connects yet.
    pub(super) fn new(seeds: &[String]) -> RedisResult<Self> {
        let builder = || {
            ClusterClientBuilder::new(seeds.to_vec())
                .response_timeout(RESPONSE_TIMEOUT)
                .connection_timeout(CONNECT_TIMEOUT)
                .tcp_settings(TcpSettings::default().set_user_timeout(UNACKED_TIMEOUT))
        };
        let (pushes, receiver) = mpsc::unbounded_channel();
        Ok(Self {
            commands: builder().build()?,
            subscriptions: builder()
                .use_protocol(redis::ProtocolVersion::RESP3)
                .push_sender(pushes)
                .build()?,
            publisher: builder().retries(0).build()?,
            pushes: std::sync::Mutex::new(Some(receiver)),
        })
    }
}
