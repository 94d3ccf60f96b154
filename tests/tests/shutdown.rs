//! Graceful shutdown with `Upgrader::shutdown`: every message queued before the signal is
//! delivered, then each client sees 1001 Going Away; new requests are refused with 503; a
//! client that never answers the close is cut off at the deadline.

use std::time::{Duration, Instant};

use mywebsocket::{CloseCode, Config, Error, Initiator, Message, Upgrader};
use mywebsocket_tests::server::spawn_echo_server_many;
use mywebsocket_tests::{
    bounded, connect_client, echo, encode_frame, listen, raw_frame, raw_http, upgrade_request,
    RawPeer, Task, SAMPLE_KEY,
};
use tokio::sync::mpsc;
use tungstenite::protocol::frame::coding::{Data, OpCode};

const CLIENTS: usize = 20;
/// Queued on each connection before the signal: 500 KiB, under the write buffer, so every
/// write returns at once while the client is not reading yet.
const MESSAGES: usize = 500;
const GRACE: Duration = Duration::from_secs(5);

fn message(i: usize) -> String {
    format!("{i:04}:{}", "x".repeat(1000))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_before_the_signal_are_delivered_then_clients_see_1001() {
    bounded(async {
        let upgrader = Upgrader::new(Config::default());
        let (listener, addr) = listen().await;
        let (queued_tx, mut queued_rx) = mpsc::channel(CLIENTS);
        let accepting = {
            let upgrader = upgrader.clone();
            Task::spawn(async move {
                let mut connections = Vec::new();
                for _ in 0..CLIENTS {
                    let (tcp, _) = listener.accept().await.expect("accept");
                    let upgrader = upgrader.clone();
                    let queued = queued_tx.clone();
                    connections.push(Task::spawn(async move {
                        let ws = upgrader.accept(tcp).await.expect("handshake");
                        for i in 0..MESSAGES {
                            ws.write_string(message(i)).await.expect("queue");
                        }
                        queued.send(()).await.expect("test waiting");
                        // Keeps reading: the reader is what sees the client's answer.
                        echo(ws).await
                    }));
                }
                connections
            })
        };
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(connect_client(addr, Config::default()).await);
        }
        let connections = accepting.join().await;
        for _ in 0..CLIENTS {
            queued_rx
                .recv()
                .await
                .expect("server connection queued its messages");
        }
        assert_eq!(upgrader.live_connections(), CLIENTS);

        // The signal. The clients only start reading now.
        let shutdown = {
            let upgrader = upgrader.clone();
            Task::spawn(async move { upgrader.shutdown(GRACE).await })
        };
        let readers: Vec<_> = clients
            .into_iter()
            .map(|mut ws| {
                Task::spawn(async move {
                    let mut received = Vec::new();
                    let end = loop {
                        match ws.read_msg().await {
                            Ok(msg) => received.push(msg),
                            Err(e) => break e,
                        }
                    };
                    (received, end)
                })
            })
            .collect();
        for reader in readers {
            let (received, end) = reader.join().await;
            assert_eq!(received.len(), MESSAGES, "messages lost");
            for (i, msg) in received.into_iter().enumerate() {
                assert_eq!(msg, Message::text(message(i)));
            }
            match end {
                Error::Closed {
                    frame: Some(frame),
                    initiator: Initiator::Remote,
                } => {
                    assert_eq!(frame.code, CloseCode::GOING_AWAY);
                }
                other => panic!("expected 1001 Going Away, got {other}"),
            }
        }
        let report = shutdown.join().await;
        assert_eq!((report.connections, report.forced), (CLIENTS, 0));
        assert_eq!(upgrader.live_connections(), 0);
        // The server side saw the closing handshake complete, initiated by itself.
        for connection in connections {
            match connection.join().await {
                Error::Closed {
                    initiator: Initiator::Local,
                    ..
                } => {}
                other => panic!("server connection ended with {other}"),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn requests_during_a_shutdown_get_503() {
    bounded(async {
        let upgrader = Upgrader::default();
        let (addr, _server) = spawn_echo_server_many(upgrader.clone()).await;
        let report = upgrader.shutdown(GRACE).await;
        assert_eq!((report.connections, report.forced), (0, 0));
        assert!(upgrader.is_shutting_down());
        let reply = raw_http(addr, &upgrade_request(Some(SAMPLE_KEY), "13", "")).await;
        assert_eq!(reply.status, 503);
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            "server is shutting down\n"
        );
    })
    .await;
}

#[tokio::test]
async fn a_client_that_never_answers_is_cut_off_at_the_deadline() {
    bounded(async {
        const SHORT_GRACE: Duration = Duration::from_millis(500);
        let upgrader = Upgrader::default();
        let (addr, _server) = spawn_echo_server_many(upgrader.clone()).await;
        let mut silent = RawPeer::connect(addr).await;
        while upgrader.live_connections() == 0 {
            tokio::task::yield_now().await;
        }
        let start = Instant::now();
        let report = upgrader.shutdown(SHORT_GRACE).await;
        let took = start.elapsed();
        assert_eq!((report.connections, report.forced), (1, 1));
        assert!(took >= SHORT_GRACE, "{took:?}");
        assert!(took < SHORT_GRACE + Duration::from_secs(1), "{took:?}");
        // It got the Going Away all the same, then the end of the connection.
        assert_eq!(silent.read_close().await.0, 1001);
        silent.expect_eof().await;
    })
    .await;
}

/// A peer that sends but never reads leaves the server's echo blocked in a write with the
/// socket buffers full; at the deadline that write is given up, not left to its own timeout
/// (30 s by default), so the connection is gone right after `shutdown` returns.
#[tokio::test]
async fn a_write_blocked_on_a_non_reading_client_is_given_up_at_the_deadline() {
    bounded(async {
        const SHORT_GRACE: Duration = Duration::from_millis(500);
        let upgrader = Upgrader::default();
        let (addr, _server) = spawn_echo_server_many(upgrader.clone()).await;
        let mut silent = RawPeer::connect(addr).await;
        let frame = encode_frame(raw_frame(
            true,
            OpCode::Data(Data::Binary),
            vec![7u8; 64 << 10],
            Some([1, 2, 3, 4]),
        ));
        // Fill both directions: once the server's echo stops writing it stops reading, and our
        // sends stall too.
        while tokio::time::timeout(Duration::from_millis(300), silent.send_bytes(&frame))
            .await
            .is_ok()
        {}
        let start = Instant::now();
        let report = upgrader.shutdown(SHORT_GRACE).await;
        assert_eq!((report.connections, report.forced), (1, 1));
        assert!(start.elapsed() < SHORT_GRACE + Duration::from_secs(1));
        let gone = tokio::time::timeout(Duration::from_secs(3), async {
            while upgrader.live_connections() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            gone.is_ok(),
            "the connection is still open {:?} after the deadline",
            start.elapsed()
        );
    })
    .await;
}
