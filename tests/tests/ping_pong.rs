//! Pings and pongs (RFC 6455 §5.5.2, §5.5.3), both ways: a peer's ping gets a pong with the
//! same payload, and the pong to our `ping` reaches `Config::on_pong`.

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, Config, Error, Initiator, Upgrader};
use mywebsocket_tests::{
    bounded, connect_client, echo, spawn_accept, spawn_tungstenite_accept, tungstenite_connect,
    Task,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tungstenite::Message as TMessage;

/// Ping payloads worth trying: empty, short, binary, and the largest allowed (125 bytes).
fn payloads() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"hello".to_vec(),
        vec![0, 0xFF, 0x80, 0x7F],
        (0..125u8).collect(),
    ]
}

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

#[tokio::test]
async fn tungstenite_client_ping_gets_pong_with_same_payload_from_our_server() {
    bounded(async {
        let (config, mut pings) = recording(false);
        let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
        let mut client = tungstenite_connect(addr).await;
        let server = accept.join().await.unwrap();
        let server = Task::spawn(echo(server));

        for payload in payloads() {
            client
                .send(TMessage::Ping(payload.clone().into()))
                .await
                .unwrap();
            match client.next().await.unwrap().unwrap() {
                TMessage::Pong(got) => assert_eq!(got, payload),
                other => panic!("expected a pong, got {other:?}"),
            }
            // The ping handler saw it too.
            assert_eq!(pings.recv().await.unwrap(), payload);
        }

        client.close(None).await.unwrap();
        while let Some(msg) = client.next().await {
            msg.unwrap();
        }
        assert!(server.join().await.is_closed());
    })
    .await;
}

#[tokio::test]
async fn tungstenite_server_ping_gets_pong_with_same_payload_from_our_client() {
    bounded(async {
        let (config, mut pings) = recording(false);
        let (addr, accept) = spawn_tungstenite_accept(None).await;
        let client = connect_client(addr, config).await;
        let mut server = accept.join().await;
        // Our client answers pings while it reads.
        let client = Task::spawn(echo(client));

        for payload in payloads() {
            server
                .send(TMessage::Ping(payload.clone().into()))
                .await
                .unwrap();
            match server.next().await.unwrap().unwrap() {
                TMessage::Pong(got) => assert_eq!(got, payload),
                other => panic!("expected a pong, got {other:?}"),
            }
            assert_eq!(pings.recv().await.unwrap(), payload);
        }

        server.close(None).await.unwrap();
        while let Some(msg) = server.next().await {
            msg.unwrap();
        }
        drop(server);
        let end = client.join().await;
        assert!(
            matches!(
                end,
                Error::Closed {
                    initiator: Initiator::Remote,
                    ..
                }
            ),
            "{end:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn our_server_ping_reaches_pong_handler_via_tungstenite_client() {
    bounded(async {
        let (config, mut pongs) = recording(true);
        let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
        let mut client = tungstenite_connect(addr).await;
        let mut server = accept.join().await.unwrap();
        // tungstenite answers pings while it reads; it also reports them.
        let client = Task::spawn(async move {
            let mut seen = Vec::new();
            while let Some(msg) = client.next().await {
                if let TMessage::Ping(payload) = msg.unwrap() {
                    seen.push(payload.to_vec());
                }
            }
            seen
        });

        for payload in payloads() {
            server.ping(payload.clone()).await.unwrap();
            // The pong is handled while a read is pending.
            let got = tokio::select! {
                got = pongs.recv() => got.unwrap(),
                other = server.read_msg() => panic!("read ended first: {other:?}"),
            };
            assert_eq!(got, payload);
        }

        server.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(client.join().await, payloads());
    })
    .await;
}

#[tokio::test]
async fn our_client_ping_reaches_pong_handler_via_tungstenite_server() {
    bounded(async {
        let (config, mut pongs) = recording(true);
        let (addr, accept) = spawn_tungstenite_accept(None).await;
        let mut client = connect_client(addr, config).await;
        let mut server = accept.join().await;
        let server = Task::spawn(async move {
            let mut seen = Vec::new();
            while let Some(msg) = server.next().await {
                if let TMessage::Ping(payload) = msg.unwrap() {
                    seen.push(payload.to_vec());
                }
            }
            seen
        });

        for payload in payloads() {
            client.ping(payload.clone()).await.unwrap();
            let got = tokio::select! {
                got = pongs.recv() => got.unwrap(),
                other = client.read_msg() => panic!("read ended first: {other:?}"),
            };
            assert_eq!(got, payload);
        }

        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(server.join().await, payloads());
    })
    .await;
}

#[tokio::test]
async fn ping_payload_over_125_bytes_is_refused() {
    bounded(async {
        let (addr, accept) = spawn_tungstenite_accept(None).await;
        let client = connect_client(addr, Config::default()).await;
        let _server = accept.join().await;
        assert!(matches!(
            client.ping(vec![0u8; 126]).await,
            Err(Error::InvalidInput(_))
        ));
        // The connection is still usable.
        client.ping(vec![0u8; 125]).await.unwrap();
    })
    .await;
}
