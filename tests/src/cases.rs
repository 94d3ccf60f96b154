//! The case tables several test files run, over HTTP/1.1 and over an HTTP/2 stream
//! (`h2_conformance.rs`), so that each table is written once:
//!
//! - [`exchange_cases`]: scripts of frames written by hand, read by our library and by
//!   tungstenite in the same role, compared as [`Outcome`]s ([`read_ours`],
//!   [`read_tungstenite`]); from `differential.rs`.
//! - [`violations`]: rule breaks and the error and close code each must get (RFC 6455
//!   §7.4.1); from `violations.rs`.
//! - [`ping_payloads`] (`ping_pong.rs`), [`multibyte_text`] and [`check_fragments`]
//!   (`fragmentation.rs`), and [`UNSENDABLE_CLOSE_CODES`] (`close.rs`).
//!
//! Frames are built for a sender in a given role: [`Keys::proper`] masks as the role requires
//! (a client's key, or `None` for a server), [`Keys::improper`] the opposite.

use futures_util::StreamExt;
use mywebsocket::{Error, Message, ProtocolError};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::Message as TMessage;

use crate::{assert_same_bytes, encode_frame, raw_frame, RawFrame};

/// The message size limit the readers of [`exchange_cases`] and [`violations`] run with.
pub const LIMIT: usize = 1024;

/// The mask keys of a sender: `proper` as its role requires, `improper` the opposite.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    /// The key a sender in this role uses (`None` for a server).
    pub proper: Option<[u8; 4]>,
    /// The key that breaks the role's rule.
    pub improper: Option<[u8; 4]>,
}

impl Keys {
    /// A client's frames, as our server reads them.
    pub const CLIENT: Self = Self {
        proper: Some([0x11, 0x22, 0x33, 0x44]),
        improper: None,
    };
    /// A server's frames, as our client reads them.
    pub const SERVER: Self = Self {
        proper: None,
        improper: Some([0x11, 0x22, 0x33, 0x44]),
    };

    /// Whether these are a client's keys (the reader is a server).
    pub fn from_client(&self) -> bool {
        self.proper.is_some()
    }
}

/// How reading a script ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// A close frame with this code.
    Closed(Option<u16>),
    /// The reader refused the input.
    Violation,
}

/// What a reader made of a script.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// (is text, payload) of each message read.
    pub messages: Vec<(bool, Vec<u8>)>,
    /// How it ended.
    pub end: End,
}

/// One script: a name and the wire bytes of each frame.
pub type Case = (&'static str, Vec<Vec<u8>>);

fn frame(keys: &Keys, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    encode_frame(raw_frame(fin, opcode, payload.to_vec(), keys.proper))
}

fn text(keys: &Keys, payload: &[u8]) -> Vec<u8> {
    frame(keys, true, OpCode::Data(Data::Text), payload)
}

fn close_1000(keys: &Keys) -> Vec<u8> {
    frame(
        keys,
        true,
        OpCode::Control(Control::Close),
        &[0x03, 0xE8, b'o', b'k'],
    )
}

/// The differential scripts; each ends with a normal close so that a reader that accepts
/// everything stops. Read with a limit of [`LIMIT`].
pub fn exchange_cases(keys: &Keys) -> Vec<Case> {
    let t = OpCode::Data(Data::Text);
    let b = OpCode::Data(Data::Binary);
    let c = OpCode::Data(Data::Continue);
    let ping = OpCode::Control(Control::Ping);
    let pong = OpCode::Control(Control::Pong);
    let close = OpCode::Control(Control::Close);
    let f = |fin, op, payload: &[u8]| frame(keys, fin, op, payload);
    let mut rsv1 = raw_frame(true, t, b"x".to_vec(), keys.proper);
    rsv1.header_mut().rsv1 = true;
    let mut rsv3 = raw_frame(true, b, b"x".to_vec(), keys.proper);
    rsv3.header_mut().rsv3 = true;
    // "aé" with a 16-bit length for a 3-byte payload: not minimal, but allowed.
    let non_minimal = {
        let payload = "aé".as_bytes();
        let key = keys.proper;
        let mut out = vec![0x81, if key.is_some() { 0x80 | 126 } else { 126 }, 0, 3];
        let mut body = payload.to_vec();
        if let Some(key) = key {
            out.extend_from_slice(&key);
            for (i, byte) in body.iter_mut().enumerate() {
                *byte ^= key[i % 4];
            }
        }
        out.extend(body);
        out
    };
    vec![
        ("text", vec![text(keys, b"hello")]),
        ("binary", vec![f(true, b, &[0, 1, 2, 255])]),
        (
            "empty text and binary",
            vec![text(keys, b""), f(true, b, b"")],
        ),
        (
            "fragmented text, code point split, ping between",
            vec![
                f(false, t, &[b'a', 0xE2]),
                f(true, ping, b"p"),
                f(false, c, &[0x82]),
                f(true, c, &[0xAC, b'z']),
            ],
        ),
        (
            "fragmented binary with empty fragments",
            vec![f(false, b, b""), f(false, c, b"abc"), f(true, c, b"")],
        ),
        (
            "unsolicited pong",
            vec![f(true, pong, b"x"), text(keys, b"after")],
        ),
        (
            "lengths 125 and 126",
            vec![text(keys, &[b'x'; 125]), f(true, b, &[7; 126])],
        ),
        ("exactly the limit", vec![f(true, b, &[1; LIMIT])]),
        ("non-minimal length", vec![non_minimal]),
        (
            "valid edge code points",
            vec![text(
                keys,
                "\u{10FFFF}\u{FFFF}\u{FEFF}\u{7F}\u{80}\u{7FF}\u{800}".as_bytes(),
            )],
        ),
        ("close without code", vec![f(true, close, b"")]),
        (
            "unmasked (or masked) against the role",
            vec![encode_frame(raw_frame(
                true,
                t,
                b"x".to_vec(),
                keys.improper,
            ))],
        ),
        ("rsv1", vec![encode_frame(rsv1)]),
        ("rsv3", vec![text(keys, b"ok"), encode_frame(rsv3)]),
        (
            "reserved data opcode",
            vec![f(true, OpCode::Data(Data::Reserved(3)), b"")],
        ),
        (
            "reserved control opcode",
            vec![f(true, OpCode::Control(Control::Reserved(0xB)), b"")],
        ),
        ("continuation first", vec![f(true, c, b"x")]),
        (
            "new message inside a fragmented one",
            vec![f(false, t, b"x"), f(true, b, b"y")],
        ),
        ("ping of 126 bytes", vec![f(true, ping, &[0; 126])]),
        ("fragmented ping", vec![f(false, ping, b"")]),
        ("invalid utf-8", vec![text(keys, &[b'h', 0xFF])]),
        ("overlong encoding", vec![text(keys, &[0xC0, 0xAF])]),
        ("surrogate", vec![text(keys, &[0xED, 0xA0, 0x80])]),
        (
            "above U+10FFFF",
            vec![text(keys, &[0xF4, 0x90, 0x80, 0x80])],
        ),
        (
            "truncated code point at the end of a fragmented message",
            vec![f(false, t, b"a"), f(true, c, &[0xC3])],
        ),
        (
            "invalid utf-8 after a good message",
            vec![
                text(keys, b"good"),
                text(keys, &[0xF8, 0x88, 0x80, 0x80, 0x80]),
            ],
        ),
        ("close with 1-byte payload", vec![f(true, close, &[3])]),
        (
            "close reason not utf-8",
            vec![f(true, close, &[0x03, 0xE8, 0xFF])],
        ),
        ("over the limit", vec![f(true, b, &[0; 2000])]),
        (
            "fragments over the limit",
            vec![
                f(false, b, &[0; 500]),
                f(false, c, &[0; 500]),
                f(true, c, &[0; 500]),
            ],
        ),
    ]
    .into_iter()
    .map(|(name, mut frames)| {
        frames.push(close_1000(keys));
        (name, frames)
    })
    .collect()
}

fn our_message(msg: Message) -> (bool, Vec<u8>) {
    (msg.is_text(), msg.as_bytes().to_vec())
}

/// Reads with our library until it stops.
///
/// # Panics
/// On an error that is neither the end of the connection nor a violation by the peer.
pub async fn read_ours(ws: &mut mywebsocket::WebSocket) -> Outcome {
    let mut messages = Vec::new();
    loop {
        match ws.read_msg().await {
            Ok(msg) => messages.push(our_message(msg)),
            Err(Error::Closed { frame, .. }) => {
                let end = End::Closed(frame.map(|f| f.code.as_u16()));
                return Outcome { messages, end };
            }
            Err(Error::Protocol(_) | Error::MessageTooBig { .. }) => {
                return Outcome {
                    messages,
                    end: End::Violation,
                }
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
}

/// Reads with tungstenite until it stops.
///
/// # Panics
/// On an error that is not a violation by the peer, or an end without a close.
pub async fn read_tungstenite<S>(ws: &mut S) -> Outcome
where
    S: StreamExt<Item = Result<TMessage, tungstenite::Error>> + Unpin,
{
    let mut messages = Vec::new();
    loop {
        match ws.next().await {
            Some(Ok(TMessage::Text(t))) => messages.push((true, t.as_bytes().to_vec())),
            Some(Ok(TMessage::Binary(b))) => messages.push((false, b.to_vec())),
            Some(Ok(TMessage::Ping(_) | TMessage::Pong(_) | TMessage::Frame(_))) => {}
            Some(Ok(TMessage::Close(frame))) => {
                let end = End::Closed(frame.map(|f| u16::from(f.code)));
                return Outcome { messages, end };
            }
            Some(Err(
                tungstenite::Error::Protocol(_)
                | tungstenite::Error::Utf8(_)
                | tungstenite::Error::Capacity(_),
            )) => {
                return Outcome {
                    messages,
                    end: End::Violation,
                }
            }
            Some(Err(other)) => panic!("unexpected tungstenite error {other:?}"),
            None => panic!("tungstenite stream ended without a close"),
        }
    }
}

/// tungstenite's configuration with the same limit as ours: [`LIMIT`].
pub fn tungstenite_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(LIMIT))
        .max_frame_size(Some(LIMIT))
}

/// The error a reader must return for a [`Violation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// [`Error::Protocol`] with this error.
    Protocol(ProtocolError),
    /// [`Error::MessageTooBig`] over [`LIMIT`]; at this size when known (a fragmented
    /// message's size at the failure depends on where the limit was crossed).
    TooBig(Option<u64>),
}

impl Expected {
    /// Whether `err` is this error.
    pub fn matches(&self, err: &Error) -> bool {
        match (self, err) {
            (Self::Protocol(want), Error::Protocol(got)) => want == got,
            (Self::TooBig(want), Error::MessageTooBig { size, limit }) => {
                *limit == LIMIT && want.is_none_or(|w| w == *size)
            }
            _ => false,
        }
    }
}

/// A rule break: the frames that break it, the error our read must return, and the close
/// code we must send.
#[derive(Debug)]
pub struct Violation {
    /// What it breaks.
    pub name: &'static str,
    /// The frames, in order; none follows the break (no final frame, no close): the error
    /// must not wait for the end of a message.
    pub frames: Vec<Frame>,
    /// The error of our read.
    pub expected: Expected,
    /// The close code we send.
    pub code: u16,
}

/// Close codes that may not be sent (RFC 6455 §7.4): our `close` refuses them, and a peer's
/// close frame with one of them is a violation (1002).
pub const UNSENDABLE_CLOSE_CODES: [u16; 7] = [0, 999, 1004, 1005, 1006, 1015, 5000];

/// Every rule break a peer's frames can make, with the error and code each gets, for a
/// sender with `keys`; read with a limit of [`LIMIT`].
pub fn violations(keys: &Keys) -> Vec<Violation> {
    let key = keys.proper;
    let close = |payload: Vec<u8>| raw_frame(true, OpCode::Control(Control::Close), payload, key);
    let mut rsv1 = raw_frame(true, OpCode::Data(Data::Text), &b"x"[..], key);
    rsv1.header_mut().rsv1 = true;
    let protocol = |name, frames, error, code| Violation {
        name,
        frames,
        expected: Expected::Protocol(error),
        code,
    };
    let against_the_role = if keys.from_client() {
        ProtocolError::UnmaskedFrameFromClient
    } else {
        ProtocolError::MaskedFrameFromServer
    };
    let mut table = vec![
        protocol(
            "invalid utf-8",
            vec![raw_frame(
                true,
                OpCode::Data(Data::Text),
                vec![b'h', 0xFF, b'i'],
                key,
            )],
            ProtocolError::InvalidUtf8,
            1007,
        ),
        // "ab" then the start of a 2-byte sequence; the next fragment breaks it.
        protocol(
            "invalid utf-8 mid-message",
            vec![
                raw_frame(false, OpCode::Data(Data::Text), vec![b'a', b'b', 0xC3], key),
                raw_frame(false, OpCode::Data(Data::Continue), vec![0x28, b'c'], key),
            ],
            ProtocolError::InvalidUtf8,
            1007,
        ),
        protocol(
            "masked against the role",
            vec![raw_frame(
                true,
                OpCode::Data(Data::Text),
                &b"hello"[..],
                keys.improper,
            )],
            against_the_role,
            1002,
        ),
        protocol("rsv1", vec![rsv1], ProtocolError::ReservedBits, 1002),
        protocol(
            "reserved data opcode",
            vec![raw_frame(
                true,
                OpCode::Data(Data::Reserved(3)),
                Vec::new(),
                key,
            )],
            ProtocolError::ReservedOpCode(3),
            1002,
        ),
        protocol(
            "reserved control opcode",
            vec![raw_frame(
                true,
                OpCode::Control(Control::Reserved(0xB)),
                Vec::new(),
                key,
            )],
            ProtocolError::ReservedOpCode(0xB),
            1002,
        ),
        protocol(
            "ping of 126 bytes",
            vec![raw_frame(
                true,
                OpCode::Control(Control::Ping),
                vec![0u8; 126],
                key,
            )],
            ProtocolError::ControlFrameTooBig { len: 126 },
            1002,
        ),
        protocol(
            "fragmented ping",
            vec![raw_frame(
                false,
                OpCode::Control(Control::Ping),
                Vec::new(),
                key,
            )],
            ProtocolError::FragmentedControlFrame,
            1002,
        ),
        protocol(
            "continuation first",
            vec![raw_frame(
                true,
                OpCode::Data(Data::Continue),
                &b"x"[..],
                key,
            )],
            ProtocolError::UnexpectedContinuation,
            1002,
        ),
        protocol(
            "new message inside a fragmented one",
            vec![
                raw_frame(false, OpCode::Data(Data::Text), &b"x"[..], key),
                raw_frame(true, OpCode::Data(Data::Binary), &b"y"[..], key),
            ],
            ProtocolError::ExpectedContinuation,
            1002,
        ),
        protocol(
            "close with 1-byte payload",
            vec![close(vec![3])],
            ProtocolError::InvalidClosePayload,
            1002,
        ),
        protocol(
            "close reason not utf-8",
            vec![close(vec![0x03, 0xE8, 0xFF])],
            ProtocolError::InvalidUtf8,
            1007,
        ),
        Violation {
            name: "over the limit",
            frames: vec![raw_frame(
                true,
                OpCode::Data(Data::Binary),
                vec![2u8; 2000],
                key,
            )],
            expected: Expected::TooBig(Some(2000)),
            code: 1009,
        },
        Violation {
            name: "fragments over the limit",
            frames: [Data::Binary, Data::Continue, Data::Continue]
                .into_iter()
                .map(|opcode| raw_frame(false, OpCode::Data(opcode), vec![0u8; 500], key))
                .collect(),
            expected: Expected::TooBig(None),
            code: 1009,
        },
    ];
    for code in UNSENDABLE_CLOSE_CODES {
        table.push(protocol(
            "close code not allowed on the wire",
            vec![close(code.to_be_bytes().to_vec())],
            ProtocolError::InvalidCloseCode(code),
            1002,
        ));
    }
    table
}

/// Ping payloads worth trying: empty, short, binary, and the largest allowed (125 bytes).
pub fn ping_payloads() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"hello".to_vec(),
        vec![0, 0xFF, 0x80, 0x7F],
        (0..125u8).collect(),
    ]
}

/// Text whose characters are 1 to 4 bytes long, so fragment boundaries split code points.
pub fn multibyte_text(len_at_least: usize) -> String {
    let mut s = String::new();
    while s.len() < len_at_least {
        s.push_str("aé€🦀");
    }
    s
}

/// Checks that `frames` are `expected` split into frames of `fragment_size` bytes: the first
/// with `first`, the rest continuations, FIN on the last only, masked exactly when `masked`.
///
/// # Panics
/// If they are not.
pub fn check_fragments(
    frames: &[RawFrame],
    first: Data,
    expected: &[u8],
    fragment_size: usize,
    masked: bool,
) {
    let count = expected.len().div_ceil(fragment_size);
    assert!(count > 1, "the test needs a message that fragments");
    assert_eq!(frames.len(), count, "number of frames");
    for (i, frame) in frames.iter().enumerate() {
        let h = &frame.header;
        let opcode = if i == 0 { first } else { Data::Continue };
        assert_eq!(h.opcode, OpCode::Data(opcode), "opcode of frame {i}");
        assert_eq!(h.is_final, i == count - 1, "FIN of frame {i}");
        assert!(!h.rsv1 && !h.rsv2 && !h.rsv3, "reserved bits of frame {i}");
        assert_eq!(h.mask.is_some(), masked, "mask of frame {i}");
        let want = fragment_size.min(expected.len() - i * fragment_size);
        assert_eq!(frame.payload.len(), want, "length of frame {i}");
    }
    let joined: Vec<u8> = frames
        .iter()
        .flat_map(|f| f.payload.iter().copied())
        .collect();
    assert_same_bytes(&joined, expected, "reassembled fragments");
}
