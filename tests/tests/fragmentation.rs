//! Fragmentation (RFC 6455 §5.4), both ways: our fragmented writes are checked frame by frame
//! with tungstenite's frame parser on a raw socket, and arrive whole at a tokio-tungstenite
//! peer; fragmented messages from a peer are reassembled by us.

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, Config, Message, Upgrader, WebSocket, WriteOptions};
use mywebsocket_tests::cases::{check_fragments, multibyte_text};
use mywebsocket_tests::{
    assert_same_bytes, bounded, drain, our_client_and_raw_server,
    our_client_and_tungstenite_server, our_server_and_raw_client,
    our_server_and_tungstenite_client, pattern, raw_frame, RawFrame, RawPeer, Task, TungsteniteIo,
};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::Message as TMessage;

/// Reads the frames of one data message (up to the frame with FIN).
async fn read_message_frames(peer: &mut RawPeer) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    loop {
        let frame = peer
            .read_frame()
            .await
            .unwrap()
            .expect("a frame before the end of the stream");
        assert!(
            !matches!(frame.header.opcode, OpCode::Control(_)),
            "unexpected control frame {:?}",
            frame.header
        );
        let fin = frame.header.is_final;
        frames.push(frame);
        if fin {
            return frames;
        }
    }
}

#[tokio::test]
async fn our_server_fragmented_writes_are_several_frames_on_the_wire() {
    bounded(async {
        let config = Config::default().fragment_size(4096);
        let (server, mut peer) = our_server_and_raw_client(Upgrader::new(config)).await;

        let text = multibyte_text(1000);
        let opts = WriteOptions::default().fragment_size(64);
        server
            .write_string_with(text.as_str(), &opts)
            .await
            .unwrap();
        let frames = read_message_frames(&mut peer).await;
        check_fragments(&frames, Data::Text, text.as_bytes(), 64, false);

        let data = pattern(10_000, 3);
        let opts = WriteOptions::default().fragment_size(1000);
        server.write_binary_with(data.clone(), &opts).await.unwrap();
        let frames = read_message_frames(&mut peer).await;
        check_fragments(&frames, Data::Binary, &data, 1000, false);

        let value = serde_json::json!({ "list": (0..100).collect::<Vec<_>>() });
        let json = serde_json::to_vec(&value).unwrap();
        server
            .write_json_with(&value, &WriteOptions::default().fragment_size(50))
            .await
            .unwrap();
        let frames = read_message_frames(&mut peer).await;
        check_fragments(&frames, Data::Text, &json, 50, false);

        // Without options, the connection's Config::fragment_size applies.
        let data = pattern(10_000, 4);
        server.write_binary(data.clone()).await.unwrap();
        let frames = read_message_frames(&mut peer).await;
        check_fragments(&frames, Data::Binary, &data, 4096, false);

        // A message that fits is one frame.
        server
            .write_binary_with(pattern(64, 5), &WriteOptions::default().fragment_size(64))
            .await
            .unwrap();
        let frames = read_message_frames(&mut peer).await;
        assert_eq!(frames.len(), 1);
        assert!(frames[0].header.is_final);
    })
    .await;
}

#[tokio::test]
async fn our_client_fragmented_writes_are_several_masked_frames_on_the_wire() {
    bounded(async {
        let (client, mut peer) = our_client_and_raw_server(Config::default()).await;

        let text = multibyte_text(1000);
        let opts = WriteOptions::default().fragment_size(100);
        client
            .write_string_with(text.as_str(), &opts)
            .await
            .unwrap();
        let frames = read_message_frames(&mut peer).await;
        check_fragments(&frames, Data::Text, text.as_bytes(), 100, true);
        // Each frame has its own mask key (RFC 6455 §5.3: unpredictable per frame).
        let keys: std::collections::HashSet<_> = frames.iter().map(|f| f.header.mask).collect();
        assert!(
            keys.len() > 1,
            "all {} frames used one mask key",
            frames.len()
        );

        let data = pattern(70_000, 6);
        let opts = WriteOptions::default().fragment_size(30_000);
        client.write_binary_with(data.clone(), &opts).await.unwrap();
        let frames = read_message_frames(&mut peer).await;
        check_fragments(&frames, Data::Binary, &data, 30_000, true);
    })
    .await;
}

/// Writes a multibyte text in fragments of `text_fragment` bytes and a binary message (the
/// pattern with `seed`) in fragments of `binary_fragment` bytes from `ours`, checks that
/// `peer` receives each whole, then closes from our side.
async fn fragmented_writes_arrive_whole(
    mut ours: WebSocket,
    mut peer: WebSocketStream<impl TungsteniteIo>,
    text_fragment: usize,
    binary_fragment: usize,
    seed: u8,
) {
    let text = multibyte_text(5000);
    let data = pattern(100_000, seed);
    ours.write_string_with(
        text.as_str(),
        &WriteOptions::default().fragment_size(text_fragment),
    )
    .await
    .unwrap();
    ours.write_binary_with(
        data.clone(),
        &WriteOptions::default().fragment_size(binary_fragment),
    )
    .await
    .unwrap();
    assert_eq!(
        peer.next().await.unwrap().unwrap(),
        TMessage::text(text.as_str())
    );
    match peer.next().await.unwrap().unwrap() {
        TMessage::Binary(b) => assert_same_bytes(&b, &data, "binary"),
        other => panic!("expected binary, got {other:?}"),
    }

    let peer = Task::spawn(drain(peer));
    ours.close(CloseCode::NORMAL, "").await.unwrap();
    peer.join().await;
}

#[tokio::test]
async fn our_server_fragmented_write_arrives_whole_at_tungstenite_client() {
    bounded(async {
        let (server, client) = our_server_and_tungstenite_client(Upgrader::default()).await;
        fragmented_writes_arrive_whole(server, client, 7, 999, 8).await;
    })
    .await;
}

#[tokio::test]
async fn our_client_fragmented_write_arrives_whole_at_tungstenite_server() {
    bounded(async {
        let (client, server) = our_client_and_tungstenite_server(Config::default()).await;
        fragmented_writes_arrive_whole(client, server, 13, 4096, 9).await;
    })
    .await;
}

#[tokio::test]
async fn our_server_reassembles_fragments_with_a_ping_between() {
    bounded(async {
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::default()).await;

        // "€" is E2 82 AC: split it across the first two frames.
        let text = "price: €42".as_bytes();
        let cut = text.iter().position(|&b| b == 0xE2).unwrap() + 1;
        let key = Some([1, 2, 3, 4]);
        peer.send_frame(raw_frame(
            false,
            OpCode::Data(Data::Text),
            text[..cut].to_vec(),
            key,
        ))
        .await;
        peer.send_frame(raw_frame(
            true,
            OpCode::Control(Control::Ping),
            &b"mid"[..],
            key,
        ))
        .await;
        peer.send_frame(raw_frame(
            false,
            OpCode::Data(Data::Continue),
            text[cut..cut + 2].to_vec(),
            key,
        ))
        .await;
        peer.send_frame(raw_frame(
            true,
            OpCode::Data(Data::Continue),
            text[cut + 2..].to_vec(),
            key,
        ))
        .await;
        assert_eq!(
            server.read_msg().await.unwrap(),
            Message::text("price: €42")
        );

        let pong = peer.read_frame().await.unwrap().unwrap();
        assert_eq!(pong.header.opcode, OpCode::Control(Control::Pong));
        assert_eq!(&pong.payload[..], b"mid");
        assert!(pong.header.mask.is_none(), "a server must not mask");

        // Binary in many small frames, including empty ones.
        let data = pattern(3000, 11);
        let mut first = true;
        for chunk in data.chunks(700) {
            let opcode = if first { Data::Binary } else { Data::Continue };
            first = false;
            peer.send_frame(raw_frame(false, OpCode::Data(opcode), chunk.to_vec(), key))
                .await;
        }
        peer.send_frame(raw_frame(
            true,
            OpCode::Data(Data::Continue),
            Vec::new(),
            key,
        ))
        .await;
        let msg = server.read_msg().await.unwrap();
        assert!(msg.is_binary());
        assert_same_bytes(msg.as_bytes(), &data, "reassembled binary");
    })
    .await;
}

#[tokio::test]
async fn our_client_reassembles_fragments_from_tungstenite_server() {
    bounded(async {
        let (mut client, mut server) = our_client_and_tungstenite_server(Config::default()).await;

        let text = multibyte_text(300);
        let bytes = text.as_bytes();
        let parts: Vec<&[u8]> = bytes.chunks(17).collect();
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            let frame = Frame::message(part.to_vec(), OpCode::Data(opcode), i == parts.len() - 1);
            server.feed(TMessage::Frame(frame)).await.unwrap();
        }
        server.flush().await.unwrap();
        assert_eq!(
            client.read_msg().await.unwrap(),
            Message::text(text.as_str())
        );

        let server = Task::spawn(drain(server));
        client.close(CloseCode::NORMAL, "").await.unwrap();
        server.join().await;
    })
    .await;
}
