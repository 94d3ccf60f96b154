//! Clients that send small text messages as fast as they can to an echo server and never read
//! the echoes, each message padded with unsolicited pongs (which the server reads and drops)
//! so that every read buffer holds about one message. Each echo waiting in the write queue
//! holds its payload; a payload sliced from the read buffer would keep the whole buffer (8 KiB)
//! alive, so a hundred-byte message would cost eighty times what the write budget counts. The
//! server's memory must stay within twice the write buffer per connection, and the write
//! timeout then ends every connection.
//!
//! Memory is measured with a counting global allocator, so this file holds one test.

use std::alloc::System;
use std::io;
use std::time::Duration;

use cap::Cap;
use mywebsocket::{Error, TimeoutKind, Upgrader};
use mywebsocket_tests::{
    bounded, echo, encode_frame, non_reading_config, raw_frame, upgrade_by_hand, Task,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// Capped from the start (see `attack_deflate_non_reading.rs` for why not `set_limit`).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

const CONNECTIONS: usize = 10;
const WRITE_BUFFER: usize = 64 << 10;
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const MESSAGE: usize = 100;
/// Messages in one pre-encoded batch of frames, written again and again.
const BATCH: usize = 64;
/// Unsolicited 125-byte pongs after each message: about one read buffer (8 KiB) per message.
const PADDING_PONGS: usize = 64;
/// Time for the echoes to fill the kernel's buffers at a debug build's speed.
const MARGIN: Duration = Duration::from_secs(5);
/// Socket buffers asked of the kernel on both ends (it doubles and rounds them): small, so
/// that hundred-byte echoes fill them within the test rather than after megabytes.
const SOCKET_BUFFER: u32 = 4 << 10;
/// What one connection may hold beyond twice its write buffer: the connection, its read
/// buffer and the message in hand, and the allocator's rounding of each queued message
/// (a 100-byte payload and its frame: at most about twice the wire bytes).
const PER_CONNECTION_EXTRA: usize = (16 << 10) + (8 << 10) + WRITE_BUFFER;
/// The test's own client for each connection.
const CLIENT_PER_CONNECTION: usize = 8 << 10;
/// The runtime and the test's own tasks.
const SLACK: usize = 1 << 20;
const HARD_CAP: usize = 1 << 30;

/// A client socket with a small receive buffer, upgraded by hand.
async fn small_buffered_client(addr: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(SOCKET_BUFFER)
        .expect("SO_RCVBUF");
    let mut tcp = socket.connect(addr).await.expect("connect");
    upgrade_by_hand(&mut tcp, "").await;
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_messages_from_clients_that_never_read_stay_within_the_write_buffer() {
    bounded(async {
        let config = non_reading_config(WRITE_BUFFER, WRITE_TIMEOUT);
        let upgrader = Upgrader::new(config);
        let socket = TcpSocket::new_v4().expect("socket");
        // Accepted sockets inherit the listener's send buffer size.
        socket
            .set_send_buffer_size(SOCKET_BUFFER)
            .expect("SO_SNDBUF");
        socket
            .bind("127.0.0.1:0".parse().expect("address"))
            .expect("bind");
        let listener = socket.listen(64).expect("listen");
        let addr = listener.local_addr().expect("address");
        let server = Task::spawn(async move {
            let mut connections = JoinSet::new();
            for _ in 0..CONNECTIONS {
                let (tcp, _) = listener.accept().await.expect("accept");
                let ws = upgrader.accept(tcp).await.expect("handshake");
                connections.spawn(async move { (echo(ws).await, Instant::now()) });
            }
            connections.join_all().await
        });

        let mut batch = Vec::new();
        for i in 0..BATCH {
            let text = format!("{i:>width$}", width = MESSAGE);
            batch.extend(encode_frame(raw_frame(
                true,
                OpCode::Data(Data::Text),
                text.into_bytes(),
                Some([7, 8, 9, 10]),
            )));
            for _ in 0..PADDING_PONGS {
                batch.extend(encode_frame(raw_frame(
                    true,
                    OpCode::Control(Control::Pong),
                    vec![b'p'; 125],
                    Some([1, 2, 3, 4]),
                )));
            }
        }
        let baseline = ALLOCATOR.allocated();
        let mut peers = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            peers.push(small_buffered_client(addr).await);
        }
        let start = Instant::now();
        let mut clients = JoinSet::new();
        for mut tcp in peers {
            let batch = batch.clone();
            clients.spawn(async move {
                loop {
                    if let Err(e) = tcp.write_all(&batch).await {
                        return e;
                    }
                }
            });
        }
        let outcome = tokio::time::timeout_at(start + WRITE_TIMEOUT + MARGIN, async {
            tokio::join!(clients.join_all(), server.join())
        })
        .await;
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
        let bound = CONNECTIONS
            * (2 * WRITE_BUFFER + PER_CONNECTION_EXTRA + CLIENT_PER_CONNECTION + batch.len())
            + SLACK;
        eprintln!(
            "{CONNECTIONS} non-reading clients of {MESSAGE}-byte messages: peak {} KiB above \
             baseline ({} KiB per connection; bound {} KiB)",
            peak >> 10,
            (peak / CONNECTIONS) >> 10,
            bound >> 10
        );
        let Ok((clients, servers)) = outcome else {
            panic!(
                "connections still open {:?} after the flood started (peak {} KiB): the write \
                 timeout must end them",
                start.elapsed(),
                peak >> 10
            );
        };
        for (error, _) in &servers {
            assert!(
                matches!(error, Error::Timeout(TimeoutKind::Write)),
                "{error:?}"
            );
        }
        for error in &clients {
            assert!(
                matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ),
                "{error:?}"
            );
        }
        assert!(peak <= bound, "peak {peak} bytes over the bound {bound}");
    })
    .await;
}
