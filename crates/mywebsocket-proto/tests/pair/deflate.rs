//! permessage-deflate (RFC 7692) on and off: messages round-trip whole, fragmented and large,
//! compressed messages are marked on their first frame only, and the closing handshake and
//! errors behave the same.

use bytes::Bytes;
use mywebsocket_proto::deflate::DeflateConfig;
use mywebsocket_proto::{
    CloseCode, CloseFrame, ConnectionConfig, ConnectionError, Event, Limits, Message, OpCode,
    ProtocolError, State,
};

use crate::util::{binary, client_frame, text, Client, Pair, Server, Side};

/// Off, on with the defaults, on compressing everything without context takeover.
fn variants() -> [Option<DeflateConfig>; 3] {
    [
        None,
        Some(DeflateConfig::default()),
        Some(
            DeflateConfig::default()
                .threshold(0)
                .level(9)
                .server_no_context_takeover(true)
                .client_no_context_takeover(true)
                .client_max_window_bits(9)
                .server_max_window_bits(10),
        ),
    ]
}

fn messages() -> Vec<Message> {
    vec![
        Message::text(""),
        Message::binary(Bytes::new()),
        Message::text("short"),
        Message::text(text(300, 1)),
        Message::text(text(300, 1)), // the same again: context takeover pays
        Message::binary(binary(5000, 2)),
        Message::text(text(70_000, 3)),
        Message::binary(vec![0u8; 100_000]),
        Message::text("é".repeat(1000)),
    ]
}

fn round_trip(deflate: Option<DeflateConfig>, fragment_size: usize) {
    let config = ConnectionConfig::default().fragment_size(fragment_size);
    let mut pair = Pair::deflate(config, deflate);
    let sent = messages();
    for side in Side::BOTH {
        for m in &sent {
            pair.send(side, m.clone()).unwrap();
        }
        pair.conn(side)
            .ping(Bytes::from_static(b"between"))
            .unwrap();
        pair.send(side, Message::text("after the ping")).unwrap();
    }
    pair.drive();
    let mut expected = sent.clone();
    expected.push(Message::text("after the ping"));
    for side in Side::BOTH {
        let end = pair.end(side);
        assert_eq!(
            end.messages(),
            expected,
            "{side:?} {deflate:?} {fragment_size}"
        );
        assert_eq!(end.pongs(), [Bytes::from_static(b"between")]);
        assert!(end.errors.is_empty());
        // Compression marks the first frame of a message only (RFC 7692 §6.1); control
        // frames never.
        let mut first = true;
        let mut compressed = 0;
        for s in &end.sent {
            let h = s.header;
            assert!(h.payload_len <= fragment_size as u64 || h.opcode.is_control());
            match h.opcode {
                OpCode::Text | OpCode::Binary => {
                    assert!(first, "a new message inside a fragmented one");
                    compressed += usize::from(h.rsv1);
                    first = h.fin;
                }
                OpCode::Continuation => {
                    assert!(!first && !h.rsv1);
                    first = h.fin;
                }
                _ => assert!(!h.rsv1),
            }
        }
        match deflate {
            None => assert_eq!(compressed, 0),
            Some(c) => {
                let worth = expected.iter().filter(|m| m.len() >= c.threshold).count();
                assert!(
                    compressed > 0 && compressed <= worth,
                    "{compressed} of {worth}"
                );
            }
        }
    }
    if deflate.is_some() {
        // The big zeroes went over the wire much smaller.
        let wire: usize = pair.client.sent.iter().map(|s| s.payload.len()).sum();
        let plain: usize = expected.iter().map(Message::len).sum();
        assert!(wire < plain / 2, "{wire} of {plain}");
    }
    pair.conn(Client).close(None).expect("a valid close");
    pair.drive();
    assert_eq!(pair.client.state(), State::Terminated);
    assert_eq!(pair.server.state(), State::Terminated);
}

#[test]
fn messages_round_trip_whole() {
    for deflate in variants() {
        round_trip(deflate, usize::MAX);
    }
}

#[test]
fn messages_round_trip_fragmented() {
    for deflate in variants() {
        for fragment_size in [1000, 4096] {
            round_trip(deflate, fragment_size);
        }
    }
}

#[test]
fn tiny_fragments_and_reads() {
    for deflate in variants() {
        let config = ConnectionConfig::default().fragment_size(3);
        let mut pair = Pair::deflate(config, deflate);
        pair.client.chunk = 1;
        pair.server.chunk = 7;
        let sent = [Message::text(text(200, 9)), Message::binary(binary(300, 4))];
        for m in &sent {
            pair.send(Client, m.clone()).unwrap();
            pair.send(Server, m.clone()).unwrap();
        }
        pair.conn(Server).close(None).expect("a valid close");
        pair.drive();
        assert_eq!(pair.client.messages(), sent);
        assert_eq!(pair.server.messages(), sent);
        assert_eq!(pair.client.state(), State::Terminated);
        assert_eq!(pair.server.state(), State::Terminated);
        assert!(pair.client.errors.is_empty() && pair.server.errors.is_empty());
    }
}

#[test]
fn close_sequences_are_the_same_with_deflate() {
    for deflate in variants() {
        for first in [Some(Client), Some(Server), None] {
            let mut pair = Pair::deflate(ConnectionConfig::default().fragment_size(512), deflate);
            let data = Message::text(text(2000, 5));
            for side in Side::BOTH {
                pair.send(side, data.clone()).unwrap();
            }
            let frame = Some(CloseFrame::new(CloseCode::NORMAL, "bye"));
            match first {
                Some(side) => {
                    pair.conn(side).close(frame).expect("a valid close");
                }
                None => {
                    pair.conn(Client)
                        .close(frame.clone())
                        .expect("a valid close");
                    pair.conn(Server).close(frame).expect("a valid close");
                }
            }
            pair.drive();
            for side in Side::BOTH {
                let end = pair.end(side);
                assert_eq!(
                    end.messages(),
                    std::slice::from_ref(&data),
                    "{first:?} {deflate:?}"
                );
                assert_eq!(end.state(), State::Terminated);
                assert_eq!(end.eof, Some(Ok(())));
                assert!(end.errors.is_empty());
                assert_eq!(end.closes_sent(), [Some(1000)]);
                assert!(matches!(end.events.last(), Some(Event::Close(Some(_)))));
            }
        }
    }
}

#[test]
fn a_compressed_message_over_the_limit_is_1009_as_it_inflates() {
    let config = ConnectionConfig::default().limits(Limits::default().max_message_size(10_000));
    let mut pair = Pair::deflate(config, Some(DeflateConfig::default()));
    pair.send(Client, Message::binary(vec![0u8; 10_000]))
        .unwrap();
    pair.send(Client, Message::binary(vec![0u8; 10_001]))
        .unwrap();
    pair.drive();
    assert!(pair.client.sent[1].payload.len() < 100, "small on the wire");
    assert_eq!(pair.server.messages().len(), 1);
    assert!(matches!(
        pair.server.errors[..],
        [ConnectionError::Protocol(
            ProtocolError::MessageTooBig { .. }
        )]
    ));
    assert_eq!(pair.server.closes_sent(), [Some(1009)]);
    assert_eq!(pair.server.state(), State::Terminated);
    assert_eq!(pair.client.state(), State::Terminated);
}

#[test]
fn data_that_does_not_inflate_is_1007() {
    let mut pair = Pair::deflate(ConnectionConfig::default(), Some(DeflateConfig::default()));
    // RSV1 + FIN + binary, with a reserved deflate block type (BTYPE 11).
    pair.inject(Server, &client_frame(0xC2, &[0xff, 0xff, 0xff, 0xff]));
    pair.drive();
    assert_eq!(
        pair.server.errors,
        [ConnectionError::Protocol(
            ProtocolError::InvalidCompressedData
        )]
    );
    assert_eq!(pair.server.closes_sent(), [Some(1007)]);
}

#[test]
fn rsv1_without_deflate_is_a_protocol_error() {
    let mut pair = Pair::deflate(ConnectionConfig::default(), None);
    pair.inject(Server, &client_frame(0xC2, &[0x02, 0x00]));
    pair.drive();
    assert_eq!(
        pair.server.errors,
        [ConnectionError::Protocol(ProtocolError::ReservedBits)]
    );
    assert_eq!(pair.server.closes_sent(), [Some(1002)]);
}
