//! The closing handshake (RFC 6455 §5.5.1, §7.1): either end first, both at once, with data
//! queued before the close and data still coming from the peer.

use std::time::Duration;

use mywebsocket_proto::{
    CloseCode, CloseFrame, ConnectionConfig, Event, Initiator, Message, SendError, State,
};

use crate::util::{Client, Pair, Server, Side};

fn normal(reason: &str) -> Option<CloseFrame> {
    Some(CloseFrame::new(CloseCode::NORMAL, reason))
}

fn assert_clean_end(pair: &Pair) {
    for side in Side::BOTH {
        let end = pair.end(side);
        assert_eq!(end.state(), State::Terminated, "{side:?}");
        assert!(end.errors.is_empty(), "{side:?}: {:?}", end.errors);
        assert_eq!(end.eof, Some(Ok(())), "{side:?}");
        assert_eq!(
            end.sent_of(mywebsocket_proto::OpCode::Close).len(),
            1,
            "{side:?}"
        );
        assert!(
            matches!(end.events.last(), Some(Event::Close(_))),
            "{side:?}: the close is the last event: {:?}",
            end.events
        );
        assert_eq!(end.conn.poll_timeout(), None, "{side:?}");
        assert_eq!(end.conn.queued_bytes(), 0, "{side:?}");
    }
}

/// One end closes; follows the handshake step by step: the other answers with the code only,
/// the server closes its transport first, the client ends on its EOF.
fn one_end_closes(first: Side) {
    let mut pair = Pair::new(ConnectionConfig::default());
    let other = first.peer();
    assert!(pair
        .conn(first)
        .close(Some(CloseFrame::new(CloseCode::new(4001), "going home")))
        .expect("a valid close"));
    assert_eq!(pair.end(first).state(), State::ClosedByUs);
    assert_eq!(pair.end(first).conn.initiator(), Some(Initiator::Local));
    assert!(
        !pair
            .conn(first)
            .close(normal("again"))
            .expect("a valid close"),
        "only the first close starts it"
    );

    pair.transmit(first);
    pair.deliver(other, usize::MAX);
    let reason = CloseFrame::new(CloseCode::new(4001), "going home");
    assert_eq!(pair.end(other).events, [Event::Close(Some(reason))]);
    assert_eq!(pair.end(other).conn.initiator(), Some(Initiator::Remote));
    // Our answer went into the queue at once: the handshake is complete on this side.
    assert_eq!(pair.end(other).state(), State::CloseAcknowledged);
    assert!(
        !pair.end(other).conn.should_close_transport(),
        "the answer is unwritten"
    );
    assert!(!pair
        .conn(other)
        .close(normal("late"))
        .expect("a valid close"));

    pair.transmit(other);
    assert_eq!(pair.end(other).closes_sent(), [Some(4001)]);
    assert_eq!(pair.end(other).sent[0].payload.len(), 2, "the code only");
    assert_eq!(pair.end(other).transport_closed, other == Server);

    pair.deliver(first, usize::MAX);
    assert_eq!(
        pair.end(first).close_received(),
        Some(Some(CloseFrame::new(CloseCode::new(4001), "")))
    );
    pair.drive();
    assert_clean_end(&pair);
    assert_eq!(pair.end(first).conn.initiator(), Some(Initiator::Local));
    assert_eq!(pair.end(other).conn.initiator(), Some(Initiator::Remote));
}

#[test]
fn client_closes_first() {
    one_end_closes(Client);
}

#[test]
fn server_closes_first() {
    one_end_closes(Server);
}

#[test]
fn the_server_closes_the_transport_and_the_client_waits_for_its_eof() {
    let mut pair = Pair::new(ConnectionConfig::default());
    pair.conn(Client)
        .close(normal("bye"))
        .expect("a valid close");
    pair.transmit(Client);
    pair.deliver(Server, usize::MAX);
    // Hold the server's transport open a moment, to look at the client before its EOF.
    pair.server.keep_transport = true;
    pair.transmit(Server);
    assert_eq!(pair.server.state(), State::CloseAcknowledged);
    assert!(pair.server.conn.should_close_transport());

    pair.deliver(Client, usize::MAX);
    assert_eq!(pair.client.state(), State::CloseAcknowledged);
    assert!(!pair.client.conn.should_close_transport());
    pair.transmit(Client);
    assert!(
        !pair.client.transport_closed,
        "the client waits for the server"
    );

    pair.server.keep_transport = false;
    pair.transmit(Server);
    assert!(pair.server.transport_closed);
    assert_eq!(pair.server.state(), State::CloseAcknowledged);
    pair.deliver(Client, usize::MAX);
    assert_eq!(pair.client.eof, Some(Ok(())));
    assert_eq!(pair.client.state(), State::Terminated);
    assert!(pair.client.conn.should_close_transport());
    pair.drive();
    assert_clean_end(&pair);
}

#[test]
fn simultaneous_close() {
    let mut pair = Pair::new(ConnectionConfig::default());
    assert!(pair
        .conn(Client)
        .close(normal("client"))
        .expect("a valid close"));
    assert!(pair
        .conn(Server)
        .close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "server")))
        .expect("a valid close"));
    pair.transmit(Client);
    pair.transmit(Server);
    pair.deliver(Client, usize::MAX);
    pair.deliver(Server, usize::MAX);
    for side in Side::BOTH {
        assert_eq!(pair.end(side).state(), State::CloseAcknowledged, "{side:?}");
        assert_eq!(pair.end(side).conn.initiator(), Some(Initiator::Local));
    }
    assert_eq!(pair.server.close_received(), Some(normal("client")));
    assert_eq!(
        pair.client.close_received(),
        Some(Some(CloseFrame::new(CloseCode::GOING_AWAY, "server")))
    );
    assert_eq!(
        pair.server.conn.peer_close(),
        Some(&normal("client")),
        "peer_close"
    );
    pair.drive();
    assert_clean_end(&pair);
    // Each sent its own close, nothing more.
    assert_eq!(pair.client.closes_sent(), [Some(1000)]);
    assert_eq!(pair.server.closes_sent(), [Some(1001)]);
}

#[test]
fn simultaneous_close_with_data_both_ways() {
    let mut pair = Pair::new(ConnectionConfig::default().fragment_size(7));
    for i in 0..5 {
        pair.send(Client, Message::text(format!("c{i} and some more")))
            .unwrap();
        pair.send(Server, Message::binary(vec![i; 20 + usize::from(i)]))
            .unwrap();
    }
    pair.conn(Client).close(normal("")).expect("a valid close");
    pair.conn(Server).close(normal("")).expect("a valid close");
    pair.drive();
    assert_clean_end(&pair);
    let from_client: Vec<_> = (0..5)
        .map(|i| Message::text(format!("c{i} and some more")))
        .collect();
    let from_server: Vec<_> = (0..5u8)
        .map(|i| Message::binary(vec![i; 20 + usize::from(i)]))
        .collect();
    assert_eq!(pair.server.messages(), from_client);
    assert_eq!(pair.client.messages(), from_server);
}

#[test]
fn data_queued_before_the_close_arrives_first() {
    for first in Side::BOTH {
        let mut pair = Pair::new(ConnectionConfig::default().fragment_size(100));
        let sent: Vec<_> = (0..10)
            .map(|i| Message::binary(crate::util::binary(50 * i, i as u8)))
            .collect();
        for m in &sent {
            pair.send(first, m.clone()).unwrap();
        }
        pair.conn(first)
            .close(normal("done"))
            .expect("a valid close");
        // The close frame is queued behind the data: nothing comes after it.
        pair.drive();
        assert_clean_end(&pair);
        let other = pair.end(first.peer());
        assert_eq!(other.messages(), sent, "{first:?}");
        assert_eq!(other.events.len(), sent.len() + 1);
    }
}

#[test]
fn the_peers_data_is_delivered_until_its_close() {
    for first in Side::BOTH {
        let mut pair = Pair::new(ConnectionConfig::default());
        pair.conn(first)
            .close(normal("enough"))
            .expect("a valid close");
        pair.transmit(first);
        // The peer has not read our close yet and keeps talking.
        let other = first.peer();
        for i in 0..3 {
            pair.send(other, Message::text(format!("still here {i}")))
                .unwrap();
        }
        pair.transmit(other);
        pair.deliver(first, usize::MAX);
        assert_eq!(pair.end(first).state(), State::ClosedByUs);
        assert_eq!(pair.end(first).messages().len(), 3);
        pair.drive();
        assert_clean_end(&pair);
        assert_eq!(
            pair.end(first).messages(),
            (0..3)
                .map(|i| Message::text(format!("still here {i}")))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn nothing_is_sent_after_a_close() {
    let mut pair = Pair::new(ConnectionConfig::default());
    pair.conn(Client).close(None).expect("a valid close");
    assert_eq!(
        pair.send(Client, Message::text("late")),
        Err(SendError::Closing)
    );
    assert_eq!(pair.conn(Client).ping("p".into()), Err(SendError::Closing));
    assert_eq!(
        pair.send(Client, Message::close(CloseCode::NORMAL, "again")),
        Err(SendError::Closing)
    );
    pair.transmit(Client);
    pair.deliver(Server, usize::MAX);
    // The server received the close: it may send nothing either.
    assert_eq!(
        pair.send(Server, Message::binary(vec![1])),
        Err(SendError::Closing)
    );
    assert_eq!(pair.conn(Server).ping("p".into()), Err(SendError::Closing));
    pair.drive();
    assert_clean_end(&pair);
    assert_eq!(pair.client.sent.len(), 1);
    assert_eq!(pair.server.sent.len(), 1);
    // Terminated: still refused.
    assert_eq!(
        pair.send(Client, Message::text("x")),
        Err(SendError::Closing)
    );
}

#[test]
fn sending_a_close_message_closes() {
    let mut pair = Pair::new(ConnectionConfig::default());
    pair.send(Server, Message::close(CloseCode::new(3000), "via send"))
        .unwrap();
    assert_eq!(pair.server.state(), State::ClosedByUs);
    pair.drive();
    assert_clean_end(&pair);
    assert_eq!(
        pair.client.close_received(),
        Some(Some(CloseFrame::new(CloseCode::new(3000), "via send")))
    );
}

#[test]
fn a_close_without_a_code_is_answered_with_an_empty_close() {
    for first in Side::BOTH {
        let mut pair = Pair::new(ConnectionConfig::default());
        pair.conn(first).close(None).expect("a valid close");
        pair.drive();
        assert_clean_end(&pair);
        let other = pair.end(first.peer());
        assert_eq!(other.close_received(), Some(None));
        assert_eq!(other.closes_sent(), [None]);
        assert!(other.sent[0].payload.is_empty());
        assert_eq!(pair.end(first).close_received(), Some(None));
    }
}

#[test]
fn the_answer_echoes_the_code_without_the_reason() {
    let mut pair = Pair::new(ConnectionConfig::default());
    let reason = "x".repeat(CloseFrame::MAX_REASON_LEN);
    pair.conn(Client)
        .close(Some(CloseFrame::new(CloseCode::new(4999), &reason)))
        .expect("a valid close");
    pair.drive();
    assert_clean_end(&pair);
    assert_eq!(pair.client.sent[0].payload.len(), 125);
    assert_eq!(
        pair.server.close_received().unwrap().unwrap().reason,
        reason.as_str()
    );
    assert_eq!(pair.server.sent[0].payload[..], 4999u16.to_be_bytes());
}

#[test]
fn the_client_ends_the_transport_itself_if_the_server_never_does() {
    let close_timeout = Duration::from_secs(3);
    let config = ConnectionConfig::default()
        .timers(mywebsocket_proto::TimerConfig::default().close_timeout(close_timeout));
    let mut pair = Pair::new(config);
    pair.server.keep_transport = true;
    pair.advance(Duration::from_secs(1));
    pair.conn(Server)
        .close(normal("bye"))
        .expect("a valid close");
    pair.drive();
    assert_eq!(pair.client.state(), State::CloseAcknowledged);
    assert_eq!(pair.server.state(), State::CloseAcknowledged);
    assert!(pair.server.conn.should_close_transport());
    assert_eq!(
        pair.client.conn.poll_timeout(),
        Some(pair.epoch + Duration::from_secs(1) + close_timeout)
    );
    pair.advance(close_timeout - Duration::from_millis(1));
    pair.drive();
    assert_eq!(pair.client.state(), State::CloseAcknowledged, "not before");
    pair.advance(Duration::from_millis(1));
    assert_eq!(pair.client.state(), State::Terminated);
    assert!(
        pair.client.errors.is_empty(),
        "a clean end: {:?}",
        pair.client.errors
    );
    pair.drive();
    assert!(pair.client.transport_closed);
    assert!(pair.server.errors.is_empty(), "{:?}", pair.server.errors);
    assert_eq!(pair.server.eof, Some(Ok(())));
    assert_eq!(pair.server.state(), State::Terminated);
}

#[test]
fn a_transport_that_ends_without_a_close_is_a_reset() {
    let mut pair = Pair::new(ConnectionConfig::default());
    pair.send(Server, Message::text("last words")).unwrap();
    pair.transmit(Server);
    pair.to_client.closed = true;
    pair.drive();
    assert_eq!(pair.client.messages(), [Message::text("last words")]);
    assert_eq!(
        pair.client.eof,
        Some(Err(mywebsocket_proto::ConnectionError::Reset))
    );
    assert_eq!(pair.client.state(), State::Terminated);
    assert_eq!(pair.client.conn.initiator(), Some(Initiator::Remote));
    assert!(
        pair.client.sent.is_empty(),
        "nothing can be written any more"
    );
    assert!(pair.client.transport_closed);
    assert_eq!(
        pair.server.eof,
        Some(Err(mywebsocket_proto::ConnectionError::Reset))
    );
}

#[test]
fn an_eof_in_the_middle_of_our_close_is_a_reset() {
    let mut pair = Pair::new(ConnectionConfig::default());
    pair.conn(Client)
        .close(normal("bye"))
        .expect("a valid close");
    pair.transmit(Client);
    pair.to_client.closed = true;
    pair.deliver(Client, usize::MAX);
    assert_eq!(
        pair.client.eof,
        Some(Err(mywebsocket_proto::ConnectionError::Reset))
    );
    assert_eq!(pair.client.state(), State::Terminated);
    assert_eq!(pair.client.conn.initiator(), Some(Initiator::Local));
}
