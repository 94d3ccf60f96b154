//! The other side of the ping flood (`attack_ping_flood.rs`): the server may answer only the
//! latest of several pings when its write budget is full (RFC 6455 §5.5.3), but a client that
//! reads, and so never fills it, gets a pong for every ping, in order (Autobahn 2.10 expects
//! all of them), even when the pings arrive together in one write.

use mywebsocket::{Config, Initiator, Upgrader};
use mywebsocket_tests::{assert_closed_by, bounded, echo, encode_frame, raw_frame, spawn_accept};
use mywebsocket_tests::{RawPeer, Task};
use tungstenite::protocol::frame::coding::{Control, OpCode};

const PINGS: usize = 10;
const KEY: Option<[u8; 4]> = Some([0x0b, 0xad, 0xf0, 0x0d]);

#[tokio::test]
async fn a_reading_client_gets_every_pong_in_order() {
    bounded(async {
        let (addr, accept) = spawn_accept(Upgrader::new(Config::default().no_heartbeat())).await;
        let mut peer = RawPeer::connect(addr).await;
        let server =
            Task::spawn(async move { echo(accept.join().await.expect("handshake")).await });

        // All ten in one write, so they reach the server in one read.
        let pings: Vec<u8> = (0..PINGS)
            .flat_map(|i| {
                encode_frame(raw_frame(
                    true,
                    OpCode::Control(Control::Ping),
                    format!("payload-{i}").into_bytes(),
                    KEY,
                ))
            })
            .collect();
        peer.send_bytes(&pings).await;
        for i in 0..PINGS {
            let frame = peer
                .read_frame()
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("the stream ended before pong {i}"));
            assert_eq!(frame.header.opcode, OpCode::Control(Control::Pong), "{i}");
            assert_eq!(&frame.payload[..], format!("payload-{i}").as_bytes());
        }

        // Exactly ten: the next frame is the answer to our close.
        peer.send_frame(raw_frame(
            true,
            OpCode::Control(Control::Close),
            1000u16.to_be_bytes().to_vec(),
            KEY,
        ))
        .await;
        let next = peer.read_frame().await.expect("read").expect("a frame");
        assert_eq!(next.close_code(), Some((1000, String::new())), "{next:?}");
        peer.expect_eof().await;
        assert_closed_by(&server.join().await, Initiator::Remote);
    })
    .await;
}
