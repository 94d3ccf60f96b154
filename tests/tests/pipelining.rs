//! Bytes that arrive in the same read as the opening handshake belong to the WebSocket stream:
//! a client may send frames right after its request, and a server right after its `101`.
//! Each entry point (`accept`, the hyper upgrade, `connect`) must keep them.

use futures_util::StreamExt;
use mywebsocket::{Config, Message, Upgrader};
use mywebsocket_tests::{
    bounded, encode_frame, listen, raw_frame, spawn_accept, spawn_hyper_server, RawPeer, Task,
};
use tungstenite::protocol::frame::coding::{Data, OpCode};

const KEY: Option<[u8; 4]> = Some([0xa1, 0xb2, 0xc3, 0xd4]);

/// Two masked text frames, as a client sends them.
fn two_client_frames() -> Vec<u8> {
    ["first", "second"]
        .into_iter()
        .flat_map(|text| encode_frame(raw_frame(true, OpCode::Data(Data::Text), text, KEY)))
        .collect()
}

#[tokio::test]
async fn accept_keeps_frames_sent_with_the_request() {
    bounded(async {
        let (addr, accept) = spawn_accept(Upgrader::default()).await;
        let _peer = RawPeer::connect_pipelined(addr, &two_client_frames()).await;
        let mut server = accept.join().await.unwrap();
        assert_eq!(server.read_msg().await.unwrap(), Message::text("first"));
        assert_eq!(server.read_msg().await.unwrap(), Message::text("second"));
    })
    .await;
}

#[tokio::test]
async fn hyper_upgrade_keeps_frames_sent_with_the_request() {
    bounded(async {
        let (addr, _server) = spawn_hyper_server(Upgrader::default()).await;
        let mut peer = RawPeer::connect_pipelined(addr, &two_client_frames()).await;
        // The hyper server echoes.
        for want in ["first", "second"] {
            let frame = peer.read_frame().await.unwrap().expect("an echo");
            assert_eq!(frame.header.opcode, OpCode::Data(Data::Text));
            assert_eq!(&frame.payload[..], want.as_bytes());
        }
    })
    .await;
}

#[tokio::test]
async fn connect_keeps_frames_sent_with_the_response() {
    bounded(async {
        let (listener, addr) = listen().await;
        let frames = [
            (Data::Binary, &[1u8, 2, 3][..]),
            (Data::Text, &b"hello"[..]),
        ]
        .into_iter()
        .flat_map(|(opcode, payload)| {
            encode_frame(raw_frame(true, OpCode::Data(opcode), payload, None))
        })
        .collect::<Vec<u8>>();
        let server =
            Task::spawn(async move { RawPeer::accept_pipelined(&listener, &frames).await });
        let mut client = mywebsocket_tests::connect_client(addr, Config::default()).await;
        let _peer = server.join().await;
        assert_eq!(
            client.read_msg().await.unwrap(),
            Message::binary(vec![1u8, 2, 3])
        );
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::text("hello")
        );
    })
    .await;
}
