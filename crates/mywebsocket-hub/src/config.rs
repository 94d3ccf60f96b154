//! Hub settings: queue bounds, the slow-consumer policy, history and presence timing.

use std::time::Duration;

use mywebsocket::CloseCode;

/// What a hub does when a connection's outbound queue is full (its peer reads slower than the
/// room talks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Drop everything queued for it and close it with this code: 1008 (policy violation) or
    /// 1013 (try again later). A client that reconnects with its last-seen id recovers what it
    /// missed from history.
    Close(CloseCode),
    /// Drop its oldest queued messages to make room. The connection stays open and silently
    /// misses messages: use it only where the latest state is all that matters.
    DropOldest,
}

/// Settings of a [`Hub`](crate::Hub).
///
/// ```
/// use mywebsocket_hub::{HubConfig, SlowConsumerPolicy};
/// let config = HubConfig::default()
///     .queue_limits(256, 1 << 20)
///     .slow_consumer(SlowConsumerPolicy::DropOldest);
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// Most messages waiting in one connection's outbound queue. Default: 1024.
    pub queue_messages: usize,
    /// Most wire bytes waiting in one connection's outbound queue. Default: 4 MiB. The
    /// connection's own write buffer ([`mywebsocket::Config::write_buffer_size`]) comes on top.
    pub queue_bytes: usize,
    /// What happens when a queue is full. Default: close with 1008.
    pub slow_consumer: SlowConsumerPolicy,
    /// Messages kept per room for recovery and history (the Redis stream's `MAXLEN`).
    /// Default: 1000.
    pub history_len: usize,
    /// Messages replayed to a connection that joins without a last-seen id. Default: 50.
    pub history_on_join: usize,
    /// How long a node's presence survives it without a refresh (Redis engine). A dead node's
    /// connections leave presence within this plus one reap interval (a third of it).
    /// Default: 10 s.
    pub presence_ttl: Duration,
    /// Broadcasts buffered on a node while its broker is unreachable (Redis engine); they are
    /// published in order once it is back. Beyond this, broadcasts fail. Default: 10 000.
    pub outage_buffer: usize,
    /// Rooms larger than this on a node get no join and leave messages for their members on
    /// that node, and presence lists (the join reply, presence requests) are cut to this many
    /// members plus the count. Announcing every join to every member, or listing every member
    /// to every joiner, is quadratic: ten thousand joins into one room would be a hundred
    /// million messages. The hub's own [`presence_events`](crate::Hub::presence_events) still
    /// carry every change. Default: 100.
    pub presence_limit: usize,
    /// Prefix of every Redis key and channel, so several hubs can share one Redis.
    /// Default: `"mwh"`.
    pub redis_prefix: String,
    /// On a Redis Cluster ([`RedisBroker::cluster`](crate::RedisBroker::cluster)): replicas
    /// that must hold each batch of broadcasts (`WAIT`) before the publisher takes the next.
    /// Redis replicates asynchronously, so a master that fails right after a publish can take
    /// a message with it that some nodes already delivered; with an acknowledgement the
    /// publisher knows which batches are safe and publishes the others again, marked so that
    /// members are told of a gap. 0 (for a cluster without replicas) gives that up: a failover
    /// can then lose recent messages silently. Ignored on one Redis. Default: 1.
    pub redis_replica_acks: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            queue_messages: 1024,
            queue_bytes: 4 << 20,
            slow_consumer: SlowConsumerPolicy::Close(CloseCode::POLICY_VIOLATION),
            history_len: 1000,
            history_on_join: 50,
            presence_ttl: Duration::from_secs(10),
            outage_buffer: 10_000,
            presence_limit: 100,
            redis_prefix: "mwh".into(),
            redis_replica_acks: 1,
        }
    }
}

impl HubConfig {
    /// Sets [`HubConfig::queue_messages`] and [`HubConfig::queue_bytes`] (each at least 1).
    #[must_use]
    pub fn queue_limits(mut self, messages: usize, bytes: usize) -> Self {
        self.queue_messages = messages.max(1);
        self.queue_bytes = bytes.max(1);
        self
    }

    /// Sets [`HubConfig::slow_consumer`].
    #[must_use]
    pub fn slow_consumer(mut self, policy: SlowConsumerPolicy) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// Sets [`HubConfig::history_len`] (at least 1).
    #[must_use]
    pub fn history_len(mut self, len: usize) -> Self {
        self.history_len = len.max(1);
        self
    }

    /// Sets [`HubConfig::history_on_join`].
    #[must_use]
    pub fn history_on_join(mut self, len: usize) -> Self {
        self.history_on_join = len;
        self
    }

    /// Sets [`HubConfig::presence_ttl`] (at least 300 ms).
    #[must_use]
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// Sets [`HubConfig::outage_buffer`].
    #[must_use]
    pub fn outage_buffer(mut self, messages: usize) -> Self {
        self.outage_buffer = messages;
        self
    }

    /// Sets [`HubConfig::presence_limit`].
    #[must_use]
    pub fn presence_limit(mut self, members: usize) -> Self {
        self.presence_limit = members;
        self
    }

    /// Sets [`HubConfig::redis_prefix`].
    #[must_use]
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis_prefix = prefix.into();
        self
    }

    /// Sets [`HubConfig::redis_replica_acks`].
    #[must_use]
    pub fn redis_replica_acks(mut self, replicas: usize) -> Self {
        self.redis_replica_acks = replicas;
        self
    }
}
