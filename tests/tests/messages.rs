//! Text, binary and JSON messages of every length class, both directions: our server with a
//! tokio-tungstenite client, and a tokio-tungstenite server with our client.

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, Config, Error, Initiator, Message, Upgrader, WebSocket};
use mywebsocket_tests::{
    assert_close_frame, assert_closed_without_frame, assert_same_bytes, bounded, connect_client,
    drain, our_client_and_tungstenite_server, our_server_and_tungstenite_client, pattern,
    spawn_echo_server, spawn_tungstenite_echo, text_pattern, tungstenite_connect, Task,
    TungsteniteIo,
};
use serde_json::json;
use tokio_tungstenite::WebSocketStream;
use tungstenite::Message as TMessage;

/// Lengths around each boundary of the frame length encoding (RFC 6455 §5.2): 7-bit, 16-bit
/// and 64-bit.
const SIZES: [usize; 6] = [0, 1, 125, 126, 65535, 65536];

const SIXTEEN_MIB: usize = 16 << 20;

/// The messages for a round trip: text and binary at each of [`SIZES`], with a different
/// pattern for each so a mix-up shows.
fn messages() -> Vec<(bool, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, &len) in SIZES.iter().enumerate() {
        out.push((true, text_pattern(len, i as u8).into_bytes()));
        out.push((false, pattern(len, 100 + i as u8)));
    }
    out
}

fn to_tungstenite(text: bool, data: &[u8]) -> TMessage {
    if text {
        TMessage::text(String::from_utf8(data.to_vec()).expect("text pattern is ASCII"))
    } else {
        TMessage::binary(data.to_vec())
    }
}

fn to_ours(text: bool, data: &[u8]) -> Message {
    if text {
        Message::text(String::from_utf8(data.to_vec()).expect("text pattern is ASCII"))
    } else {
        Message::binary(data.to_vec())
    }
}

/// Sends each message from a tokio-tungstenite client to our echo server and checks the echo,
/// then closes normally.
async fn echo_through_our_server(msgs: Vec<(bool, Vec<u8>)>) {
    let (addr, server) = spawn_echo_server(Config::default()).await;
    let mut client = tungstenite_connect(addr).await;
    for (text, data) in msgs {
        client.send(to_tungstenite(text, &data)).await.unwrap();
        let echoed = client.next().await.expect("an echo").unwrap();
        match (text, &echoed) {
            (true, TMessage::Text(t)) => assert_same_bytes(t.as_bytes(), &data, "text echo"),
            (false, TMessage::Binary(b)) => assert_same_bytes(b, &data, "binary echo"),
            _ => panic!("echo of a {} message has the wrong type", data.len()),
        }
    }
    client.close(None).await.unwrap();
    drain(client).await;
    assert_closed_without_frame(&server.join().await, Initiator::Remote);
}

/// Sends each message from our client to a tokio-tungstenite echo server and checks the echo,
/// then closes with a code.
async fn echo_through_tungstenite_server(msgs: Vec<(bool, Vec<u8>)>) {
    let (addr, server) = spawn_tungstenite_echo().await;
    let mut client = connect_client(addr, Config::default()).await;
    for (text, data) in msgs {
        client.write_message(to_ours(text, &data)).await.unwrap();
        let echoed = client.read_msg().await.unwrap();
        assert_eq!(echoed.is_text(), text, "message type of the echo");
        assert_same_bytes(echoed.as_bytes(), &data, "echo");
    }
    client.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_close_frame(server.join().await, 1000, "done");
}

#[tokio::test]
async fn our_server_echoes_text_and_binary_at_length_boundaries() {
    bounded(echo_through_our_server(messages())).await;
}

#[tokio::test]
async fn our_client_round_trips_text_and_binary_at_length_boundaries() {
    bounded(echo_through_tungstenite_server(messages())).await;
}

/// One 16 MiB binary message, its pattern seeded with `seed`.
fn sixteen_mib_binary(seed: u8) -> Vec<(bool, Vec<u8>)> {
    vec![(false, pattern(SIXTEEN_MIB, seed))]
}

#[tokio::test]
async fn our_server_echoes_16_mib_binary() {
    bounded(echo_through_our_server(sixteen_mib_binary(7))).await;
}

#[tokio::test]
async fn our_client_round_trips_16_mib_binary() {
    bounded(echo_through_tungstenite_server(sixteen_mib_binary(9))).await;
}

#[tokio::test]
async fn multibyte_text_round_trips_both_ways() {
    let text = "héllo wörld, 你好, 🦀🦀 ".repeat(500).into_bytes();
    bounded(async {
        echo_through_our_server(vec![(true, text.clone())]).await;
        echo_through_tungstenite_server(vec![(true, text)]).await;
    })
    .await;
}

fn sample_json() -> serde_json::Value {
    json!({
        "id": 42,
        "name": "crab 🦀",
        "tags": ["a", "b"],
        "nested": { "ok": true, "ratio": 0.5, "none": null },
        "big": "x".repeat(70_000),
    })
}

/// Writes [`sample_json`] with `write_json` on `ours` and checks that `peer` parses it back
/// from a text message.
async fn json_reaches_peer(ours: &WebSocket, peer: &mut WebSocketStream<impl TungsteniteIo>) {
    let value = sample_json();
    ours.write_json(&value).await.unwrap();
    let TMessage::Text(text) = peer.next().await.unwrap().unwrap() else {
        panic!("json must arrive as a text message");
    };
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, value);
}

#[tokio::test]
async fn our_server_write_json_is_parsed_by_tungstenite_client() {
    bounded(async {
        let (mut server, mut client) = our_server_and_tungstenite_client(Upgrader::default()).await;
        json_reaches_peer(&server, &mut client).await;

        // And JSON from tungstenite parses on our side.
        client
            .send(TMessage::text(json!({ "reply": [1, 2, 3] }).to_string()))
            .await
            .unwrap();
        let msg = server.read_msg().await.unwrap();
        let parsed: serde_json::Value = serde_json::from_str(msg.as_text().unwrap()).unwrap();
        assert_eq!(parsed, json!({ "reply": [1, 2, 3] }));

        let closing = Task::spawn(drain(client));
        server.close(CloseCode::NORMAL, "").await.unwrap();
        closing.join().await;
    })
    .await;
}

#[tokio::test]
async fn our_client_write_json_is_parsed_by_tungstenite_server() {
    bounded(async {
        let (mut client, mut server) = our_client_and_tungstenite_server(Config::default()).await;
        json_reaches_peer(&client, &mut server).await;

        // A value that cannot be JSON is refused before anything is sent.
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(client.write_json(&bad).await, Err(Error::Json(_))));

        server.close(None).await.unwrap();
        // The server reads our answer to its close, then drops the socket, which our client
        // waits for.
        let server = Task::spawn(async move {
            while let Some(msg) = server.next().await {
                // Nothing but the close arrived after the JSON.
                assert!(matches!(msg.unwrap(), TMessage::Close(_)));
            }
        });
        let end = client.read_msg().await.unwrap_err();
        assert_closed_without_frame(&end, Initiator::Remote);
        server.join().await;
    })
    .await;
}

#[tokio::test]
async fn our_client_works_as_stream_and_sink() {
    bounded(async {
        let (addr, server) = spawn_tungstenite_echo().await;
        let mut client = connect_client(addr, Config::default()).await;
        for i in 0..10u8 {
            client
                .send(Message::binary(pattern(1000, i)))
                .await
                .unwrap();
            client.send(Message::text(format!("n={i}"))).await.unwrap();
        }
        for i in 0..10u8 {
            let binary = client.next().await.unwrap().unwrap();
            assert_same_bytes(binary.as_bytes(), &pattern(1000, i), "binary via Stream");
            let text = client.next().await.unwrap().unwrap();
            assert_eq!(text.as_text(), Some(format!("n={i}").as_str()));
        }
        // Closing the Sink sends a normal close; the Stream yields the server's answer to it,
        // then ends.
        SinkExt::<Message>::close(&mut client).await.unwrap();
        let answer = client.next().await.unwrap().unwrap();
        assert_eq!(
            answer.as_close_frame().map(|f| f.code),
            Some(mywebsocket::CloseCode::NORMAL)
        );
        assert!(client.next().await.is_none());
        let close = server.join().await.expect("a close frame");
        assert_eq!(u16::from(close.code), 1000);
    })
    .await;
}

#[tokio::test]
async fn accept_with_request_exposes_path_query_and_headers() {
    bounded(async {
        let (listener, addr) = mywebsocket_tests::listen().await;
        let server = Task::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (request, ws) = Upgrader::default().accept_with_request(tcp).await.unwrap();
            (request, ws)
        });
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}/rooms/7?user=ann"
        ))
        .unwrap();
        request
            .headers_mut()
            .insert("x-token", "secret".parse().unwrap());
        let (mut client, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let (request, mut ws) = server.join().await;
        assert_eq!(request.uri().path(), "/rooms/7");
        assert_eq!(request.uri().query(), Some("user=ann"));
        assert_eq!(request.headers()["x-token"], "secret");

        client.send(TMessage::text("hi")).await.unwrap();
        assert_eq!(ws.read_msg().await.unwrap(), Message::text("hi"));
        client.close(None).await.unwrap();
        assert!(ws.read_msg().await.unwrap_err().is_closed());
    })
    .await;
}
