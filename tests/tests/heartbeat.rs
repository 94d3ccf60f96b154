//! The heartbeat: a peer that stays silent past the timeout is dropped with
//! `Error::Timeout(TimeoutKind::Heartbeat)` and a 1001 close; a live peer that answers the
//! pings is kept over many intervals.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, Config, Error, Initiator, Message, TimeoutKind, Upgrader, WebSocket};
use mywebsocket_tests::{
    assert_closed_by, bounded, our_client_and_raw_server, our_client_and_tungstenite_server,
    our_server_and_raw_client, our_server_and_tungstenite_client, RawPeer, Task, TungsteniteIo,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
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

/// Asserts that the next read on `ours` fails with the heartbeat timeout, between
/// [`TIMEOUT`] and [`LATEST`] after `start`.
async fn gives_up_in_time(ours: &mut WebSocket, start: Instant) {
    let err = ours.read_msg().await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(err, Error::Timeout(TimeoutKind::Heartbeat)),
        "{err:?}"
    );
    assert!(elapsed >= TIMEOUT, "gave up after {elapsed:?}");
    assert!(elapsed < LATEST, "gave up only after {elapsed:?}");
}

#[tokio::test]
async fn our_server_drops_silent_raw_client_after_heartbeat_timeout() {
    bounded(async {
        let start = Instant::now();
        // Completes the handshake, then neither reads nor answers until the server gives up.
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::new(heartbeat())).await;

        gives_up_in_time(&mut server, start).await;
        // Later reads report the end.
        assert_closed_by(&server.read_msg().await.unwrap_err(), Initiator::Local);

        let pings = pings_then_going_away(&mut peer, false).await;
        assert!(pings >= 1, "no ping was sent before the timeout");
    })
    .await;
}

#[tokio::test]
async fn our_client_drops_silent_raw_server_after_heartbeat_timeout() {
    bounded(async {
        let start = Instant::now();
        let (mut client, mut peer) = our_client_and_raw_server(heartbeat()).await;

        gives_up_in_time(&mut client, start).await;

        let pings = pings_then_going_away(&mut peer, true).await;
        assert!(pings >= 1, "no ping was sent before the timeout");
    })
    .await;
}

#[tokio::test]
async fn silence_timeout_without_pings_sends_only_the_close() {
    bounded(async {
        let config = Config::default().heartbeat(None, TIMEOUT);
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::new(config)).await;

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

/// `ours` was set up with [`heartbeat`] and a pong handler that sends to `pongs`: checks that
/// the tokio-tungstenite `peer`, which answers pings as it reads, keeps the connection up for
/// [`PONGS`] pongs and more than two timeouts, and still exchanges messages after.
async fn keeps_live_peer(
    mut ours: WebSocket,
    mut pongs: UnboundedReceiver<()>,
    mut peer: WebSocketStream<impl TungsteniteIo>,
) {
    // The peer counts our pings and acknowledges our one message.
    let peer = Task::spawn(async move {
        let mut pings = 0;
        while let Some(msg) = peer.next().await {
            match msg.unwrap() {
                TMessage::Ping(_) => pings += 1,
                TMessage::Text(t) if t.as_str() == "still there?" => {
                    peer.send(TMessage::text("yes")).await.unwrap();
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
            other = ours.read_msg() => panic!("connection ended: {other:?}"),
        }
    }
    assert!(start.elapsed() > 2 * TIMEOUT, "{:?}", start.elapsed());

    ours.write_string("still there?").await.unwrap();
    assert_eq!(ours.read_msg().await.unwrap(), Message::text("yes"));
    ours.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(peer.join().await >= PONGS);
}

/// [`heartbeat`] with a pong handler that sends to the returned receiver.
fn heartbeat_counting_pongs() -> (Config, UnboundedReceiver<()>) {
    let (tx, pongs) = unbounded_channel();
    let config = heartbeat().on_pong(move |_| {
        let _ = tx.send(());
    });
    (config, pongs)
}

#[tokio::test]
async fn our_server_keeps_live_tungstenite_client_over_many_intervals() {
    bounded(async {
        let (config, pongs) = heartbeat_counting_pongs();
        let (server, client) = our_server_and_tungstenite_client(Upgrader::new(config)).await;
        keeps_live_peer(server, pongs, client).await;
    })
    .await;
}

#[tokio::test]
async fn our_client_keeps_live_tungstenite_server_over_many_intervals() {
    bounded(async {
        let (config, pongs) = heartbeat_counting_pongs();
        let (client, server) = our_client_and_tungstenite_server(config).await;
        keeps_live_peer(client, pongs, server).await;
    })
    .await;
}
