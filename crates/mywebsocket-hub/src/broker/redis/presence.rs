//! Presence in Redis: a hash per room (connection id to member JSON), the rooms of each node
//! (for reaping), and join and leave events on the room's channel.

use std::collections::{HashMap, HashSet};

use redis::AsyncCommands;

use super::conn::Conn;
use super::keys::Keys;
use super::retry;
use crate::error::Result;
use crate::id::NodeId;
use crate::presence::{Member, Presence, RoomMember};

/// Records `member` in `room` for `node` and announces the join.
pub(super) async fn add(
    conn: &Conn,
    keys: &Keys,
    node: &NodeId,
    room: &str,
    member: &Member,
) -> Result<()> {
    let mut pipe = redis::pipe();
    push_add_room(&mut pipe, keys, room, member);
    if keys.cluster() {
        // The room's names and the node's names live in different slots.
        query(conn, &pipe).await?;
        pipe = redis::pipe();
    }
    push_add_node(&mut pipe, keys, node, room);
    Ok(query(conn, &pipe).await?)
}

/// Puts back every member this node holds (`local`), after Redis lost them or a reaper took
/// them while this node could not refresh its liveness.
pub(super) async fn restore(
    conn: &Conn,
    keys: &Keys,
    node: &NodeId,
    local: &[RoomMember],
) -> redis::RedisResult<()> {
    let mut node_pipe = redis::pipe();
    if keys.cluster() {
        let mut by_room: HashMap<&str, redis::Pipeline> = HashMap::new();
        for RoomMember { room, member } in local {
            let pipe = by_room.entry(room.as_str()).or_insert_with(redis::pipe);
            push_add_room(pipe, keys, room, member);
            push_add_node(&mut node_pipe, keys, node, room);
        }
        for pipe in by_room.values() {
            query(conn, pipe).await?;
        }
    } else {
        for RoomMember { room, member } in local {
            push_add_room(&mut node_pipe, keys, room, member);
            push_add_node(&mut node_pipe, keys, node, room);
        }
    }
    query(conn, &node_pipe).await
}

async fn query(conn: &Conn, pipe: &redis::Pipeline) -> redis::RedisResult<()> {
    retry(|| {
        let mut conn = conn.clone();
        let pipe = pipe.clone();
        async move { pipe.query_async::<()>(&mut conn).await }
    })
    .await
}

/// Appends to `pipe` the commands, all in `room`'s slot, that record `member` in `room` and
/// announce the join.
fn push_add_room(pipe: &mut redis::Pipeline, keys: &Keys, room: &str, member: &Member) {
    let json = serde_json::to_string(member).expect("members serialize");
    pipe.hset(keys.presence(room), &member.conn, &json)
        .ignore()
        .cmd(keys.publish_command())
        .arg(keys.channel(room))
        .arg(format!("J{json}"))
        .ignore();
}

/// Appends to `pipe` the command that lists `room` among `node`'s rooms, for reaping.
fn push_add_node(pipe: &mut redis::Pipeline, keys: &Keys, node: &NodeId, room: &str) {
    pipe.sadd(keys.node_rooms(node.as_str()), room).ignore();
}

/// Removes `member` from `room` and announces the leave, if it was there.
pub(super) async fn remove(conn: &Conn, keys: &Keys, room: &str, member: &Member) -> Result<()> {
    let mut conn = conn.clone();
    let removed: i64 = conn.hdel(keys.presence(room), &member.conn).await?;
    if removed > 0 {
        let json = serde_json::to_string(member).expect("members serialize");
        announce_leave(&mut conn, keys, room, &json).await?;
    }
    Ok(())
}

/// Announces on `room`'s channel that the member `json` left.
pub(super) async fn announce_leave(
    conn: &mut Conn,
    keys: &Keys,
    room: &str,
    json: &str,
) -> redis::RedisResult<()> {
    redis::cmd(keys.publish_command())
        .arg(keys.channel(room))
        .arg(format!("L{json}"))
        .query_async(conn)
        .await
}

/// Who is in `room` on every live node: the count, and at least `limit` members if there are
/// that many (those of dead nodes left out).
pub(super) async fn members(
    conn: &Conn,
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
async fn scan_some(conn: &mut Conn, key: &str, want: usize) -> redis::RedisResult<Vec<String>> {
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
