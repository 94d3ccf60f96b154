//! Protocol errors: raw bytes that break RFC 6455 fail the connection with exactly one close
//! frame naming the violation (§7.1.7, §7.4.1), then the transport is closed.

use bytes::BytesMut;
use mywebsocket_proto::{
    CloseCode, ConnectionConfig, ConnectionError, Event, Initiator, Limits, Message, ProtocolError,
    State,
};

use crate::util::{client_frame, raw_frame, Client, Pair, Server, Side};

/// Feeds `bytes` to `side` as if its peer wrote them, then checks the failure step by step.
fn fails_with(config: ConnectionConfig, side: Side, bytes: &[u8], error: ProtocolError) -> Pair {
    let mut pair = Pair::new(config);
    let end = side;
    pair.end_mut(end).hold_writes = true;
    pair.inject(end, bytes);
    pair.drive();
    let e = pair.end(end);
    assert_eq!(e.errors, [ConnectionError::Protocol(error)], "{bytes:x?}");
    assert_eq!(e.state(), State::Failed);
    assert_eq!(e.conn.initiator(), Some(Initiator::Local));
    assert!(!e.conn.wants_read());
    assert!(
        !e.conn.should_close_transport(),
        "its close frame is unwritten"
    );
    // Only the wait for the transport's end is left: a peer that never reads our close frame
    // cannot hold the connection past the close timeout.
    assert_eq!(
        e.conn.poll_timeout(),
        Some(pair.now + config.timers.close_timeout)
    );

    // Later bytes are not decoded: Ok(None), whatever they are.
    let mut more = BytesMut::from(&client_frame(0x81, b"after")[..]);
    let now = pair.now;
    assert_eq!(pair.conn(end).receive(now, &mut more), Ok(None));
    assert_eq!(pair.end(end).errors.len(), 1, "the error is reported once");

    pair.end_mut(end).hold_writes = false;
    pair.transmit(end);
    let e = pair.end(end);
    assert_eq!(e.closes_sent(), [Some(error.close_code().as_u16())]);
    let close = e.sent.last().expect("a close frame");
    assert_eq!(&close.payload[2..], error.to_string().as_bytes());
    assert!(e.sent[..e.sent.len() - 1]
        .iter()
        .all(|s| s.opcode() != mywebsocket_proto::OpCode::Close));
    assert!(e.transport_closed, "closed once drained");

    pair.drive();
    // The peer heard why; its answer had nowhere to go (the transport was closed behind our
    // close frame); both ends are over, the peer cleanly.
    let peer = pair.end(end.peer());
    assert_eq!(
        peer.close_received().flatten().map(|c| c.code),
        Some(error.close_code())
    );
    assert!(peer.sent.is_empty());
    assert_eq!(peer.eof, Some(Ok(())));
    assert!(peer.errors.is_empty());
    assert_eq!(peer.state(), State::Terminated);
    assert_eq!(pair.end(end).state(), State::Terminated);
    assert_eq!(
        pair.end(end).eof,
        Some(Ok(())),
        "the failure was reported already"
    );
    assert_eq!(pair.end(end).errors.len(), 1);
    pair
}

fn server_fails(bytes: &[u8], error: ProtocolError) {
    fails_with(ConnectionConfig::default(), Server, bytes, error);
}

#[test]
fn an_unmasked_client_frame() {
    server_fails(
        &raw_frame(0x81, b"hello", None),
        ProtocolError::UnmaskedFrameFromClient,
    );
}

#[test]
fn a_masked_server_frame() {
    fails_with(
        ConnectionConfig::default(),
        Client,
        &raw_frame(0x82, b"hello", Some([1, 2, 3, 4])),
        ProtocolError::MaskedFrameFromServer,
    );
}

#[test]
fn a_reserved_opcode() {
    for op in [0x3, 0x7, 0xB, 0xF] {
        server_fails(
            &client_frame(0x80 | op, b""),
            ProtocolError::ReservedOpCode(op),
        );
    }
}

#[test]
fn reserved_bits_without_an_extension() {
    for bits in [0x40, 0x20, 0x10] {
        server_fails(
            &client_frame(0x81 | bits, b"x"),
            ProtocolError::ReservedBits,
        );
    }
}

#[test]
fn a_fragmented_control_frame() {
    for op in [0x8, 0x9, 0xA] {
        server_fails(
            &client_frame(op, b""),
            ProtocolError::FragmentedControlFrame,
        );
    }
}

#[test]
fn a_control_frame_over_125_bytes() {
    server_fails(
        &client_frame(0x89, &[0; 126]),
        ProtocolError::ControlFrameTooBig { len: 126 },
    );
}

#[test]
fn invalid_utf8_in_text_is_1007() {
    server_fails(&client_frame(0x81, b"ok \xff"), ProtocolError::InvalidUtf8);
    // Split across fragments, a character cut short at the end.
    let mut bytes = client_frame(0x01, "€".as_bytes());
    bytes.extend(client_frame(0x80, &"€".as_bytes()[..2]));
    server_fails(&bytes, ProtocolError::InvalidUtf8);
    assert_eq!(
        ProtocolError::InvalidUtf8.close_code(),
        CloseCode::INVALID_PAYLOAD
    );
}

#[test]
fn a_message_over_the_limit_is_1009() {
    let limits = Limits::default().max_message_size(100);
    let config = ConnectionConfig::default().limits(limits);
    fails_with(
        config,
        Server,
        &client_frame(0x82, &[0; 101]),
        ProtocolError::MessageTooBig {
            size: 101,
            limit: 100,
        },
    );
    let mut bytes = client_frame(0x02, &[0; 60]);
    bytes.extend(client_frame(0x80, &[0; 60]));
    let pair = fails_with(
        config,
        Server,
        &bytes,
        ProtocolError::MessageTooBig {
            size: 120,
            limit: 100,
        },
    );
    assert_eq!(pair.server.closes_sent(), [Some(1009)]);
    let frame_limit = ConnectionConfig::default().limits(Limits::default().max_frame_size(10));
    fails_with(
        frame_limit,
        Client,
        &raw_frame(0x82, &[0; 11], None),
        ProtocolError::FrameTooBig {
            size: 11,
            limit: 10,
        },
    );
}

#[test]
fn a_close_frame_with_code_1005() {
    server_fails(
        &client_frame(0x88, &1005u16.to_be_bytes()),
        ProtocolError::InvalidCloseCode(1005),
    );
}

#[test]
fn a_close_frame_with_one_byte_or_a_bad_reason() {
    server_fails(
        &client_frame(0x88, &[3]),
        ProtocolError::InvalidClosePayload,
    );
    server_fails(
        &client_frame(0x88, b"\x03\xe8\xff"),
        ProtocolError::InvalidUtf8,
    );
}

#[test]
fn a_continuation_without_a_start() {
    server_fails(
        &client_frame(0x80, b"x"),
        ProtocolError::UnexpectedContinuation,
    );
}

#[test]
fn a_new_message_inside_a_fragmented_one() {
    let mut bytes = client_frame(0x01, b"a");
    bytes.extend(client_frame(0x81, b"b"));
    server_fails(&bytes, ProtocolError::ExpectedContinuation);
}

#[test]
fn messages_before_the_violation_are_delivered() {
    let mut bytes = client_frame(0x81, b"first");
    bytes.extend(client_frame(0x89, b"p"));
    bytes.extend(raw_frame(0x82, b"bad", None));
    bytes.extend(client_frame(0x81, b"never"));
    let pair = fails_with(
        ConnectionConfig::default(),
        Server,
        &bytes,
        ProtocolError::UnmaskedFrameFromClient,
    );
    assert_eq!(
        pair.server.events,
        [
            Event::Message(Message::text("first")),
            Event::Ping("p".into())
        ]
    );
    // The pong was queued before the violation was read: it goes out ahead of the close.
    let ops: Vec<_> = pair.server.sent.iter().map(|s| s.opcode()).collect();
    assert_eq!(
        ops,
        [
            mywebsocket_proto::OpCode::Pong,
            mywebsocket_proto::OpCode::Close
        ]
    );
}

#[test]
fn a_pong_queued_before_the_violation_still_goes_out_first() {
    let mut pair = Pair::new(ConnectionConfig::default());
    let mut bytes = client_frame(0x89, b"p");
    bytes.extend(client_frame(0x80, b"x"));
    pair.server.chunk = client_frame(0x89, b"p").len();
    pair.inject(Server, &bytes);
    pair.deliver(Server, usize::MAX);
    pair.drive();
    let ops: Vec<_> = pair.server.sent.iter().map(|s| s.opcode()).collect();
    assert_eq!(
        ops,
        [
            mywebsocket_proto::OpCode::Pong,
            mywebsocket_proto::OpCode::Close
        ]
    );
    assert_eq!(pair.server.closes_sent(), [Some(1002)]);
}

#[test]
fn a_violation_after_our_close_sends_no_second_close() {
    let mut pair = Pair::new(ConnectionConfig::default());
    pair.conn(Server).close(None).expect("a valid close");
    pair.transmit(Server);
    pair.inject(Server, &client_frame(0x83, b""));
    pair.drive();
    assert_eq!(
        pair.server.errors.first(),
        Some(&ConnectionError::Protocol(ProtocolError::ReservedOpCode(3)))
    );
    assert_eq!(
        pair.server.closes_sent(),
        [None],
        "our close was the last frame"
    );
    assert_eq!(pair.server.state(), State::Terminated);
    assert!(pair.server.transport_closed);
}

#[test]
fn bytes_split_anywhere_fail_the_same_way() {
    let mut bytes = client_frame(0x81, b"hello");
    bytes.extend(client_frame(0x81, b"ok \xff more"));
    for chunk in 1..bytes.len() {
        let mut pair = Pair::new(ConnectionConfig::default());
        pair.server.chunk = chunk;
        pair.inject(Server, &bytes);
        pair.drive();
        assert_eq!(
            pair.server.messages(),
            [Message::text("hello")],
            "chunk {chunk}"
        );
        assert_eq!(
            pair.server.errors.first(),
            Some(&ConnectionError::Protocol(ProtocolError::InvalidUtf8))
        );
        assert_eq!(pair.server.closes_sent(), [Some(1007)]);
    }
}
