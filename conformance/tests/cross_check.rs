//! Cross-check against tokio-tungstenite as the reference peer, over loopback TCP and over
//! HTTP/2 streams (RFC 8441).
//!
//! One table of named exchanges ([`cases`]) runs in both topologies, each over TCP and over an
//! extended CONNECT stream: our client with a tokio-tungstenite server, and a
//! tokio-tungstenite client with our server. In each
//! exchange both ends send (we through `write_*_with(WriteOptions::fragment_size)`, tungstenite
//! through its frame-level `Message::Frame` sends, with pings between fragments), and each end
//! must receive exactly what the other sent: the messages, the pings (and the pongs answering
//! them), the close code and reason. Then come the violations: tungstenite writes frames that
//! break RFC 6455 and our end must fail the connection with the right code, which tungstenite
//! must receive. Last, tungstenite's own size limit checks what our writer puts on the wire.
//!
//! Every case is bounded by [`CASE_TIMEOUT`], synchronises only through the protocol itself
//! (each side knows how many messages to expect), spawns nothing, and drops both ends when it
//! finishes; only `127.0.0.1:0` is used.

#[path = "support/h2_transport.rs"]
mod h2_transport;
mod support;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use mywebsocket::{CloseCode, CloseFrame, Config, Error, Initiator, Message, Upgrader, WebSocket};
use mywebsocket::{ProtocolError, Utf8Bytes, WriteOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use tungstenite::error::CapacityError;
use tungstenite::protocol::frame::coding::{CloseCode as TCloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame as TCloseFrame, Frame};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::Message as TMessage;

use support::fmt_payload;

/// The longest one exchange may take.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// The small `max_message_size` of the size-limit cases.
const SMALL_LIMIT: usize = 1000;

/// A masking key for the frames tungstenite writes by hand.
const KEY: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];

// ---------------------------------------------------------------------------------------------
// What flows
// ---------------------------------------------------------------------------------------------

/// Something one end received.
#[derive(Clone, PartialEq, Eq)]
enum Item {
    Text(Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, b) = match self {
            Self::Text(b) => ("Text", b),
            Self::Binary(b) => ("Binary", b),
            Self::Ping(b) => ("Ping", b),
            Self::Pong(b) => ("Pong", b),
        };
        fmt_payload(f, name, b)
    }
}

impl Item {
    fn is_data(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Binary(_))
    }

    fn is_pong(&self) -> bool {
        matches!(self, Self::Pong(_))
    }

    fn bytes(&self) -> &Bytes {
        match self {
            Self::Text(b) | Self::Binary(b) | Self::Ping(b) | Self::Pong(b) => b,
        }
    }

    fn to_ours(&self) -> Message {
        match self {
            Self::Text(b) => Message::Text(Utf8Bytes::try_from(b.clone()).expect("valid text")),
            Self::Binary(b) => Message::Binary(b.clone()),
            other => panic!("{other:?} is not a message"),
        }
    }

    fn to_theirs(&self) -> TMessage {
        match self {
            Self::Text(b) => TMessage::Text(b.clone().try_into().expect("valid text")),
            Self::Binary(b) => TMessage::Binary(b.clone()),
            Self::Ping(b) => TMessage::Ping(b.clone()),
            Self::Pong(b) => TMessage::Pong(b.clone()),
        }
    }
}

impl From<Message> for Item {
    fn from(m: Message) -> Self {
        match m {
            Message::Text(t) => Self::Text(t.into_bytes()),
            Message::Binary(b) => Self::Binary(b),
            other => panic!("read_msg yields data messages only, not {other:?}"),
        }
    }
}

/// Text of exactly `len` bytes with code points of every UTF-8 length, so fragments split them.
fn text(len: usize) -> Item {
    let mut s = String::with_capacity(len);
    for c in ['a', 'é', '€', '𝄞'].into_iter().cycle() {
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(c);
    }
    while s.len() < len {
        s.push('x');
    }
    Item::Text(Bytes::from(s))
}

/// `len` bytes of a fixed pseudo-random pattern.
fn binary(len: usize) -> Item {
    let mut x = 0x2545_f491_u32 ^ len as u32;
    Item::Binary(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect::<Vec<_>>()
            .into(),
    )
}

fn ping(payload: &[u8]) -> Item {
    Item::Ping(Bytes::copy_from_slice(payload))
}

/// What our end sends.
#[derive(Debug, Clone)]
enum OurSend {
    /// A message, split into frames of at most this size (`None`: the connection's default).
    Message(Item, Option<usize>),
    Ping(Item),
}

/// What tungstenite sends.
#[derive(Debug, Clone)]
enum TheirSend {
    /// A message as one frame.
    Message(Item),
    /// A message as frames with these payload sizes (summing to its length), with
    /// `pings[i]` sent after fragment `i`.
    Fragmented {
        message: Item,
        pieces: Vec<usize>,
        pings: Vec<Item>,
    },
    Ping(Item),
}

impl OurSend {
    /// What the other end must receive, in order.
    fn received(&self) -> Vec<Item> {
        match self {
            Self::Message(m, _) | Self::Ping(m) => vec![m.clone()],
        }
    }
}

impl TheirSend {
    /// What the other end must receive, in order: a ping arrives before the message it
    /// interrupts is complete.
    fn received(&self) -> Vec<Item> {
        match self {
            Self::Message(m) | Self::Ping(m) => vec![m.clone()],
            Self::Fragmented { message, pings, .. } => {
                pings.iter().chain([message]).cloned().collect()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// Who starts the closing handshake, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closer {
    /// `Writer::close`, then reads until `Error::Closed`, which shows the peer's answer.
    Us,
    /// `WebSocket::close`, which does the whole handshake (the answer is not shown).
    UsWithClose,
    Them,
}

/// A close frame's code and reason; `None`: a close frame without a code.
type Close = Option<(u16, String)>;

/// The closing handshake of an exchange.
#[derive(Debug, Clone)]
struct CloseSpec {
    closer: Closer,
    /// The code and reason the closer passes (we always pass a code).
    sent: Close,
    /// What the other end must report receiving.
    delivered: Close,
    /// What the closer must get back.
    echoed: Close,
}

impl CloseSpec {
    /// The usual handshake: the frame arrives as sent; tungstenite echoes the whole frame, we
    /// echo the code alone (RFC 6455 §5.5.1 asks only for the code).
    fn new(closer: Closer, sent: Option<(u16, &str)>) -> Self {
        let sent: Close = sent.map(|(code, reason)| (code, reason.to_owned()));
        let echoed = match closer {
            Closer::Us | Closer::UsWithClose => sent.clone(),
            Closer::Them => sent.as_ref().map(|(code, _)| (*code, String::new())),
        };
        Self {
            closer,
            delivered: sent.clone(),
            sent,
            echoed,
        }
    }
}

/// How the two ends' turns are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// We send, they read it all and send, we read it all, then the close.
    Turns,
    /// Both send at once, then each reads.
    Together,
    /// We start closing first; what they then send is in flight and must still arrive.
    WeCloseFirst,
}

#[derive(Debug, Clone)]
struct Exchange {
    ours: Vec<OurSend>,
    theirs: Vec<TheirSend>,
    order: Order,
    close: CloseSpec,
}

/// Tungstenite writes frames that break a rule; we must fail the connection with `code`.
#[derive(Debug, Clone)]
struct Violation {
    /// Messages tungstenite sends first, which we must receive intact.
    before: Vec<Item>,
    /// The frames that break the rule, for the end tungstenite is on.
    frames: fn(Side) -> Vec<Frame>,
    /// Our `max_message_size`, if not the default.
    limit: Option<usize>,
    /// The close code we must fail the connection with.
    code: u16,
    /// The error our read must fail with.
    error: ExpectedError,
}

/// The error a [`Violation`] calls for.
#[derive(Debug, Clone, Copy)]
enum ExpectedError {
    /// Exactly this protocol error, whichever end tungstenite is.
    Protocol(ProtocolError),
    /// An error this accepts, given tungstenite's side.
    Matching(fn(Side, &Error) -> bool),
}

impl ExpectedError {
    /// Whether our read's error `err` is the one called for, with tungstenite on `side`.
    fn accepts(self, side: Side, err: &Error) -> bool {
        match self {
            Self::Protocol(expected) => matches!(err, Error::Protocol(e) if *e == expected),
            Self::Matching(accepts) => accepts(side, err),
        }
    }
}

/// Tungstenite, with `max_message_size` [`SMALL_LIMIT`], reads what we send: every message
/// but the last fits, and the last must fail its limit with exactly `size` bytes.
#[derive(Debug, Clone)]
struct ReferenceLimit {
    sends: Vec<OurSend>,
    size: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Exchange(Exchange),
    Violation(Violation),
    ReferenceLimit(ReferenceLimit),
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    kind: Kind,
}

/// Which end tungstenite is: it decides who masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    /// The mask a frame from this end must carry (RFC 6455 §5.1).
    fn mask(self) -> Option<[u8; 4]> {
        match self {
            Self::Client => Some(KEY),
            Self::Server => None,
        }
    }

    /// The mask a frame from this end must not carry.
    fn wrong_mask(self) -> Option<[u8; 4]> {
        match self {
            Self::Client => None,
            Self::Server => Some(KEY),
        }
    }
}

/// A frame as tungstenite's frame code encodes it; `first` is the FIN, RSV and opcode byte.
fn frame(side: Side, first: u8, payload: &[u8]) -> Frame {
    let mut f = Frame::message(payload.to_vec(), OpCode::Data(Data::Binary), true);
    let h = f.header_mut();
    h.is_final = first & 0x80 != 0;
    h.rsv1 = first & 0x40 != 0;
    h.rsv2 = first & 0x20 != 0;
    h.rsv3 = first & 0x10 != 0;
    h.opcode = OpCode::from(first & 0x0f);
    h.mask = side.mask();
    f
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

fn exchange(name: String, ours: Vec<OurSend>, theirs: Vec<TheirSend>, closer: Closer) -> Case {
    Case {
        name,
        kind: Kind::Exchange(Exchange {
            ours,
            theirs,
            order: Order::Turns,
            close: CloseSpec::new(closer, Some((1000, ""))),
        }),
    }
}

fn close_case(name: String, close: CloseSpec) -> Case {
    Case {
        name,
        kind: Kind::Exchange(Exchange {
            ours: vec![OurSend::Message(text(12), None)],
            theirs: vec![TheirSend::Message(binary(12))],
            order: Order::Turns,
            close,
        }),
    }
}

/// The error of the size-limit violations: the message reached [`SMALL_LIMIT`] + 1 bytes.
fn one_byte_over_small_limit(_: Side, e: &Error) -> bool {
    matches!(e, Error::MessageTooBig { size, limit: SMALL_LIMIT } if *size == SMALL_LIMIT as u64 + 1)
}

/// A [`Violation`] case.
fn violation(
    name: &str,
    limit: Option<usize>,
    before: Vec<Item>,
    code: u16,
    error: ExpectedError,
    frames: fn(Side) -> Vec<Frame>,
) -> Case {
    Case {
        name: name.to_owned(),
        kind: Kind::Violation(Violation {
            before,
            frames,
            limit,
            code,
            error,
        }),
    }
}

/// The common [`violation`]: nothing sent first, the default limits, and exactly the protocol
/// error `error` whichever end tungstenite is.
fn protocol_violation(
    name: &str,
    code: u16,
    error: ProtocolError,
    frames: fn(Side) -> Vec<Frame>,
) -> Case {
    violation(
        name,
        None,
        vec![],
        code,
        ExpectedError::Protocol(error),
        frames,
    )
}

fn cases() -> Vec<Case> {
    use OurSend as O;
    use TheirSend as T;
    let mut cases = Vec::new();

    // Sizes at every length-encoding boundary, text and binary, one frame each way.
    let sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];
    for (i, (size, kind)) in sizes
        .iter()
        .flat_map(|&s| [(s, "text"), (s, "binary")])
        .enumerate()
    {
        let m = if kind == "text" {
            text(size)
        } else {
            binary(size)
        };
        let closer = if i % 2 == 0 { Closer::Us } else { Closer::Them };
        cases.push(exchange(
            format!("{kind} of {size} bytes"),
            vec![O::Message(m.clone(), None)],
            vec![T::Message(m)],
            closer,
        ));
    }

    // Fragmentation.
    let frag = |name: &str, m: Item, ours: Option<usize>, pieces: Vec<usize>, closer| {
        assert_eq!(pieces.iter().sum::<usize>(), m.bytes().len(), "{name}");
        exchange(
            name.to_owned(),
            vec![O::Message(m.clone(), ours)],
            vec![T::Fragmented {
                message: m,
                pieces,
                pings: vec![],
            }],
            closer,
        )
    };
    cases.push(frag(
        "text in 1-byte fragments, code points split",
        text(40),
        Some(1),
        vec![1; 40],
        Closer::Us,
    ));
    cases.push(frag(
        "binary of 1000 bytes in 100-byte fragments",
        binary(1000),
        Some(100),
        vec![100; 10],
        Closer::Them,
    ));
    cases.push(frag(
        "binary of 65536 bytes in 4096-byte fragments",
        binary(65536),
        Some(4096),
        vec![4096; 16],
        Closer::Us,
    ));
    cases.push(frag(
        "text of 1 MiB + 1 at the default fragment size",
        text((1 << 20) + 1),
        None,
        vec![1 << 20, 1],
        Closer::Them,
    ));
    cases.push(frag(
        "text in uneven fragments",
        text(300),
        Some(7),
        vec![1, 2, 3, 125, 126, 43],
        Closer::Us,
    ));
    cases.push(frag(
        "binary with empty fragments",
        binary(8),
        Some(3),
        vec![0, 3, 0, 5, 0],
        Closer::Them,
    ));
    cases.push(frag(
        "empty text as fragments",
        text(0),
        Some(1),
        vec![0, 0],
        Closer::Us,
    ));

    // Control frames between fragments.
    cases.push(exchange(
        "ping between two fragments".to_owned(),
        vec![O::Ping(ping(b"before")), O::Message(text(20), Some(10))],
        vec![T::Fragmented {
            message: text(20),
            pieces: vec![10, 10],
            pings: vec![ping(b"between")],
        }],
        Closer::Us,
    ));
    cases.push(exchange(
        "pings of 0 and 125 bytes between every fragment".to_owned(),
        vec![
            O::Ping(ping(b"")),
            O::Ping(ping(&[0x5a; 125])),
            O::Message(binary(50), Some(10)),
        ],
        vec![T::Fragmented {
            message: binary(50),
            pieces: vec![10; 5],
            pings: vec![ping(b""), ping(&[0x5a; 125]), ping(b"x"), ping(b"y")],
        }],
        Closer::Them,
    ));
    cases.push(exchange(
        "several messages each way, mixed".to_owned(),
        vec![
            O::Message(text(5), None),
            O::Message(binary(300), Some(2)),
            O::Ping(ping(b"p")),
            O::Message(text(70_000), Some(65_535)),
        ],
        vec![
            T::Message(binary(3)),
            T::Ping(ping(b"q")),
            T::Fragmented {
                message: text(10),
                pieces: vec![5, 5],
                pings: vec![ping(b"r")],
            },
            T::Message(text(0)),
        ],
        Closer::Them,
    ));

    // Orderings other than taking turns.
    cases.push(Case {
        name: "1 MiB each way at the same time".to_owned(),
        kind: Kind::Exchange(Exchange {
            ours: vec![OurSend::Message(binary(1 << 20), None)],
            theirs: vec![TheirSend::Message(text(1 << 20))],
            order: Order::Together,
            close: CloseSpec::new(Closer::Them, Some((1000, ""))),
        }),
    });
    cases.push(Case {
        name: "fragments and pings each way at the same time".to_owned(),
        kind: Kind::Exchange(Exchange {
            ours: vec![
                OurSend::Ping(ping(b"1")),
                OurSend::Message(text(5000), Some(1000)),
                OurSend::Ping(ping(b"2")),
                OurSend::Message(binary(5000), Some(999)),
            ],
            theirs: vec![
                TheirSend::Fragmented {
                    message: binary(5000),
                    pieces: vec![1000; 5],
                    pings: vec![ping(b"a"), ping(b"b")],
                },
                TheirSend::Ping(ping(b"c")),
                TheirSend::Message(text(5000)),
            ],
            order: Order::Together,
            close: CloseSpec::new(Closer::Us, Some((1000, ""))),
        }),
    });
    cases.push(Case {
        name: "messages in flight when we start closing still arrive".to_owned(),
        kind: Kind::Exchange(Exchange {
            ours: vec![],
            theirs: vec![
                TheirSend::Message(text(100)),
                TheirSend::Fragmented {
                    message: binary(70_000),
                    pieces: vec![65_536, 4464],
                    pings: vec![],
                },
            ],
            order: Order::WeCloseFirst,
            close: CloseSpec::new(Closer::Us, Some((1001, "bye"))),
        }),
    });

    // Close codes and reasons, each started by either end, after a message each way.
    let long_reason = "r".repeat(123);
    let closes: [(u16, &str); 5] = [
        (1000, ""),
        (1001, "going away"),
        (3000, "registered"),
        (4999, "private ☃ reason"),
        (1000, &long_reason),
    ];
    for (code, reason) in closes {
        for closer in [Closer::Us, Closer::UsWithClose, Closer::Them] {
            cases.push(close_case(
                format!(
                    "close {code} {} started by {closer:?}",
                    if reason.len() > 20 {
                        format!("with a {}-byte reason", reason.len())
                    } else {
                        format!("{reason:?}")
                    }
                ),
                CloseSpec::new(closer, Some((code, reason))),
            ));
        }
    }
    cases.push(close_case(
        "close without a status code started by them".to_owned(),
        CloseSpec::new(Closer::Them, None),
    ));
    // We cut a reason over 123 bytes at a character boundary, so the frame stays a valid
    // control frame (RFC 6455 §5.5): 50 three-byte characters become 41.
    let cut = "€".repeat(41);
    cases.push(close_case(
        "close reason over 123 bytes is cut at a character boundary".to_owned(),
        CloseSpec {
            closer: Closer::Us,
            sent: Some((1000, "€".repeat(50))),
            delivered: Some((1000, cut.clone())),
            echoed: Some((1000, cut)),
        },
    ));
    // 1014 is registered (RFC 6455 §7.4.2, §11.7) but tungstenite does not know it: see
    // `close-code-1014` in differential_parser.rs. When it receives 1014 it reports and
    // answers 1002 "Protocol violation"; as an answer to its own close it takes 1014 as is.
    let answer_1002 = Some((1002, "Protocol violation".to_owned()));
    cases.push(close_case(
        "close 1014 started by us (tungstenite answers 1002)".to_owned(),
        CloseSpec {
            closer: Closer::Us,
            sent: Some((1014, "gw".to_owned())),
            delivered: answer_1002.clone(),
            echoed: answer_1002,
        },
    ));
    cases.push(close_case(
        "close 1014 started by them".to_owned(),
        CloseSpec::new(Closer::Them, Some((1014, "gw"))),
    ));

    // Violations: our end must fail the connection with the code.
    cases.push(violation(
        "invalid UTF-8 text",
        None,
        vec![text(3)],
        1007,
        ExpectedError::Protocol(ProtocolError::InvalidUtf8),
        |s| vec![frame(s, 0x81, b"ok\xff\xfe")],
    ));
    cases.push(protocol_violation(
        "text invalid only in the last fragment",
        1007,
        ProtocolError::InvalidUtf8,
        |s| {
            vec![
                frame(s, 0x01, b"hello "),
                frame(s, 0x00, b"wor"),
                frame(s, 0x80, b"\xed\xa0\x80"),
            ]
        },
    ));
    cases.push(protocol_violation(
        "text ending mid code point",
        1007,
        ProtocolError::InvalidUtf8,
        |s| vec![frame(s, 0x01, b"caf\xc3"), frame(s, 0x80, b"")],
    ));
    cases.push(protocol_violation(
        "invalid UTF-8 in the close reason",
        1007,
        ProtocolError::InvalidUtf8,
        |s| vec![frame(s, 0x88, &close_payload(1000, b"\xff"))],
    ));
    cases.push(violation(
        "wrong masking (unmasked client frame, masked server frame)",
        None,
        vec![binary(4)],
        1002,
        ExpectedError::Matching(|side, e| match side {
            Side::Client => matches!(e, Error::Protocol(ProtocolError::UnmaskedFrameFromClient)),
            Side::Server => matches!(e, Error::Protocol(ProtocolError::MaskedFrameFromServer)),
        }),
        |s| {
            let mut f = frame(s, 0x82, b"x");
            f.header_mut().mask = s.wrong_mask();
            vec![f]
        },
    ));
    cases.push(protocol_violation(
        "reserved data opcode 0x3",
        1002,
        ProtocolError::ReservedOpCode(0x3),
        |s| vec![frame(s, 0x83, b"x")],
    ));
    cases.push(protocol_violation(
        "reserved control opcode 0xB",
        1002,
        ProtocolError::ReservedOpCode(0xb),
        |s| vec![frame(s, 0x8b, b"")],
    ));
    cases.push(protocol_violation(
        "RSV1 without an extension",
        1002,
        ProtocolError::ReservedBits,
        |s| vec![frame(s, 0xc1, b"x")],
    ));
    cases.push(protocol_violation(
        "continuation without a start",
        1002,
        ProtocolError::UnexpectedContinuation,
        |s| vec![frame(s, 0x80, b"x")],
    ));
    cases.push(protocol_violation(
        "new message inside a fragmented one",
        1002,
        ProtocolError::ExpectedContinuation,
        |s| vec![frame(s, 0x01, b"a"), frame(s, 0x82, b"b")],
    ));
    cases.push(protocol_violation(
        "fragmented ping",
        1002,
        ProtocolError::FragmentedControlFrame,
        |s| vec![frame(s, 0x09, b"p")],
    ));
    cases.push(protocol_violation(
        "ping of 126 bytes",
        1002,
        ProtocolError::ControlFrameTooBig { len: 126 },
        |s| vec![frame(s, 0x89, &[0; 126])],
    ));
    cases.push(protocol_violation(
        "close code 1005",
        1002,
        ProtocolError::InvalidCloseCode(1005),
        |s| vec![frame(s, 0x88, &close_payload(1005, b""))],
    ));
    cases.push(protocol_violation(
        "close with a 1-byte payload",
        1002,
        ProtocolError::InvalidClosePayload,
        |s| vec![frame(s, 0x88, &[0x03])],
    ));
    cases.push(violation(
        "message over a small max_message_size",
        Some(SMALL_LIMIT),
        vec![binary(SMALL_LIMIT)],
        1009,
        ExpectedError::Matching(one_byte_over_small_limit),
        |s| vec![frame(s, 0x82, &[0; SMALL_LIMIT + 1])],
    ));
    cases.push(violation(
        "fragments over a small max_message_size",
        Some(SMALL_LIMIT),
        vec![text(SMALL_LIMIT)],
        1009,
        ExpectedError::Matching(one_byte_over_small_limit),
        |s| vec![frame(s, 0x01, &[b'a'; 600]), frame(s, 0x80, &[b'a'; 401])],
    ));

    // Tungstenite's limit measures what we put on the wire.
    cases.push(Case {
        name: "our single frame over tungstenite's limit".to_owned(),
        kind: Kind::ReferenceLimit(ReferenceLimit {
            sends: vec![
                O::Message(binary(SMALL_LIMIT), None),
                O::Message(text(SMALL_LIMIT + 1), None),
            ],
            size: SMALL_LIMIT + 1,
        }),
    });
    cases.push(Case {
        name: "our fragments over tungstenite's limit".to_owned(),
        kind: Kind::ReferenceLimit(ReferenceLimit {
            sends: vec![
                O::Message(text(SMALL_LIMIT), Some(100)),
                O::Message(binary(SMALL_LIMIT + 1), Some(100)),
            ],
            size: SMALL_LIMIT + 1,
        }),
    });
    cases
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Topology {
    /// Our client, tokio-tungstenite's server.
    OurClient,
    /// Tokio-tungstenite's client, our server.
    OurServer,
    /// Our client and tokio-tungstenite's server on a stream of an HTTP/2 connection.
    OurClientH2,
    /// Tokio-tungstenite's client and our server on a stream of an HTTP/2 connection.
    OurServerH2,
}

impl Topology {
    fn their_side(self) -> Side {
        match self {
            Self::OurClient | Self::OurClientH2 => Side::Server,
            Self::OurServer | Self::OurServerH2 => Side::Client,
        }
    }
}

use h2_transport::Theirs;

/// Our config: no heartbeat (its pings would be unscripted), pings and pongs logged in order
/// with the messages.
fn our_config(log: &Arc<Mutex<Vec<Item>>>, limit: Option<usize>) -> Config {
    let (pings, pongs) = (Arc::clone(log), Arc::clone(log));
    let config = Config::default()
        .no_heartbeat()
        .on_ping(move |p| pings.lock().unwrap().push(ping(p)))
        .on_pong(move |p| {
            pongs
                .lock()
                .unwrap()
                .push(Item::Pong(Bytes::copy_from_slice(p)))
        });
    match limit {
        Some(limit) => config.max_message_size(limit),
        None => config,
    }
}

/// Connects our end and tungstenite's over loopback.
async fn connect(
    topology: Topology,
    config: Config,
    their_config: Option<WebSocketConfig>,
) -> Result<(WebSocket, Theirs), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let url = format!("ws://{addr}/cross-check");
    match topology {
        Topology::OurClient => {
            let server = async {
                let (tcp, _) = listener.accept().await?;
                tcp.set_nodelay(true)?;
                let tcp: Box<dyn h2_transport::Io> = Box::new(tcp);
                tokio_tungstenite::accept_async_with_config(tcp, their_config)
                    .await
                    .map_err(std::io::Error::other)
            };
            let (ours, theirs) = tokio::join!(mywebsocket::connect_config(&url, config), server);
            let (ours, _response) = ours.map_err(|e| format!("our connect: {e}"))?;
            Ok((
                ours,
                theirs.map_err(|e| format!("tungstenite accept: {e}"))?,
            ))
        }
        Topology::OurClientH2 => {
            h2_transport::our_client(listener, &url, config, their_config).await
        }
        Topology::OurServerH2 => h2_transport::our_server(listener, config, their_config).await,
        Topology::OurServer => {
            let server = async {
                let (tcp, _) = listener.accept().await?;
                tcp.set_nodelay(true)?;
                Upgrader::new(config).accept(tcp).await
            };
            let client = async {
                let tcp = TcpStream::connect(addr).await?;
                tcp.set_nodelay(true)?;
                let tcp: Box<dyn h2_transport::Io> = Box::new(tcp);
                tokio_tungstenite::client_async_with_config(url.as_str(), tcp, their_config)
                    .await
                    .map(|(ws, _response)| ws)
                    .map_err(std::io::Error::other)
            };
            let (ours, theirs) = tokio::join!(server, client);
            Ok((
                ours.map_err(|e| format!("our accept: {e}"))?,
                theirs.map_err(|e| format!("tungstenite connect: {e}"))?,
            ))
        }
    }
}

fn their_close(close: Option<&(u16, String)>) -> Option<TCloseFrame> {
    close.map(|(code, reason)| TCloseFrame {
        code: TCloseCode::from(*code),
        reason: reason.as_str().into(),
    })
}

/// Sends `send` from our end: `write_message` at the connection's fragment size, otherwise
/// `write_string_with` / `write_binary_with` with a per-call fragment size.
async fn our_send(ws: &WebSocket, send: &OurSend) -> Result<(), Error> {
    match send {
        OurSend::Message(m, None) => ws.write_message(m.to_ours()).await,
        OurSend::Message(m, Some(n)) => {
            let opts = WriteOptions::default().fragment_size(*n);
            match m.to_ours() {
                Message::Text(t) => ws.write_string_with(t, &opts).await,
                Message::Binary(b) => ws.write_binary_with(b, &opts).await,
                other => panic!("to_ours makes data messages only, not {other:?}"),
            }
        }
        OurSend::Ping(p) => ws.ping(p.bytes().clone()).await,
    }
}

/// Sends `send` from tungstenite, frame by frame where it is fragmented.
async fn their_send(ws: &mut Theirs, send: &TheirSend) -> Result<(), tungstenite::Error> {
    match send {
        TheirSend::Message(m) | TheirSend::Ping(m) => ws.send(m.to_theirs()).await,
        TheirSend::Fragmented {
            message,
            pieces,
            pings,
        } => {
            let data = match message {
                Item::Text(_) => Data::Text,
                _ => Data::Binary,
            };
            let mut rest = message.bytes().clone();
            for (i, &n) in pieces.iter().enumerate() {
                let opcode = if i == 0 { data } else { Data::Continue };
                let last = i + 1 == pieces.len();
                let piece = rest.split_to(n);
                let f = Frame::message(piece, OpCode::Data(opcode), last);
                ws.send(TMessage::Frame(f)).await?;
                if let Some(p) = pings.get(i) {
                    ws.send(p.to_theirs()).await?;
                }
            }
            Ok(())
        }
    }
}

/// Where [`their_read`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// After this many data messages.
    AfterData(usize),
    /// At the close frame: the peer may reset the connection right after it.
    AtClose,
    /// At the end of the stream, after the closing handshake.
    AtEnd,
}

/// Reads from tungstenite into `got` (data messages, pings, pongs) until `stop`; returns the
/// close frame if one came.
async fn their_read(
    ws: &mut Theirs,
    got: &mut Vec<Item>,
    stop: Stop,
) -> Result<Option<Option<TCloseFrame>>, String> {
    let mut seen = 0;
    let mut close = None;
    while stop != Stop::AfterData(seen) {
        match ws.next().await {
            None => break,
            Some(Ok(TMessage::Close(frame))) => {
                close = Some(frame);
                if stop == Stop::AtClose {
                    break;
                }
            }
            Some(Ok(m)) => {
                let item = match m {
                    TMessage::Text(t) => Item::Text(t.into()),
                    TMessage::Binary(b) => Item::Binary(b),
                    TMessage::Ping(b) => Item::Ping(b),
                    TMessage::Pong(b) => Item::Pong(b),
                    other => return Err(format!("tungstenite read {other:?}")),
                };
                seen += usize::from(item.is_data());
                got.push(item);
            }
            Some(Err(e)) => return Err(format!("tungstenite read failed: {e}")),
        }
    }
    Ok(close)
}

/// Splits what one end received into everything but pongs, and the pongs.
fn split_pongs(items: &[Item]) -> (Vec<Item>, Vec<Item>) {
    items.iter().cloned().partition(|i| !i.is_pong())
}

/// The pongs that answer these sends' pings.
fn pongs_for(pings: impl IntoIterator<Item = Item>) -> Vec<Item> {
    pings
        .into_iter()
        .filter_map(|i| match i {
            Item::Ping(b) => Some(Item::Pong(b)),
            _ => None,
        })
        .collect()
}

async fn run_exchange(topology: Topology, ex: &Exchange) -> Result<(), String> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (ours, theirs) = connect(topology, our_config(&log, None), None).await?;
    let expect_at_theirs: Vec<Item> = ex.ours.iter().flat_map(OurSend::received).collect();
    let expect_at_ours: Vec<Item> = ex.theirs.iter().flat_map(TheirSend::received).collect();
    let theirs_data = expect_at_ours.iter().filter(|i| i.is_data()).count();
    let ours_data = expect_at_theirs.iter().filter(|i| i.is_data()).count();

    // Each side owns its end, so it drops it (closing its socket) as soon as it is done.
    let our_side = {
        let log = Arc::clone(&log);
        let mut ours = ours;
        async move {
            for send in &ex.ours {
                our_send(&ours, send)
                    .await
                    .map_err(|e| format!("our write: {e}"))?;
            }
            let code_and_reason = || {
                let (code, reason) = ex.close.sent.clone().expect("we always send a code");
                (CloseCode::new(code), reason)
            };
            if ex.order == Order::WeCloseFirst {
                let (code, reason) = code_and_reason();
                ours.writer()
                    .close(code, &reason)
                    .await
                    .map_err(|e| format!("our close: {e}"))?;
            }
            for _ in 0..theirs_data {
                let m = ours
                    .read_msg()
                    .await
                    .map_err(|e| format!("our read: {e}"))?;
                log.lock().unwrap().push(m.into());
            }
            match ex.close.closer {
                Closer::Us if ex.order == Order::WeCloseFirst => {}
                Closer::Us => {
                    let (code, reason) = code_and_reason();
                    ours.writer()
                        .close(code, &reason)
                        .await
                        .map_err(|e| format!("our close: {e}"))?;
                }
                Closer::UsWithClose => {
                    let (code, reason) = code_and_reason();
                    ours.close(code, &reason)
                        .await
                        .map_err(|e| format!("our close: {e}"))?;
                    // Every read after the handshake reports how it ended.
                }
                Closer::Them => {}
            }
            match ours.read_msg().await {
                Err(Error::Closed { frame, initiator }) => Ok((frame, initiator)),
                Ok(m) => Err(format!("we read {:?} where a close was due", Item::from(m))),
                Err(e) => Err(format!("our read of the close: {e}")),
            }
        }
    };
    let their_side = {
        let mut theirs = theirs;
        async move {
            let mut got = Vec::new();
            if ex.order == Order::Turns {
                let early = their_read(&mut theirs, &mut got, Stop::AfterData(ours_data)).await?;
                if let Some(close) = early {
                    return Err(format!("tungstenite got a close early: {close:?}"));
                }
            }
            // Sending without reading first: with `WeCloseFirst` our close is waiting unread.
            for send in &ex.theirs {
                their_send(&mut theirs, send)
                    .await
                    .map_err(|e| format!("tungstenite send: {e}"))?;
            }
            if ex.order == Order::Together {
                let early = their_read(&mut theirs, &mut got, Stop::AfterData(ours_data)).await?;
                if let Some(close) = early {
                    return Err(format!("tungstenite got a close early: {close:?}"));
                }
            }
            if ex.close.closer == Closer::Them {
                theirs
                    .close(their_close(ex.close.sent.as_ref()))
                    .await
                    .map_err(|e| format!("tungstenite close: {e}"))?;
            }
            let close = their_read(&mut theirs, &mut got, Stop::AtEnd).await?;
            Ok::<_, String>((got, close))
        }
    };
    let (ours_end, theirs_end) = tokio::join!(our_side, their_side);
    let (our_close, initiator) = ours_end?;
    let (their_got, their_close_frame) = theirs_end?;

    // What each end received equals what the other sent.
    let (their_items, their_pongs) = split_pongs(&their_got);
    check("tungstenite received", &their_items, &expect_at_theirs)?;
    let (our_items, our_pongs) = split_pongs(&log.lock().unwrap());
    check("we received", &our_items, &expect_at_ours)?;
    check(
        "tungstenite's pongs",
        &their_pongs,
        &pongs_for(expect_at_ours.iter().cloned()),
    )?;
    check(
        "our pongs",
        &our_pongs,
        &pongs_for(expect_at_theirs.iter().cloned()),
    )?;

    // The close: the receiver sees the code and reason; the closer sees the answer.
    let their_close_got = their_close_frame
        .ok_or("tungstenite saw no close frame")?
        .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
    let our_close_got = our_close.map(|f| (f.code.as_u16(), f.reason.as_str().to_owned()));
    let c = &ex.close;
    let (want_ours, want_theirs, want_initiator) = match c.closer {
        Closer::Us | Closer::UsWithClose => (&c.echoed, &c.delivered, Initiator::Local),
        Closer::Them => (&c.delivered, &c.echoed, Initiator::Remote),
    };
    check("our close frame", &our_close_got, want_ours)?;
    check("tungstenite's close frame", &their_close_got, want_theirs)?;
    check("close initiator", &initiator, &want_initiator)?;
    Ok(())
}

async fn run_violation(topology: Topology, v: &Violation) -> Result<(), String> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (ours, theirs) = connect(topology, our_config(&log, v.limit), None).await?;
    let side = topology.their_side();
    let our_side = {
        let mut ours = ours;
        let log = Arc::clone(&log);
        async move {
            for _ in &v.before {
                let m = ours
                    .read_msg()
                    .await
                    .map_err(|e| format!("our read: {e}"))?;
                log.lock().unwrap().push(m.into());
            }
            match ours.read_msg().await {
                Ok(m) => Err(format!("we accepted {:?}", Item::from(m))),
                Err(e) => Ok(e),
            }
        }
    };
    let their_side = {
        let mut theirs = theirs;
        async move {
            for m in &v.before {
                theirs
                    .send(m.to_theirs())
                    .await
                    .map_err(|e| format!("tungstenite send: {e}"))?;
            }
            // The frames go straight to the socket: tungstenite masks every client frame
            // itself, and these must arrive exactly as built.
            let mut raw = Vec::new();
            for f in (v.frames)(side) {
                f.format(&mut raw).map_err(|e| e.to_string())?;
            }
            let tcp = theirs.get_mut();
            tcp.write_all(&raw).await.map_err(|e| e.to_string())?;
            tcp.flush().await.map_err(|e| e.to_string())?;
            let mut got = Vec::new();
            let close = their_read(&mut theirs, &mut got, Stop::AtClose).await;
            Ok::<_, String>((got, close))
        }
    };
    let (ours_end, theirs_end) = tokio::join!(our_side, their_side);
    let err = ours_end?;
    let (got, close) = theirs_end?;
    check("we received first", &*log.lock().unwrap(), &v.before)?;
    let code = match &err {
        Error::Protocol(e) => e.close_code().as_u16(),
        Error::MessageTooBig { .. } => 1009,
        other => return Err(format!("our read failed with {other:?}, not a violation")),
    };
    check("our error's close code", &code, &v.code)?;
    if !v.error.accepts(side, &err) {
        return Err(format!(
            "our read failed with {err:?}, not the expected error"
        ));
    }
    let close = close.map_err(|e| format!("{e} (after {got:?})"))?;
    let close_code = close
        .flatten()
        .map(|f| u16::from(f.code))
        .ok_or_else(|| format!("tungstenite saw no close code, got {got:?}"))?;
    check("close code tungstenite received", &close_code, &v.code)?;
    Ok(())
}

async fn run_reference_limit(topology: Topology, r: &ReferenceLimit) -> Result<(), String> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let their_config = WebSocketConfig::default()
        .max_message_size(Some(SMALL_LIMIT))
        .max_frame_size(Some(SMALL_LIMIT));
    let (ours, theirs) = connect(topology, our_config(&log, None), Some(their_config)).await?;
    let our_side = async move {
        for send in &r.sends {
            our_send(&ours, send)
                .await
                .map_err(|e| format!("our write: {e}"))?;
        }
        ours.flush().await.map_err(|e| format!("our flush: {e}"))?;
        // Keep our end open until tungstenite has read everything.
        Ok::<_, String>(ours)
    };
    let their_side = async move {
        let mut theirs = theirs;
        let mut got = Vec::new();
        let fits = r.sends.len() - 1;
        let result = their_read(&mut theirs, &mut got, Stop::AfterData(fits)).await;
        let last = theirs.next().await;
        (result, got, last)
    };
    let (ours, (result, got, last)) = tokio::join!(our_side, their_side);
    drop(ours?);
    result?;
    let want: Vec<Item> = r.sends[..r.sends.len() - 1]
        .iter()
        .flat_map(OurSend::received)
        .collect();
    check("tungstenite received", &got, &want)?;
    match last {
        Some(Err(tungstenite::Error::Capacity(CapacityError::MessageTooLong {
            size,
            max_size,
        }))) if max_size == SMALL_LIMIT => check("size tungstenite measured", &size, &r.size),
        other => Err(format!(
            "tungstenite should have refused the last message, got {other:?}"
        )),
    }
}

fn check<T: PartialEq + fmt::Debug + ?Sized>(what: &str, got: &T, want: &T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

async fn run_case(topology: Topology, case: &Case) -> Result<(), String> {
    let run = async {
        match &case.kind {
            Kind::Exchange(ex) => run_exchange(topology, ex).await,
            Kind::Violation(v) => run_violation(topology, v).await,
            Kind::ReferenceLimit(r) => run_reference_limit(topology, r).await,
        }
    };
    tokio::time::timeout(CASE_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| Err(format!("did not finish within {CASE_TIMEOUT:?}")))
}

async fn run_table(topology: Topology) {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let started = std::time::Instant::now();
        if let Err(why) = run_case(topology, case).await {
            failures.push(format!("{topology:?} / {}: {why}", case.name));
        }
        eprintln!("{topology:?} / {}: {:?}", case.name, started.elapsed());
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn our_client_with_tungstenite_server() {
    run_table(Topology::OurClient).await;
}

#[tokio::test]
async fn tungstenite_client_with_our_server() {
    run_table(Topology::OurServer).await;
}

#[tokio::test]
async fn our_client_with_tungstenite_server_over_http2() {
    run_table(Topology::OurClientH2).await;
}

#[tokio::test]
async fn tungstenite_client_with_our_server_over_http2() {
    run_table(Topology::OurServerH2).await;
}

#[test]
fn case_names_are_unique() {
    let cases = cases();
    let mut names: Vec<_> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len());
}

#[test]
fn close_frames_in_the_table_are_valid_to_send() {
    for case in cases() {
        if let Kind::Exchange(Exchange { close, .. }) = &case.kind {
            if let Some((code, _)) = &close.sent {
                assert!(CloseCode::new(*code).is_valid_on_wire(), "{}", case.name);
            }
            if close.sent.is_none() {
                assert_eq!(
                    close.closer,
                    Closer::Them,
                    "{}: we always send a code",
                    case.name
                );
            }
            if let Some((_, reason)) = &close.delivered {
                assert!(reason.len() <= CloseFrame::MAX_REASON_LEN, "{}", case.name);
            }
        }
    }
    // Control opcodes tungstenite's frame code must know for the violation cases.
    assert_eq!(OpCode::from(0x9), OpCode::Control(Control::Ping));
}
