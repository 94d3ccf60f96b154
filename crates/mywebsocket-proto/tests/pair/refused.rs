//! What `Connection` refuses or does not count: frames the RFC forbids us to send, bytes that
//! did not arrive since the last call, an answer that never got out.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mywebsocket_proto::{
    CloseCode, CloseFrame, Connection, ConnectionConfig, ConnectionError, Event, Expired, Message,
    Role, SendError, State, TimerConfig,
};

fn server(timers: TimerConfig, now: Instant) -> Connection {
    Connection::new(
        Role::Server,
        ConnectionConfig::default().timers(timers),
        now,
        || [0; 4],
    )
}

fn client(now: Instant) -> Connection {
    Connection::new(Role::Client, ConnectionConfig::default(), now, || {
        [1, 2, 3, 4]
    })
}

#[test]
fn a_ping_over_125_bytes_is_refused() {
    let now = Instant::now();
    let mut conn = client(now);
    assert_eq!(
        conn.ping(Bytes::from(vec![0; 126])),
        Err(SendError::ControlPayloadTooLong { len: 126 })
    );
    assert_eq!(conn.ping(Bytes::from(vec![0; 125])), Ok(()));
    assert!(conn.poll_transmit(now).is_some());
    assert!(conn.poll_transmit(now).is_none(), "only the valid ping");
}

#[test]
fn close_codes_that_may_not_be_sent_are_refused() {
    let now = Instant::now();
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let mut conn = client(now);
        let frame = CloseFrame::new(CloseCode::new(code), "");
        assert_eq!(
            conn.close(Some(frame.clone())),
            Err(SendError::InvalidCloseCode(CloseCode::new(code))),
            "{code}"
        );
        assert_eq!(
            conn.send(Message::Close(Some(frame))),
            Err(SendError::InvalidCloseCode(CloseCode::new(code)))
        );
        assert_eq!(conn.state(), State::Open, "{code}: nothing began");
        assert!(conn.poll_transmit(now).is_none());
    }
    for code in [1000, 1001, 1003, 1007, 1014, 3000, 4999] {
        let mut conn = client(now);
        assert_eq!(
            conn.close(Some(CloseFrame::new(CloseCode::new(code), ""))),
            Ok(true)
        );
    }
}

/// A peer that sends part of a frame and stalls is silent, however often the driver calls
/// `receive` with the same bytes.
#[test]
fn a_stalled_half_frame_does_not_keep_the_peer_alive() {
    let t0 = Instant::now();
    let timers = TimerConfig::default().heartbeat_timeout(Some(Duration::from_secs(10)));
    let mut conn = server(timers, t0);
    // The first 4 bytes of a masked text frame of 100 bytes.
    let mut buf = BytesMut::from(&[0x81, 0x80 | 100, 1, 2][..]);
    assert_eq!(conn.receive(t0, &mut buf), Ok(None));
    let t8 = t0 + Duration::from_secs(8);
    assert_eq!(conn.receive(t8, &mut buf), Ok(None));
    assert_eq!(conn.handle_timeout(t8), Ok(()));
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    let t10 = t0 + Duration::from_secs(10);
    assert_eq!(conn.receive(t10, &mut buf), Ok(None));
    assert_eq!(
        conn.handle_timeout(t10),
        Err(ConnectionError::Timeout(Expired::Heartbeat))
    );

    // New bytes do count.
    let mut conn = server(timers, t0);
    let mut buf = BytesMut::from(&[0x81, 0x80 | 100, 1, 2][..]);
    assert_eq!(conn.receive(t0, &mut buf), Ok(None));
    buf.extend_from_slice(&[3]);
    assert_eq!(conn.receive(t8, &mut buf), Ok(None));
    assert_eq!(conn.poll_timeout(), Some(t8 + Duration::from_secs(10)));
}

/// The server closed; our answer waits behind data its reader never takes. When the wait for
/// the transport's end runs out, the answer never got out: a timeout, not a clean close.
#[test]
fn an_answer_that_never_got_out_is_not_a_clean_close() {
    let t0 = Instant::now();
    let mut conn = client(t0);
    conn.send(Message::binary(vec![7; 1 << 16])).unwrap();
    let mut close = BytesMut::from(&[0x88, 2, 0x03, 0xE8][..]);
    assert!(matches!(
        conn.receive(t0, &mut close),
        Ok(Some(Event::Close(Some(_))))
    ));
    assert_eq!(conn.state(), State::CloseAcknowledged);
    let deadline = conn
        .poll_timeout()
        .expect("the wait for the transport's end");
    assert_eq!(
        conn.handle_timeout(deadline),
        Err(ConnectionError::Timeout(Expired::Close))
    );
    assert_eq!(conn.state(), State::Terminated);

    // Written in time, the same close ends cleanly.
    let mut conn = client(t0);
    let mut close = BytesMut::from(&[0x88, 2, 0x03, 0xE8][..]);
    let _ = conn.receive(t0, &mut close);
    while conn.poll_transmit(t0).is_some() {}
    let deadline = conn
        .poll_timeout()
        .expect("the wait for the transport's end");
    assert_eq!(conn.handle_timeout(deadline), Ok(()));
    assert_eq!(conn.state(), State::Terminated);
}
