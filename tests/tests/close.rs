//! The closing handshake (RFC 6455 §5.5.1, §7), both directions and both roles: the peer sees
//! the code and reason, and our reads end with `Error::Closed` naming who started it.

use futures_util::SinkExt;
use mywebsocket::{CloseCode, Config, Error, Initiator, Message, Upgrader};
use mywebsocket_tests::cases::UNSENDABLE_CLOSE_CODES;
use mywebsocket_tests::{
    assert_close_frame, assert_closed, assert_closed_by, assert_closed_without_frame, bounded,
    drain, our_client_and_tungstenite_server, our_server_and_raw_client,
    our_server_and_tungstenite_client, raw_frame, Task,
};
use tungstenite::protocol::frame::coding::{Control, OpCode};
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::Message as TMessage;

#[tokio::test]
async fn our_server_close_reaches_tungstenite_client_with_code_and_reason() {
    bounded(async {
        let (mut server, client) = our_server_and_tungstenite_client(Upgrader::default()).await;
        let client = Task::spawn(drain(client));

        // Messages queued before the close go out before it.
        for i in 0..3 {
            server.write_string(format!("m{i}")).await.unwrap();
        }
        server
            .close(CloseCode::new(4000), "server bye")
            .await
            .unwrap();
        let (messages, close) = client.join().await;
        assert_eq!(
            messages,
            vec![
                TMessage::text("m0"),
                TMessage::text("m1"),
                TMessage::text("m2")
            ]
        );
        assert_close_frame(close, 4000, "server bye");

        // tungstenite echoes code and reason; we started it.
        let end = server.read_msg().await.unwrap_err();
        assert_closed(&end, 4000, "server bye", Initiator::Local);
        assert!(matches!(
            server.write_string("late").await,
            Err(Error::AlreadyClosed)
        ));
    })
    .await;
}

#[tokio::test]
async fn tungstenite_client_close_reaches_our_server_with_code_and_reason() {
    bounded(async {
        let (mut server, mut client) = our_server_and_tungstenite_client(Upgrader::default()).await;

        client
            .close(Some(TCloseFrame {
                code: 4001.into(),
                reason: "client bye".into(),
            }))
            .await
            .unwrap();
        let end = server.read_msg().await.unwrap_err();
        assert_closed(&end, 4001, "client bye", Initiator::Remote);
        // Every later read says the same.
        let again = server.read_msg().await.unwrap_err();
        assert_closed(&again, 4001, "client bye", Initiator::Remote);
        assert!(matches!(
            server.write_string("late").await,
            Err(Error::AlreadyClosed)
        ));

        // Our answer echoes the code (RFC 6455 §5.5.1), and then the server ends TCP.
        let (messages, close) = drain(client).await;
        assert!(messages.is_empty());
        assert_eq!(u16::from(close.expect("the close answer").code), 4001);
    })
    .await;
}

#[tokio::test]
async fn our_client_close_reaches_tungstenite_server_with_code_and_reason() {
    bounded(async {
        let (mut client, server) = our_client_and_tungstenite_server(Config::default()).await;
        let server = Task::spawn(drain(server));

        client.write_binary(vec![1, 2, 3]).await.unwrap();
        client
            .close(CloseCode::new(4002), "client bye ✓")
            .await
            .unwrap();
        let (messages, close) = server.join().await;
        assert_eq!(messages, vec![TMessage::binary(vec![1, 2, 3])]);
        assert_close_frame(close, 4002, "client bye ✓");

        let end = client.read_msg().await.unwrap_err();
        assert_closed(&end, 4002, "client bye ✓", Initiator::Local);
    })
    .await;
}

#[tokio::test]
async fn tungstenite_server_close_reaches_our_client_with_code_and_reason() {
    bounded(async {
        let (mut client, mut server) = our_client_and_tungstenite_server(Config::default()).await;

        server.send(TMessage::text("last words")).await.unwrap();
        server
            .close(Some(TCloseFrame {
                code: 4003.into(),
                reason: "server bye".into(),
            }))
            .await
            .unwrap();
        let server = Task::spawn(drain(server));

        assert_eq!(
            client.read_msg().await.unwrap(),
            Message::text("last words")
        );
        let end = client.read_msg().await.unwrap_err();
        assert_closed(&end, 4003, "server bye", Initiator::Remote);

        let (_, close) = server.join().await;
        assert_eq!(u16::from(close.expect("the close answer").code), 4003);
    })
    .await;
}

#[tokio::test]
async fn close_reason_is_cut_to_123_bytes_at_a_char_boundary() {
    bounded(async {
        let (mut server, client) = our_server_and_tungstenite_client(Upgrader::default()).await;
        let client = Task::spawn(drain(client));

        let reason = "é".repeat(100); // 200 bytes
        server.close(CloseCode::NORMAL, &reason).await.unwrap();
        let (_, close) = client.join().await;
        assert_close_frame(close, 1000, &"é".repeat(61)); // 122 bytes
    })
    .await;
}

#[tokio::test]
async fn close_codes_that_may_not_be_sent_are_refused() {
    bounded(async {
        let (mut client, server) = our_client_and_tungstenite_server(Config::default()).await;
        let server = Task::spawn(drain(server));

        for code in UNSENDABLE_CLOSE_CODES {
            assert!(
                matches!(
                    client.close(CloseCode::new(code), "").await,
                    Err(Error::InvalidInput(_))
                ),
                "code {code}"
            );
        }
        // Still open: a valid close goes through.
        client.write_string("alive").await.unwrap();
        client.close(CloseCode::GOING_AWAY, "").await.unwrap();
        let (messages, close) = server.join().await;
        assert_eq!(messages, vec![TMessage::text("alive")]);
        assert_eq!(u16::from(close.unwrap().code), 1001);
    })
    .await;
}

#[tokio::test]
async fn raw_client_close_is_echoed_then_server_ends_tcp() {
    bounded(async {
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::default()).await;

        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        peer.send_frame(raw_frame(
            true,
            OpCode::Control(Control::Close),
            payload,
            Some([9, 8, 7, 6]),
        ))
        .await;
        let end = server.read_msg().await.unwrap_err();
        assert_closed(&end, 1000, "bye", Initiator::Remote);

        let (code, _) = peer.read_close().await;
        assert_eq!(code, 1000);
        // The server closes the TCP connection first (RFC 6455 §7.1.1).
        peer.expect_eof().await;
    })
    .await;
}

#[tokio::test]
async fn close_drops_unread_messages_and_completes() {
    bounded(async {
        let (mut server, mut client) = our_server_and_tungstenite_client(Upgrader::default()).await;

        // The client sends messages our server never reads, then reads on.
        for i in 0..100 {
            client
                .send(TMessage::text(format!("unread {i}")))
                .await
                .unwrap();
        }
        let client = Task::spawn(drain(client));
        server.close(CloseCode::NORMAL, "enough").await.unwrap();
        assert_closed_by(&server.read_msg().await.unwrap_err(), Initiator::Local);
        let (messages, close) = client.join().await;
        assert!(messages.is_empty());
        assert_eq!(close.expect("a close frame").reason.as_str(), "enough");
    })
    .await;
}

#[tokio::test]
async fn simultaneous_close_completes_on_both_sides() {
    bounded(async {
        let (mut server, mut client) = our_server_and_tungstenite_client(Upgrader::default()).await;

        let client = Task::spawn(async move {
            client
                .close(Some(TCloseFrame {
                    code: 4010.into(),
                    reason: "client".into(),
                }))
                .await
                .unwrap();
            drain(client).await
        });
        server.close(CloseCode::new(4011), "server").await.unwrap();
        assert!(server.read_msg().await.unwrap_err().is_closed());
        assert!(server.writer().is_closed());
        // The client saw a close frame: ours, or our answer to its own.
        let (_, close) = client.join().await;
        let code = u16::from(close.expect("a close frame").code);
        assert!(code == 4010 || code == 4011, "{code}");
    })
    .await;
}

#[tokio::test]
async fn peer_vanishing_without_close_is_an_io_error() {
    bounded(async {
        let (mut server, client) = our_server_and_tungstenite_client(Upgrader::default()).await;

        drop(client);
        match server.read_msg().await {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("expected an unexpected EOF, got {other:?}"),
        }
        // Then the connection is over: no code (1006 is never sent), closed by the peer.
        let again = server.read_msg().await.unwrap_err();
        assert_closed_without_frame(&again, Initiator::Remote);
        assert!(server.write_string("anyone?").await.is_err());
    })
    .await;
}
