//! The Redis broker: many nodes sharing one Redis.
//!
//! Per room, a stream `<prefix>:s:<room>` holds the history (`XADD ... MAXLEN`) and a channel
//! `<prefix>:c:<room>` carries each message to every node. One Lua script appends to the
//! stream and publishes, so the channel's order is the stream's order (one order per room),
//! and a per-node sequence number makes a retried publish a no-op (no duplicates after a
//! reconnect). Presence lives in a hash per room; each node refreshes `<prefix>:alive:<node>`
//! with a TTL, and any node reaps the members of a node whose key expired.
//!
//! When Redis goes away, broadcasts wait in an in-order buffer; the subscriber reconnects
//! with backoff, resubscribes, restores this node's presence and asks the hub to fetch from
//! the streams what its rooms missed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use mywebsocket::{Message, Utf8Bytes};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::{BoxFuture, Broker, BrokerEvent, BrokerSink, History, RoomMessage, Target};
use crate::config::HubConfig;
use crate::error::{HubError, Result};
use crate::id::{ConnId, NodeId, StreamId};
use crate::presence::{Member, Presence, PresenceEvent, RoomMember};

/// Appends to the stream (recording the newest trimmed id, for gap detection), publishes,
/// and skips a publish this node already made (a retry after a lost reply).
const PUBLISH_LUA: &str = r"
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if tonumber(ARGV[3]) <= last then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local maxlen = tonumber(ARGV[1])
local len = redis.call('XLEN', KEYS[1])
if len >= maxlen then
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - maxlen + 1)
  redis.call('SET', KEYS[3], old[#old][1])
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', maxlen, '*', 'e', ARGV[4], 't', ARGV[5], 'd', ARGV[6])
redis.call('PUBLISH', ARGV[7], 'M' .. id .. '\n' .. ARGV[4] .. '\n' .. ARGV[5] .. ARGV[6])
return 1
";

/// Whether the stream exists, the newest trimmed id, and the entries after `since` (or the
/// latest ones, newest first).
const HISTORY_LUA: &str = r"
local exists = redis.call('EXISTS', KEYS[1])
local trimmed = redis.call('GET', KEYS[2]) or ''
if ARGV[1] == '' then
  return {exists, trimmed, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])}
end
return {exists, trimmed, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
";

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Publishes sent to Redis in one pipeline.
const MAX_BATCH: usize = 256;

type Entry = (String, Vec<Vec<u8>>);

struct Pending {
    room: String,
    seq: u64,
    except: Option<ConnId>,
    msg: Message,
}

struct Running {
    node: NodeId,
    conn: ConnectionManager,
    publish: mpsc::Sender<Pending>,
    seq: AtomicU64,
}

/// A broker on Redis (5.0 or later; streams and Lua), for hubs on several nodes.
pub struct RedisBroker {
    client: redis::Client,
    prefix: String,
    history_len: usize,
    ttl: Duration,
    outage_buffer: usize,
    running: OnceLock<Running>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("prefix", &self.prefix)
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
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix: config.redis_prefix.clone(),
            history_len: config.history_len,
            ttl: config.presence_ttl,
            outage_buffer: config.outage_buffer.max(1),
            running: OnceLock::new(),
        })
    }

    fn running(&self) -> Result<&Running> {
        self.running.get().ok_or(HubError::BrokerNotRunning)
    }

    fn keys(&self) -> Keys {
        Keys {
            prefix: self.prefix.clone(),
        }
    }
}

/// Key and channel names.
#[derive(Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn stream(&self, room: &str) -> String {
        format!("{}:s:{room}", self.prefix)
    }
    fn trimmed(&self, room: &str) -> String {
        format!("{}:t:{room}", self.prefix)
    }
    fn channel(&self, room: &str) -> String {
        format!("{}:c:{room}", self.prefix)
    }
    fn channel_pattern(&self) -> String {
        format!("{}:c:*", self.prefix)
    }
    fn direct(&self) -> String {
        format!("{}:direct", self.prefix)
    }
    fn presence(&self, room: &str) -> String {
        format!("{}:p:{room}", self.prefix)
    }
    fn alive(&self, node: &str) -> String {
        format!("{}:alive:{node}", self.prefix)
    }
    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    fn node_rooms(&self, node: &str) -> String {
        format!("{}:nr:{node}", self.prefix)
    }
    fn reaping(&self, node: &str) -> String {
        format!("{}:reap:{node}", self.prefix)
    }
    fn publish_seq(&self) -> String {
        format!("{}:pubseq", self.prefix)
    }
}

fn flag(msg: &Message) -> &'static str {
    if msg.as_text().is_some() {
        "1"
    } else {
        "0"
    }
}

fn message_from(flag: u8, data: Bytes) -> Option<Message> {
    if flag == b'1' {
        Utf8Bytes::try_from(data).ok().map(Message::Text)
    } else {
        Some(Message::Binary(data))
    }
}

fn payload(msg: &Message) -> &[u8] {
    // Text or binary: the hub refuses a close before it reaches a broker.
    msg.as_bytes()
}

/// Parses a pubsub room message: `M<id>\n<except>\n<flag><data>`.
fn parse_room_message(body: &[u8]) -> Option<RoomMessage> {
    let body = body.strip_prefix(b"M")?;
    let nl = body.iter().position(|&b| b == b'\n')?;
    let id = std::str::from_utf8(&body[..nl]).ok()?.parse().ok()?;
    let rest = &body[nl + 1..];
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let except = std::str::from_utf8(&rest[..nl]).ok()?;
    let rest = &rest[nl + 1..];
    let (&flag, data) = rest.split_first()?;
    Some(RoomMessage {
        id,
        except: (!except.is_empty()).then(|| ConnId::from(except)),
        msg: message_from(flag, Bytes::copy_from_slice(data))?,
    })
}

fn parse_entry((id, fields): Entry) -> Option<RoomMessage> {
    let mut except = None;
    let mut flag = b'1';
    let mut data = None;
    for pair in fields.chunks_exact(2) {
        match pair[0].as_slice() {
            b"e" if !pair[1].is_empty() => {
                except = Some(ConnId::from(std::str::from_utf8(&pair[1]).ok()?));
            }
            b"t" => flag = *pair[1].first()?,
            b"d" => data = Some(Bytes::copy_from_slice(&pair[1])),
            _ => {}
        }
    }
    Some(RoomMessage {
        id: id.parse().ok()?,
        except,
        msg: message_from(flag, data?)?,
    })
}

impl Broker for RedisBroker {
    fn start(&self, node: NodeId, sink: BrokerSink) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let conn = self.client.get_connection_manager().await?;
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
            let keys = self.keys();
            tokio::spawn(run_publisher(
                conn.clone(),
                keys.clone(),
                node.clone(),
                self.history_len,
                queue,
            ));
            tokio::spawn(run_liveness(
                conn,
                keys.clone(),
                node.clone(),
                self.ttl,
                sink.clone(),
            ));
            let (subscribed, ready) = tokio::sync::oneshot::channel();
            tokio::spawn(run_subscriber(self.client.clone(), keys, sink, subscribed));
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
        let result = self.running().and_then(|running| {
            // The sequence number is taken and the message queued under one order: the channel
            // keeps it, so retries and the script's check see increasing numbers.
            let permit = running.publish.try_reserve().map_err(|e| match e {
                mpsc::error::TrySendError::Full(()) => HubError::OutageBufferFull {
                    capacity: self.outage_buffer,
                },
                mpsc::error::TrySendError::Closed(()) => HubError::BrokerNotRunning,
            })?;
            let seq = running.seq.fetch_add(1, Ordering::Relaxed) + 1;
            permit.send(Pending {
                room,
                seq,
                except,
                msg,
            });
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn send_direct(&self, target: Target, msg: Message) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut conn = self.running()?.conn.clone();
            let mut body = match &target {
                Target::Connection(c) => format!("C{c}\n").into_bytes(),
                Target::User(u) => format!("U{u}\n").into_bytes(),
            };
            body.extend_from_slice(flag(&msg).as_bytes());
            body.extend_from_slice(payload(&msg));
            let _: i64 = conn.publish(self.keys().direct(), body).await?;
            Ok(())
        })
    }

    fn history(
        &self,
        room: String,
        since: Option<StreamId>,
        latest: usize,
    ) -> BoxFuture<'_, Result<History>> {
        Box::pin(async move {
            let conn = self.running()?.conn.clone();
            let keys = self.keys();
            let count = if since.is_some() {
                self.history_len
            } else {
                latest
            };
            if count == 0 {
                return Ok(History::default());
            }
            let script = redis::Script::new(HISTORY_LUA);
            let since_arg = since.map(|s| s.to_string()).unwrap_or_default();
            let (exists, trimmed, entries): (i64, String, Vec<Entry>) = retry(|| {
                let mut conn = conn.clone();
                let mut invocation = script.key(keys.stream(&room));
                invocation
                    .key(keys.trimmed(&room))
                    .arg(&since_arg)
                    .arg(count);
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
            let mut messages: Vec<RoomMessage> =
                entries.into_iter().filter_map(parse_entry).collect();
            if since.is_none() {
                messages.reverse();
            }
            let gap = match since {
                None => false,
                Some(since) => {
                    let trimmed: Option<StreamId> = trimmed.parse().ok();
                    // A stream that is gone (Redis lost its data) cannot vouch for anything.
                    let gap = (exists == 0 && since > StreamId::ZERO)
                        || trimmed.is_some_and(|t| t > since);
                    if gap {
                        tracing::debug!(%room, %since, exists, ?trimmed, "history gap");
                    }
                    gap
                }
            };
            Ok(History { messages, gap })
        })
    }

    fn presence_add(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let running = self.running()?;
            let conn = running.conn.clone();
            let keys = self.keys();
            let json = serde_json::to_string(&member).expect("members serialize");
            let mut pipe = redis::pipe();
            pipe.hset(keys.presence(&room), &member.conn, &json)
                .ignore()
                .sadd(keys.node_rooms(running.node.as_str()), &room)
                .ignore()
                .publish(keys.channel(&room), format!("J{json}"))
                .ignore();
            retry(|| {
                let mut conn = conn.clone();
                let pipe = pipe.clone();
                async move { pipe.query_async::<()>(&mut conn).await }
            })
            .await?;
            Ok(())
        })
    }

    fn presence_remove(&self, room: String, member: Member) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut conn = self.running()?.conn.clone();
            let keys = self.keys();
            let removed: i64 = conn.hdel(keys.presence(&room), &member.conn).await?;
            if removed > 0 {
                let json = serde_json::to_string(&member).expect("members serialize");
                let _: i64 = conn
                    .publish(keys.channel(&room), format!("L{json}"))
                    .await?;
            }
            Ok(())
        })
    }

    fn presence(&self, room: String, limit: usize) -> BoxFuture<'_, Result<Presence>> {
        Box::pin(async move {
            let mut conn = self.running()?.conn.clone();
            let keys = self.keys();
            let key = keys.presence(&room);
            let total: usize = retry(|| {
                let mut conn = conn.clone();
                let key = key.clone();
                async move { conn.hlen(key).await }
            })
            .await?;
            let jsons = if total <= limit {
                let all: HashMap<String, String> = conn.hgetall(&key).await?;
                all.into_values().collect()
            } else {
                scan_some(&mut conn, &key, limit).await?
            };
            let mut members: Vec<Member> = jsons
                .iter()
                .filter_map(|json| serde_json::from_str(json).ok())
                .collect();
            let nodes: Vec<String> = members
                .iter()
                .map(|m| m.node.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut alive = HashSet::new();
            for node in nodes {
                let exists: bool = conn.exists(keys.alive(&node)).await?;
                if exists {
                    alive.insert(node);
                }
            }
            // A dead node's members are hidden at once, before a reaper removes them.
            members.retain(|m| alive.contains(&m.node));
            let mut presence = Presence::from_members(members, limit);
            if total > limit {
                presence.count = total;
            }
            Ok(presence)
        })
    }
}

/// The values of at least `want` fields of the hash `key` (or all of them), in Redis's order:
/// a large room's presence without reading all of it.
async fn scan_some(
    conn: &mut ConnectionManager,
    key: &str,
    want: usize,
) -> redis::RedisResult<Vec<String>> {
    let mut values = Vec::with_capacity(want);
    let mut cursor = 0u64;
    loop {
        let (next, flat): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg(key)
            .arg(cursor)
            .arg("COUNT")
            .arg(want.max(1))
            .query_async(conn)
            .await?;
        // HSCAN answers field, value, field, value...
        values.extend(flat.into_iter().skip(1).step_by(2));
        cursor = next;
        if cursor == 0 || values.len() >= want {
            return Ok(values);
        }
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

/// Sends queued broadcasts to Redis in order, in pipelines, retrying until Redis takes them.
async fn run_publisher(
    mut conn: ConnectionManager,
    keys: Keys,
    node: NodeId,
    history_len: usize,
    mut queue: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut backoff = Duration::from_millis(50);
        let mut failed = false;
        loop {
            let mut pipe = redis::pipe();
            for p in &batch {
                pipe.cmd("EVAL")
                    .arg(PUBLISH_LUA)
                    .arg(3)
                    .arg(keys.stream(&p.room))
                    .arg(keys.publish_seq())
                    .arg(keys.trimmed(&p.room))
                    .arg(history_len)
                    .arg(node.as_str())
                    .arg(p.seq)
                    .arg(p.except.as_ref().map_or("", ConnId::as_str))
                    .arg(flag(&p.msg))
                    .arg(payload(&p.msg))
                    .arg(keys.channel(&p.room))
                    .ignore();
            }
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => {
                    if failed {
                        tracing::info!(
                            still_queued = queue.len(),
                            "Redis is back: buffered broadcasts are being published"
                        );
                    }
                    break;
                }
                Err(e) => {
                    if !failed {
                        tracing::warn!(error = %e, queued = batch.len() + queue.len(), "cannot publish to Redis; buffering broadcasts and retrying");
                    }
                    failed = true;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        batch.clear();
    }
}

/// Keeps the subscription up: connects with backoff, subscribes, restores presence, resyncs
/// the hub from the streams, then delivers until the connection drops.
async fn run_subscriber(
    client: redis::Client,
    keys: Keys,
    sink: BrokerSink,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    let mut backoff = Duration::from_millis(50);
    loop {
        if sink.hub.strong_count() == 0 {
            return;
        }
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe(keys.channel_pattern()).await?;
            pubsub.subscribe(keys.direct()).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        match connected {
            Ok(pubsub) => {
                backoff = Duration::from_millis(50);
                if let Some(first) = subscribed.take() {
                    let _ = first.send(());
                } else {
                    tracing::info!(
                        "reconnected to Redis and resubscribed; recovering from streams"
                    );
                }
                let mut messages = pubsub.into_on_message();
                // Messages published meanwhile wait in the subscription while the hub fetches
                // what it missed, so they are delivered after it, in order.
                sink.resync().await;
                while let Some(msg) = messages.next().await {
                    handle_pubsub(
                        &keys,
                        &sink,
                        msg.get_channel_name(),
                        msg.get_payload_bytes(),
                    );
                }
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

fn handle_pubsub(keys: &Keys, sink: &BrokerSink, channel: &str, body: &[u8]) {
    if channel == keys.direct() {
        let Some((&kind, rest)) = body.split_first() else {
            return;
        };
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return;
        };
        let Ok(name) = std::str::from_utf8(&rest[..nl]) else {
            return;
        };
        let Some((&flag, data)) = rest[nl + 1..].split_first() else {
            return;
        };
        let Some(msg) = message_from(flag, Bytes::copy_from_slice(data)) else {
            return;
        };
        let target = match kind {
            b'C' => Target::Connection(ConnId::from(name)),
            b'U' => Target::User(name.to_owned()),
            _ => return,
        };
        sink.deliver(BrokerEvent::Direct { target, msg });
        return;
    }
    let Some(room) = channel.strip_prefix(&format!("{}:c:", keys.prefix)) else {
        return;
    };
    let room = room.to_owned();
    match body.first() {
        Some(b'M') => {
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

/// Refreshes this node's liveness key, restores its presence if it was reaped or lost, and
/// reaps the presence of nodes whose key expired.
async fn run_liveness(
    mut conn: ConnectionManager,
    keys: Keys,
    node: NodeId,
    ttl: Duration,
    sink: BrokerSink,
) {
    let period = ttl / 3;
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let mut first = true;
    let mut healthy = true;
    loop {
        if sink.hub.strong_count() == 0 {
            return;
        }
        let result = async {
            let (existed,): (bool,) = redis::pipe()
                .exists(keys.alive(node.as_str()))
                .set_options(
                    keys.alive(node.as_str()),
                    1,
                    redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ttl_ms)),
                )
                .ignore()
                .sadd(keys.nodes(), node.as_str())
                .ignore()
                .query_async(&mut conn)
                .await?;
            if !existed && !first {
                let local = sink.local_presence();
                tracing::warn!(
                    members = local.len(),
                    "this node's presence had expired or was lost: restoring it"
                );
                restore_presence(&mut conn, &keys, &node, &local).await?;
            }
            reap(&mut conn, &keys, &node, ttl_ms).await
        }
        .await;
        match result {
            Ok(()) => {
                if !healthy {
                    tracing::info!("node liveness refreshed again");
                }
                healthy = true;
                first = false;
            }
            Err(e) => {
                if healthy {
                    tracing::warn!(error = %e, "cannot refresh node liveness in Redis");
                }
                healthy = false;
            }
        }
        tokio::time::sleep(period).await;
    }
}

async fn restore_presence(
    conn: &mut ConnectionManager,
    keys: &Keys,
    node: &NodeId,
    local: &[RoomMember],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for RoomMember { room, member } in local {
        let json = serde_json::to_string(member).expect("members serialize");
        pipe.hset(keys.presence(room), &member.conn, &json)
            .ignore()
            .sadd(keys.node_rooms(node.as_str()), room)
            .ignore()
            .publish(keys.channel(room), format!("J{json}"))
            .ignore();
    }
    pipe.query_async(conn).await
}

/// Removes the members of every node whose liveness key is gone, announcing their leaves.
/// One node reaps each dead node (a short lock), so leaves are announced once.
async fn reap(
    conn: &mut ConnectionManager,
    keys: &Keys,
    me: &NodeId,
    ttl_ms: u64,
) -> redis::RedisResult<()> {
    let nodes: Vec<String> = conn.smembers(keys.nodes()).await?;
    for dead in nodes.into_iter().filter(|n| n != me.as_str()) {
        let alive: bool = conn.exists(keys.alive(&dead)).await?;
        if alive {
            continue;
        }
        let locked: Option<String> = redis::cmd("SET")
            .arg(keys.reaping(&dead))
            .arg(me.as_str())
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(conn)
            .await?;
        if locked.is_none() {
            continue;
        }
        let rooms: Vec<String> = conn.smembers(keys.node_rooms(&dead)).await?;
        let mut removed = 0;
        for room in rooms {
            let all: HashMap<String, String> = conn.hgetall(keys.presence(&room)).await?;
            for (field, json) in all {
                let Ok(member) = serde_json::from_str::<Member>(&json) else {
                    continue;
                };
                if member.node != dead {
                    continue;
                }
                let gone: i64 = conn.hdel(keys.presence(&room), &field).await?;
                if gone > 0 {
                    removed += 1;
                    let _: i64 = conn
                        .publish(keys.channel(&room), format!("L{json}"))
                        .await?;
                }
            }
        }
        let _: () = redis::pipe()
            .del(keys.node_rooms(&dead))
            .ignore()
            .srem(keys.nodes(), &dead)
            .ignore()
            .query_async(conn)
            .await?;
        tracing::info!(node = %dead, removed, "reaped the presence of a dead node");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_published_room_messages() {
        let m = parse_room_message(b"M17-3\nn.4\n1hello\nworld").unwrap();
        assert_eq!(m.id, StreamId { ms: 17, seq: 3 });
        assert_eq!(m.except, Some(ConnId::from("n.4")));
        assert_eq!(m.msg, Message::text("hello\nworld"));
        let m = parse_room_message(b"M1-0\n\n0\x00\xff").unwrap();
        assert_eq!(m.except, None);
        assert_eq!(m.msg, Message::binary(vec![0u8, 0xff]));
        assert!(
            parse_room_message(b"M1-0\n\n1\xff").is_none(),
            "bad UTF-8 in a text message"
        );
        assert!(parse_room_message(b"Mx\n").is_none());
    }
}
