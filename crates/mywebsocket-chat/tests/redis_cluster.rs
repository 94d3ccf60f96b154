//! The chat on a Redis Cluster, through what a cluster does to its clients: a master killed
//! during traffic (its replica takes over) and a room's slot moved to another master. Needs
//! `REDIS_CLUSTER_URLS` (`just cluster` starts a private cluster with
//! `scripts/redis-cluster.sh` and sets it); skipped without it.

#[macro_use]
#[allow(unused_macros)] // the cluster tests need a cluster, not `require_redis!`
mod cluster_support;

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use cluster_support::*;
use redis::aio::MultiplexedConnection;
use tokio::io::AsyncWriteExt;

/// Messages per room in one run.
const TOTAL: usize = 300;
/// The publish round at which the disruption starts.
const DISRUPT_AT: usize = TOTAL / 5;

fn cluster_seeds() -> Option<String> {
    std::env::var("REDIS_CLUSTER_URLS")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A connection to one node of the cluster (not following slots).
async fn node_conn(port: u16) -> MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("the node answers")
}

/// The cluster's masters as (id, port), from `CLUSTER NODES` on `port`.
async fn masters(port: u16) -> Vec<(String, u16)> {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut node_conn(port).await)
        .await
        .expect("CLUSTER NODES");
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
                return None;
            }
            // 127.0.0.1:PORT@BUS
            let port = fields[1].split(['@', ':']).nth(1)?.parse().ok()?;
            Some((fields[0].to_owned(), port))
        })
        .collect()
}

/// The slot of `key`, and the port of the master serving it, asked of the node on `port`.
async fn slot_and_master(port: u16, key: &str) -> (i64, u16) {
    let mut conn = node_conn(port).await;
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("CLUSTER KEYSLOT");
    let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await
        .expect("CLUSTER SLOTS");
    let int = |v: &redis::Value| match v {
        redis::Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    };
    for range in ranges {
        let redis::Value::Array(range) = range else {
            continue;
        };
        if (int(&range[0])..=int(&range[1])).contains(&slot) {
            let redis::Value::Array(master) = &range[2] else {
                panic!("no master in {range:?}");
            };
            return (slot, u16::try_from(int(&master[1])).expect("a port"));
        }
    }
    panic!("slot {slot} is not served");
}

/// The chat's Redis names for a room on a cluster (see `mywebsocket_hub`'s Redis broker):
/// `<prefix>:<kind>:{<FNV-1a of the room, 16 hex digits>}<room>`.
fn cluster_key(prefix: &str, kind: &str, room: &str) -> String {
    let hash = room.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{prefix}:{kind}:{{{hash:016x}}}{room}")
}

/// Two chat nodes on the cluster, a receiver on each for each of six rooms, and one sender
/// publishing `TOTAL` numbered messages to every room; `disrupt` runs (given the seed port,
/// the key prefix and the first room) when `DISRUPT_AT` rounds are out, while the sender goes
/// on. Then every receiver must have every message, and any repeat or reordering must come
/// right after a gap notice: exactly once, or a gap. Returns the gap notices seen.
async fn traffic_through<F, Fut>(test: &str, node_args: &[&str], disrupt: F) -> usize
where
    F: FnOnce(u16, String, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let seeds = cluster_seeds().expect("checked by the caller");
    let url = format!("cluster={seeds}");
    let prefix = prefix(test);
    let a_node = Node::redis(&url, &prefix, node_args).await;
    let b_node = Node::redis(&url, &prefix, node_args).await;
    let rooms: Vec<String> = (0..6).map(|r| format!("r{r}")).collect();
    let mut receivers = Vec::new();
    for room in &rooms {
        for node in [&a_node, &b_node] {
            let mut c = Client::connect(node).await;
            c.join(room, "r", None).await;
            receivers.push((room.clone(), c.split()));
        }
    }
    let mut sender = Client::connect(&a_node).await;
    for room in &rooms {
        sender.join(room, "s", None).await;
    }
    let (sender_reader, sender_writer) = sender.split();
    let (errors, error_reader) = collect_errors(sender_reader);
    let seed: u16 = seeds
        .split(',')
        .next()
        .and_then(|s| s.trim_end_matches('/').rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("a seed redis://HOST:PORT");
    let mut disruption = Some(disrupt(seed, prefix.clone(), rooms[0].clone()));
    let mut running = None;
    for n in 0..TOTAL {
        if n == DISRUPT_AT {
            running = disruption.take().map(tokio::spawn);
        }
        for room in &rooms {
            publish(&sender_writer, room, &n.to_string()).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(running) = running {
        running.await.expect("the disruption completes");
    }
    let mut gaps = 0;
    for (room, (mut reader, _writer)) in receivers {
        gaps += exactly_once_or_gap(&room, &mut reader).await;
    }
    drop(sender_writer);
    error_reader.abort();
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "every broadcast was taken: {errors:?}");
    gaps
}

/// Reads `room`'s messages until the last one; panics on a message that neither continues
/// the sequence nor follows a gap notice, or on one never delivered. Returns the notices.
async fn exactly_once_or_gap(room: &str, reader: &mut mywebsocket::Reader) -> usize {
    let mut next = 0usize;
    let mut got = vec![0u32; TOTAL];
    let mut gap_since_last = false;
    let mut gaps = 0;
    let mut recent = VecDeque::new();
    while got[TOTAL - 1] == 0 {
        let v = recv(reader).await.expect("the connection stays up");
        recent.push_back(v.to_string());
        if recent.len() > 6 {
            recent.pop_front();
        }
        match v["type"].as_str() {
            Some("gap") if v["room"] == room => {
                gap_since_last = true;
                gaps += 1;
            }
            Some("message") if v["room"] == room => {
                let n: usize = v["text"].as_str().expect("text").parse().expect("a number");
                assert!(
                    n == next || gap_since_last,
                    "{room}: got {n} when {next} was due, with no gap notice before it \
                     (the last events: {recent:?})"
                );
                got[n] += 1;
                next = next.max(n + 1);
                gap_since_last = false;
            }
            Some("error") => panic!("unexpected {v}"),
            _ => {}
        }
    }
    let missing: Vec<usize> = (0..TOTAL).filter(|&n| got[n] == 0).collect();
    assert!(missing.is_empty(), "{room}: never delivered: {missing:?}");
    gaps
}

/// Kills a master of the Redis Cluster mid-traffic: its replica takes over (the script's
/// supervisor brings the old one back as a replica). A publish the dead master may have taken
/// without its replica is published again, after a gap notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_during_traffic_costs_gaps_never_silent_losses() {
    if cluster_seeds().is_none() {
        eprintln!("skipped: REDIS_CLUSTER_URLS is unset (run `just cluster`)");
        return;
    }
    let gaps = traffic_through("failover", &[], |seed, prefix, room| async move {
        let (_, victim) = slot_and_master(seed, &cluster_key(&prefix, "s", &room)).await;
        shutdown_nosave(victim).await;
        eprintln!("killed the master on :{victim}");
    })
    .await;
    eprintln!("failover: every message delivered; {gaps} gap notices");
}

/// Moves the slot of a room (its history, presence and channel) to another master while
/// messages flow, as `redis-cli --cluster reshard` does: nothing is uncertain there, so every
/// member gets every message exactly once, in order, with no gap notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_slot_moved_during_traffic_loses_and_repeats_nothing() {
    if cluster_seeds().is_none() {
        eprintln!("skipped: REDIS_CLUSTER_URLS is unset (run `just cluster`)");
        return;
    }
    let gaps = traffic_through("migrate", &[], |seed, prefix, room| async move {
        let (slot, from) = slot_and_master(seed, &cluster_key(&prefix, "s", &room)).await;
        let masters = masters(seed).await;
        let id_of = |port: u16| {
            masters
                .iter()
                .find(|(_, p)| *p == port)
                .map(|(id, _)| id.clone())
                .expect("a master")
        };
        let (to_id, to) = masters
            .iter()
            .find(|(_, p)| *p != from)
            .cloned()
            .expect("another master");
        migrate_slot(slot, (&id_of(from), from), (&to_id, to), &masters).await;
        eprintln!("moved slot {slot} from :{from} to :{to}");
    })
    .await;
    assert_eq!(
        gaps, 0,
        "a slot migration loses nothing and repeats nothing"
    );
}

/// A manual failover (`CLUSTER FAILOVER` on the replica of a room's master): the old master
/// stays up as a replica, its connections stay open, and Redis ends our subscriptions there
/// with a `sunsubscribe` push; nothing is lost, since a manual failover waits for the replica
/// to catch up. Nodes ask every replica they have for acknowledgements (`--redis-replica-acks
/// 2` where each master has one), so the publisher must also settle for the replicas a shard
/// has instead of waiting for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_failover_during_traffic_loses_nothing() {
    if cluster_seeds().is_none() {
        eprintln!("skipped: REDIS_CLUSTER_URLS is unset (run `just cluster`)");
        return;
    }
    let acks = ["--redis-replica-acks", "2"];
    let gaps = traffic_through("manual", &acks, |seed, prefix, room| async move {
        let (_, master) = slot_and_master(seed, &cluster_key(&prefix, "s", &room)).await;
        let replica = replica_of(seed, master).await;
        let _: () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query_async(&mut node_conn(replica).await)
            .await
            .expect("CLUSTER FAILOVER");
        eprintln!("failed :{master} over to :{replica}");
    })
    .await;
    eprintln!("manual failover: every message delivered; {gaps} gap notices");
}

/// The port of a replica of the master on `master`, from `CLUSTER NODES` on `seed`.
async fn replica_of(seed: u16, master: u16) -> u16 {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut node_conn(seed).await)
        .await
        .expect("CLUSTER NODES");
    let port_of = |field: &str| -> Option<u16> { field.split(['@', ':']).nth(1)?.parse().ok() };
    let master_id = text
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (port_of(fields.get(1)?)? == master).then(|| fields[0].to_owned())
        })
        .expect("the master is listed");
    text.lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let healthy = !fields.get(2)?.contains("fail");
            (healthy && *fields.get(3)? == master_id).then(|| port_of(fields[1]))?
        })
        .expect("the master has a replica")
}

/// Moves `slot` and its keys from one master to another (`CLUSTER SETSLOT` + `MIGRATE`), then
/// tells every master.
async fn migrate_slot(slot: i64, from: (&str, u16), to: (&str, u16), masters: &[(String, u16)]) {
    let (mut src, mut dst) = (node_conn(from.1).await, node_conn(to.1).await);
    let setslot = |state: &str, id: &str| {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SETSLOT").arg(slot).arg(state).arg(id);
        cmd
    };
    let _: () = setslot("IMPORTING", from.0)
        .query_async(&mut dst)
        .await
        .expect("IMPORTING");
    let _: () = setslot("MIGRATING", to.0)
        .query_async(&mut src)
        .await
        .expect("MIGRATING");
    loop {
        let keys: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(100)
            .query_async(&mut src)
            .await
            .expect("GETKEYSINSLOT");
        if keys.is_empty() {
            break;
        }
        let _: () = redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(to.1)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&keys)
            .query_async(&mut src)
            .await
            .expect("MIGRATE");
    }
    for port in std::iter::once(to.1)
        .chain(std::iter::once(from.1))
        .chain(masters.iter().map(|(_, p)| *p))
    {
        let mut conn = node_conn(port).await;
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(to.0)
            .query_async(&mut conn)
            .await
            .expect("SETSLOT NODE");
    }
}

/// `SHUTDOWN NOSAVE NOW FORCE` to the Redis on `port`: a crash, as far as its data goes (no
/// wait for the replica to catch up, no refusal while it writes its append-only file).
async fn shutdown_nosave(port: u16) {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the master is up");
    tcp.write_all(b"*4\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n$3\r\nNOW\r\n$5\r\nFORCE\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await;
}
