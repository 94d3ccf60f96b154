//! Cluster tests: chat nodes run as child processes (killed on drop) and share the
//! redis-server at `REDIS_URL`, or the Redis Cluster whose nodes `REDIS_CLUSTER_URLS` lists
//! (comma-separated; it wins when both are set). `scripts/cluster.sh` (`just cluster`) runs
//! them against a private redis-server, then against a private Redis Cluster
//! (`scripts/redis-cluster.sh`); tests that need Redis are skipped when neither is set.

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mywebsocket::{connect, Error, Message, Reader, WebSocket, Writer};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// Longest wait for any one expected message.
const PATIENCE: Duration = Duration::from_secs(30);

/// The Redis URL, or `cluster=URL,URL,...` for a Redis Cluster.
fn redis_url() -> Option<String> {
    let env = |name| std::env::var(name).ok().filter(|u: &String| !u.is_empty());
    env("REDIS_CLUSTER_URLS")
        .map(|seeds| format!("cluster={seeds}"))
        .or_else(|| env("REDIS_URL"))
}

macro_rules! require_redis {
    () => {
        match redis_url() {
            Some(url) => url,
            None => {
                eprintln!("skipped: REDIS_URL is unset (run `just cluster`)");
                return;
            }
        }
    };
}

/// A key prefix of its own for each test, so tests sharing one Redis never meet.
fn prefix(test: &str) -> String {
    format!("t{}-{test}", rand_suffix())
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
        % 1_000_000_007
}

/// A chat node process, killed when dropped.
struct Node {
    child: Child,
    addr: String,
    id: String,
}

impl Node {
    async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mywebsocket-chat"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("NODE_LOG").unwrap_or_else(|_| "warn,mywebsocket_hub=info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the chat binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = timeout(PATIENCE, lines.next_line())
            .await
            .expect("the node announces its address")
            .expect("stdout is readable")
            .expect("the node printed a line");
        // "listening on http://ADDR node ID"
        let words: Vec<&str> = line.split_whitespace().collect();
        let addr = words[2].trim_start_matches("http://").to_owned();
        let id = words[4].to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr, id }
    }

    async fn redis(url: &str, prefix: &str, extra: &[&str]) -> Self {
        let mut args = match url.strip_prefix("cluster=") {
            Some(seeds) => vec!["--redis-cluster", seeds],
            None => vec!["--redis", url],
        };
        args.extend_from_slice(&["--prefix", prefix]);
        args.extend_from_slice(extra);
        Self::start(&args).await
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `kill -9`.
    async fn kill9(&mut self) {
        self.child.start_kill().expect("SIGKILL is sent");
        let _ = self.child.wait().await;
    }

    fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("the node is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS is reported")
    }
}

/// A protocol client.
struct Client {
    ws: WebSocket,
    conn: String,
}

impl Client {
    async fn connect(node: &Node) -> Self {
        let (ws, _) = connect(&node.url()).await.expect("the node accepts");
        let mut client = Self {
            ws,
            conn: String::new(),
        };
        let hello = client.recv().await;
        assert_eq!(hello["type"], "hello");
        client.conn = hello["conn"].as_str().expect("hello has conn").to_owned();
        client
    }

    /// A client with a 64 KiB socket receive buffer, so that not reading soon stalls the node's
    /// writes (the kernel would otherwise absorb tens of MiB).
    async fn connect_small_buffer(node: &Node) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(64 * 1024).unwrap();
        let tcp = socket.connect(node.addr.parse().unwrap()).await.unwrap();
        let request = http::Request::get(node.url()).body(()).unwrap();
        let (ws, _) = mywebsocket::connect_with(tcp, request, Default::default())
            .await
            .expect("the node accepts");
        let mut client = Self {
            ws,
            conn: String::new(),
        };
        let hello = client.recv().await;
        client.conn = hello["conn"].as_str().expect("hello has conn").to_owned();
        client
    }

    async fn send(&mut self, value: Value) {
        self.ws.write_string(value.to_string()).await.expect("send");
    }

    async fn recv(&mut self) -> Value {
        recv(&mut self.ws).await.expect("a message arrives")
    }

    /// Joins; returns the messages received before the `joined` answer, and the answer.
    async fn join(&mut self, room: &str, nick: &str, since: Option<&str>) -> (Vec<Value>, Value) {
        self.send(json!({"type":"join","room":room,"nick":nick,"since":since}))
            .await;
        let mut before = Vec::new();
        loop {
            let v = self.recv().await;
            match v["type"].as_str() {
                Some("joined") => return (before, v),
                Some("error") => panic!("join failed: {v}"),
                _ => before.push(v),
            }
        }
    }

    async fn presence(&mut self, room: &str) -> BTreeSet<(String, String)> {
        self.send(json!({"type":"presence","room":room})).await;
        loop {
            let v = self.recv().await;
            if v["type"] == "presence" && v["room"] == room {
                return members(&v["members"]);
            }
        }
    }

    fn split(self) -> (Reader, Writer) {
        self.ws.split()
    }
}

fn members(list: &Value) -> BTreeSet<(String, String)> {
    list.as_array()
        .expect("members is a list")
        .iter()
        .map(|m| {
            (
                m["conn"].as_str().unwrap_or_default().to_owned(),
                m["node"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Both halves read alike; the tests read from either.
trait ReadJson {
    async fn read_json(&mut self) -> Result<Message, Error>;
}
impl ReadJson for WebSocket {
    async fn read_json(&mut self) -> Result<Message, Error> {
        self.read_msg().await
    }
}
impl ReadJson for Reader {
    async fn read_json(&mut self) -> Result<Message, Error> {
        self.read_msg().await
    }
}

async fn recv(reader: &mut impl ReadJson) -> Result<Value, Error> {
    let msg = timeout(PATIENCE, reader.read_json())
        .await
        .expect("no message within the patience limit")?;
    Ok(serde_json::from_str(msg.as_text().expect("text")).expect("JSON"))
}

async fn publish(writer: &Writer, room: &str, text: &str) {
    let msg = json!({"type":"publish","room":room,"text":text}).to_string();
    writer.write_string(msg).await.expect("publish is sent");
}

/// Reads until `count` room messages of `room` arrived; returns (id, text) in arrival order.
async fn collect(reader: &mut Reader, room: &str, count: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while got.len() < count {
        let v = recv(reader).await.expect("the connection stays up");
        if v["type"] == "message" && v["room"] == room {
            got.push((
                v["id"].as_str().expect("id").to_owned(),
                v["text"].as_str().expect("text").to_owned(),
            ));
        } else if v["type"] == "error" || v["type"] == "gap" {
            panic!("unexpected {v}");
        }
    }
    got
}

fn stream_id(id: &str) -> (u64, u64) {
    let (a, b) = id.split_once('-').expect("id is ms-seq");
    (a.parse().expect("ms"), b.parse().expect("seq"))
}

fn assert_increasing(ids: &[(String, String)]) {
    for pair in ids.windows(2) {
        assert!(
            stream_id(&pair[0].0) < stream_id(&pair[1].0),
            "ids out of order or duplicated: {} then {}",
            pair[0].0,
            pair[1].0
        );
    }
}

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
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&errors);
    let error_reader = tokio::spawn(async move {
        let mut reader = sender_reader;
        while let Ok(msg) = reader.read_msg().await {
            let v: Value = serde_json::from_str(msg.as_text().unwrap_or("{}")).unwrap_or_default();
            if v["type"] == "error" {
                seen.lock().unwrap().push(v);
            }
        }
    });

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

/// The port of the master that serves the slot of `key`, asked of the cluster node `seed`.
async fn master_of(seed: &str, key: &str) -> u16 {
    let client = redis::Client::open(seed).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("the seed answers");
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
            return u16::try_from(int(&master[1])).expect("a port");
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

/// Kills a master of the Redis Cluster mid-traffic: its replica takes over (the script's
/// supervisor brings the old one back as a replica). Every receiver must end up with every
/// message, and any repeat or reordering must come after a gap notice: exactly once, or a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_during_traffic_costs_gaps_never_silent_losses() {
    let Some(seeds) = std::env::var("REDIS_CLUSTER_URLS")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("skipped: REDIS_CLUSTER_URLS is unset (run `just cluster`)");
        return;
    };
    let url = format!("cluster={seeds}");
    let prefix = prefix("failover");
    let a_node = Node::redis(&url, &prefix, &[]).await;
    let b_node = Node::redis(&url, &prefix, &[]).await;
    const ROOMS: usize = 6;
    const TOTAL: usize = 300;
    let rooms: Vec<String> = (0..ROOMS).map(|r| format!("f{r}")).collect();
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
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&errors);
    let error_reader = tokio::spawn(async move {
        let mut reader = sender_reader;
        while let Ok(msg) = reader.read_msg().await {
            let v: Value = serde_json::from_str(msg.as_text().unwrap_or("{}")).unwrap_or_default();
            if v["type"] == "error" {
                seen.lock().unwrap().push(v);
            }
        }
    });
    let seed = seeds.split(',').next().expect("a seed").to_owned();
    let victim = master_of(&seed, &cluster_key(&prefix, "s", &rooms[0])).await;
    for n in 0..TOTAL {
        if n == TOTAL / 5 {
            shutdown_redis_nosave(victim).await;
        }
        for room in &rooms {
            publish(&sender_writer, room, &n.to_string()).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut gaps = 0;
    for (room, (mut reader, _writer)) in receivers {
        let mut next = 0usize;
        let mut got = vec![0u32; TOTAL];
        let mut gap_since_last = false;
        let mut recent = std::collections::VecDeque::new();
        while got[TOTAL - 1] == 0 {
            let v = recv(&mut reader).await.expect("the connection stays up");
            recent.push_back(v.to_string());
            if recent.len() > 6 {
                recent.pop_front();
            }
            match v["type"].as_str() {
                Some("gap") if v["room"] == room.as_str() => {
                    gap_since_last = true;
                    gaps += 1;
                }
                Some("message") if v["room"] == room.as_str() => {
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
    }
    eprintln!("failover of master :{victim}: every message delivered; {gaps} gap notices");
    drop(sender_writer);
    error_reader.abort();
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "every broadcast was taken: {errors:?}");
}

/// `SHUTDOWN NOSAVE` to the Redis on `port`: a crash, as far as its data goes.
async fn shutdown_redis_nosave(port: u16) {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the master is up");
    tcp.write_all(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await;
}
