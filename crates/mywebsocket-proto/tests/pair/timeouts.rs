//! Deadlines driven by the simulated clock: the close timeout, heartbeat pings and silence,
//! the read timeout, the client's wait for the server's EOF.

use std::time::Duration;

use mywebsocket_proto::{
    CloseCode, CloseFrame, ConnectionConfig, ConnectionError, Expired, Message, OpCode, State,
    TimerConfig,
};

use crate::util::{raw_frame, Client, Pair, Server, Side};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn config(timers: TimerConfig) -> ConnectionConfig {
    ConnectionConfig::default().timers(timers)
}

#[test]
fn an_unanswered_close_times_out_from_when_it_was_written() {
    for first in Side::BOTH {
        let mut pair = Pair::new(config(TimerConfig::default().close_timeout(secs(4.0))));
        let other = first.peer();
        pair.end_mut(other).hold_writes = true; // it never answers
        pair.conn(first)
            .close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")))
            .expect("a valid close");
        assert_eq!(
            pair.end(first).conn.poll_timeout(),
            None,
            "nothing written yet"
        );
        pair.advance(secs(2.0));
        pair.drive();
        let written = pair.end(first).sent[0].at;
        assert_eq!(written, secs(2.0));
        assert_eq!(
            pair.end(first).conn.poll_timeout(),
            Some(pair.epoch + secs(6.0)),
            "{first:?}"
        );
        pair.advance_to(secs(6.0) - Duration::from_nanos(1));
        pair.drive();
        assert_eq!(pair.end(first).state(), State::ClosedByUs, "not before");
        assert!(pair.end(first).errors.is_empty());
        pair.advance_to(secs(6.0));
        assert_eq!(
            pair.end(first).errors,
            [ConnectionError::Timeout(Expired::Close)]
        );
        assert_eq!(pair.end(first).state(), State::Terminated);
        assert_eq!(pair.end(first).conn.poll_timeout(), None);
        pair.drive();
        assert!(pair.end(first).transport_closed);
        // The peer, which had received the close, sees the transport end after the handshake.
        assert_eq!(pair.end(other).state(), State::Terminated);
        assert_eq!(pair.end(other).eof, Some(Ok(())));
        assert_eq!(pair.end(first).sent.len(), 1);
    }
}

#[test]
fn the_close_timeout_stops_once_the_peer_answers() {
    let timers = TimerConfig::default()
        .close_timeout(secs(2.0))
        .heartbeat_interval(Some(secs(1.0)))
        .heartbeat_timeout(Some(secs(3.0)));
    let mut pair = Pair::new(config(timers));
    pair.server.keep_transport = true; // look at the server after the handshake
    pair.client.hold_writes = true;
    pair.conn(Server).close(None).expect("a valid close");
    pair.drive();
    pair.advance(secs(1.5));
    pair.client.hold_writes = false;
    pair.drive();
    assert_eq!(pair.server.state(), State::CloseAcknowledged);
    // Neither its close timeout nor its heartbeat may turn the completed handshake into a
    // failure; what is left is a backstop for a driver that never closes the transport.
    pair.advance(secs(10.0));
    assert!(pair.server.errors.is_empty(), "{:?}", pair.server.errors);
    assert!(pair.client.errors.is_empty(), "{:?}", pair.client.errors);
    assert!(
        pair.server.sent_of(OpCode::Ping).is_empty(),
        "no ping after our close"
    );
    assert_eq!(pair.server.state(), State::Terminated);
    pair.server.keep_transport = false;
    pair.drive();
    assert_eq!(pair.client.state(), State::Terminated);
    assert_eq!(pair.client.eof, Some(Ok(())));
}

#[test]
fn heartbeat_pings_go_out_on_time() {
    let timers = TimerConfig::default().heartbeat_interval(Some(secs(10.0)));
    for side in Side::BOTH {
        let mut pair = Pair::new(config(timers));
        pair.run(secs(9.999));
        assert!(pair.end(side).sent.is_empty());
        pair.run(secs(15.0));
        let at: Vec<_> = pair
            .end(side)
            .sent_of(OpCode::Ping)
            .iter()
            .map(|s| s.at)
            .collect();
        assert_eq!(at, [secs(10.0), secs(20.0)], "{side:?}");
        assert!(pair.end(side).sent.iter().all(|s| s.payload.is_empty()));
        assert_eq!(pair.end(side).pongs().len(), 2, "answered");
        assert_eq!(pair.end(side.peer()).pings().len(), 2);
        assert_eq!(
            pair.end(side).conn.poll_timeout(),
            Some(pair.epoch + secs(30.0))
        );
    }
}

#[test]
fn a_silent_peer_fails_the_heartbeat() {
    let timers = TimerConfig::default()
        .heartbeat_interval(Some(secs(5.0)))
        .heartbeat_timeout(Some(secs(12.0)));
    let mut pair = Pair::new(config(timers));
    pair.server.hold_writes = true; // it reads, but nothing it writes gets out
    pair.advance(secs(11.9));
    pair.drive();
    assert_eq!(pair.client.state(), State::Open);
    assert_eq!(pair.client.sent_of(OpCode::Ping).len(), 2);
    pair.advance(secs(0.1));
    assert_eq!(
        pair.client.errors,
        [ConnectionError::Timeout(Expired::Heartbeat)]
    );
    assert_eq!(pair.client.state(), State::Failed);
    // Only the wait for the transport's end is left.
    assert_eq!(
        pair.client.conn.poll_timeout(),
        Some(pair.now + TimerConfig::default().close_timeout)
    );
    pair.drive();
    let close = pair.client.sent.last().unwrap();
    assert_eq!(close.close_code(), Some(1001));
    assert_eq!(&close.payload[2..], b"heartbeat timeout");
    assert!(pair.client.transport_closed);
    assert_eq!(pair.client.closes_sent().len(), 1);
}

#[test]
fn any_bytes_from_the_peer_reset_the_silence() {
    let timers = TimerConfig::default().heartbeat_timeout(Some(secs(10.0)));
    let mut pair = Pair::with(config(timers), ConnectionConfig::default(), None);
    // An unsolicited pong at 8 s.
    pair.advance(secs(8.0));
    pair.inject(Client, &raw_frame(0x8A, b"", None));
    pair.drive();
    assert_eq!(pair.client.pongs().len(), 1);
    // The first byte of a message at 17 s: not a whole frame, but the peer is alive.
    pair.advance_to(secs(17.0));
    pair.inject(Client, &raw_frame(0x82, &[7; 10], None)[..1]);
    pair.drive();
    pair.advance_to(secs(26.9));
    assert!(
        pair.client.errors.is_empty(),
        "{:?} {:?}",
        pair.client.errors,
        pair.client.events
    );
    pair.advance_to(secs(27.0));
    assert_eq!(
        pair.client.errors,
        [ConnectionError::Timeout(Expired::Heartbeat)]
    );
    // The server's side never failed: it sent nothing and has no heartbeat.
    pair.drive();
    assert_eq!(
        pair.server.close_received().unwrap().unwrap().code,
        CloseCode::GOING_AWAY
    );
    assert_eq!(pair.server.state(), State::Terminated);
}

#[test]
fn a_heartbeat_answered_keeps_the_connection_up() {
    let timers = TimerConfig::default()
        .heartbeat_interval(Some(secs(4.0)))
        .heartbeat_timeout(Some(secs(10.0)));
    let mut pair = Pair::new(config(timers));
    for _ in 0..100 {
        pair.advance(secs(1.0));
        pair.drive();
    }
    for side in Side::BOTH {
        assert_eq!(pair.end(side).state(), State::Open);
        assert_eq!(pair.end(side).sent_of(OpCode::Ping).len(), 25);
    }
}

#[test]
fn the_read_timeout_fails_a_wait_without_a_message() {
    let timers = TimerConfig::default().read_timeout(Some(secs(5.0)));
    let mut pair = Pair::new(config(timers));
    assert_eq!(
        pair.client.conn.poll_timeout(),
        None,
        "no read, no deadline"
    );
    pair.advance(secs(1.0));
    pair.read_start(Client);
    pair.advance(secs(3.0));
    // Waiting again does not restart it, and a ping is not a message.
    pair.read_start(Client);
    pair.conn(Server).ping("hi".into()).unwrap();
    pair.drive();
    assert_eq!(pair.client.pings().len(), 1);
    pair.advance_to(secs(5.999));
    assert!(pair.client.errors.is_empty());
    pair.advance_to(secs(6.0));
    assert_eq!(
        pair.client.errors,
        [ConnectionError::Timeout(Expired::Read)]
    );
    assert_eq!(pair.client.state(), State::Failed);
    pair.drive();
    let close = pair.client.sent_of(OpCode::Close)[0].clone();
    assert_eq!(close.close_code(), Some(1001));
    assert_eq!(&close.payload[2..], b"read timeout");
    assert_eq!(pair.server.state(), State::Terminated);
    assert_eq!(pair.client.state(), State::Terminated);
}

#[test]
fn a_message_stops_the_read_timeout() {
    let timers = TimerConfig::default().read_timeout(Some(secs(5.0)));
    let mut pair = Pair::new(config(timers));
    pair.read_start(Server);
    pair.advance(secs(4.0));
    pair.send(Client, Message::text("in time")).unwrap();
    pair.drive();
    assert_eq!(pair.server.conn.poll_timeout(), None);
    pair.advance(secs(60.0));
    assert!(pair.server.errors.is_empty());
    // The next wait starts it again.
    pair.read_start(Server);
    pair.advance(secs(5.0));
    assert_eq!(
        pair.server.errors,
        [ConnectionError::Timeout(Expired::Read)]
    );
}

#[test]
fn heartbeats_stop_at_our_close() {
    let timers = TimerConfig::default()
        .heartbeat_interval(Some(secs(1.0)))
        .close_timeout(secs(3.5));
    let mut pair = Pair::new(config(timers));
    pair.server.hold_writes = true;
    pair.advance(secs(1.5));
    pair.conn(Client).close(None).expect("a valid close");
    pair.drive();
    pair.advance(secs(10.0));
    let ops: Vec<_> = pair.client.sent.iter().map(|s| s.opcode()).collect();
    assert_eq!(ops, [OpCode::Ping, OpCode::Close]);
    assert_eq!(
        pair.client.errors,
        [ConnectionError::Timeout(Expired::Close)]
    );
    assert_eq!(pair.elapsed(), secs(11.5));
}

#[test]
fn the_client_waits_the_close_timeout_for_the_servers_eof_after_its_own_close() {
    let mut pair = Pair::new(config(TimerConfig::default().close_timeout(secs(2.0))));
    pair.server.keep_transport = true;
    pair.conn(Client).close(None).expect("a valid close");
    pair.drive();
    assert_eq!(pair.client.state(), State::CloseAcknowledged);
    pair.advance(secs(1.999));
    assert_eq!(pair.client.state(), State::CloseAcknowledged);
    pair.advance(secs(0.001));
    assert_eq!(pair.client.state(), State::Terminated);
    assert!(pair.client.errors.is_empty());
    pair.drive();
    assert_eq!(pair.server.eof, Some(Ok(())));
    assert!(pair.server.errors.is_empty());
}
