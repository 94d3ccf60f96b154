//! Presence in Redis: a hash per room (connection id to member JSON), the rooms of each node
//! (for reaping), and join and leave events on the room's channel.

use std::collections::{HashMap, HashSet};

use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use super::keys::Keys;
use super::retry;
use crate::error::Result;
use crate::id::NodeId;
use crate::presence::{Member, Presence};

/// Records `member` in `room` for `node` and announces the join.
pub(super) async fn add(
    conn: &ConnectionManager,
    keys: &Keys,
    node: &NodeId,
    room: &str,
    member: &Member,
) -> Result<()> {
    let mut pipe = redis::pipe();
    push_add(&mut pipe, keys, node, room, member);
    retry(|| {
        let mut conn = conn.clone();
        let pipe = pipe.clone();
        async move { pipe.query_async::<()>(&mut conn).await }
    })
    .await?;
    Ok(())
}

/// Appends to `pipe` the commands that record `member` in `room` for `node` and announce the
/// join: one join, or a node's restore of all its members after Redis came back.
pub(super) fn push_add(
    pipe: &mut redis::Pipeline,
    keys: &Keys,
    node: &NodeId,
    room: &str,
    member: &Member,
) {
    let json = serde_json::to_string(member).expect("members serialize");
    pipe.hset(keys.presence(room), &member.conn, &json)
        .ignore()
        .sadd(keys.node_rooms(node.as_str()), room)
        .ignore()
        .publish(keys.channel(room), format!("J{json}"))
        .ignore();
}

/// Removes `member` from `room` and announces the leave, if it was there.
pub(super) async fn remove(
    conn: &ConnectionManager,
    keys: &Keys,
    room: &str,
    member: &Member,
) -> Result<()> {
    let mut conn = conn.clone();
    let removed: i64 = conn.hdel(keys.presence(room), &member.conn).await?;
    if removed > 0 {
        let json = serde_json::to_string(member).expect("members serialize");
        let _: i64 = conn.publish(keys.channel(room), format!("L{json}")).await?;
    }
    Ok(())
}

/// Who is in `room` on every live node: the count, and at least `limit` members if there are
/// that many (those of dead nodes left out).
pub(super) async fn members(
    conn: &ConnectionManager,
    keys: &Keys,
    room: &str,
    limit: usize,
) -> Result<Presence> {
    let mut conn = conn.clone();
    let key = keys.presence(room);
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
