//! `Message::Close` through the `Stream` and `Sink` interfaces, as tokio-tungstenite and axum
//! users expect: the stream yields the peer's close frame once, then ends; writing a close
//! starts the closing handshake with its code and reason. `read_msg` keeps its error.

use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, CloseFrame, Config, Error, Initiator, Message, Upgrader, WebSocket};
use mywebsocket_tests::{
    assert_close_frame, assert_closed, assert_closed_without_frame, bounded, drain,
    our_client_and_tungstenite_server, our_server_and_raw_client,
    our_server_and_tungstenite_client, raw_frame, Task, TungsteniteIo,
};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::Message as TMessage;

/// Our end in each role, facing tokio-tungstenite.
async fn both_roles() -> Vec<(&'static str, WebSocket, Peer)> {
    let (server, client) = our_server_and_tungstenite_client(Upgrader::default()).await;
    let (our_client, their_server) = our_client_and_tungstenite_server(Config::default()).await;
    vec![
        ("our server", server, Peer::Client(client)),
        ("our client", our_client, Peer::Server(their_server)),
    ]
}

enum Peer {
    Client(mywebsocket_tests::TungsteniteClient),
    Server(mywebsocket_tests::TungsteniteServer),
}

impl Peer {
    /// Sends `hello`, then a close with 4001 "peer bye", then reads to the end (which answers
    /// our echo and, for a server, closes TCP).
    fn close_after_hello(self) -> Task<(Vec<TMessage>, Option<TCloseFrame>)> {
        async fn run(
            mut ws: WebSocketStream<impl TungsteniteIo>,
        ) -> (Vec<TMessage>, Option<TCloseFrame>) {
            ws.send(TMessage::text("hello")).await.unwrap();
            ws.close(Some(TCloseFrame {
                code: 4001.into(),
                reason: "peer bye".into(),
            }))
            .await
            .unwrap();
            drain(ws).await
        }
        match self {
            Self::Client(ws) => Task::spawn(run(ws)),
            Self::Server(ws) => Task::spawn(run(ws)),
        }
    }

    /// Reads to the end, answering our close (tungstenite echoes code and reason).
    fn drain(self) -> Task<(Vec<TMessage>, Option<TCloseFrame>)> {
        match self {
            Self::Client(ws) => Task::spawn(drain(ws)),
            Self::Server(ws) => Task::spawn(drain(ws)),
        }
    }
}

/// The stream's remaining items: the close, then the end (and it stays ended).
async fn assert_stream_ends_with_close(ws: &mut WebSocket, code: u16, reason: &str, who: &str) {
    let Some(Ok(Message::Close(Some(frame)))) = ws.next().await else {
        panic!("{who}: expected the peer's close frame");
    };
    assert_eq!(frame.code.as_u16(), code, "{who}");
    assert_eq!(frame.reason.as_str(), reason, "{who}");
    assert!(
        ws.next().await.is_none(),
        "{who}: the stream ends after the close"
    );
    assert!(ws.next().await.is_none(), "{who}: and stays ended");
}

#[tokio::test]
async fn stream_yields_the_peers_close_then_ends_when_the_peer_closes() {
    bounded(async {
        for (who, mut ours, peer) in both_roles().await {
            let peer = peer.close_after_hello();
            assert_eq!(
                ours.next().await.unwrap().unwrap(),
                Message::text("hello"),
                "{who}"
            );
            assert_stream_ends_with_close(&mut ours, 4001, "peer bye", who).await;
            // read_msg, the primary API, still reports the end as an error.
            let end = ours.read_msg().await.unwrap_err();
            assert_closed(&end, 4001, "peer bye", Initiator::Remote);
            let (_, echo) = peer.join().await;
            assert_eq!(u16::from(echo.expect("our echo").code), 4001, "{who}");
        }
    })
    .await;
}

#[tokio::test]
async fn close_sent_through_the_sink_reaches_the_peer_and_the_stream_yields_its_echo() {
    bounded(async {
        for (who, mut ours, peer) in both_roles().await {
            let peer = peer.drain();
            ours.send(Message::text("last")).await.unwrap();
            ours.send(Message::close(CloseCode::new(4000), "our bye"))
                .await
                .unwrap();
            // Nothing more may be sent after the close.
            assert!(
                matches!(
                    ours.send(Message::text("late")).await,
                    Err(Error::AlreadyClosed)
                ),
                "{who}"
            );
            // tungstenite echoes code and reason: the stream yields that echo.
            assert_stream_ends_with_close(&mut ours, 4000, "our bye", who).await;
            let end = ours.read_msg().await.unwrap_err();
            assert_closed(&end, 4000, "our bye", Initiator::Local);
            let (messages, close) = peer.join().await;
            assert_eq!(messages, vec![TMessage::text("last")], "{who}");
            assert_close_frame(close, 4000, "our bye");
        }
    })
    .await;
}

#[tokio::test]
async fn write_message_close_performs_the_closing_handshake() {
    bounded(async {
        for (who, mut ours, peer) in both_roles().await {
            let peer = peer.drain();
            ours.write_message(Message::close(CloseCode::GOING_AWAY, "going"))
                .await
                .unwrap();
            // Exactly like Writer::close: a second close is refused.
            assert!(
                matches!(
                    ours.writer().write_message(Message::Close(None)).await,
                    Err(Error::AlreadyClosed)
                ),
                "{who}"
            );
            let end = ours.read_msg().await.unwrap_err();
            assert_closed(&end, 1001, "going", Initiator::Local);
            let (messages, close) = peer.join().await;
            assert!(messages.is_empty(), "{who}");
            assert_close_frame(close, 1001, "going");
        }
    })
    .await;
}

#[tokio::test]
async fn close_without_a_frame_sends_no_status_code_and_comes_back_as_none() {
    bounded(async {
        for (who, mut ours, peer) in both_roles().await {
            let peer = peer.drain();
            ours.send(Message::Close(None)).await.unwrap();
            // tungstenite answers a close without a code with one without a code.
            assert_eq!(
                ours.next().await.unwrap().unwrap(),
                Message::Close(None),
                "{who}"
            );
            assert!(ours.next().await.is_none(), "{who}");
            let end = ours.read_msg().await.unwrap_err();
            assert_closed_without_frame(&end, Initiator::Local);
            let (_, close) = peer.join().await;
            assert!(close.is_none(), "{who}: no status code was sent");
        }
    })
    .await;
}

#[tokio::test]
async fn close_codes_that_may_not_be_sent_are_refused_and_the_connection_stays_open() {
    bounded(async {
        let (mut server, mut client) = our_server_and_tungstenite_client(Upgrader::default()).await;
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            let close = Message::close(CloseCode::new(code), "no");
            let by_write = server.write_message(close.clone()).await;
            assert!(matches!(by_write, Err(Error::InvalidInput(_))), "{code}");
            let by_sink = server.send(close).await;
            assert!(matches!(by_sink, Err(Error::InvalidInput(_))), "{code}");
        }
        assert!(!server.writer().is_closed());
        server.write_string("still open").await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            TMessage::text("still open")
        );
        client.send(TMessage::text("so is this")).await.unwrap();
        assert_eq!(
            server.next().await.unwrap().unwrap(),
            Message::text("so is this")
        );
    })
    .await;
}

#[tokio::test]
async fn stream_yields_no_close_after_a_protocol_error() {
    bounded(async {
        let (mut server, mut peer) = our_server_and_raw_client(Upgrader::default()).await;
        // An unmasked frame from a client breaks RFC 6455 §5.1.
        peer.send_frame(raw_frame(true, OpCode::Data(Data::Text), &b"hi"[..], None))
            .await;
        assert!(matches!(server.next().await, Some(Err(Error::Protocol(_)))));
        // We sent the close (1002): it is not the peer's, so no Message::Close follows.
        assert!(server.next().await.is_none());
    })
    .await;
}

#[test]
fn close_frame_helpers_match_the_frame() {
    let close = Message::close(CloseCode::NORMAL, "done");
    assert_eq!(
        close.as_close_frame(),
        Some(&CloseFrame::new(CloseCode::NORMAL, "done"))
    );
    assert!(close.is_close() && close.is_empty() && close.as_text().is_none());
}
