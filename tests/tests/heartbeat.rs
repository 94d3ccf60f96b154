//! The heartbeat: a peer that stays silent past the timeout is dropped with
//! `Error::Timeout(TimeoutKind::Heartbeat)` and a 1001 close; a live peer that answers the
//! pings is kept over many intervals.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, Config, Error, Initiator, Message, TimeoutKind, Upgrader};
use mywebsocket_tests::{
    bounded, connect_client, listen, spawn_accept, spawn_tungstenite_accept, tungstenite_connect,
    RawPeer, Task,
};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::{Control, OpCode};
use tungstenite::Message as TMessage;

const INTERVAL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(300);
/// Generous: the machine may be busy with other tests.
const LATEST: Duration = Duration::from_secs(5);

fn heartbeat() -> Config {
    Config::default().heartbeat(Some(INTERVAL), TIMEOUT)
}

/// What a silent peer finds on its socket once we gave up on it: our pings (how many, and
/// whether masked), then a 1001 close, then the end of the stream.
async fn pings_then_going_away(peer: &mut RawPeer, masked: bool) -> usize {
    let mut pings = 0;
    loop {
        let frame = peer.read_frame().await.unwrap().expect("a close frame");
        assert_eq!(frame.header.mask.is_some(), masked, "{:?}", frame.header);
        match frame.header.opcode {
            OpCode::Control(Control::Ping) => pings += 1,
            OpCode::Control(Control::Close) => {
                let (code, _) = frame.close_code().expect("a close code");
                assert_eq!(code, 1001);
                break;
            }
            other => panic!("unexpected {other} frame"),
        }
    }
    peer.expect_eof().await;
    pings
}

#[tokio::test]
async fn our_server_drops_silent_raw_client_after_heartbeat_timeout() {
    bounded(async {
        let start = Instant::now();
        let (addr, accept) = spawn_accept(Upgrader::new(heartbeat())).await;
        // Completes the handshake, then neither reads nor answers until the server gives up.
        let mut peer = RawPeer::connect(addr).await;
        let mut server = accept.join().await.unwrap();

        let err = server.read_msg().await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Heartbeat)),
            "{err:?}"
        );
        assert!(elapsed >= TIMEOUT, "gave up after {elapsed:?}");
        assert!(elapsed < LATEST, "gave up only after {elapsed:?}");
        // Later reads report the end.
        let again = server.read_msg().await.unwrap_err();
        assert!(
            matches!(
                again,
                Error::Closed {
                    initiator: Initiator::Local,
                    ..
                }
            ),
            "{again:?}"
        );

        let pings = pings_then_going_away(&mut peer, false).await;
        assert!(pings >= 1, "no ping was sent before the timeout");
    })
    .await;
}

#[tokio::test]
async fn our_client_drops_silent_raw_server_after_heartbeat_timeout() {
    bounded(async {
        let start = Instant::now();
        let (listener, addr) = listen().await;
        let server = Task::spawn(async move { RawPeer::accept(&listener).await });
        let mut client = connect_client(addr, heartbeat()).await;
        let mut peer = server.join().await;

        let err = client.read_msg().await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Heartbeat)),
            "{err:?}"
        );
        assert!(elapsed >= TIMEOUT, "gave up after {elapsed:?}");
        assert!(elapsed < LATEST, "gave up only after {elapsed:?}");

        let pings = pings_then_going_away(&mut peer, true).await;
        assert!(pings >= 1, "no ping was sent before the timeout");
    })
    .await;
}

#[tokio::test]
async fn silence_timeout_without_pings_sends_only_the_close() {
    bounded(async {
        let config = Config::default().heartbeat(None, TIMEOUT);
        let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
        let mut peer = RawPeer::connect(addr).await;
        let mut server = accept.join().await.unwrap();

        let err = server.read_msg().await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout(TimeoutKind::Heartbeat)),
            "{err:?}"
        );
        assert_eq!(pings_then_going_away(&mut peer, false).await, 0);
    })
    .await;
}

/// How many pongs make "several intervals": more than two timeouts' worth of pings.
const PONGS: usize = 7;

#[tokio::test]
async fn our_server_keeps_live_tungstenite_client_over_many_intervals() {
    bounded(async {
        let (tx, mut pongs) = unbounded_channel();
        let config = heartbeat().on_pong(move |_| {
            let _ = tx.send(());
        });
        let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
        let mut client = tungstenite_connect(addr).await;
        let mut server = accept.join().await.unwrap();
        // tokio-tungstenite answers pings as it reads; it acknowledges our one message.
        let client = Task::spawn(async move {
            let mut pings = 0;
            while let Some(msg) = client.next().await {
                match msg.unwrap() {
                    TMessage::Ping(_) => pings += 1,
                    TMessage::Text(t) if t.as_str() == "still there?" => {
                        client.send(TMessage::text("yes")).await.unwrap();
                    }
                    _ => {}
                }
            }
            pings
        });

        let start = Instant::now();
        for _ in 0..PONGS {
            tokio::select! {
                pong = pongs.recv() => pong.unwrap(),
                other = server.read_msg() => panic!("connection ended: {other:?}"),
            }
        }
        assert!(start.elapsed() > 2 * TIMEOUT, "{:?}", start.elapsed());

        server.write_string("still there?").await.unwrap();
        assert_eq!(server.read_msg().await.unwrap(), Message::text("yes"));
        server.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(client.join().await >= PONGS);
    })
    .await;
}

#[tokio::test]
async fn our_client_keeps_live_tungstenite_server_over_many_intervals() {
    bounded(async {
        let (tx, mut pongs) = unbounded_channel();
        let config = heartbeat().on_pong(move |_| {
            let _ = tx.send(());
        });
        let (addr, accept) = spawn_tungstenite_accept(None).await;
        let mut client = connect_client(addr, config).await;
        let mut server = accept.join().await;
        let server = Task::spawn(async move {
            let mut pings = 0;
            while let Some(msg) = server.next().await {
                match msg.unwrap() {
                    TMessage::Ping(_) => pings += 1,
                    TMessage::Text(t) if t.as_str() == "still there?" => {
                        server.send(TMessage::text("yes")).await.unwrap();
                    }
                    _ => {}
                }
            }
            pings
        });

        let start = Instant::now();
        for _ in 0..PONGS {
            tokio::select! {
                pong = pongs.recv() => pong.unwrap(),
                other = client.read_msg() => panic!("connection ended: {other:?}"),
            }
        }
        assert!(start.elapsed() > 2 * TIMEOUT, "{:?}", start.elapsed());

        client.write_string("still there?").await.unwrap();
        assert_eq!(client.read_msg().await.unwrap(), Message::text("yes"));
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(server.join().await >= PONGS);
    })
    .await;
}
