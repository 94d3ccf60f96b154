//! The chat binary as a child process of a test, and a chat client speaking its protocol.

#![allow(dead_code)] // each test file uses part of this

pub(crate) mod http;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mywebsocket::{Error, WebSocket};
use serde_json::Value;

/// A chat node, killed on drop whatever the test's outcome.
pub(crate) struct Node {
    child: Child,
    /// `127.0.0.1:PORT`, on a port the node chose (it listens on port 0).
    pub(crate) addr: String,
}

impl Node {
    /// Starts the binary with `args` after `--listen 127.0.0.1:0` and reads its first line,
    /// `listening on SCHEME://ADDR node ID`.
    pub(crate) fn start(scheme: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mywebsocket-chat"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the chat binary");
        let stdout = child.stdout.take().expect("piped stdout");
        // Owned before reading, so a failed read still kills the child.
        let mut node = Self {
            child,
            addr: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the node's first line");
        let prefix = format!("listening on {scheme}://");
        let rest = line
            .trim()
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        let (addr, _id) = rest
            .split_once(" node ")
            .unwrap_or_else(|| panic!("no node id in {line:?}"));
        node.addr = addr.to_owned();
        node
    }

    /// The process id, to send it signals.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit on its own.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the next protocol message, within 10 s.
pub(crate) async fn next(ws: &mut WebSocket) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.read_msg())
        .await
        .expect("a message within 10 s")
        .expect("read a message");
    serde_json::from_str(msg.as_text().expect("the protocol is text")).expect("JSON")
}

/// Reads until a message of type `kind`, skipping others (presence events, replies).
pub(crate) async fn next_of(ws: &mut WebSocket, kind: &str) -> Value {
    loop {
        let msg = next(ws).await;
        if msg["type"] == kind {
            return msg;
        }
    }
}

/// Sends `hello`'s successor: joins `room` as `nick` and waits for `joined`.
pub(crate) async fn join(ws: &mut WebSocket, room: &str, nick: &str) {
    assert_eq!(next(ws).await["type"], "hello");
    ws.write_json(&serde_json::json!({ "type": "join", "room": room, "nick": nick }))
        .await
        .expect("send join");
    let joined = next_of(ws, "joined").await;
    assert_eq!(joined["room"], room);
}

/// Reads until the connection ends, within `limit`; the error that ended it.
pub(crate) async fn read_to_end(ws: &mut WebSocket, limit: Duration) -> Error {
    tokio::time::timeout(limit, async {
        loop {
            if let Err(e) = ws.read_msg().await {
                return e;
            }
        }
    })
    .await
    .expect("the connection ends in time")
}
