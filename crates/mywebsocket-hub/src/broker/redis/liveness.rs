//! Node liveness: each node refreshes a key with a TTL; a node whose key expired is dead, and
//! one live node removes its members from presence (announcing their leaves). A node that
//! finds its own key gone (reaped, or Redis lost its data) puts its members back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;

use super::conn::Conn;
use super::keys::Keys;
use crate::broker::BrokerSink;
use crate::id::NodeId;
use crate::presence::Member;

/// Refreshes this node's liveness key, restores its presence if it was reaped or lost, and
/// reaps the presence of nodes whose key expired.
pub(super) async fn run_liveness(
    mut conn: Conn,
    keys: Keys,
    node: NodeId,
    ttl: Duration,
    sink: Arc<dyn BrokerSink>,
) {
    let period = ttl / 3;
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let mut first = true;
    let mut healthy = true;
    // No reaping before this: after this node could not refresh, or found its own key gone,
    // the others' keys may have expired for the same reason (Redis, or the shard holding the
    // liveness keys, was away longer than the TTL) while those nodes live on; they get a TTL
    // to refresh before they are taken for dead.
    let mut reap_from: Option<std::time::Instant> = None;
    loop {
        if sink.is_closed() {
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
                super::presence::restore(&conn, &keys, &node, &local).await?;
                reap_from = Some(std::time::Instant::now() + ttl);
            }
            if reap_from.is_some_and(|from| std::time::Instant::now() < from) {
                return Ok(());
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
                reap_from = Some(std::time::Instant::now() + ttl);
            }
        }
        tokio::time::sleep(period).await;
    }
}

/// Removes the members of every node whose liveness key is gone, announcing their leaves.
/// One node reaps each dead node (a short lock), so leaves are announced once.
async fn reap(conn: &mut Conn, keys: &Keys, me: &NodeId, ttl_ms: u64) -> redis::RedisResult<()> {
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
                    super::presence::announce_leave(conn, keys, &room, &json).await?;
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
