//! Pings and pongs: every ping answered with its payload, in order, behind what was queued;
//! nothing after our close; a flood from a peer that does not read stays within the budget
//! (RFC 6455 §5.5.2, §5.5.3).

use bytes::Bytes;
use mywebsocket_proto::{ConnectionConfig, Event, Message, OpCode, State, MAX_CONTROL_PAYLOAD};

use crate::util::{raw_frame, Client, Pair, Server, Side};

fn payload(i: u32) -> Bytes {
    Bytes::from(format!("ping {i:06}"))
}

fn index(pong: &Bytes) -> u32 {
    std::str::from_utf8(&pong[5..]).unwrap().parse().unwrap()
}

#[test]
fn every_ping_is_answered_with_its_payload_in_order() {
    for side in Side::BOTH {
        let mut pair = Pair::new(ConnectionConfig::default());
        let pings: Vec<Bytes> = (0..20).map(payload).collect();
        for p in &pings {
            pair.conn(side).ping(p.clone()).unwrap();
        }
        pair.conn(side).ping(Bytes::new()).unwrap();
        pair.conn(side)
            .ping(Bytes::from(vec![0xff; MAX_CONTROL_PAYLOAD]))
            .unwrap();
        pair.drive();
        let mut expected = pings.clone();
        expected.push(Bytes::new());
        expected.push(Bytes::from(vec![0xff; MAX_CONTROL_PAYLOAD]));
        assert_eq!(pair.end(side.peer()).pings(), expected, "{side:?}");
        assert_eq!(pair.end(side).pongs(), expected, "{side:?}");
        let pongs: Vec<_> = pair
            .end(side.peer())
            .sent_of(OpCode::Pong)
            .iter()
            .map(|s| s.payload.clone())
            .collect();
        assert_eq!(pongs, expected);
        assert_eq!(pair.end(side).state(), State::Open);
    }
}

#[test]
fn a_pong_goes_behind_data_already_queued() {
    let mut pair = Pair::new(ConnectionConfig::default().fragment_size(1000));
    pair.send(Server, Message::binary(vec![1; 5000])).unwrap();
    pair.send(Server, Message::text("second")).unwrap();
    pair.conn(Client).ping(payload(1)).unwrap();
    // The client's ping arrives before the server wrote anything.
    pair.transmit(Client);
    pair.deliver(Server, usize::MAX);
    pair.send(Server, Message::text("third")).unwrap();
    pair.drive();
    let ops: Vec<_> = pair.server.sent.iter().map(|s| s.opcode()).collect();
    use OpCode::{Binary, Continuation as Cont, Pong, Text};
    assert_eq!(ops, [Binary, Cont, Cont, Cont, Cont, Text, Pong, Text]);
    let kinds: Vec<_> = pair
        .client
        .events
        .iter()
        .map(|e| match e {
            Event::Message(m) => m.len(),
            Event::Pong(_) => 0,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, [5000, 6, 0, 5]);
}

#[test]
fn no_pong_follows_our_close() {
    for side in Side::BOTH {
        let mut pair = Pair::new(ConnectionConfig::default());
        let other = side.peer();
        // A ping answered before the close, then one that arrives after it was queued.
        pair.conn(other).ping(payload(1)).unwrap();
        pair.drive();
        pair.conn(other).ping(payload(2)).unwrap();
        pair.transmit(other);
        pair.conn(side).close(None).expect("a valid close");
        pair.deliver(side, usize::MAX);
        assert_eq!(pair.end(side).pings(), [payload(1), payload(2)]);
        pair.drive();
        let ops: Vec<_> = pair.end(side).sent.iter().map(|s| s.opcode()).collect();
        assert_eq!(ops, [OpCode::Pong, OpCode::Close], "{side:?}");
        assert_eq!(pair.end(other).pongs(), [payload(1)]);
        assert_eq!(pair.end(side).state(), State::Terminated);
    }
}

#[test]
fn a_pong_waiting_for_room_is_dropped_by_our_close() {
    let mut pair = Pair::new(ConnectionConfig::default().write_budget(100));
    pair.server.hold_writes = true;
    pair.send(Server, Message::binary(vec![0; 500])).unwrap();
    pair.conn(Client).ping(payload(1)).unwrap();
    pair.conn(Client).ping(payload(2)).unwrap();
    pair.drive();
    // The first pong went past the budget; the second waits, and reading stopped.
    assert!(!pair.server.conn.wants_read());
    pair.conn(Server).close(None).expect("a valid close");
    pair.server.hold_writes = false;
    pair.drive();
    let ops: Vec<_> = pair.server.sent.iter().map(|s| s.opcode()).collect();
    assert_eq!(ops, [OpCode::Binary, OpCode::Pong, OpCode::Close]);
    assert_eq!(pair.client.pongs(), [payload(1)]);
    assert_eq!(pair.server.state(), State::Terminated);
}

#[test]
fn a_full_queue_of_data_does_not_delay_the_first_pong() {
    let budget = 1000;
    let mut pair = Pair::new(ConnectionConfig::default().write_budget(budget));
    pair.server.hold_writes = true;
    pair.send(Server, Message::binary(vec![0; 4 * budget]))
        .unwrap();
    pair.conn(Client).ping(payload(7)).unwrap();
    pair.drive();
    assert_eq!(pair.server.pings(), [payload(7)]);
    let pong_len = 2 + payload(7).len();
    assert_eq!(pair.server.conn.queued_bytes(), 4 + 4 * budget + pong_len);
    assert!(
        pair.server.conn.wants_read(),
        "that pong is queued, none is owed"
    );
}

/// A peer pings without reading our pongs: the pinged end's queue stays within the budget
/// plus one pong, it stops reading, and of the pings it read while a pong waited only the
/// latest is answered.
#[test]
fn a_ping_flood_from_a_peer_that_does_not_read() {
    let budget = 200;
    for chunk_pings in [1, 5] {
        let mut pair = Pair::new(ConnectionConfig::default().write_budget(budget));
        let ping_len = 6 + payload(0).len(); // a client's frame: 2 + mask + payload
        let pong_len = 2 + payload(0).len();
        pair.server.hold_writes = true;
        pair.server.chunk = chunk_pings * ping_len;
        for i in 0..1000 {
            pair.conn(Client).ping(payload(i)).unwrap();
        }
        pair.drive();
        let server = &pair.server;
        assert!(!server.conn.wants_read());
        assert!(
            server.max_queued <= budget + pong_len,
            "{}",
            server.max_queued
        );
        let queued_pongs = pongs_within(budget, pong_len);
        assert_eq!(server.conn.queued_bytes(), queued_pongs * pong_len);
        // It read a chunk past the pong that had to wait, and not one byte more.
        let read = server.pings().len();
        assert_eq!(read, (queued_pongs / chunk_pings + 1) * chunk_pings);
        assert_eq!(pair.to_server.bytes.len(), (1000 - read) * ping_len);

        // Room returns: the queued pongs go, then the pong of the latest ping read.
        pair.server.hold_writes = false;
        pair.transmit(Server);
        let sent: Vec<u32> = pair
            .server
            .sent_of(OpCode::Pong)
            .iter()
            .map(|s| index(&s.payload))
            .collect();
        assert_eq!(
            sent[..queued_pongs],
            (0..queued_pongs as u32).collect::<Vec<_>>()
        );
        assert_eq!(
            sent[queued_pongs],
            read as u32 - 1,
            "chunk of {chunk_pings}"
        );

        pair.drive();
        let sent: Vec<u32> = pair
            .server
            .sent_of(OpCode::Pong)
            .iter()
            .map(|s| index(&s.payload))
            .collect();
        assert!(sent.windows(2).all(|w| w[0] < w[1]), "in order");
        assert_eq!(*sent.last().unwrap(), 999, "the last ping is answered");
        let received: Vec<u32> = pair.client.pongs().iter().map(index).collect();
        assert_eq!(received, sent);
        assert_eq!(pair.server.pings().len(), 1000);
        assert!(pair.server.max_queued <= budget + pong_len);
    }
}

#[test]
fn a_flood_of_pings_read_at_once_gets_one_pong_past_the_budget() {
    // A peer's pings already read (one big read) are all decoded; their pongs replace one
    // another while no room is left.
    let budget = 64;
    let mut pair = Pair::new(ConnectionConfig::default().write_budget(budget));
    pair.server.hold_writes = true;
    for i in 0..500 {
        pair.conn(Client).ping(payload(i)).unwrap();
    }
    pair.drive();
    let pong_len = 2 + payload(0).len();
    assert_eq!(pair.server.pings().len(), 500);
    assert!(pair.server.max_queued <= budget + pong_len);
    pair.server.hold_writes = false;
    pair.drive();
    let sent: Vec<u32> = pair
        .server
        .sent_of(OpCode::Pong)
        .iter()
        .map(|s| index(&s.payload))
        .collect();
    let queued = pongs_within(budget, pong_len) as u32;
    let mut expected: Vec<u32> = (0..queued).collect();
    expected.push(499);
    assert_eq!(sent, expected);
}

#[test]
fn unsolicited_pongs_are_events() {
    let mut pair = Pair::new(ConnectionConfig::default());
    pair.inject(Client, &raw_frame(0x8A, b"keepalive", None));
    pair.drive();
    assert_eq!(
        pair.client.events,
        [Event::Pong(Bytes::from_static(b"keepalive"))]
    );
    assert!(pair.client.sent.is_empty(), "a pong is not answered");
}

/// How many pongs of `pong_len` bytes a queue of `budget` bytes takes before the next must
/// wait: the first always goes in; each further one needs room for the largest control frame
/// (`ReplyBudget`, header and 125-byte payload: 139 bytes).
fn pongs_within(budget: usize, pong_len: usize) -> usize {
    let mut n = 1;
    while n * pong_len + 139 <= budget {
        n += 1;
    }
    n
}
