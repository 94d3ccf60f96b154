//! Measures the figures of the README's Reliability section against the echo server example,
//! run as a child process so that its resident memory is its own:
//!
//! 1. resident memory with 10,000 idle connections open, per connection;
//! 2. 5,000 slowloris connections: how many the server closed within 12 s (the handshake
//!    timeout is 10 s), and a normal client's connect + echo time during the attack;
//! 3. resident memory per connection with 100 clients that send without ever reading (the
//!    server's echoes fill its write queue, its writers wait, it stops reading);
//! 4. resident memory per connection with as many connections as in 1 offering
//!    permessage-deflate exactly as Chromium does, idle after the handshake;
//! 5. the same connections after each sent one chat-sized (about 200 bytes) compressed JSON
//!    message and read the server's compressed echo.
//!
//! `just reliability` builds the example and this tool in release mode and runs it:
//! `reliability <path to echo_server> [idle] [slowloris] [non-reading]`.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use mywebsocket::{CloseCode, Config, Message};
use mywebsocket_tests::{
    encode_frame, first_message_compressed, inflate_message, raw_frame, rsv1_frame, upgrade_by_hand,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tungstenite::protocol::frame::coding::{Data, OpCode};

/// Connections opened at the same time, so the listen backlog never overflows.
const CONNECTING_AT_ONCE: usize = 64;

/// Chromium's permessage-deflate offer, byte for byte.
const CHROMIUM_OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// A chat message as a chat page sends it, about 200 bytes of JSON.
const CHAT: &str = r#"{"type":"message","room":"general","user":{"id":48213,"name":"alice"},"text":"Deploy finished, dashboards look green. Ping me if anything looks off!","ts":1718035200123,"reply_to":null,"edited":false}"#;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let server_path = args
        .next()
        .expect("usage: reliability <echo_server> [idle] [slow] [nr]");
    let idle: usize = args
        .next()
        .map_or(10_000, |a| a.parse().expect("idle count"));
    let slow: usize = args
        .next()
        .map_or(5_000, |a| a.parse().expect("slowloris count"));
    let non_reading: usize = args
        .next()
        .map_or(100, |a| a.parse().expect("non-reading count"));
    // Both processes hold one socket per connection; the child inherits the raised limit.
    rlimit::increase_nofile_limit(20_000).expect("raise RLIMIT_NOFILE");

    let server = Server::start(&server_path).await;
    println!("| measurement | result |\n|---|---|");
    measure_idle(&server, idle).await;
    measure_slowloris(&server, slow).await;
    drop(server);
    // A fresh server, so the earlier connections' freed memory does not hide the growth.
    let server = Server::start(&server_path).await;
    measure_non_reading(&server, non_reading).await;
    drop(server);
    let server = Server::start(&server_path).await;
    measure_deflate(&server, idle).await;
}

/// The echo server child, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(path: &str) -> Self {
        let mut child = Command::new(path)
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the echo server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("server banner");
        let addr = line
            .trim()
            .rsplit("ws://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected banner {line:?}"));
        Self { child, addr }
    }

    /// Resident memory in bytes, from `/proc`.
    fn rss(&self) -> usize {
        let pid = self.child.id().expect("server running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        let kib: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line");
        kib << 10
    }
}

/// Opens a TCP connection and completes the opening handshake by hand.
async fn handshake(addr: SocketAddr) -> TcpStream {
    handshake_with(addr, "").await.0
}

/// [`handshake`] with `extra` header lines in the request; also returns the response head.
async fn handshake_with(addr: SocketAddr, extra: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let head = upgrade_by_hand(&mut tcp, extra).await;
    (tcp, head)
}

/// Runs `make` for `0..n` with at most [`CONNECTING_AT_ONCE`] in flight; returns the results.
async fn open_many<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = Arc::clone(&gate).acquire_owned().await.expect("open");
        let fut = make(i);
        tasks.push(tokio::spawn(async move {
            let out = fut.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

/// Lets the server finish what the last connections started, then samples its memory.
async fn settled_rss(server: &Server) -> usize {
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.rss()
}

async fn measure_idle(server: &Server, n: usize) {
    let before = settled_rss(server).await;
    let addr = server.addr;
    let conns = open_many(n, |_| handshake(addr)).await;
    let after = settled_rss(server).await;
    println!(
        "| {n} idle connections | server RSS {} MiB → {} MiB: {:.1} KiB per connection |",
        before >> 20,
        after >> 20,
        (after - before) as f64 / n as f64 / 1024.0
    );
    drop(conns);
}

/// Connect + echo + close with our client; returns the connect + echo time.
async fn normal_client(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let (mut ws, _) = mywebsocket::connect_config(&format!("ws://{addr}/"), Config::default())
        .await
        .expect("normal client connects");
    ws.write_string("hello").await.expect("write");
    assert_eq!(ws.read_msg().await.expect("echo"), Message::text("hello"));
    let took = start.elapsed();
    let _ = ws.close(CloseCode::NORMAL, "").await;
    took
}

async fn measure_slowloris(server: &Server, n: usize) {
    const WINDOW: Duration = Duration::from_secs(12);
    let addr = server.addr;
    let start = Instant::now();
    let opened = open_many(n, move |_| async move {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let connected = Instant::now();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await
            .expect("first bytes");
        (tcp, connected)
    })
    .await;
    // Each trickles a byte a second; returns how long after connecting the server closed it.
    let slow: Vec<_> = opened
        .into_iter()
        .map(|(mut tcp, connected)| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                let mut buf = [0u8; 64];
                loop {
                    tokio::select! {
                        _ = tick.tick() => if tcp.write_all(b"a").await.is_err() { break },
                        read = tcp.read(&mut buf) => if !matches!(read, Ok(n) if n > 0) { break },
                    }
                    if connected.elapsed() > WINDOW + Duration::from_secs(5) {
                        return None;
                    }
                }
                Some(connected.elapsed())
            })
        })
        .collect();
    let opened_in = start.elapsed();
    let mut latencies = Vec::new();
    while start.elapsed() < Duration::from_secs(8) {
        latencies.push(normal_client(addr).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut closed = Vec::new();
    for task in slow {
        if let Some(after) = task.await.expect("slow client") {
            closed.push(after);
        }
    }
    let in_window = closed.iter().filter(|d| **d <= WINDOW).count();
    latencies.sort();
    println!(
        "| {n} slowloris connections (opened in {:.1} s) | {in_window} closed by the server \
         within {} s of connecting (latest after {:.1} s) |",
        opened_in.as_secs_f64(),
        WINDOW.as_secs(),
        closed.iter().max().map_or(0.0, Duration::as_secs_f64)
    );
    println!(
        "| normal client during the slowloris attack | connect + echo median {:.1} ms, max {:.1} \
         ms over {} tries |",
        latencies[latencies.len() / 2].as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
        latencies.len()
    );
}

async fn measure_non_reading(server: &Server, n: usize) {
    const MESSAGE: usize = 64 << 10;
    const SENT: usize = 64 << 20;
    let before = settled_rss(server).await;
    let addr = server.addr;
    let frame = Arc::new(encode_frame(raw_frame(
        true,
        OpCode::Data(Data::Binary),
        vec![0u8; MESSAGE],
        Some([1, 2, 3, 4]),
    )));
    let conns = open_many(n, move |_| {
        let frame = Arc::clone(&frame);
        async move {
            let mut tcp = handshake(addr).await;
            let mut sent = 0;
            // Sends until the server stops reading (a write stalls for a second).
            while sent < SENT {
                match tokio::time::timeout(Duration::from_secs(1), tcp.write_all(&frame)).await {
                    Ok(Ok(())) => sent += MESSAGE,
                    _ => break,
                }
            }
            (tcp, sent)
        }
    })
    .await;
    let after = settled_rss(server).await;
    let stalled = conns.iter().filter(|(_, sent)| *sent < SENT).count();
    println!(
        "| {n} clients sending 64 KiB messages and never reading | {stalled} stalled by \
         backpressure after {} KiB sent on average; server RSS {} MiB → {} MiB: {:.0} KiB per \
         connection (write buffer: 1 MiB) |",
        (conns.iter().map(|(_, s)| s).sum::<usize>() / n.max(1)) >> 10,
        before >> 20,
        after >> 20,
        (after.saturating_sub(before)) as f64 / n as f64 / 1024.0
    );
}

/// The window the server's `Sec-WebSocket-Extensions` answer in `head` lets the client
/// compress with (15 without `client_max_window_bits`); panics if it did not accept
/// permessage-deflate.
fn accepted_client_window(head: &str) -> u8 {
    let answer = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions")
                .then(|| value.trim())
        })
        .filter(|value| value.starts_with("permessage-deflate"))
        .unwrap_or_else(|| panic!("the server did not accept permessage-deflate: {head}"));
    answer
        .split(';')
        .find_map(|param| param.trim().strip_prefix("client_max_window_bits="))
        .map_or(15, |bits| bits.parse().expect("window bits"))
}

/// Sends the pre-compressed message `frame` and reads the server's compressed echo; checks
/// that it decompresses to [`CHAT`].
async fn chat(tcp: &mut TcpStream, frame: &[u8]) {
    tcp.write_all(frame).await.expect("message");
    loop {
        let mut header = [0u8; 2];
        tcp.read_exact(&mut header).await.expect("echo header");
        let len = match header[1] & 0x7f {
            126 => usize::from(tcp.read_u16().await.expect("echo length")),
            127 => panic!("a 200-byte echo with a 64-bit length"),
            len => usize::from(len),
        };
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.expect("echo payload");
        if header[0] & 0x08 != 0 {
            continue; // A heartbeat ping; the server answers no pong here.
        }
        assert_eq!(header[0], 0xc1, "a compressed text frame");
        let mut inflater = flate2::Decompress::new_with_window_bits(false, 15);
        assert_eq!(inflate_message(&mut inflater, &payload), CHAT.as_bytes());
        return;
    }
}

async fn measure_deflate(server: &Server, n: usize) {
    let before = settled_rss(server).await;
    let addr = server.addr;
    let opened = open_many(n, |_| handshake_with(addr, CHROMIUM_OFFER)).await;
    let idle = settled_rss(server).await;
    let bits = accepted_client_window(&opened[0].1);
    for (_, head) in &opened {
        assert_eq!(accepted_client_window(head), bits, "{head}");
    }
    println!(
        "| {n} idle connections offering Chromium's permessage-deflate \
         (`permessage-deflate; client_max_window_bits`) | server RSS {} MiB → {} MiB: {:.1} KiB \
         per connection |",
        before >> 20,
        idle >> 20,
        (idle.saturating_sub(before)) as f64 / n as f64 / 1024.0
    );

    // Each connection's first message, compressed from an empty window as a browser's is.

    let compressed = first_message_compressed(bits, CHAT.as_bytes());
    let frame = encode_frame(rsv1_frame(
        true,
        OpCode::Data(Data::Text),
        compressed,
        Some([5, 6, 7, 8]),
    ));
    let frame = &frame;
    let conns: Vec<TcpStream> = stream::iter(opened)
        .map(|(mut tcp, _)| async move {
            chat(&mut tcp, frame).await;
            tcp
        })
        .buffer_unordered(CONNECTING_AT_ONCE)
        .collect()
        .await;
    let chatted = settled_rss(server).await;
    println!(
        "| the same {n} connections after each sent one {}-byte compressed JSON message and \
         read its compressed echo | server RSS {} MiB → {} MiB: {:.1} KiB per connection |",
        CHAT.len(),
        before >> 20,
        chatted >> 20,
        (chatted.saturating_sub(before)) as f64 / n as f64 / 1024.0
    );
    drop(conns);
}
