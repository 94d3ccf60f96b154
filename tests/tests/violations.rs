//! A peer that breaks the rules gets the matching close code (RFC 6455 §7.4.1): 1009 for a
//! message over the limit, 1007 for invalid UTF-8, 1002 for the rest; our read returns the
//! matching error. The table of rule breaks is `mywebsocket_tests::cases::violations`, shared
//! with `h2_conformance.rs`.

use std::time::Duration;

use futures_util::SinkExt;
use mywebsocket::{Config, Error, ProtocolError, Upgrader};
use mywebsocket_tests::cases::{self, violations, Keys, Violation};
use mywebsocket_tests::{
    bounded, our_client_and_tungstenite_server, our_server_and_raw_client,
    our_server_and_tungstenite_client, raw_frame, read_close_code,
};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::Message as TMessage;

const LIMIT: usize = 1024;
const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

/// Asserts that `err` is [`Error::MessageTooBig`] over [`LIMIT`] at `size` bytes; `None`
/// accepts any size, for a fragmented message whose size at the failure depends on where the
/// limit was crossed.
fn assert_too_big(err: &Error, size: Option<u64>) {
    assert!(
        matches!(
            err,
            Error::MessageTooBig { size: got, limit: LIMIT } if size.is_none_or(|s| s == *got)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn oversize_message_from_tungstenite_client_closes_with_1009() {
    bounded(async {
        let config = Config::default().max_message_size(LIMIT);
        let (mut server, mut client) =
            our_server_and_tungstenite_client(Upgrader::new(config)).await;

        // Exactly the limit is fine.
        client
            .send(TMessage::binary(vec![1u8; LIMIT]))
            .await
            .unwrap();
        assert_eq!(server.read_msg().await.unwrap().len(), LIMIT);

        client
            .send(TMessage::binary(vec![2u8; 2000]))
            .await
            .unwrap();
        assert_too_big(&server.read_msg().await.unwrap_err(), Some(2000));
        assert_eq!(read_close_code(&mut client).await, 1009);
    })
    .await;
}

#[tokio::test]
async fn oversize_message_from_tungstenite_server_closes_our_client_with_1009() {
    bounded(async {
        let config = Config::default().max_message_size(LIMIT);
        let (mut client, mut server) = our_client_and_tungstenite_server(config).await;

        server.send(TMessage::text("x".repeat(2000))).await.unwrap();
        assert_too_big(&client.read_msg().await.unwrap_err(), Some(2000));
        assert_eq!(read_close_code(&mut server).await, 1009);
    })
    .await;
}

#[tokio::test]
async fn oversize_fragmented_message_from_raw_client_closes_with_1009() {
    bounded(async {
        let config = Config::default().max_message_size(LIMIT);
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::new(config)).await;

        // Each frame is under the limit; the message is not.
        let frames = [
            (false, Data::Binary),
            (false, Data::Continue),
            (true, Data::Continue),
        ];
        for (fin, opcode) in frames {
            peer.send_frame(raw_frame(fin, OpCode::Data(opcode), vec![0u8; 500], KEY))
                .await;
        }
        assert_too_big(&server.read_msg().await.unwrap_err(), None);
        assert_eq!(peer.read_close().await.0, 1009);
        peer.expect_eof().await;
    })
    .await;
}

/// Sends `frames` from a raw client and expects our server to fail the connection with
/// `expected`, sending `code`.
async fn raw_client_violation(frames: Vec<Frame>, expected: ProtocolError, code: u16) {
    let (mut server, mut peer) = our_server_and_raw_client(Upgrader::default()).await;
    for frame in frames {
        peer.send_frame(frame).await;
    }
    // Fails as soon as the rule is broken, without waiting for the rest of a message.
    let err = tokio::time::timeout(Duration::from_secs(5), server.read_msg())
        .await
        .unwrap_or_else(|_| panic!("no error for {expected:?} within 5 s"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(p) if *p == expected),
        "expected {expected:?}, got {err:?}"
    );
    let (got, _) = peer.read_close().await;
    assert_eq!(got, code, "close code for {expected:?}");
    peer.expect_eof().await;
}

#[tokio::test]
async fn invalid_utf8_from_raw_client_closes_with_1007() {
    bounded(raw_client_violation(
        vec![raw_frame(
            true,
            OpCode::Data(Data::Text),
            vec![b'h', 0xFF, b'i'],
            KEY,
        )],
        ProtocolError::InvalidUtf8,
        1007,
    ))
    .await;
}

#[tokio::test]
async fn invalid_utf8_fails_mid_message_with_1007() {
    // "ab" then the start of a 2-byte sequence; the next fragment breaks it. No final frame
    // is ever sent: the error must not wait for the end of the message.
    bounded(raw_client_violation(
        vec![
            raw_frame(false, OpCode::Data(Data::Text), vec![b'a', b'b', 0xC3], KEY),
            raw_frame(false, OpCode::Data(Data::Continue), vec![0x28, b'c'], KEY),
        ],
        ProtocolError::InvalidUtf8,
        1007,
    ))
    .await;
}

#[tokio::test]
async fn unmasked_frame_from_raw_client_closes_with_1002() {
    bounded(raw_client_violation(
        vec![raw_frame(
            true,
            OpCode::Data(Data::Text),
            &b"hello"[..],
            None,
        )],
        ProtocolError::UnmaskedFrameFromClient,
        1002,
    ))
    .await;
}

/// Every rule break of the shared table (`cases::violations`, which `h2_conformance.rs` runs
/// over HTTP/2 too), from a raw client, gets its error and close code.
#[tokio::test]
async fn every_rule_break_from_raw_client_closes_with_its_code() {
    bounded(async {
        for Violation {
            name,
            frames,
            expected,
            code,
        } in violations(&Keys::CLIENT)
        {
            let (mut server, mut peer) = our_server_and_raw_client(Upgrader::new(
                Config::default().max_message_size(cases::LIMIT),
            ))
            .await;
            for frame in frames {
                peer.send_frame(frame).await;
            }
            let err = tokio::time::timeout(Duration::from_secs(5), server.read_msg())
                .await
                .unwrap_or_else(|_| panic!("{name}: no error within 5 s"))
                .unwrap_err();
            assert!(
                expected.matches(&err),
                "{name}: expected {expected:?}, got {err:?}"
            );
            assert_eq!(peer.read_close().await.0, code, "{name}: close code");
            peer.expect_eof().await;
        }
    })
    .await;
}

/// Sends `frame` from a tokio-tungstenite server and expects our client to fail the
/// connection with `expected`, sending `code`.
async fn tungstenite_server_violation(frame: Frame, expected: ProtocolError, code: u16) {
    let (mut client, mut server) = our_client_and_tungstenite_server(Config::default()).await;
    server.send(TMessage::Frame(frame)).await.unwrap();
    let err = client.read_msg().await.unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(p) if *p == expected),
        "expected {expected:?}, got {err:?}"
    );
    assert_eq!(read_close_code(&mut server).await, code);
}

#[tokio::test]
async fn masked_frame_from_tungstenite_server_closes_our_client_with_1002() {
    bounded(tungstenite_server_violation(
        raw_frame(true, OpCode::Data(Data::Text), &b"masked"[..], KEY),
        ProtocolError::MaskedFrameFromServer,
        1002,
    ))
    .await;
}

#[tokio::test]
async fn invalid_utf8_from_tungstenite_server_closes_our_client_with_1007() {
    bounded(tungstenite_server_violation(
        Frame::message(vec![0xF0, 0x28, 0x8C, 0x28], OpCode::Data(Data::Text), true),
        ProtocolError::InvalidUtf8,
        1007,
    ))
    .await;
}
