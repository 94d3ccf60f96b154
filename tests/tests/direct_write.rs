//! The write path with no hop (`conn/direct.rs`): a writer that finds the queue empty writes
//! to the socket itself. What the socket does not take goes first in the write task's next
//! batch, so messages stay whole and in order whether they went directly, half directly, or
//! through the queue.

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{Config, Role, WebSocket};
use mywebsocket_tests::{bounded, pattern, spawn_echo_server, tungstenite_connect, Task};
use tokio_tungstenite::tungstenite::protocol::Role as TRole;
use tokio_tungstenite::WebSocketStream;

/// Payload sizes from empty to several times the pipe, so direct writes are whole, partial
/// (the rest handed to the write task) and refused (the socket full) in one run.
fn sizes() -> Vec<usize> {
    let mut sizes = vec![
        0, 1, 125, 126, 1000, 4095, 4096, 5000, 65_535, 65_536, 200_000,
    ];
    sizes.extend((0..40).map(|i| (i * 7919) % 9000));
    sizes
}

/// Polls a read once (nothing is there to read), which makes this task the connection's
/// reader, the one task whose writes go to the socket directly.
async fn read_once(ws: &mut WebSocket) {
    tokio::select! {
        biased;
        read = ws.read_msg() => panic!("nothing was sent: {read:?}"),
        () = std::future::ready(()) => {}
    }
}

/// A burst written back to back into a small pipe: the first message goes directly and only in
/// part, the next ones queue behind its rest. The peer gets each whole and in order.
#[tokio::test]
async fn a_burst_into_a_small_pipe_arrives_whole_and_in_order() {
    bounded(async {
        for role in [Role::Server, Role::Client] {
            let (ours, theirs) = tokio::io::duplex(1024);
            let ws = WebSocket::from_upgraded(ours, role, Config::default().no_heartbeat());
            let peer_role = match role {
                Role::Server => TRole::Client,
                Role::Client => TRole::Server,
            };
            let mut peer = WebSocketStream::from_raw_socket(theirs, peer_role, None).await;
            let sizes = sizes();
            let expected = sizes.clone();
            let writing = Task::spawn(async move {
                let mut ws = ws;
                // Only the task that reads the connection writes directly.
                read_once(&mut ws).await;
                let writer = ws.writer();
                for (i, n) in sizes.into_iter().enumerate() {
                    writer.write_binary(pattern(n, i as u8)).await.unwrap();
                }
                writer.flush().await.unwrap();
                ws
            });
            for (i, n) in expected.into_iter().enumerate() {
                match peer.next().await {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(data))) => {
                        assert_eq!(data.len(), n, "message {i}");
                        assert_eq!(&data[..], &pattern(n, i as u8)[..], "message {i}");
                    }
                    other => panic!("{role:?}: message {i}: {other:?}"),
                }
            }
            let _ws = writing.join().await;
        }
    })
    .await;
}

/// Request and answer, one at a time (the case the direct path is for), over TCP: every
/// answer is the request, whole.
#[tokio::test]
async fn one_message_in_flight_round_trips() {
    bounded(async {
        let (addr, _server) = spawn_echo_server(Config::default()).await;
        let mut client = tungstenite_connect(addr).await;
        for (i, n) in sizes().into_iter().cycle().take(500).enumerate() {
            let sent = pattern(n, i as u8);
            client
                .send(tokio_tungstenite::tungstenite::Message::Binary(
                    sent.clone().into(),
                ))
                .await
                .unwrap();
            match client.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(data))) => {
                    assert_eq!(&data[..], &sent[..], "round trip {i}");
                }
                other => panic!("round trip {i}: {other:?}"),
            }
        }
    })
    .await;
}

/// A write straight into a socket whose peer is gone reports the failure to the writer
/// (the message did not go), and to every later call.
#[tokio::test]
async fn a_direct_write_into_a_dead_socket_is_an_error() {
    bounded(async {
        let (ours, theirs) = tokio::io::duplex(1024);
        let mut ws = WebSocket::from_upgraded(ours, Role::Server, Config::default().no_heartbeat());
        read_once(&mut ws).await;
        drop(theirs);
        let mut failed = None;
        for _ in 0..100 {
            if let Err(e) = ws.write_binary(vec![1u8; 10]).await {
                failed = Some(e);
                break;
            }
            tokio::task::yield_now().await;
        }
        let e = failed.expect("a write into a closed pipe fails");
        assert!(matches!(e, mywebsocket::Error::Io(_)), "{e:?}");
        assert!(ws.write_binary(vec![1u8; 10]).await.is_err());
    })
    .await;
}
