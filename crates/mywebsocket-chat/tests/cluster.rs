//! Cluster tests: chat nodes run as child processes (killed on drop) and share the
//! redis-server at `REDIS_URL`, or the Redis Cluster whose nodes `REDIS_CLUSTER_URLS` lists
//! (comma-separated; it wins when both are set). `scripts/cluster.sh` (`just cluster`) runs
//! them against a private redis-server, then against a private Redis Cluster
//! (`scripts/redis-cluster.sh`); tests that need Redis are skipped when neither is set.

#[macro_use]
mod cluster_support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use cluster_support::*;
use mywebsocket::Error;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_300_clients_10_rooms_exactly_once_in_order() {
    let url = require_redis!();
    let prefix = prefix("fanout");
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::redis(&url, &prefix, &[]).await);
    }
    const CLIENTS: usize = 300;
    const ROOMS: usize = 10;
    const SENDERS: usize = 30;
    const PER_SENDER: usize = 20;
    let room_of = |i: usize| format!("room{}", i % ROOMS);
    let mut expected_members: HashMap<String, BTreeSet<(String, String)>> = HashMap::new();
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let node = &nodes[i % 3];
        let mut client = Client::connect(node).await;
        let (before, joined) = client.join(&room_of(i), &format!("c{i}"), None).await;
        assert!(
            before.iter().all(|v| v["type"] != "message"),
            "a new room has no history: {before:?}"
        );
        assert_eq!(joined["gap"], false);
        expected_members
            .entry(room_of(i))
            .or_default()
            .insert((client.conn.clone(), node.id.clone()));
        clients.push(client);
    }

    // Presence agrees on every node (asked through a client of each node).
    for node in &nodes {
        let mut observer = Client::connect(node).await;
        for room in expected_members.keys() {
            assert_eq!(
                &observer.presence(room).await,
                &expected_members[room],
                "presence of {room} on node {}",
                node.id
            );
        }
    }

    let per_room = SENDERS / ROOMS * PER_SENDER;
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let (mut reader, writer) = client.split();
        let room = room_of(i);
        readers.push(tokio::spawn(async move {
            (room.clone(), collect(&mut reader, &room, per_room).await)
        }));
        writers.push(writer);
    }
    let mut senders = Vec::new();
    for (i, writer) in writers.iter().enumerate().take(SENDERS) {
        let writer = writer.clone();
        let room = room_of(i);
        senders.push(tokio::spawn(async move {
            for n in 0..PER_SENDER {
                publish(&writer, &room, &format!("{i}:{n}")).await;
            }
        }));
    }
    for s in senders {
        s.await.expect("sender");
    }
    let mut order_by_room: HashMap<String, Vec<String>> = HashMap::new();
    for r in readers {
        let (room, got) = r
            .await
            .expect("every member receives every message of its room");
        assert_eq!(got.len(), per_room);
        assert_increasing(&got);
        // In order per sender, each exactly once.
        let mut next: HashMap<&str, usize> = HashMap::new();
        for (_, text) in &got {
            let (sender, n) = text.split_once(':').expect("sender:n");
            let expect = next.entry(sender).or_default();
            assert_eq!(
                n.parse::<usize>().unwrap(),
                *expect,
                "sender {sender} out of order"
            );
            *expect += 1;
        }
        assert!(next.values().all(|&n| n == PER_SENDER));
        // One order per room: every member saw the same sequence.
        let ids: Vec<String> = got.into_iter().map(|(id, _)| id).collect();
        match order_by_room.get(&room) {
            Some(seen) => assert_eq!(seen, &ids, "members of {room} disagree on order"),
            None => {
                order_by_room.insert(room, ids);
            }
        }
    }
    drop(writers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_clients_recover_elsewhere_and_leave_presence() {
    let url = require_redis!();
    let prefix = prefix("kill");
    let ttl = Duration::from_millis(1500);
    let ttl_arg = ttl.as_millis().to_string();
    let a_node = Node::redis(&url, &prefix, &["--presence-ttl-ms", &ttl_arg]).await;
    let b_node = Node::redis(&url, &prefix, &["--presence-ttl-ms", &ttl_arg]).await;
    let mut doomed = Node::redis(&url, &prefix, &["--presence-ttl-ms", &ttl_arg]).await;
    let room = "k";

    let mut sender = Client::connect(&a_node).await;
    sender.join(room, "sender", None).await;
    let mut watcher = Client::connect(&b_node).await;
    watcher.join(room, "watcher", None).await;
    let mut victims = Vec::new();
    for v in 0..5 {
        let mut c = Client::connect(&doomed).await;
        c.join(room, &format!("v{v}"), None).await;
        victims.push(c);
    }
    assert_eq!(watcher.presence(room).await.len(), 7);
    let doomed_conns: BTreeSet<String> = victims.iter().map(|c| c.conn.clone()).collect();

    let (mut sender_reader, sender_writer) = sender.split();
    let drain = tokio::spawn(async move { while sender_reader.read_msg().await.is_ok() {} });
    for n in 0..10 {
        publish(&sender_writer, room, &format!("before {n}")).await;
    }
    let mut last_ids = Vec::new();
    // Keep both halves: the victims stay connected until their node dies.
    let mut halves = Vec::new();
    for victim in victims {
        let (mut reader, writer) = victim.split();
        let got = collect(&mut reader, room, 10).await;
        last_ids.push(got.last().expect("10 messages").0.clone());
        halves.push((reader, writer));
    }

    doomed.kill9().await;
    let killed_at = Instant::now();
    for (reader, _) in &mut halves {
        // Presence events may still be in flight; then the connection dies with its node.
        while timeout(PATIENCE, reader.read_msg())
            .await
            .expect("the connection ends")
            .is_ok()
        {}
    }
    for n in 0..10 {
        publish(&sender_writer, room, &format!("during {n}")).await;
    }

    // Presence: the dead node's members leave, with leave events, within TTL + TTL/3 (+ slack
    // for the test's own polling and a loaded machine).
    let (mut watcher_reader, _watcher_writer) = watcher.split();
    let mut left = BTreeSet::new();
    while left != doomed_conns {
        let v = recv(&mut watcher_reader)
            .await
            .expect("watcher stays connected");
        if v["type"] == "presence_leave" {
            left.insert(v["member"]["conn"].as_str().unwrap().to_owned());
        }
    }
    let elapsed = killed_at.elapsed();
    let bound = ttl + ttl / 3 + Duration::from_secs(2);
    assert!(
        elapsed <= bound,
        "presence cleared after {elapsed:?}, bound {bound:?}"
    );
    let mut observer = Client::connect(&a_node).await;
    assert!(
        observer
            .presence(room)
            .await
            .iter()
            .all(|(_, node)| node != &doomed.id),
        "no member of the dead node is left"
    );

    // The victims reconnect elsewhere with their last id and get exactly what they missed.
    for (i, last) in last_ids.iter().enumerate() {
        let node = if i % 2 == 0 { &a_node } else { &b_node };
        let mut c = Client::connect(node).await;
        let (replayed, joined) = c.join(room, &format!("v{i}"), Some(last)).await;
        assert_eq!(joined["gap"], false);
        let texts: Vec<&str> = replayed
            .iter()
            .filter(|v| v["type"] == "message")
            .map(|v| v["text"].as_str().unwrap())
            .collect();
        let want: Vec<String> = (0..10).map(|n| format!("during {n}")).collect();
        assert_eq!(
            texts, want,
            "victim {i} recovers the messages sent while it was away"
        );
    }
    drop(sender_writer);
    drain.abort();
}

/// Shuts Redis down; the script's supervisor starts it again a second later with its data.
async fn shutdown_redis(url: &str) {
    let addr = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("redis is up");
    tcp.write_all(b"*1\r\n$8\r\nSHUTDOWN\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_during_traffic_loses_nothing_and_reports_gaps() {
    let url = require_redis!();
    if url.starts_with("cluster=") {
        eprintln!("skipped on a cluster: a_master_killed_during_traffic_... is its case");
        return;
    }
    let prefix = prefix("restart");
    // The recovery window (200 messages of history) covers the outage's traffic.
    const HISTORY: usize = 200;
    let history = HISTORY.to_string();
    let a_node = Node::redis(&url, &prefix, &["--history", &history]).await;
    let b_node = Node::redis(&url, &prefix, &["--history", &history]).await;
    let room = "o";
    let mut receivers = Vec::new();
    for node in [&a_node, &b_node] {
        let mut c = Client::connect(node).await;
        c.join(room, "r", None).await;
        receivers.push(c.split());
    }
    let mut sender = Client::connect(&a_node).await;
    sender.join(room, "s", None).await;
    sender.join("far", "s", None).await;
    let mut late = Client::connect(&b_node).await;
    late.join("far", "late", None).await;
    let (sender_reader, sender_writer) = sender.split();
    let (errors, error_reader) = collect_errors(sender_reader);

    const TOTAL: usize = 100;
    for n in 0..TOTAL {
        if n == 30 {
            shutdown_redis(&url).await;
        }
        publish(&sender_writer, room, &n.to_string()).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (mut reader, _writer) in receivers {
        let got = collect(&mut reader, room, TOTAL).await;
        assert_increasing(&got);
        let texts: Vec<String> = got.into_iter().map(|(_, t)| t).collect();
        let want: Vec<String> = (0..TOTAL).map(|n| n.to_string()).collect();
        assert_eq!(
            texts, want,
            "every message accepted during the outage arrives once, in order"
        );
    }

    // Outside the window: a client away for more than the history holds is told so.
    publish(&sender_writer, "far", "first").await;
    let mut first = late.recv().await;
    while first["type"] != "message" {
        first = late.recv().await;
    }
    let late_since = first["id"].as_str().expect("id").to_owned();
    drop(late);
    for n in 0..HISTORY + 50 {
        publish(&sender_writer, "far", &n.to_string()).await;
    }
    let mut returning = Client::connect(&a_node).await;
    // The last publishes may still be on their way to Redis: ask until history has moved on.
    let deadline = Instant::now() + PATIENCE;
    let (before, joined, got) = loop {
        let (before, joined) = returning.join("far", "late", Some(&late_since)).await;
        let got = before.iter().filter(|v| v["type"] == "message").count();
        // `joined` describes history when the join was served: wait for all the publishes.
        if joined["replayed"] == json!(HISTORY) && joined["gap"] == true
            || Instant::now() > deadline
        {
            break (before, joined, got);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        joined["gap"], true,
        "{joined} after {got} messages, since {late_since}"
    );
    // Earlier attempts left it in the room, so live messages may precede the notice.
    assert!(
        before.iter().any(|v| v["type"] == "gap"),
        "the client is told of the gap"
    );
    assert_eq!(
        joined["replayed"],
        json!(HISTORY),
        "after the gap notice, all that history still holds ({got} messages seen)"
    );
    drop(sender_writer);
    error_reader.abort();
    let errors = errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "the outage buffer took every broadcast: {errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_memory_stays_bounded() {
    // In memory: the policy is the node's, whatever the broker.
    let node = Node::start(&["--queue", "256,1048576", "--history", "10"]).await;
    let room = "slow";
    let mut slow = Client::connect_small_buffer(&node).await;
    slow.join(room, "slow", None).await;
    let mut sender = Client::connect(&node).await;
    sender.join(room, "fast", None).await;
    let (mut sender_reader, sender_writer) = sender.split();

    let baseline = node.rss_kib();
    // Incompressible, even for a deflate context that has seen the previous message.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = move || -> String {
        (0..16 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'!' + (state % 90) as u8)
            })
            .collect()
    };
    // 32 MiB for a client that reads none of it. The sender is a member too and reads its own
    // copies, at most 16 behind, so that it never becomes a slow consumer itself.
    const WINDOW: usize = 16;
    const FLOOD: usize = 2048;
    let mut peak = baseline;
    for n in 0..FLOOD {
        publish(&sender_writer, room, &text()).await;
        if n >= WINDOW {
            collect(&mut sender_reader, room, 1).await;
        }
        if n % 512 == 0 {
            peak = peak.max(node.rss_kib());
        }
    }
    collect(&mut sender_reader, room, WINDOW).await;
    let peak = peak.max(node.rss_kib());
    assert!(
        peak.saturating_sub(baseline) < 16 * 1024,
        "node memory grew by {} KiB for a client that does not read",
        peak - baseline
    );
    // Now the slow client reads: what was written before the policy, then the end. The 1008
    // close frame waits behind the unread bytes for a bounded grace (the server's 10 s, then
    // the connection's close timeout); a flood longer than that ends with the socket closed
    // instead (1006). The frame itself is checked in the hub's memory_hub tests.
    let mut received = 0;
    let code = loop {
        let next = timeout(PATIENCE, slow.ws.read_msg()).await;
        let next = next.unwrap_or_else(|_| panic!("no close after {received} messages"));
        match next {
            Ok(_) => received += 1,
            Err(Error::Closed { frame, .. }) => break frame.map(|f| u16::from(f.code)),
            Err(e) if e.to_string().contains("1006") => break Some(1006),
            Err(e) => panic!("expected the connection to end, got {e}"),
        }
    };
    assert!(matches!(code, Some(1008 | 1006)), "closed with {code:?}");
    assert!(
        received < FLOOD,
        "the slow client did not get everything ({received})"
    );
    drop(sender_writer);
}

/// SIGTERM, unlike `kill -9`, lets the node say goodbye: its members are announced as leaving
/// at once, long before their presence would expire, and it exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_node_announces_its_members_leaving_and_exits_0() {
    let url = require_redis!();
    let prefix = prefix("term");
    // Far beyond the wait below: only an explicit leave can explain the events.
    let ttl_arg = "120000";
    let stays = Node::redis(&url, &prefix, &["--presence-ttl-ms", ttl_arg]).await;
    let mut leaving = Node::redis(&url, &prefix, &["--presence-ttl-ms", ttl_arg]).await;
    let room = "t";
    let mut watcher = Client::connect(&stays).await;
    watcher.join(room, "watcher", None).await;
    let mut members = Vec::new();
    for m in 0..2 {
        let mut c = Client::connect(&leaving).await;
        c.join(room, &format!("m{m}"), None).await;
        members.push(c);
    }
    assert_eq!(watcher.presence(room).await.len(), 3);
    let leaving_conns: BTreeSet<String> = members.iter().map(|c| c.conn.clone()).collect();

    let pid = leaving.child.id().expect("the node is running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    for c in &mut members {
        let end = loop {
            match timeout(PATIENCE, c.ws.read_msg())
                .await
                .expect("closed in time")
            {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        match end {
            Error::Closed { frame: Some(f), .. } => {
                assert_eq!(f.code, mywebsocket::CloseCode::GOING_AWAY)
            }
            other => panic!("expected 1001, got {other:?}"),
        }
    }
    let mut left = BTreeSet::new();
    timeout(Duration::from_secs(10), async {
        while left != leaving_conns {
            let v = watcher.recv().await;
            if v["type"] == "presence_leave" {
                left.insert(v["member"]["conn"].as_str().unwrap().to_owned());
            }
        }
    })
    .await
    .expect("both members are announced leaving within 10 s, not at the 120 s expiry");
    let exit = timeout(PATIENCE, leaving.child.wait())
        .await
        .expect("the node exits")
        .expect("wait for the node");
    assert!(exit.success(), "the node exited with {exit}");
    assert_eq!(watcher.presence(room).await.len(), 1);
}

/// Past the presence limit a room's member list is a page plus the count, wherever the members
/// are, and its members on a node holding more than the limit are no longer told of joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_rooms_list_a_page_of_members_and_stop_announcing_joins() {
    let url = require_redis!();
    let prefix = prefix("large");
    let limit = ["--presence-limit", "3"];
    let nodes = [
        Node::redis(&url, &prefix, &limit).await,
        Node::redis(&url, &prefix, &limit).await,
    ];
    let room = "big";
    let mut first = Client::connect(&nodes[0]).await;
    first.join(room, "first", None).await;
    // m0, m2, m4, m6 join on node 0 (with `first`), m1, m3, m5 on node 1.
    let mut others = Vec::new();
    let mut last_joined = Value::Null;
    for n in 0..7 {
        let mut c = Client::connect(&nodes[n % 2]).await;
        last_joined = c.join(room, &format!("m{n}"), None).await.1;
        others.push(c);
    }
    assert_eq!(last_joined["count"], 8, "{last_joined}");
    assert_eq!(members(&last_joined["members"]).len(), 3, "{last_joined}");

    // Presence events and room messages share the room's channel, so every join event node 0
    // passes on reaches `first` before its own message comes back.
    first
        .send(json!({"type":"publish","room":room,"text":"marker"}))
        .await;
    let mut heard = BTreeSet::new();
    loop {
        let v = first.recv().await;
        match v["type"].as_str() {
            Some("presence_join") => {
                heard.insert(v["member"]["conn"].as_str().unwrap().to_owned());
            }
            Some("message") if v["text"] == "marker" => break,
            _ => {}
        }
    }
    // When m4, m5 and m6 joined, node 0 already held 4 or more members of the room.
    for late in &others[4..] {
        assert!(!heard.contains(&late.conn), "{} was announced", late.conn);
    }
    assert!(
        heard.contains(&others[0].conn),
        "m0 joined a room of 2 there"
    );

    let mut watcher = Client::connect(&nodes[1]).await;
    watcher.send(json!({"type":"presence","room":room})).await;
    let presence = loop {
        let v = watcher.recv().await;
        if v["type"] == "presence" {
            break v;
        }
    };
    assert_eq!(presence["count"], 8, "{presence}");
    assert_eq!(members(&presence["members"]).len(), 3, "{presence}");
}
