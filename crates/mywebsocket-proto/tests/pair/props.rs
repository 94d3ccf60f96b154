//! Random interleavings of both ends' operations (sends of any size, pings, closes, partial
//! deliveries, time passing), with deflate on and off, end in a consistent state.

use std::time::Duration;

use bytes::Bytes;
use mywebsocket_proto::deflate::DeflateConfig;
use mywebsocket_proto::{
    CloseCode, CloseFrame, ConnectionConfig, ConnectionError, Event, Message, OpCode, SendError,
    State, TimerConfig, MAX_CONTROL_PAYLOAD,
};
use proptest::prelude::*;

use crate::util::{binary, text, Client, Pair, Server, Side};

/// The most a reply frame (a pong or a close) takes on the wire: a client's, 125 bytes.
const MAX_REPLY_FRAME: usize = 2 + 4 + MAX_CONTROL_PAYLOAD;

#[derive(Debug, Clone)]
enum Op {
    Send {
        side: Side,
        binary: bool,
        len: usize,
        seed: u8,
    },
    Ping {
        side: Side,
        payload: Vec<u8>,
    },
    Close {
        side: Side,
        code: Option<u16>,
    },
    /// Write up to this many queued frames.
    Transmit {
        side: Side,
        frames: usize,
    },
    /// Read up to this many bytes in flight towards `side`.
    Deliver {
        side: Side,
        bytes: usize,
    },
    Advance {
        ms: u64,
    },
    /// The end's socket stops taking bytes (or takes them again).
    Hold {
        side: Side,
        on: bool,
    },
    /// The end's application starts waiting for a message.
    ReadStart {
        side: Side,
    },
}

#[derive(Debug, Clone)]
struct Setup {
    deflate: Option<DeflateConfig>,
    fragment_size: usize,
    write_budget: usize,
    chunks: (usize, usize),
    close_timeout_ms: u64,
    heartbeat: bool,
    /// Who closes at the end if nobody has (`None`: both at once).
    closer: Option<Side>,
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Client), Just(Server)]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![
            Just(None),
            Just(Some(DeflateConfig::default())),
            Just(Some(
                DeflateConfig::default()
                    .threshold(0)
                    .client_no_context_takeover(true)
                    .server_max_window_bits(9)
            )),
        ],
        prop_oneof![Just(1usize), Just(7), Just(100), Just(1 << 20)],
        prop_oneof![Just(16usize), Just(200), Just(1 << 20)],
        (
            prop_oneof![Just(1usize), Just(5), Just(64), Just(usize::MAX)],
            prop_oneof![Just(1usize), Just(5), Just(64), Just(usize::MAX)],
        ),
        prop_oneof![Just(1000u64), Just(5000)],
        any::<bool>(),
        prop_oneof![Just(Some(Client)), Just(Some(Server)), Just(None)],
    )
        .prop_map(
            |(
                deflate,
                fragment_size,
                write_budget,
                chunks,
                close_timeout_ms,
                heartbeat,
                closer,
            )| {
                Setup {
                    deflate,
                    fragment_size,
                    write_budget,
                    chunks,
                    close_timeout_ms,
                    heartbeat,
                    closer,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (side(), any::<bool>(), prop_oneof![4 => 0..200usize, 1 => 200..5000usize], any::<u8>())
            .prop_map(|(side, binary, len, seed)| Op::Send { side, binary, len, seed }),
        3 => (side(), prop::collection::vec(any::<u8>(), 0..=MAX_CONTROL_PAYLOAD))
            .prop_map(|(side, payload)| Op::Ping { side, payload }),
        1 => (side(), prop_oneof![Just(None), Just(Some(1000u16)), Just(Some(4321))])
            .prop_map(|(side, code)| Op::Close { side, code }),
        6 => (side(), 1..20usize).prop_map(|(side, frames)| Op::Transmit { side, frames }),
        6 => (side(), prop_oneof![1..16usize, 16..4096usize, Just(usize::MAX)])
            .prop_map(|(side, bytes)| Op::Deliver { side, bytes }),
        2 => prop_oneof![0..50u64, 50..3000u64].prop_map(|ms| Op::Advance { ms }),
        1 => (side(), any::<bool>()).prop_map(|(side, on)| Op::Hold { side, on }),
        1 => side().prop_map(|side| Op::ReadStart { side }),
    ]
}

fn message(binary_: bool, len: usize, seed: u8) -> Message {
    if binary_ {
        Message::binary(binary(len, seed))
    } else {
        Message::text(text(len, seed))
    }
}

/// Whether `sub` is a subsequence of `seq` (greedy matching is exact for this).
fn is_subsequence(sub: &[Bytes], seq: &[Bytes]) -> bool {
    let mut it = seq.iter();
    sub.iter().all(|x| it.any(|y| y == x))
}

fn run(setup: &Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut timers =
        TimerConfig::default().close_timeout(Duration::from_millis(setup.close_timeout_ms));
    if setup.heartbeat {
        timers = timers
            .heartbeat_interval(Some(Duration::from_millis(700)))
            .heartbeat_timeout(Some(Duration::from_millis(2500)))
            .read_timeout(Some(Duration::from_millis(4000)));
    }
    let config = ConnectionConfig::default()
        .timers(timers)
        .fragment_size(setup.fragment_size)
        .write_budget(setup.write_budget);
    let mut pair = Pair::deflate(config, setup.deflate);
    pair.client.chunk = setup.chunks.0;
    pair.server.chunk = setup.chunks.1;
    // The messages each end's `send` accepted, in order.
    let mut sent: [Vec<Message>; 2] = [Vec::new(), Vec::new()];
    let ix = |s: Side| usize::from(s == Server);
    let bound = setup.write_budget + 2 * MAX_REPLY_FRAME;

    for op in ops {
        match op.clone() {
            Op::Send {
                side,
                binary,
                len,
                seed,
            } => {
                let open = pair.end(side).state() == State::Open;
                let m = message(binary, len, seed);
                let r = pair.send(side, m.clone());
                prop_assert_eq!(r.is_ok(), open, "{:?} send in {:?}", side, r);
                if r.is_ok() {
                    sent[ix(side)].push(m);
                } else {
                    prop_assert_eq!(r, Err(SendError::Closing));
                }
            }
            Op::Ping { side, payload } => {
                let open = pair.end(side).state() == State::Open;
                let r = pair.ping(side, payload.into());
                prop_assert_eq!(r.is_ok(), open);
            }
            Op::Close { side, code } => {
                let open = pair.end(side).state() == State::Open;
                let frame = code.map(|c| CloseFrame::new(CloseCode::new(c), "random close"));
                prop_assert_eq!(pair.conn(side).close(frame).expect("a valid close"), open);
            }
            Op::Transmit { side, frames } => {
                pair.transmit_some(side, frames);
            }
            Op::Deliver { side, bytes } => {
                pair.deliver(side, bytes);
            }
            Op::Advance { ms } => pair.advance(Duration::from_millis(ms)),
            Op::Hold { side, on } => pair.end_mut(side).hold_writes = on,
            Op::ReadStart { side } => pair.read_start(side),
        }
        for s in Side::BOTH {
            let end = pair.end(s);
            prop_assert!(
                end.reply_bytes() <= bound,
                "{:?}: {} bytes of replies queued (budget {})",
                s,
                end.reply_bytes(),
                setup.write_budget
            );
        }
    }

    // The end: someone closes if nobody has, then everything runs out, past every deadline.
    let closers = match setup.closer {
        Some(side) => vec![side],
        None => Side::BOTH.to_vec(),
    };
    for side in closers {
        pair.conn(side).close(None).expect("a valid close");
    }
    for side in Side::BOTH {
        pair.end_mut(side).hold_writes = false;
    }
    pair.settle(Duration::from_secs(3600));

    let failed = !(pair.client.errors.is_empty() && pair.server.errors.is_empty());
    for side in Side::BOTH {
        let end = pair.end(side);
        let peer = pair.end(side.peer());
        prop_assert_eq!(end.state(), State::Terminated, "{:?}", side);
        prop_assert_eq!(end.conn.poll_timeout(), None);
        prop_assert_eq!(end.conn.queued_bytes(), 0);
        prop_assert!(end.transport_closed && end.eof.is_some(), "{:?}", side);
        for e in &end.errors {
            prop_assert!(
                !matches!(e, ConnectionError::Protocol(_)),
                "{:?}: two well-behaved ends: {:?}",
                side,
                e
            );
        }

        // Nothing is received after the peer's close, and the close is received once.
        let closes = end
            .events
            .iter()
            .filter(|e| matches!(e, Event::Close(_)))
            .count();
        prop_assert!(closes <= 1);
        if closes == 1 {
            prop_assert!(matches!(end.events.last(), Some(Event::Close(_))));
        }
        // Nothing is written after our close, and it is written once.
        let close_frames = end.sent_of(OpCode::Close).len();
        prop_assert!(close_frames <= 1);
        if close_frames == 1 {
            prop_assert_eq!(end.sent.last().unwrap().opcode(), OpCode::Close);
        }

        // Messages arrive in order and intact: all of them unless the connection failed.
        let received = end.messages();
        let from_peer = &sent[ix(side.peer())];
        prop_assert!(received.len() <= from_peer.len());
        prop_assert_eq!(&received[..], &from_peer[..received.len()], "{:?}", side);
        // Pings arrive in the order written; pongs answer pings, in order, some skipped.
        let pings_written: Vec<Bytes> = peer
            .sent_of(OpCode::Ping)
            .iter()
            .map(|s| s.payload.clone())
            .collect();
        let pings = end.pings();
        prop_assert_eq!(&pings[..], &pings_written[..pings.len()]);
        let pongs_written: Vec<Bytes> = end
            .sent_of(OpCode::Pong)
            .iter()
            .map(|s| s.payload.clone())
            .collect();
        prop_assert!(is_subsequence(&pongs_written, &pings));
        let my_pings: Vec<Bytes> = end
            .sent_of(OpCode::Ping)
            .iter()
            .map(|s| s.payload.clone())
            .collect();
        prop_assert!(is_subsequence(&end.pongs(), &my_pings));

        if !failed {
            prop_assert_eq!(received.len(), from_peer.len(), "{:?}: all delivered", side);
            prop_assert_eq!(pings.len(), pings_written.len());
            prop_assert!(end.close_received().is_some(), "{:?}", side);
            prop_assert_eq!(close_frames, 1);
            prop_assert_eq!(end.eof, Some(Ok(())));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_end_consistently(
        setup in setup(),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        run(&setup, &ops)?;
    }
}

/// A case worth keeping whatever proptest draws: a busy exchange cut by a simultaneous close,
/// read one byte at a time.
#[test]
fn byte_at_a_time_busy_exchange() {
    let setup = Setup {
        deflate: Some(DeflateConfig::default()),
        fragment_size: 7,
        write_budget: 16,
        chunks: (1, 1),
        close_timeout_ms: 5000,
        heartbeat: true,
        closer: None,
    };
    let mut ops = Vec::new();
    for i in 0..20u8 {
        for side in Side::BOTH {
            ops.push(Op::Send {
                side,
                binary: i % 2 == 0,
                len: usize::from(i) * 13,
                seed: i,
            });
            ops.push(Op::Ping {
                side,
                payload: vec![i; usize::from(i)],
            });
            ops.push(Op::Transmit { side, frames: 3 });
            ops.push(Op::Deliver {
                side: side.peer(),
                bytes: 5,
            });
        }
        ops.push(Op::Advance { ms: 100 });
    }
    run(&setup, &ops).unwrap();
}
