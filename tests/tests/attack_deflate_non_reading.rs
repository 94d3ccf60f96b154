//! Clients that negotiate permessage-deflate, send compressed 16 KiB JSON messages to an echo
//! server and never read the compressed echoes: the server's write queue fills, its echo
//! waits, it stops reading, and its memory per connection stays within twice the write
//! buffer plus the messages in hand and the compression windows; then the write timeout ends
//! every connection.
//!
//! Memory is measured with a counting global allocator, so this file holds one test: the peak
//! it reads covers everything the binary allocated.

use std::alloc::System;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use cap::Cap;
use mywebsocket::{Error, TimeoutKind, Upgrader};
use mywebsocket_tests::{
    bounded, deflate_message, echo, encode_frame, find_header, json_text, listen,
    non_reading_config, rsv1_frame, RawPeer, Task,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::{Data, OpCode};

/// Capped from the start: `Cap::set_limit` called while the runtime's threads allocate can
/// leave `max_allocated` at nearly `usize::MAX` (between its two updates another thread
/// reads the old limit against the new remainder).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

const CONNECTIONS: usize = 10;
const WRITE_BUFFER: usize = 64 << 10;
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const MESSAGE: usize = 16 << 10;
/// Distinct messages in the clients' pre-compressed sequence, sent again and again.
const DISTINCT: usize = 32;
/// The connections must be over this long after the write timeout, counted from the start of
/// the flood: time for the echoes to fill the kernel's buffers, at a debug build's speed.
const MARGIN: Duration = Duration::from_secs(5);
/// What one connection may hold beyond twice its write buffer: the connection itself, the
/// message the echo holds while it waits for room, the next one decoded (compressed and
/// inflated) and the read buffer, and the compression histories (the client's window, 32 KiB
/// at most, and what the server keeps of its own).
const PER_CONNECTION_EXTRA: usize = (16 << 10) + 3 * MESSAGE + (32 << 10) + (16 << 10);
/// The test's own client for each connection: its socket's registration and its task.
const CLIENT_PER_CONNECTION: usize = 8 << 10;
/// The runtime, and the zlib streams each worker thread keeps to lend to its connections
/// (about 260 KiB to compress and 40 KiB to decompress each).
const SLACK: usize = 3 << 19;
/// A regression must fail the test, not take the machine's memory.
const HARD_CAP: usize = 1 << 30;
const CHROMIUM_OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// The window a `Sec-WebSocket-Extensions` answer lets the client compress with: its
/// `client_max_window_bits`, or 15 without one (RFC 7692 §7.1.2.2).
fn client_window_bits(answer: &str) -> u8 {
    answer
        .split(';')
        .find_map(|param| param.trim().strip_prefix("client_max_window_bits="))
        .map_or(15, |bits| bits.parse().expect("window bits"))
}

/// `DISTINCT` different JSON messages compressed in order by one client compressor with
/// `bits` window bits (context takeover), as masked frames back to back. The first was
/// compressed with an empty window, so no message refers to anything before the first: the
/// sequence can be sent again and again on the same connection, and on every connection.
fn compressed_sequence(bits: u8) -> Vec<u8> {
    // zlib cannot compress with 8 bits; 9 keeps within 256 bytes all the same.
    let mut deflater =
        flate2::Compress::new_with_window_bits(flate2::Compression::new(6), false, bits.max(9));
    let mut wire = Vec::new();
    for seed in 0..DISTINCT {
        let text = json_text(MESSAGE, seed as u32);
        wire.extend(encode_frame(rsv1_frame(
            true,
            OpCode::Data(Data::Text),
            deflate_message(&mut deflater, text.as_bytes()),
            Some([0x1f, 0x2e, 0x3d, 0x4c]),
        )));
    }
    wire
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_clients_that_never_read_stay_within_the_write_buffer_then_get_dropped() {
    bounded(async {
        let config = non_reading_config(WRITE_BUFFER, WRITE_TIMEOUT);
        let upgrader = Upgrader::new(config);
        let (listener, addr) = listen().await;
        let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::channel(CONNECTIONS);
        let server = Task::spawn(async move {
            // Owned by the task, so aborting it aborts every connection too.
            let mut connections = JoinSet::new();
            for _ in 0..CONNECTIONS {
                let (tcp, _) = listener.accept().await.expect("accept");
                tcp.set_nodelay(true).expect("nodelay");
                let ws = upgrader.accept(tcp).await.expect("handshake");
                assert!(ws.is_compressed());
                accepted_tx.send(()).await.expect("test waiting");
                connections.spawn(async move {
                    let end = echo(ws).await;
                    (end, Instant::now())
                });
            }
            connections.join_all().await
        });

        // Counted from before the handshakes, so what a compressing connection keeps from its
        // handshake on counts too.
        let mut peers = Vec::with_capacity(CONNECTIONS);
        let mut windows = Vec::with_capacity(CONNECTIONS);
        let baseline = ALLOCATOR.allocated();
        for _ in 0..CONNECTIONS {
            let (peer, headers) = RawPeer::connect_with(addr, CHROMIUM_OFFER, &[]).await;
            let answer = find_header(&headers, "sec-websocket-extensions").unwrap_or_default();
            assert!(answer.starts_with("permessage-deflate"), "{answer:?}");
            windows.push(client_window_bits(answer));
            accepted_rx.recv().await.expect("server accepted");
            peers.push(peer);
        }
        // Every connection got the same answer, so one sequence serves them all.
        assert!(
            windows.iter().all(|&bits| bits == windows[0]),
            "{windows:?}"
        );
        let sequence = Arc::new(compressed_sequence(windows[0]));
        let start_flood = Arc::new(Barrier::new(CONNECTIONS + 1));
        let mut clients = JoinSet::new();
        for peer in peers {
            let (mut tcp, _) = peer.into_parts();
            let (sequence, start_flood) = (Arc::clone(&sequence), Arc::clone(&start_flood));
            clients.spawn(async move {
                start_flood.wait().await;
                let mut sent = 0usize;
                loop {
                    if let Err(e) = tcp.write_all(&sequence).await {
                        return (e, sent, Instant::now());
                    }
                    sent += sequence.len();
                }
            });
        }

        start_flood.wait().await;
        let start = Instant::now();
        let outcome = tokio::time::timeout_at(start + WRITE_TIMEOUT + MARGIN, async {
            tokio::join!(clients.join_all(), server.join())
        })
        .await;
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
        let bound = CONNECTIONS * (2 * WRITE_BUFFER + PER_CONNECTION_EXTRA + CLIENT_PER_CONNECTION)
            + sequence.len()
            + SLACK;
        eprintln!(
            "{CONNECTIONS} non-reading deflate clients: peak {} KiB above baseline ({} KiB per \
             connection; bound {} KiB)",
            peak >> 10,
            (peak / CONNECTIONS) >> 10,
            bound >> 10
        );
        let Ok((clients, servers)) = outcome else {
            panic!(
                "connections still open {:?} after the flood started (peak {} KiB above \
                 baseline): the write timeout ({WRITE_TIMEOUT:?}) must end them",
                start.elapsed(),
                peak >> 10
            );
        };
        for (error, ended) in &servers {
            assert!(
                matches!(error, Error::Timeout(TimeoutKind::Write)),
                "echo ended after {:?} with {error:?}",
                *ended - start
            );
        }
        for (error, sent, ended) in &clients {
            assert!(
                matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ),
                "client's writes failed after {:?} and {} KiB with {error:?}",
                *ended - start,
                sent >> 10
            );
        }
        eprintln!(
            "echoes ended by the write timeout after {:?}..{:?}; clients had sent {:?} KiB",
            servers
                .iter()
                .map(|s| s.1 - start)
                .min()
                .unwrap_or_default(),
            servers
                .iter()
                .map(|s| s.1 - start)
                .max()
                .unwrap_or_default(),
            clients.iter().map(|c| c.1 >> 10).collect::<Vec<_>>()
        );
        assert!(peak <= bound, "peak {peak} bytes over the bound {bound}");
    })
    .await;
}
