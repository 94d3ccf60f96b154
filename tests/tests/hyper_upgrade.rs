//! The hyper 1.x integration: a `hyper::server::conn::http1` server with upgrades whose service
//! calls `Upgrader::upgrade`, driven by a tokio-tungstenite client (and by ours).

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, Config, Error, Initiator, Message, Upgrader};
use mywebsocket_tests::{
    assert_same_bytes, bounded, connect_client, pattern, raw_http, spawn_hyper_server,
    tungstenite_connect, upgrade_request, ws_url, SAMPLE_KEY,
};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::Message as TMessage;

#[tokio::test]
async fn hyper_upgrade_echoes_for_tungstenite_client() {
    bounded(async {
        let (addr, server) = spawn_hyper_server(Upgrader::default()).await;
        let mut client = tungstenite_connect(addr).await;

        client.send(TMessage::text("via hyper")).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            TMessage::text("via hyper")
        );
        let data = pattern(200_000, 1);
        client.send(TMessage::binary(data.clone())).await.unwrap();
        match client.next().await.unwrap().unwrap() {
            TMessage::Binary(b) => assert_same_bytes(&b, &data, "binary echo"),
            other => panic!("expected binary, got {other:?}"),
        }
        client.send(TMessage::Ping("p".into())).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            TMessage::Pong("p".into())
        );

        client
            .close(Some(TCloseFrame {
                code: 1000.into(),
                reason: "done".into(),
            }))
            .await
            .unwrap();
        while let Some(msg) = client.next().await {
            msg.unwrap();
        }
        match server.join().await {
            Some(Error::Closed {
                frame: Some(frame),
                initiator: Initiator::Remote,
            }) => {
                assert_eq!(frame.code, CloseCode::NORMAL);
                assert_eq!(frame.reason.as_str(), "done");
            }
            other => panic!("expected a close by the client, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn hyper_upgrade_echoes_for_our_client() {
    bounded(async {
        let (addr, server) = spawn_hyper_server(Upgrader::default()).await;
        let mut client = connect_client(addr, Config::default()).await;
        client
            .write_json(&serde_json::json!({ "a": 1 }))
            .await
            .unwrap();
        assert_eq!(
            client.read_msg().await.unwrap(),
            Message::text(r#"{"a":1}"#)
        );
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(server.join().await.expect("upgraded").is_closed());
    })
    .await;
}

#[tokio::test]
async fn hyper_upgrade_negotiates_subprotocol() {
    bounded(async {
        let upgrader = Upgrader::new(Config::default().protocols(["chat.v2", "chat.v1"]));
        let (addr, _server) = spawn_hyper_server(upgrader).await;
        let mut request = ws_url(addr).into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "chat.v1, chat.v2".parse().unwrap(),
        );
        let (_client, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "chat.v2");
    })
    .await;
}

#[tokio::test]
async fn hyper_service_refuses_bad_requests_with_their_status() {
    bounded(async {
        let (addr, server) = spawn_hyper_server(Upgrader::default()).await;
        let reply = raw_http(
            addr,
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(reply.status, 400);
        assert!(server.join().await.is_none(), "nothing was upgraded");

        let (addr, server) = spawn_hyper_server(Upgrader::default()).await;
        let request = upgrade_request(Some(SAMPLE_KEY), "8", "");
        let reply = raw_http_until_head(addr, &request).await;
        assert_eq!(reply, 426);
        drop(server);
    })
    .await;
}

/// Sends `request` and returns the status of the response, without waiting for the end of
/// the connection (hyper keeps an upgrade-style connection open).
async fn raw_http_until_head(addr: std::net::SocketAddr, request: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response head");
        raw.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if response.parse(&raw).unwrap().is_complete() {
            return response.code.unwrap();
        }
    }
}
