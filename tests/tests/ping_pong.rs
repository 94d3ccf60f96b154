//! Pings and pongs (RFC 6455 §5.5.2, §5.5.3), both ways: a peer's ping gets a pong with the
//! same payload, and the pong to our `ping` reaches `Config::on_pong`.

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, Config, Error, Initiator, Upgrader, WebSocket};
use mywebsocket_tests::cases::ping_payloads;
use mywebsocket_tests::{
    assert_closed_by, bounded, drain, echo, our_client_and_tungstenite_server,
    our_server_and_tungstenite_client, Task, TungsteniteIo,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio_tungstenite::WebSocketStream;
use tungstenite::Message as TMessage;

/// A config whose handler for pings (or pongs) sends each payload to the returned receiver.
fn recording(pongs: bool) -> (Config, UnboundedReceiver<Vec<u8>>) {
    let (tx, rx) = unbounded_channel();
    let record = move |payload: &[u8]| {
        let _ = tx.send(payload.to_vec());
    };
    let config = if pongs {
        Config::default().on_pong(record)
    } else {
        Config::default().on_ping(record)
    };
    (config, rx)
}

/// `ours` was set up with [`recording`] pings: the tokio-tungstenite `peer` pings it with each
/// of [`ping_payloads`] and gets a pong with the same payload while our handler sees the ping;
/// then the peer closes.
async fn peer_pings_get_pongs(
    ours: WebSocket,
    mut pings: UnboundedReceiver<Vec<u8>>,
    mut peer: WebSocketStream<impl TungsteniteIo>,
) {
    // Our side answers pings while it reads.
    let ours = Task::spawn(echo(ours));

    for payload in ping_payloads() {
        peer.send(TMessage::Ping(payload.clone().into()))
            .await
            .unwrap();
        match peer.next().await.unwrap().unwrap() {
            TMessage::Pong(got) => assert_eq!(got, payload),
            other => panic!("expected a pong, got {other:?}"),
        }
        // The ping handler saw it too.
        assert_eq!(pings.recv().await.unwrap(), payload);
    }

    peer.close(None).await.unwrap();
    drain(peer).await;
    assert_closed_by(&ours.join().await, Initiator::Remote);
}

#[tokio::test]
async fn tungstenite_client_ping_gets_pong_with_same_payload_from_our_server() {
    bounded(async {
        let (config, pings) = recording(false);
        let (server, client) = our_server_and_tungstenite_client(Upgrader::new(config)).await;
        peer_pings_get_pongs(server, pings, client).await;
    })
    .await;
}

#[tokio::test]
async fn tungstenite_server_ping_gets_pong_with_same_payload_from_our_client() {
    bounded(async {
        let (config, pings) = recording(false);
        let (client, server) = our_client_and_tungstenite_server(config).await;
        peer_pings_get_pongs(client, pings, server).await;
    })
    .await;
}

/// `ours` was set up with [`recording`] pongs: it pings the tokio-tungstenite `peer` with each
/// of [`ping_payloads`], and the peer's pong reaches our handler while a read is pending; the
/// peer saw every ping.
async fn our_pings_reach_pong_handler(
    mut ours: WebSocket,
    mut pongs: UnboundedReceiver<Vec<u8>>,
    mut peer: WebSocketStream<impl TungsteniteIo>,
) {
    // tungstenite answers pings while it reads; it also reports them.
    let peer = Task::spawn(async move {
        let mut seen = Vec::new();
        while let Some(msg) = peer.next().await {
            if let TMessage::Ping(payload) = msg.unwrap() {
                seen.push(payload.to_vec());
            }
        }
        seen
    });

    for payload in ping_payloads() {
        ours.ping(payload.clone()).await.unwrap();
        // The pong is handled while a read is pending.
        let got = tokio::select! {
            got = pongs.recv() => got.unwrap(),
            other = ours.read_msg() => panic!("read ended first: {other:?}"),
        };
        assert_eq!(got, payload);
    }

    ours.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(peer.join().await, ping_payloads());
}

#[tokio::test]
async fn our_server_ping_reaches_pong_handler_via_tungstenite_client() {
    bounded(async {
        let (config, pongs) = recording(true);
        let (server, client) = our_server_and_tungstenite_client(Upgrader::new(config)).await;
        our_pings_reach_pong_handler(server, pongs, client).await;
    })
    .await;
}

#[tokio::test]
async fn our_client_ping_reaches_pong_handler_via_tungstenite_server() {
    bounded(async {
        let (config, pongs) = recording(true);
        let (client, server) = our_client_and_tungstenite_server(config).await;
        our_pings_reach_pong_handler(client, pongs, server).await;
    })
    .await;
}

#[tokio::test]
async fn ping_payload_over_125_bytes_is_refused() {
    bounded(async {
        let (client, _server) = our_client_and_tungstenite_server(Config::default()).await;
        assert!(matches!(
            client.ping(vec![0u8; 126]).await,
            Err(Error::InvalidInput(_))
        ));
        // The connection is still usable.
        client.ping(vec![0u8; 125]).await.unwrap();
    })
    .await;
}
