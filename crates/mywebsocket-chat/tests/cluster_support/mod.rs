//! What the cluster tests share: chat nodes as child processes (killed on drop) on the Redis
//! at `REDIS_URL` or the Redis Cluster at `REDIS_CLUSTER_URLS`, and a client of the chat's
//! protocol.

#![allow(dead_code)] // each test file uses part of this

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use mywebsocket::{connect, Error, Message, Reader, WebSocket, Writer};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// Longest wait for any one expected message.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// The Redis URL, or `cluster=URL,URL,...` for a Redis Cluster.
pub(crate) fn redis_url() -> Option<String> {
    let env = |name| std::env::var(name).ok().filter(|u: &String| !u.is_empty());
    env("REDIS_CLUSTER_URLS")
        .map(|seeds| format!("cluster={seeds}"))
        .or_else(|| env("REDIS_URL"))
}

/// The Redis the tests share, or an early return (the test is skipped) without one.
macro_rules! require_redis {
    () => {
        match $crate::cluster_support::redis_url() {
            Some(url) => url,
            None => {
                eprintln!("skipped: REDIS_URL is unset (run `just cluster`)");
                return;
            }
        }
    };
}

/// A key prefix of its own for each test, so tests sharing one Redis never meet.
pub(crate) fn prefix(test: &str) -> String {
    format!("t{}-{test}", rand_suffix())
}

pub(crate) fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
        % 1_000_000_007
}

/// A chat node process, killed when dropped.
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) id: String,
}

impl Node {
    pub(crate) async fn start(args: &[&str]) -> Self {
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

    pub(crate) async fn redis(url: &str, prefix: &str, extra: &[&str]) -> Self {
        let mut args = match url.strip_prefix("cluster=") {
            Some(seeds) => vec!["--redis-cluster", seeds],
            None => vec!["--redis", url],
        };
        args.extend_from_slice(&["--prefix", prefix]);
        args.extend_from_slice(extra);
        Self::start(&args).await
    }

    pub(crate) fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `kill -9`.
    pub(crate) async fn kill9(&mut self) {
        self.child.start_kill().expect("SIGKILL is sent");
        let _ = self.child.wait().await;
    }

    pub(crate) fn rss_kib(&self) -> u64 {
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
pub(crate) struct Client {
    pub(crate) ws: WebSocket,
    pub(crate) conn: String,
}

impl Client {
    pub(crate) async fn connect(node: &Node) -> Self {
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
    pub(crate) async fn connect_small_buffer(node: &Node) -> Self {
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

    pub(crate) async fn send(&mut self, value: Value) {
        self.ws.write_string(value.to_string()).await.expect("send");
    }

    pub(crate) async fn recv(&mut self) -> Value {
        recv(&mut self.ws).await.expect("a message arrives")
    }

    /// Joins; returns the messages received before the `joined` answer, and the answer.
    pub(crate) async fn join(
        &mut self,
        room: &str,
        nick: &str,
        since: Option<&str>,
    ) -> (Vec<Value>, Value) {
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

    pub(crate) async fn presence(&mut self, room: &str) -> BTreeSet<(String, String)> {
        self.send(json!({"type":"presence","room":room})).await;
        loop {
            let v = self.recv().await;
            if v["type"] == "presence" && v["room"] == room {
                return members(&v["members"]);
            }
        }
    }

    pub(crate) fn split(self) -> (Reader, Writer) {
        self.ws.split()
    }
}

pub(crate) fn members(list: &Value) -> BTreeSet<(String, String)> {
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
pub(crate) trait ReadJson {
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

pub(crate) async fn recv(reader: &mut impl ReadJson) -> Result<Value, Error> {
    let msg = timeout(PATIENCE, reader.read_json())
        .await
        .expect("no message within the patience limit")?;
    Ok(serde_json::from_str(msg.as_text().expect("text")).expect("JSON"))
}

pub(crate) async fn publish(writer: &Writer, room: &str, text: &str) {
    let msg = json!({"type":"publish","room":room,"text":text}).to_string();
    writer.write_string(msg).await.expect("publish is sent");
}

/// Reads until `count` room messages of `room` arrived; returns (id, text) in arrival order.
pub(crate) async fn collect(
    reader: &mut Reader,
    room: &str,
    count: usize,
) -> Vec<(String, String)> {
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

pub(crate) fn stream_id(id: &str) -> (u64, u64) {
    let (a, b) = id.split_once('-').expect("id is ms-seq");
    (a.parse().expect("ms"), b.parse().expect("seq"))
}

pub(crate) fn assert_increasing(ids: &[(String, String)]) {
    for pair in ids.windows(2) {
        assert!(
            stream_id(&pair[0].0) < stream_id(&pair[1].0),
            "ids out of order or duplicated: {} then {}",
            pair[0].0,
            pair[1].0
        );
    }
}

/// The `error` messages a reader receives (a sender's refused publishes), gathered by a task
/// until the connection ends; abort the task when done.
pub(crate) fn collect_errors(
    mut reader: Reader,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    tokio::task::JoinHandle<()>,
) {
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&errors);
    let task = tokio::spawn(async move {
        while let Ok(msg) = reader.read_msg().await {
            let v: Value = serde_json::from_str(msg.as_text().unwrap_or("{}")).unwrap_or_default();
            if v["type"] == "error" {
                seen.lock().unwrap().push(v);
            }
        }
    });
    (errors, task)
}
