//! Per-room subscriptions on a real Redis: a node receives a room's messages only while its
//! hub has members there, and a join's history and live messages meet exactly once.
//!
//! Needs a Redis: `REDIS_URL=redis://127.0.0.1:PORT/ cargo test -p mywebsocket-hub --test
//! redis_rooms -- --ignored`, or a Redis Cluster: `REDIS_CLUSTER_URLS=redis://...,redis://...`
//! (`just cluster` runs it against its private redis-server, then its private cluster).
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use common::client;
use mywebsocket::{Message, WebSocket};
use mywebsocket_hub::{Hub, HubConfig, JoinOptions, RedisBroker, Traffic};
use tokio::time::timeout;

fn broker(config: &HubConfig) -> RedisBroker {
    if let Some(seeds) = std::env::var("REDIS_CLUSTER_URLS")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return RedisBroker::cluster(seeds.split(','), config).unwrap();
    }
    let url = std::env::var("REDIS_URL").expect("REDIS_URL names the Redis these tests use");
    RedisBroker::new(&url, config).unwrap()
}

/// A hub on Redis under a prefix of its own (so runs do not see each other's rooms), and the
/// handle on its broker's traffic.
async fn node(prefix: &str) -> (Hub, Traffic) {
    let mut config = HubConfig::default();
    config.redis_prefix = prefix.to_owned();
    let broker = broker(&config);
    let traffic = broker.traffic();
    let hub = Hub::builder(config).broker(broker).build().await.unwrap();
    (hub, traffic)
}

fn unique_prefix(test: &str) -> String {
    format!("t-{test}-{}", rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (nanos as u64) ^ u64::from(std::process::id())
}

async fn next_text(ws: &mut WebSocket) -> String {
    let msg = timeout(Duration::from_secs(10), ws.read_msg())
        .await
        .expect("a message arrives")
        .expect("the connection is up");
    msg.as_text().expect("text").to_owned()
}

#[tokio::test]
#[ignore = "needs a Redis at REDIS_URL; `just cluster` runs it"]
async fn a_node_receives_only_the_rooms_it_hosts() {
    let prefix = unique_prefix("rooms");
    let (a, a_traffic) = node(&prefix).await;
    let (b, b_traffic) = node(&prefix).await;
    let (a_conn, mut a_ws) = client(&a, None).await;
    a.join(a_conn.id(), "red", JoinOptions::default())
        .await
        .unwrap();

    // B has no member in "red": 50 broadcasts there reach A only.
    for i in 0..50 {
        b.broadcast("red", Message::text(format!("red {i}")))
            .await
            .unwrap();
    }
    for i in 0..50 {
        assert_eq!(next_text(&mut a_ws).await, format!("red {i}"));
    }
    assert_eq!(b_traffic.room_messages(), 0, "B subscribed to no room");
    assert!(a_traffic.room_messages() >= 50);

    // Once B hosts a member of "red", B receives it, history first, each message once.
    let (b_conn, mut b_ws) = client(&b, None).await;
    let joined = b
        .join(b_conn.id(), "red", JoinOptions::default().since(None))
        .await
        .unwrap();
    assert!(joined.replayed > 0);
    for _ in 0..joined.replayed {
        next_text(&mut b_ws).await;
    }
    a.broadcast("red", Message::text("to both")).await.unwrap();
    assert_eq!(next_text(&mut b_ws).await, "to both");
    assert_eq!(next_text(&mut a_ws).await, "to both");
    assert!(b_traffic.room_messages() >= 1);

    // After B's last member leaves, B unsubscribes: A's traffic reaches B no more.
    b.leave(b_conn.id(), "red").await.unwrap();
    a.broadcast("red", Message::text("after the leave"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut a_ws).await, "after the leave");
    // A direct message to B's connection goes after the broadcast on A's side; once it
    // arrives, the broadcast would have arrived before it if B were still subscribed.
    let before = b_traffic.room_messages();
    b.send_to_connection(b_conn.id(), Message::text("marker"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut b_ws).await, "marker");
    assert_eq!(
        b_traffic.room_messages(),
        before,
        "no room message after the leave"
    );
}

#[tokio::test]
#[ignore = "needs a Redis at REDIS_URL; `just cluster` runs it"]
async fn joins_racing_broadcasts_see_each_message_exactly_once_in_order() {
    let prefix = unique_prefix("race");
    let (a, _) = node(&prefix).await;
    let (b, _) = node(&prefix).await;
    // A publishes numbers without pause while, on B, a member joins the room (B's first, so
    // B subscribes each time), reads on, and leaves (B unsubscribes), forty times: each
    // session must see consecutive numbers, the history replayed and the live ones meeting
    // with no gap and no duplicate.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (a, stop) = (a.clone(), std::sync::Arc::clone(&stop));
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match a.broadcast("blue", Message::text(i.to_string())).await {
                    Ok(()) => i += 1,
                    // Faster than Redis takes them: let the publish queue drain a little.
                    Err(mywebsocket_hub::HubError::OutageBufferFull { .. }) => {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(e) => panic!("broadcast failed: {e}"),
                }
                if i.is_multiple_of(8) {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let (conn, mut ws) = client(&b, None).await;
    for session in 0..40 {
        let joined = b
            .join(conn.id(), "blue", JoinOptions::default())
            .await
            .unwrap();
        let mut last: Option<u64> = None;
        for _ in 0..joined.replayed + 30 {
            let n: u64 = next_text(&mut ws).await.parse().unwrap();
            if let Some(prev) = last {
                assert_eq!(
                    n,
                    prev + 1,
                    "session {session}: a gap or a duplicate after {prev}"
                );
            }
            last = Some(n);
        }
        b.leave(conn.id(), "blue").await.unwrap();
        // What was queued to the member before the leave is still on its way: drain it,
        // marked by a direct message sent after the leave.
        b.send_to_connection(conn.id(), Message::text("marker"))
            .await
            .unwrap();
        while next_text(&mut ws).await != "marker" {}
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    publisher.await.unwrap();
}
