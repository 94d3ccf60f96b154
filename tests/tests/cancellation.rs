//! `read_msg` is cancel-safe: dropping it while a frame or a fragmented message is half
//! received loses nothing, and the next call returns the whole message.

use std::time::Duration;

use mywebsocket::{Message, Upgrader};
use mywebsocket_tests::{
    assert_same_bytes, bounded, encode_frame, our_server_and_raw_client, pattern, raw_frame,
};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

const KEY: Option<[u8; 4]> = Some([5, 6, 7, 8]);

/// Long enough that the bytes sent before it have surely been read; the read cannot finish in
/// any case, since the message is incomplete.
const CANCEL_AFTER: Duration = Duration::from_millis(100);

#[tokio::test]
async fn read_cancelled_mid_frame_resumes_without_loss() {
    bounded(async {
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::default()).await;

        let data = pattern(100_000, 42);
        let wire = encode_frame(raw_frame(
            true,
            OpCode::Data(Data::Binary),
            data.clone(),
            KEY,
        ));
        // Cut inside the header, then inside the payload, cancelling a read after each part.
        for part in [&wire[..1], &wire[1..5_000], &wire[5_000..60_000]] {
            peer.send_bytes(part).await;
            let cancelled = tokio::time::timeout(CANCEL_AFTER, server.read_msg()).await;
            assert!(
                cancelled.is_err(),
                "a message from an incomplete frame: {cancelled:?}"
            );
        }
        peer.send_bytes(&wire[60_000..]).await;
        let msg = server.read_msg().await.unwrap();
        assert_same_bytes(msg.as_bytes(), &data, "message read across cancellations");
    })
    .await;
}

#[tokio::test]
async fn read_cancelled_between_fragments_resumes_without_loss() {
    bounded(async {
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::default()).await;

        let parts: [&[u8]; 3] = [b"hel", b"lo ", "wörld".as_bytes()];
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            let last = i == parts.len() - 1;
            peer.send_frame(raw_frame(last, OpCode::Data(opcode), part.to_vec(), KEY))
                .await;
            if !last {
                // A ping between fragments is answered even by a read that is then dropped.
                peer.send_frame(raw_frame(
                    true,
                    OpCode::Control(Control::Ping),
                    vec![i as u8],
                    KEY,
                ))
                .await;
                let cancelled = tokio::time::timeout(CANCEL_AFTER, server.read_msg()).await;
                assert!(cancelled.is_err(), "a message before its last fragment");
                let pong = peer.read_frame().await.unwrap().expect("a pong");
                assert_eq!(pong.header.opcode, OpCode::Control(Control::Pong));
                assert_eq!(&pong.payload[..], &[i as u8]);
            }
        }
        assert_eq!(
            server.read_msg().await.unwrap(),
            Message::text("hello wörld")
        );
    })
    .await;
}
