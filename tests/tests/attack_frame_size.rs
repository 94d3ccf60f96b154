//! Peers that announce or send more than the size limits allow: a frame header claiming a
//! gibibyte, and a message that grows fragment by fragment past the limit. Each is closed
//! with 1009 and the server's memory stays far below what was claimed.
//!
//! Memory is measured with a counting global allocator, so this file holds one test: the peak
//! it reads covers everything the binary allocated.

use std::alloc::System;
use std::future::Future;
use std::net::SocketAddr;

use bytes::{BufMut, BytesMut};
use cap::Cap;
use mywebsocket::{Config, Upgrader};
use mywebsocket_tests::server::spawn_echo_server_many;
use mywebsocket_tests::{bounded, encode_frame, raw_frame, RawPeer};
use tokio::task::JoinHandle;
use tungstenite::protocol::frame::coding::{Data, OpCode};

#[global_allocator]
/// Capped from the start: `Cap::set_limit` called while the runtime's threads allocate can
/// leave `max_allocated` at nearly `usize::MAX`.
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

const PEERS: usize = 100;
const MAX_MESSAGE: usize = 1 << 20;
const CLAIMED: u64 = 1 << 30;
const FRAGMENT: usize = 64 << 10;
/// The runtime, the test's own buffers and the allocator's granularity.
const SLACK: usize = 8 << 20;
/// A regression must fail the test, not take the machine's memory.
const HARD_CAP: usize = 2 << 30;

fn raise_fd_limit() {
    rlimit::increase_nofile_limit(20_000).expect("raise RLIMIT_NOFILE");
}

/// A masked text frame header claiming `len` payload bytes, followed by the first `sent` of
/// them.
fn huge_frame_start(len: u64, sent: usize) -> Vec<u8> {
    let mask = [1, 2, 3, 4];
    let mut out = BytesMut::new();
    out.put_u8(0x81); // FIN, text
    out.put_u8(0x80 | 127); // masked, 64-bit length
    out.put_u64(len);
    out.put_slice(&mask);
    out.put_bytes(b'a' ^ mask[0], sent);
    out.to_vec()
}

/// Connects a raw client to `addr` and runs `send` on it in a task of its own; the task
/// returns the close frame's code and reason once the server has also ended TCP.
fn spawn_peer<F, Fut>(addr: SocketAddr, send: F) -> JoinHandle<(u16, String)>
where
    F: FnOnce(RawPeer) -> Fut + Send + 'static,
    Fut: Future<Output = RawPeer> + Send,
{
    tokio::spawn(async move {
        let mut peer = send(RawPeer::connect(addr).await).await;
        let close = peer.read_close().await;
        peer.expect_eof().await;
        close
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frames_and_messages_close_with_1009_without_allocating_them() {
    raise_fd_limit();
    bounded(async {
        let upgrader = Upgrader::new(Config::default().max_message_size(MAX_MESSAGE));
        let (addr, _server) = spawn_echo_server_many(upgrader).await;
        let baseline = ALLOCATOR.allocated();

        // A gibibyte announced, a little sent: refused on the header, nothing reserved for it.
        let peers: Vec<_> = (0..PEERS)
            .map(|_| {
                spawn_peer(addr, |mut peer| async move {
                    peer.send_bytes(&huge_frame_start(CLAIMED, 1000)).await;
                    peer
                })
            })
            .collect();
        for peer in peers {
            let (code, reason) = peer.await.expect("peer");
            assert_eq!(code, 1009, "{reason}");
            assert!(reason.contains(&CLAIMED.to_string()), "{reason}");
        }
        let header_peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
        eprintln!(
            "{PEERS} peers announcing {CLAIMED} bytes: peak {} KiB above baseline",
            header_peak >> 10
        );
        assert!(header_peak <= SLACK, "peak {header_peak}");

        // Fragments adding up past the limit: the limit is enforced as bytes arrive, so each
        // connection holds at most about the limit.
        let unfinished = |opcode| {
            encode_frame(raw_frame(
                false,
                OpCode::Data(opcode),
                vec![7u8; FRAGMENT],
                Some([9, 8, 7, 6]),
            ))
        };
        let (fragment, continuation) = (unfinished(Data::Binary), unfinished(Data::Continue));
        let peers: Vec<_> = (0..PEERS)
            .map(|_| {
                let (first, next) = (fragment.clone(), continuation.clone());
                spawn_peer(addr, |mut peer| async move {
                    peer.send_bytes(&first).await;
                    // Twice the limit, unless the server has closed first.
                    for _ in 1..2 * MAX_MESSAGE / FRAGMENT {
                        if peer.try_send_bytes(&next).await.is_err() {
                            break;
                        }
                    }
                    peer
                })
            })
            .collect();
        for peer in peers {
            let (code, reason) = peer.await.expect("peer");
            assert_eq!(code, 1009, "{reason}");
        }
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
        let bound = PEERS * (MAX_MESSAGE + 3 * FRAGMENT) + SLACK;
        eprintln!(
            "{PEERS} peers sending {} bytes in fragments: peak {} KiB above baseline \
             (bound {} KiB)",
            2 * MAX_MESSAGE,
            peak >> 10,
            bound >> 10
        );
        assert!(peak <= bound, "peak {peak} over {bound}");
    })
    .await;
}
