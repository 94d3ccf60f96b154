//! Connections that hold a slot without doing anything useful: peers that go silent after the
//! handshake are closed at the heartbeat (idle) timeout, and peers that drip a frame one byte
//! at a time (so bytes keep arriving) are closed at the read timeout.

use std::time::{Duration, Instant};

use mywebsocket::{Config, Upgrader};
use mywebsocket_tests::server::spawn_echo_server_many;
use mywebsocket_tests::{bounded, encode_frame, raw_frame, RawPeer};
use tungstenite::protocol::frame::coding::{Data, OpCode};

const PEERS: usize = 200;
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// How late a peer may see the close: hundreds of connections time out together on a
/// debug build.
const SLACK: Duration = Duration::from_secs(2);

fn raise_fd_limit() {
    rlimit::increase_nofile_limit(20_000).expect("raise RLIMIT_NOFILE");
}

/// Waits for the server's close frame (skipping its pings, which go unanswered) and the end of
/// the stream; returns the close code and reason.
async fn closed_by_server(mut peer: RawPeer) -> (u16, String) {
    let close = peer.read_close().await;
    peer.expect_eof().await;
    close
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_are_closed_at_the_idle_timeout() {
    raise_fd_limit();
    bounded(async {
        let config = Config::default().heartbeat(Some(IDLE_TIMEOUT / 4), IDLE_TIMEOUT);
        let upgrader = Upgrader::new(config);
        let (addr, _server) = spawn_echo_server_many(upgrader.clone()).await;
        let peers: Vec<_> = (0..PEERS)
            .map(|_| {
                tokio::spawn(async move {
                    // The server's clock starts between these two instants.
                    let connecting = Instant::now();
                    let peer = RawPeer::connect(addr).await;
                    let connected = Instant::now();
                    let close = closed_by_server(peer).await;
                    (connecting.elapsed(), connected.elapsed(), close)
                })
            })
            .collect();
        for peer in peers {
            let (since_connecting, since_connected, (code, reason)) = peer.await.expect("peer");
            assert_eq!((code, reason.as_str()), (1001, "heartbeat timeout"));
            assert!(since_connecting >= IDLE_TIMEOUT, "{since_connecting:?}");
            assert!(
                since_connected <= IDLE_TIMEOUT + SLACK,
                "closed after {since_connected:?}"
            );
        }
        assert_eq!(upgrader.live_connections(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_dripping_a_frame_byte_by_byte_are_closed_at_the_read_timeout() {
    raise_fd_limit();
    bounded(async {
        const READ_TIMEOUT: Duration = Duration::from_secs(1);
        const DRIP: Duration = Duration::from_millis(100);
        // The heartbeat alone would never fire: a byte arrives every DRIP.
        let config = Config::default()
            .heartbeat(None, READ_TIMEOUT * 10)
            .read_timeout(Some(READ_TIMEOUT));
        let (addr, _server) = spawn_echo_server_many(Upgrader::new(config)).await;
        let frame = encode_frame(raw_frame(
            true,
            OpCode::Data(Data::Text),
            vec![b'a'; 1000],
            Some([1, 2, 3, 4]),
        ));
        let peers: Vec<_> = (0..PEERS)
            .map(|_| {
                let frame = frame.clone();
                tokio::spawn(async move {
                    let mut peer = RawPeer::connect(addr).await;
                    let start = Instant::now();
                    let mut drip = tokio::time::interval(DRIP);
                    // Drips through most of the timeout. The server's clock started when it
                    // answered the handshake, which under load can be well before this task
                    // ran, so a write may meet the close already.
                    for byte in frame.chunks(1) {
                        drip.tick().await;
                        if start.elapsed() > READ_TIMEOUT * 3 / 4
                            || peer.try_send_bytes(byte).await.is_err()
                        {
                            break;
                        }
                    }
                    let close = closed_by_server(peer).await;
                    (start.elapsed(), close)
                })
            })
            .collect();
        for peer in peers {
            let (took, (code, reason)) = peer.await.expect("peer");
            assert_eq!((code, reason.as_str()), (1001, "read timeout"));
            assert!(took <= READ_TIMEOUT + SLACK, "closed after {took:?}");
        }
    })
    .await;
}
