//! Differential test of the read side: the same byte stream goes to our [`Decoder`] and to
//! tungstenite's (the reference peer, driven through `tungstenite::WebSocket::from_raw_socket`
//! over an in-memory stream), and both must report the same messages, pings, pongs and close
//! frame, or both must reject the stream with the same close code.
//!
//! The inputs are:
//! - hand-written tricky streams ([`hand_written_cases`]), each with the outcome we expect from
//!   our decoder;
//! - valid streams from a small deterministic generator (random sizes, fragmentation, masking,
//!   control frames between fragments, non-minimal lengths), whose events are also known, so
//!   our decoder is checked against the generator as well as against tungstenite;
//! - the same streams with bits flipped (mostly in headers) or cut short.
//!
//! Each input is fed whole, a byte at a time, or in random chunks; every chunking must give
//! the same outcome (the point of a sans-IO decoder). Our decoder stops at a close frame, so
//! both sides are compared up to and including the first close.
//!
//! Where the two disagree by design, the difference is listed in [`KNOWN_DIFFERENCES`] with
//! the RFC 6455 section that decides it. A difference is accepted only if one of those entries
//! explains it exactly, and every entry is pinned by at least one hand-written case, so the
//! test fails if either library changes behaviour.

mod support;

use std::fmt;
use std::io::{self, Read, Write};
use std::ops::Range;

use bytes::BytesMut;
use mywebsocket::proto::{Decoder, Event, Limits, Message, ProtocolError, Role};
use tungstenite::error::ProtocolError as TProtocolError;
use tungstenite::protocol::{Role as TRole, WebSocket as TWebSocket, WebSocketConfig};
use tungstenite::{Error as TError, Message as TMessage};

use support::fmt_payload;

/// The message and frame size limit given to both decoders. Large enough that the generator's
/// 65536-byte messages pass, small enough that going over it is cheap.
const LIMIT: usize = 1 << 17;

/// The masking key of hand-written client frames.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV2: u8 = 0x20;
const RSV3: u8 = 0x10;
const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BIN: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

/// Something a decoder reported.
#[derive(Clone, PartialEq, Eq)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame: its code and reason, `None` for an empty payload.
    Close(Option<(u16, String)>),
}

impl fmt::Debug for Ev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(s) if s.len() <= 40 => write!(f, "Text({s:?})"),
            Self::Text(s) => fmt_payload(f, "Text", s.as_bytes()),
            Self::Binary(b) => fmt_payload(f, "Binary", b),
            Self::Ping(b) => fmt_payload(f, "Ping", b),
            Self::Pong(b) => fmt_payload(f, "Pong", b),
            Self::Close(c) => write!(f, "Close({c:?})"),
        }
    }
}

/// How a decoder's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// It decoded a close frame (the last event).
    Closed,
    /// The input ran out (possibly inside a frame).
    Eof,
    /// It rejected the input; the connection would be failed with this close code.
    Reject(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    events: Vec<Ev>,
    end: End,
}

/// Our decoder's run.
#[derive(Debug)]
struct OursRun {
    outcome: Outcome,
    error: Option<ProtocolError>,
    /// Input bytes the decoder had taken out of its buffer when it stopped.
    consumed: usize,
}

/// Why tungstenite rejected a stream (its error type is neither `Clone` nor `PartialEq`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum TheirError {
    Utf8,
    Capacity,
    Protocol(TProtocolError),
}

/// Tungstenite's run.
#[derive(Debug)]
struct TheirsRun {
    outcome: Outcome,
    error: Option<TheirError>,
}

// ---------------------------------------------------------------------------------------------
// Feeding
// ---------------------------------------------------------------------------------------------

/// A small deterministic PRNG (SplitMix64): the same seed gives the same inputs on every run.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// How the input reaches a decoder.
#[derive(Debug, Clone, Copy)]
enum Chunking {
    Whole,
    Bytewise,
    /// Random sizes from this seed: mostly small, sometimes large.
    Random(u64),
}

#[derive(Debug)]
struct Chunker {
    mode: Chunking,
    rng: Rng,
}

impl Chunker {
    fn new(mode: Chunking) -> Self {
        let seed = match mode {
            Chunking::Random(seed) => seed,
            _ => 0,
        };
        Self {
            mode,
            rng: Rng(seed),
        }
    }

    fn next_len(&mut self) -> usize {
        match self.mode {
            Chunking::Whole => usize::MAX,
            Chunking::Bytewise => 1,
            Chunking::Random(_) => match self.rng.range(0, 99) {
                0..=69 => self.rng.range(1, 16),
                70..=94 => self.rng.range(17, 2000),
                _ => self.rng.range(2001, 100_000),
            },
        }
    }
}

fn limits() -> Limits {
    Limits::default()
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT)
}

fn from_ours(event: Event) -> Ev {
    match event {
        Event::Message(Message::Text(t)) => Ev::Text(t.as_str().to_owned()),
        Event::Message(Message::Binary(b)) => Ev::Binary(b.to_vec()),
        Event::Ping(b) => Ev::Ping(b.to_vec()),
        Event::Pong(b) => Ev::Pong(b.to_vec()),
        Event::Close(frame) => {
            Ev::Close(frame.map(|f| (f.code.as_u16(), f.reason.as_str().to_owned())))
        }
        other => panic!("an event this test does not know: {other:?}"),
    }
}

/// Feeds `input` to our decoder for the end `role`, `chunking` bytes at a time, until it
/// reports a close frame, rejects the input or has used all of it.
fn run_ours(role: Role, input: &[u8], chunking: Chunking) -> OursRun {
    let mut decoder = Decoder::new(role, limits());
    let mut chunker = Chunker::new(chunking);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut events = Vec::new();
    loop {
        match decoder.feed(&mut buf) {
            Ok(Some(event)) => {
                let ev = from_ours(event);
                let closed = matches!(ev, Ev::Close(_));
                events.push(ev);
                if closed {
                    assert!(decoder.is_closed());
                    assert_eq!(decoder.feed(&mut buf), Ok(None), "nothing after a close");
                    return OursRun {
                        outcome: Outcome {
                            events,
                            end: End::Closed,
                        },
                        error: None,
                        consumed: fed - buf.len(),
                    };
                }
            }
            Ok(None) if fed == input.len() => {
                return OursRun {
                    outcome: Outcome {
                        events,
                        end: End::Eof,
                    },
                    error: None,
                    consumed: fed - buf.len(),
                };
            }
            Ok(None) => {
                let n = chunker.next_len().min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                assert_eq!(decoder.feed(&mut buf), Err(e), "errors are sticky");
                return OursRun {
                    outcome: Outcome {
                        events,
                        end: End::Reject(e.close_code().as_u16()),
                    },
                    error: Some(e),
                    consumed: fed - buf.len(),
                };
            }
        }
    }
}

/// The in-memory socket tungstenite reads from: it hands out `input` in chunks and swallows
/// whatever tungstenite writes (its pongs and close replies).
struct MemStream<'a> {
    input: &'a [u8],
    pos: usize,
    chunker: Chunker,
}

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .chunker
            .next_len()
            .min(buf.len())
            .min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Feeds `input` to tungstenite for the end `role`, with the same limits as ours.
fn run_theirs(role: Role, input: &[u8], chunking: Chunking) -> TheirsRun {
    let role = match role {
        Role::Server => TRole::Server,
        Role::Client => TRole::Client,
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(LIMIT))
        .max_frame_size(Some(LIMIT));
    let stream = MemStream {
        input,
        pos: 0,
        chunker: Chunker::new(chunking),
    };
    let mut ws = TWebSocket::from_raw_socket(stream, role, Some(config));
    let mut events = Vec::new();
    let (end, error) = loop {
        match ws.read() {
            Ok(TMessage::Text(t)) => events.push(Ev::Text(t.as_str().to_owned())),
            Ok(TMessage::Binary(b)) => events.push(Ev::Binary(b.to_vec())),
            Ok(TMessage::Ping(b)) => events.push(Ev::Ping(b.to_vec())),
            Ok(TMessage::Pong(b)) => events.push(Ev::Pong(b.to_vec())),
            Ok(TMessage::Close(frame)) => {
                events.push(Ev::Close(
                    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                ));
                break (End::Closed, None);
            }
            Ok(TMessage::Frame(_)) => unreachable!("tungstenite never reads a raw frame"),
            Err(TError::Protocol(TProtocolError::ResetWithoutClosingHandshake)) => {
                break (End::Eof, None)
            }
            Err(TError::Utf8(_)) => break (End::Reject(1007), Some(TheirError::Utf8)),
            Err(TError::Capacity(_)) => break (End::Reject(1009), Some(TheirError::Capacity)),
            Err(TError::Protocol(e)) => break (End::Reject(1002), Some(TheirError::Protocol(e))),
            Err(other) => panic!("unexpected error from tungstenite: {other:?}"),
        }
    };
    TheirsRun {
        outcome: Outcome { events, end },
        error,
    }
}

// ---------------------------------------------------------------------------------------------
// Known differences
// ---------------------------------------------------------------------------------------------

/// A frame's place in the input, found structurally (no rule checked).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    /// Header plus payload length, `None` while the header is incomplete (`u64`: a broken
    /// length can be huge).
    len: Option<u64>,
    /// The payload length the header announces.
    payload_len: Option<u64>,
    /// Whether the whole frame is in the input.
    complete: bool,
}

/// Splits `input` into frames by their headers alone.
fn walk(input: &[u8]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        let header = rest.get(1).and_then(|&b1| {
            let ext = match b1 & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
            let ext_bytes = rest.get(2..2 + ext)?;
            let payload = match ext {
                0 => u64::from(b1 & 0x7f),
                _ => ext_bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)),
            };
            (rest.len() >= 2 + ext + mask).then_some(((2 + ext + mask) as u64, payload))
        });
        let len = header.map(|(head, payload)| head.saturating_add(payload));
        let complete = len.is_some_and(|len| len <= rest.len() as u64);
        spans.push(Span {
            start: pos,
            len,
            payload_len: header.map(|(_, payload)| payload),
            complete,
        });
        match len {
            Some(len) if complete => pos += len as usize,
            _ => break,
        }
    }
    spans
}

/// The frame of `input` that holds byte `offset`, if any.
fn frame_at(input: &[u8], offset: usize) -> Option<Span> {
    walk(input).into_iter().find(|s| {
        let end = s
            .len
            .unwrap_or(u64::MAX)
            .max(1)
            .saturating_add(s.start as u64);
        s.start <= offset && (offset as u64) < end
    })
}

/// Both runs over one input.
struct Compared<'a> {
    input: &'a [u8],
    ours: &'a OursRun,
    theirs: &'a TheirsRun,
}

impl Compared<'_> {
    fn same_events(&self) -> bool {
        self.ours.outcome.events == self.theirs.outcome.events
    }

    /// The frame our decoder stopped in.
    fn rejected_frame(&self) -> Option<Span> {
        frame_at(self.input, self.ours.consumed)
    }
}

/// A way the two decoders are known to differ, with the rule that decides it.
struct KnownDifference {
    name: &'static str,
    /// The RFC 6455 section that decides the case.
    rfc: &'static str,
    /// Who is right, and why.
    verdict: &'static str,
    /// Whether this difference accounts exactly for the two runs.
    explains: fn(&Compared<'_>) -> bool,
}

impl fmt::Debug for KnownDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.rfc)
    }
}

/// The close frame tungstenite reports (and answers with) in place of one whose code it
/// does not allow.
fn tungstenite_protocol_violation() -> Ev {
    Ev::Close(Some((1002, "Protocol violation".to_owned())))
}

const KNOWN_DIFFERENCES: &[KnownDifference] = &[
    KnownDifference {
        name: "close-code-1014",
        rfc: "RFC 6455 §7.4.2 and §11.7: 1014 (Bad Gateway) is registered with IANA, so a peer may send it",
        verdict: "tungstenite is wrong: its close-code table omits 1014, so it reports and echoes 1002 \
                  \"Protocol violation\" in place of the peer's 1014; we report the peer's close",
        explains: |c| {
            let (ours, theirs) = (&c.ours.outcome, &c.theirs.outcome);
            ours.end == End::Closed
                && theirs.end == End::Closed
                && ours.events.len() == theirs.events.len()
                && ours.events[..ours.events.len() - 1] == theirs.events[..theirs.events.len() - 1]
                && matches!(ours.events.last(), Some(Ev::Close(Some((1014, _)))))
                && theirs.events.last() == Some(&tungstenite_protocol_violation())
        },
    },
    KnownDifference {
        name: "invalid-close-code-reported-as-close",
        rfc: "RFC 6455 §7.4.1-§7.4.2 with §7.1.7: a close code that may not be sent is a protocol \
              error; the receiver fails the connection (1002)",
        verdict: "wire-equivalent, but tungstenite misreports: it answers 1002 as we do, yet hands the \
                  application a close frame (1002 \"Protocol violation\") the peer never sent, \
                  where we report the violation",
        explains: |c| {
            let mut expected = c.ours.outcome.events.clone();
            expected.push(tungstenite_protocol_violation());
            matches!(c.ours.error, Some(ProtocolError::InvalidCloseCode(_)))
                && c.theirs.outcome.end == End::Closed
                && c.theirs.outcome.events == expected
        },
    },
    KnownDifference {
        name: "top-bit-length-is-a-size-error",
        rfc: "RFC 6455 §5.2: the most significant bit of a 64-bit payload length MUST be 0, so \
              such a header is a protocol error (1002)",
        verdict: "tungstenite is wrong: it does not check the bit and fails the stream only because \
                  the length is over its frame limit (1009; with no limit it would try to reserve \
                  2^63 bytes)",
        explains: |c| {
            c.same_events()
                && c.ours.error == Some(ProtocolError::InvalidPayloadLength)
                && c.theirs.error == Some(TheirError::Capacity)
        },
    },
    KnownDifference {
        name: "size-checked-before-other-header-rules",
        rfc: "RFC 6455 §5.2, §5.4, §5.5 and §10.4: the frame breaks a header rule (1002) and is \
              over the size limit (1009); the RFC orders neither check first",
        verdict: "both are conforming: we check the RFC rules first, tungstenite its frame size",
        explains: |c| {
            c.same_events()
                && c.ours.outcome.end == End::Reject(1002)
                && c.ours.error != Some(ProtocolError::InvalidPayloadLength)
                && c.theirs.error == Some(TheirError::Capacity)
                && c
                    .rejected_frame()
                    .and_then(|f| f.payload_len)
                    .is_some_and(|n| n > LIMIT as u64)
        },
    },
    KnownDifference {
        name: "close-code-checked-before-reason-utf8",
        rfc: "RFC 6455 §5.5.1, §7.4 and §8.1: the close frame has both a code that may not be sent \
              (1002) and a reason that is not UTF-8 (1007); the RFC orders neither check first",
        verdict: "both are conforming: we check the code first, tungstenite the reason",
        explains: |c| {
            c.same_events()
                && matches!(c.ours.error, Some(ProtocolError::InvalidCloseCode(_)))
                && c.theirs.error == Some(TheirError::Utf8)
        },
    },
    KnownDifference {
        name: "rejected-before-the-frame-is-complete",
        rfc: "RFC 6455 §5.1-§5.5 and §8.1: a receiver fails the connection when it sees the \
              violation; §8.1 lets invalid UTF-8 fail mid-frame",
        verdict: "both are conforming: we check the header (and UTF-8 as it arrives) before the \
                  payload is complete, tungstenite only once the whole frame is in, so when the \
                  input ends inside that frame we have rejected it and tungstenite is still waiting",
        explains: |c| {
            c.same_events()
                && matches!(c.ours.outcome.end, End::Reject(_))
                && c.theirs.outcome.end == End::Eof
                && c.rejected_frame().is_some_and(|f| !f.complete)
        },
    },
];

/// Runs both decoders on `input` and checks that they agree or differ in a known way; returns
/// the known difference, if any. `Err` describes an unexplained disagreement.
fn compare(
    role: Role,
    input: &[u8],
    chunking: Chunking,
) -> Result<(OursRun, Option<&'static KnownDifference>), String> {
    let ours = run_ours(role, input, chunking);
    let theirs = run_theirs(role, input, chunking);
    if ours.outcome == theirs.outcome {
        return Ok((ours, None));
    }
    let compared = Compared {
        input,
        ours: &ours,
        theirs: &theirs,
    };
    let known: Vec<_> = KNOWN_DIFFERENCES
        .iter()
        .filter(|k| (k.explains)(&compared))
        .collect();
    match known[..] {
        [one] => Ok((ours, Some(one))),
        _ => Err(format!(
            "{role:?} {chunking:?}: ours {:?} (error {:?}, consumed {}), tungstenite {:?} \
             (error {:?}); explained by {known:?}",
            ours.outcome, ours.error, ours.consumed, theirs.outcome, theirs.error
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// How a frame's payload length is written.
#[derive(Debug, Clone, Copy)]
enum LenForm {
    Minimal,
    /// The 16-bit form even for a short payload.
    U16,
    /// The 64-bit form even for a short payload.
    U64,
}

/// Encodes a frame: `first` is the FIN, RSV and opcode byte.
fn encode(first: u8, payload: &[u8], mask: Option<[u8; 4]>, form: LenForm) -> Vec<u8> {
    let mut out = vec![first];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    match form {
        LenForm::Minimal if n < 126 => out.push(m | n as u8),
        LenForm::Minimal | LenForm::U16 if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// The mask a well-behaved peer of `role` uses: clients mask, servers do not (RFC 6455 §5.1).
fn peer_mask(role: Role) -> Option<[u8; 4]> {
    match role {
        Role::Server => Some(KEY),
        Role::Client => None,
    }
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

// ---------------------------------------------------------------------------------------------
// Hand-written cases
// ---------------------------------------------------------------------------------------------

struct HandCase {
    name: String,
    role: Role,
    input: Vec<u8>,
    /// What our decoder must report.
    ours: Outcome,
    /// The known difference that must explain tungstenite's outcome; `None`: it must agree.
    known: Option<&'static str>,
}

fn eof(events: Vec<Ev>) -> Outcome {
    Outcome {
        events,
        end: End::Eof,
    }
}

fn closed(events: Vec<Ev>) -> Outcome {
    Outcome {
        events,
        end: End::Closed,
    }
}

fn reject(events: Vec<Ev>, code: u16) -> Outcome {
    Outcome {
        events,
        end: End::Reject(code),
    }
}

fn text(s: &str) -> Ev {
    Ev::Text(s.to_owned())
}

fn close_ev(code: u16, reason: &str) -> Ev {
    Ev::Close(Some((code, reason.to_owned())))
}

/// The tricky cases, for the end `role` (the frames are what its peer sends).
fn cases_for(role: Role) -> Vec<HandCase> {
    let mask = peer_mask(role);
    let f = |first: u8, payload: &[u8]| encode(first, payload, mask, LenForm::Minimal);
    let cat = |frames: &[Vec<u8>]| frames.concat();
    let mut cases = Vec::new();
    let mut case = |name: &str, input: Vec<u8>, ours: Outcome, known: Option<&'static str>| {
        cases.push(HandCase {
            name: name.to_owned(),
            role,
            input,
            ours,
            known,
        });
    };

    // Framing and lengths.
    case("empty input", vec![], eof(vec![]), None);
    case("a lone first byte", vec![FIN | TEXT], eof(vec![]), None);
    case(
        "text in one frame",
        f(FIN | TEXT, b"hello"),
        eof(vec![text("hello")]),
        None,
    );
    case(
        "non-minimal 16-bit length",
        encode(FIN | BIN, b"abcde", mask, LenForm::U16),
        eof(vec![Ev::Binary(b"abcde".to_vec())]),
        None,
    );
    case(
        "non-minimal 64-bit length",
        encode(FIN | TEXT, b"abcde", mask, LenForm::U64),
        eof(vec![text("abcde")]),
        None,
    );
    case(
        "non-minimal 64-bit length on a ping",
        encode(FIN | PING, b"p", mask, LenForm::U64),
        eof(vec![Ev::Ping(b"p".to_vec())]),
        None,
    );
    // A 64-bit length header by hand: `encode` cannot write lengths it has no payload for.
    let long_header = |len: u64| {
        let mut h = vec![FIN | BIN, 127 | if mask.is_some() { 0x80 } else { 0 }];
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(mask.as_ref().map_or(&[][..], |k| &k[..]));
        h
    };
    let mut top_bit = long_header(1 << 63 | 5);
    top_bit.extend_from_slice(b"abcde");
    case(
        "64-bit length with the top bit set",
        top_bit,
        reject(vec![], 1002),
        Some("top-bit-length-is-a-size-error"),
    );
    case(
        "64-bit length 2^63-1, header only",
        long_header(u64::MAX >> 1),
        reject(vec![], 1009),
        None,
    );
    case(
        "frame of exactly the limit",
        f(FIN | BIN, &vec![7; LIMIT]),
        eof(vec![Ev::Binary(vec![7; LIMIT])]),
        None,
    );
    case(
        "frame one over the limit",
        f(FIN | BIN, &vec![7; LIMIT + 1]),
        reject(vec![], 1009),
        None,
    );
    case(
        "header of a frame over the limit, payload not sent",
        f(FIN | BIN, &vec![7; LIMIT + 1])[..14].to_vec(),
        reject(vec![], 1009),
        None,
    );
    case(
        "fragments over the limit",
        cat(&[
            f(BIN, &vec![1; LIMIT / 2]),
            f(FIN | CONT, &vec![2; LIMIT / 2 + 1]),
        ]),
        reject(vec![], 1009),
        None,
    );
    case(
        "fragments over the limit, last payload not sent",
        {
            let mut input = f(BIN, &vec![1; LIMIT / 2]);
            input.extend_from_slice(&f(FIN | CONT, &vec![2; LIMIT / 2 + 1])[..14]);
            input
        },
        reject(vec![], 1009),
        Some("rejected-before-the-frame-is-complete"),
    );

    // Control frames.
    case(
        "ping of 125 bytes",
        f(FIN | PING, &[9; 125]),
        eof(vec![Ev::Ping(vec![9; 125])]),
        None,
    );
    case(
        "ping of 126 bytes",
        f(FIN | PING, &[9; 126]),
        reject(vec![], 1002),
        None,
    );
    case(
        "pong of 126 bytes",
        f(FIN | PONG, &[9; 126]),
        reject(vec![], 1002),
        None,
    );
    let reason_123 = "r".repeat(123);
    case(
        "close of 125 bytes",
        f(FIN | CLOSE, &close_payload(1000, reason_123.as_bytes())),
        closed(vec![close_ev(1000, &reason_123)]),
        None,
    );
    case(
        "close of 126 bytes",
        f(FIN | CLOSE, &close_payload(1000, &[b'r'; 124])),
        reject(vec![], 1002),
        None,
    );
    case("fragmented ping", f(PING, b"p"), reject(vec![], 1002), None);
    case(
        "fragmented close",
        f(CLOSE, &close_payload(1000, b"")),
        reject(vec![], 1002),
        None,
    );
    case(
        "ping between fragments",
        cat(&[f(TEXT, b"ab"), f(FIN | PING, b"x"), f(FIN | CONT, b"cd")]),
        eof(vec![Ev::Ping(b"x".to_vec()), text("abcd")]),
        None,
    );
    case(
        "pong between fragments",
        cat(&[f(BIN, b"ab"), f(FIN | PONG, b""), f(FIN | CONT, b"cd")]),
        eof(vec![Ev::Pong(vec![]), Ev::Binary(b"abcd".to_vec())]),
        None,
    );
    case(
        "close between fragments",
        cat(&[
            f(TEXT, b"ab"),
            f(FIN | CLOSE, &close_payload(1001, b"")),
            f(FIN | CONT, b"cd"),
        ]),
        closed(vec![close_ev(1001, "")]),
        None,
    );
    case(
        "frames after a close are not decoded",
        cat(&[
            f(FIN | CLOSE, b""),
            f(FIN | TEXT, b"late"),
            vec![0xff, 0xff, 0xff],
        ]),
        closed(vec![Ev::Close(None)]),
        None,
    );

    // Fragmentation rules.
    case(
        "continuation without a start",
        f(FIN | CONT, b"x"),
        reject(vec![], 1002),
        None,
    );
    case(
        "non-final continuation without a start",
        f(CONT, b"x"),
        reject(vec![], 1002),
        None,
    );
    case(
        "new message inside a fragmented one",
        cat(&[f(TEXT, b"a"), f(FIN | BIN, b"b")]),
        reject(vec![], 1002),
        None,
    );
    case(
        "empty fragments",
        cat(&[f(TEXT, b""), f(CONT, b""), f(FIN | CONT, b"")]),
        eof(vec![text("")]),
        None,
    );
    case(
        "continuation without a start, over the limit",
        f(FIN | CONT, &vec![0; LIMIT + 1]),
        reject(vec![], 1002),
        Some("size-checked-before-other-header-rules"),
    );

    // Reserved bits and opcodes.
    for (name, first) in [
        ("RSV1 on text", FIN | RSV1 | TEXT),
        ("RSV2 on binary", FIN | RSV2 | BIN),
        ("RSV3 on ping", FIN | RSV3 | PING),
        ("RSV1 on close", FIN | RSV1 | CLOSE),
    ] {
        case(name, f(first, b"x"), reject(vec![], 1002), None);
    }
    case(
        "RSV1 on a continuation",
        cat(&[f(TEXT, b"a"), f(FIN | RSV1 | CONT, b"b")]),
        reject(vec![], 1002),
        None,
    );
    case(
        "RSV1 on a frame over the limit",
        f(FIN | RSV1 | BIN, &vec![0; LIMIT + 1]),
        reject(vec![], 1002),
        Some("size-checked-before-other-header-rules"),
    );
    for op in [0x3, 0x7, 0xb, 0xf] {
        case(
            &format!("reserved opcode {op:#x}"),
            f(FIN | op, b"x"),
            reject(vec![], 1002),
            None,
        );
    }
    case(
        "reserved opcode inside a fragmented message",
        cat(&[f(TEXT, b"a"), f(FIN | 0x3, b"b")]),
        reject(vec![], 1002),
        None,
    );
    case(
        "reserved opcode, stream cut after two bytes",
        vec![FIN | 0x3, 126 | if mask.is_some() { 0x80 } else { 0 }],
        reject(vec![], 1002),
        Some("rejected-before-the-frame-is-complete"),
    );

    // Close codes and reasons.
    case(
        "close without a payload",
        f(FIN | CLOSE, b""),
        closed(vec![Ev::Close(None)]),
        None,
    );
    case(
        "close with a 1-byte payload",
        f(FIN | CLOSE, &[0x03]),
        reject(vec![], 1002),
        None,
    );
    for code in [
        1000, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 3000, 3999, 4000, 4999,
    ] {
        case(
            &format!("close code {code}"),
            f(FIN | CLOSE, &close_payload(code, "bye ☃".as_bytes())),
            closed(vec![close_ev(code, "bye ☃")]),
            None,
        );
    }
    case(
        "close code 1014",
        f(FIN | CLOSE, &close_payload(1014, b"gw")),
        closed(vec![close_ev(1014, "gw")]),
        Some("close-code-1014"),
    );
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        case(
            &format!("close code {code}"),
            f(FIN | CLOSE, &close_payload(code, b"")),
            reject(vec![], 1002),
            Some("invalid-close-code-reported-as-close"),
        );
    }
    case(
        "close reason not UTF-8",
        f(FIN | CLOSE, &close_payload(1000, b"ok\xff")),
        reject(vec![], 1007),
        None,
    );
    case(
        "close reason ends mid code point",
        f(FIN | CLOSE, &close_payload(1000, b"\xe2\x82")),
        reject(vec![], 1007),
        None,
    );
    case(
        "close code 1005 with a reason not UTF-8",
        f(FIN | CLOSE, &close_payload(1005, b"\xff")),
        reject(vec![], 1002),
        Some("close-code-checked-before-reason-utf8"),
    );

    // UTF-8.
    case(
        "code point split across fragments",
        cat(&[f(TEXT, b"caf\xc3"), f(FIN | CONT, b"\xa9")]),
        eof(vec![text("café")]),
        None,
    );
    case(
        "4-byte code point over three fragments and a ping",
        cat(&[
            f(TEXT, b"\xf0"),
            f(CONT, b"\x9d"),
            f(FIN | PING, b""),
            f(FIN | CONT, b"\x84\x9e"),
        ]),
        eof(vec![Ev::Ping(vec![]), text("𝄞")]),
        None,
    );
    case(
        "text invalid only in the last fragment",
        cat(&[
            f(TEXT, b"hello "),
            f(CONT, b"world"),
            f(FIN | CONT, b"\xed\xa0\x80"),
        ]),
        reject(vec![], 1007),
        None,
    );
    case(
        "text ends mid code point",
        cat(&[f(TEXT, b"ok"), f(FIN | CONT, b"\xe2\x82")]),
        reject(vec![], 1007),
        None,
    );
    case(
        "single-frame text ends mid code point",
        f(FIN | TEXT, b"ok\xe2\x82"),
        reject(vec![], 1007),
        None,
    );
    for (name, bad) in [
        ("surrogate", &b"\xed\xa0\x80"[..]),
        ("overlong", b"\xc0\xaf"),
        ("above U+10FFFF", b"\xf4\x90\x80\x80"),
        ("lone continuation byte", b"\x80"),
    ] {
        case(
            &format!("text with a {name}"),
            f(FIN | TEXT, bad),
            reject(vec![], 1007),
            None,
        );
    }
    case(
        "invalid first fragment, message never finished",
        cat(&[f(TEXT, b"\xff"), f(CONT, b"more")]),
        reject(vec![], 1007),
        None,
    );
    case(
        "invalid UTF-8 early in a frame the stream does not finish",
        f(FIN | TEXT, &[b'\xff'; 100])[..40].to_vec(),
        reject(vec![], 1007),
        Some("rejected-before-the-frame-is-complete"),
    );
    case(
        "binary need not be UTF-8",
        f(FIN | BIN, b"\xff\xfe"),
        eof(vec![Ev::Binary(b"\xff\xfe".to_vec())]),
        None,
    );
    case(
        "messages then a partial frame",
        cat(&[
            f(FIN | TEXT, b"one"),
            f(FIN | BIN, b"two"),
            f(FIN | TEXT, b"three")[..3].to_vec(),
        ]),
        eof(vec![text("one"), Ev::Binary(b"two".to_vec())]),
        None,
    );

    // Masking, which depends on the role.
    match role {
        Role::Server => {
            case(
                "unmasked client frame",
                encode(FIN | BIN, b"x", None, LenForm::Minimal),
                reject(vec![], 1002),
                None,
            );
            case(
                "unmasked client frame, payload not sent",
                encode(FIN | BIN, &[0; 100], None, LenForm::Minimal)[..2].to_vec(),
                reject(vec![], 1002),
                Some("rejected-before-the-frame-is-complete"),
            );
            case(
                "unmasked client ping after a message",
                cat(&[
                    f(FIN | TEXT, b"a"),
                    encode(FIN | PING, b"", None, LenForm::Minimal),
                ]),
                reject(vec![text("a")], 1002),
                None,
            );
        }
        Role::Client => {
            case(
                "masked server frame",
                encode(FIN | BIN, b"x", Some(KEY), LenForm::Minimal),
                reject(vec![], 1002),
                None,
            );
            case(
                "masked server frame, payload not sent",
                encode(FIN | BIN, &[0; 100], Some(KEY), LenForm::Minimal)[..6].to_vec(),
                reject(vec![], 1002),
                Some("rejected-before-the-frame-is-complete"),
            );
        }
    }
    cases
}

fn hand_written_cases() -> Vec<HandCase> {
    let mut cases = cases_for(Role::Server);
    cases.extend(cases_for(Role::Client));
    cases
}

#[test]
fn hand_written_cases_agree_or_differ_as_known() {
    let mut failures = Vec::new();
    let cases = hand_written_cases();
    let known = cases.iter().filter(|c| c.known.is_some()).count();
    eprintln!(
        "hand-written cases: {} ({known} known differences), each fed 3 ways",
        cases.len()
    );
    for case in cases {
        for chunking in [Chunking::Whole, Chunking::Bytewise, Chunking::Random(7)] {
            let label = format!("{:?} / {} / {chunking:?}", case.role, case.name);
            match compare(case.role, &case.input, chunking) {
                Err(why) => failures.push(format!("{label}: {why}")),
                Ok((ours, known)) => {
                    if ours.outcome != case.ours {
                        failures.push(format!(
                            "{label}: ours {:?} (error {:?}), expected {:?}",
                            ours.outcome, ours.error, case.ours
                        ));
                    }
                    let known = known.map(|k| k.name);
                    if known != case.known {
                        failures.push(format!(
                            "{label}: difference {known:?}, expected {:?}",
                            case.known
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_known_difference_is_pinned_by_a_hand_written_case() {
    let cases = hand_written_cases();
    for known in KNOWN_DIFFERENCES {
        assert!(
            cases.iter().any(|c| c.known == Some(known.name)),
            "{known:?} is not exercised"
        );
        assert!(known.rfc.starts_with("RFC 6455 §"), "{known:?}");
        assert!(!known.verdict.is_empty());
    }
    for case in &cases {
        if let Some(name) = case.known {
            assert!(
                KNOWN_DIFFERENCES.iter().any(|k| k.name == name),
                "{}: unknown difference {name}",
                case.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated streams
// ---------------------------------------------------------------------------------------------

/// A generated stream with everything needed to check and mutate it.
struct Generated {
    bytes: Vec<u8>,
    events: Vec<Ev>,
    end: End,
    /// Where each frame header is.
    headers: Vec<Range<usize>>,
    /// Where each text or close payload is (on the wire, masked or not).
    payloads: Vec<Range<usize>>,
}

struct Generator<'a> {
    rng: &'a mut Rng,
    role: Role,
    out: Generated,
}

/// Characters for generated text: mostly ASCII, and every UTF-8 length with its boundaries.
const CHARS: &[char] = &[
    'a',
    'b',
    'z',
    ' ',
    '~',
    'a',
    'e',
    'o',
    '\u{7f}',
    'é',
    'ß',
    '\u{80}',
    '\u{7ff}',
    '€',
    '中',
    '\u{800}',
    '\u{ffff}',
    '\u{feff}',
    '𝄞',
    '😀',
    '\u{10000}',
    '\u{10ffff}',
];

/// Valid close codes for generated streams (1014 is a known difference, pinned by hand).
const CLOSE_CODES: &[u16] = &[
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000, 4999,
];

impl Generator<'_> {
    fn text(&mut self, max_bytes: usize) -> String {
        let mut s = String::new();
        loop {
            let c = *self.rng.pick(CHARS);
            if s.len() + c.len_utf8() > max_bytes {
                return s;
            }
            s.push(c);
        }
    }

    fn frame(&mut self, first: u8, payload: &[u8]) {
        let form = if self.rng.chance(10) {
            if payload.len() <= 0xffff && self.rng.chance(50) {
                LenForm::U16
            } else {
                LenForm::U64
            }
        } else {
            LenForm::Minimal
        };
        let mask = match self.role {
            Role::Server => Some([
                self.rng.next_u64() as u8,
                self.rng.next_u64() as u8,
                self.rng.next_u64() as u8,
                self.rng.next_u64() as u8,
            ]),
            Role::Client => None,
        };
        let encoded = encode(first, payload, mask, form);
        let start = self.out.bytes.len();
        let header_end = start + encoded.len() - payload.len();
        self.out.headers.push(start..header_end);
        if matches!(first & 0xf, TEXT | CONT | CLOSE) && !payload.is_empty() {
            self.out.payloads.push(header_end..start + encoded.len());
        }
        self.out.bytes.extend_from_slice(&encoded);
    }

    fn control(&mut self) {
        let payload = {
            let n = self.rng.range(0, 125);
            self.rng.bytes(n)
        };
        if self.rng.chance(50) {
            self.frame(FIN | PING, &payload);
            self.out.events.push(Ev::Ping(payload));
        } else {
            self.frame(FIN | PONG, &payload);
            self.out.events.push(Ev::Pong(payload));
        }
    }

    fn message(&mut self) {
        let size = match self.rng.range(0, 99) {
            0..=39 => self.rng.range(0, 20),
            40..=59 => self.rng.range(21, 200),
            60..=74 => *self.rng.pick(&[125, 126, 127, 65535, 65536]),
            75..=94 => self.rng.range(200, 5000),
            _ => self.rng.range(5000, LIMIT),
        };
        let is_text = self.rng.chance(50);
        let (opcode, payload, event) = if is_text {
            let s = self.text(size);
            (TEXT, s.as_bytes().to_vec(), Ev::Text(s))
        } else {
            let b = self.rng.bytes(size);
            (BIN, b.clone(), Ev::Binary(b))
        };
        let mut cuts: Vec<usize> = if self.rng.chance(50) {
            vec![]
        } else {
            let n = self.rng.range(1, 5);
            (0..n).map(|_| self.rng.range(0, payload.len())).collect()
        };
        cuts.sort_unstable();
        cuts.push(payload.len());
        let mut start = 0;
        for (i, &cut) in cuts.iter().enumerate() {
            let last = i + 1 == cuts.len();
            let first = match (i, last) {
                (0, true) => FIN | opcode,
                (0, false) => opcode,
                (_, true) => FIN | CONT,
                (_, false) => CONT,
            };
            self.frame(first, &payload[start..cut]);
            start = cut;
            if !last && self.rng.chance(30) {
                self.control();
            }
        }
        self.out.events.push(event);
    }

    /// A valid stream for the end `role`, with the events it must decode to.
    fn generate(rng: &mut Rng, role: Role) -> Generated {
        let mut g = Generator {
            rng,
            role,
            out: Generated {
                bytes: Vec::new(),
                events: Vec::new(),
                end: End::Eof,
                headers: Vec::new(),
                payloads: Vec::new(),
            },
        };
        for _ in 0..g.rng.range(0, 5) {
            if g.rng.chance(20) {
                g.control();
            }
            g.message();
        }
        match g.rng.range(0, 9) {
            0..=3 => {
                let code = *g.rng.pick(CLOSE_CODES);
                let reason = g.text(123);
                g.frame(FIN | CLOSE, &close_payload(code, reason.as_bytes()));
                g.out.events.push(Ev::Close(Some((code, reason))));
                g.out.end = End::Closed;
            }
            4 => {
                g.frame(FIN | CLOSE, b"");
                g.out.events.push(Ev::Close(None));
                g.out.end = End::Closed;
            }
            _ => {}
        }
        if g.out.end == End::Closed && g.rng.chance(50) {
            // Whatever follows a close is never decoded, not even garbage.
            let junk = {
                let n = g.rng.range(1, 40);
                g.rng.bytes(n)
            };
            g.out.bytes.extend_from_slice(&junk);
        }
        g.out
    }
}

const SEED: u64 = 0x6455_2011_0000_0001;

#[test]
fn generated_valid_streams_decode_as_generated_and_as_tungstenite_does() {
    let mut rng = Rng(SEED);
    let mut failures = Vec::new();
    let mut frames = 0;
    for i in 0..400 {
        for role in [Role::Server, Role::Client] {
            let g = Generator::generate(&mut rng, role);
            frames += g.headers.len();
            let expected = Outcome {
                events: g.events.clone(),
                end: g.end,
            };
            let mut chunkings = vec![Chunking::Whole, Chunking::Random(rng.next_u64())];
            if g.bytes.len() <= 4096 {
                chunkings.push(Chunking::Bytewise);
            }
            for chunking in chunkings {
                let label = format!("stream {i} {role:?} {chunking:?}");
                match compare(role, &g.bytes, chunking) {
                    Ok((ours, None)) if ours.outcome == expected => {}
                    Ok((ours, known)) => failures.push(format!(
                        "{label}: ours {:?} (error {:?}), generated {expected:?}, difference {known:?}",
                        ours.outcome, ours.error
                    )),
                    Err(why) => failures.push(format!("{label}: {why}")),
                }
            }
        }
    }
    assert!(frames > 2000, "the generator made only {frames} frames");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn mutated_streams_agree_or_differ_as_known() {
    let mut rng = Rng(SEED ^ 0xdead_beef);
    let mut failures = Vec::new();
    let mut agreed = [0usize; 3]; // Closed, Eof, Reject
    let mut differences = vec![0usize; KNOWN_DIFFERENCES.len()];
    for i in 0..3000 {
        let role = if i % 2 == 0 {
            Role::Server
        } else {
            Role::Client
        };
        let g = Generator::generate(&mut rng, role);
        let mut input = g.bytes.clone();
        if input.is_empty() {
            continue;
        }
        for _ in 0..rng.range(1, 3) {
            let pos = if g.payloads.is_empty() || rng.chance(80) {
                let header = rng.pick(&g.headers).clone();
                rng.range(header.start, header.end - 1)
            } else {
                let payload = rng.pick(&g.payloads).clone();
                rng.range(payload.start, payload.end - 1)
            };
            input[pos] ^= 1 << rng.range(0, 7);
        }
        if rng.chance(10) {
            let keep = rng.range(0, input.len());
            input.truncate(keep);
        }
        let chunking = Chunking::Random(rng.next_u64());
        match compare(role, &input, chunking) {
            Ok((ours, known)) => {
                let whole = run_ours(role, &input, Chunking::Whole);
                if whole.outcome != ours.outcome {
                    failures.push(format!(
                        "mutant {i}: ours depends on chunking: {:?} whole, {:?} {chunking:?}",
                        whole.outcome, ours.outcome
                    ));
                }
                match known {
                    Some(k) => {
                        let at = KNOWN_DIFFERENCES
                            .iter()
                            .position(|d| d.name == k.name)
                            .expect("from the table");
                        differences[at] += 1;
                    }
                    None => {
                        agreed[match ours.outcome.end {
                            End::Closed => 0,
                            End::Eof => 1,
                            End::Reject(_) => 2,
                        }] += 1;
                    }
                }
            }
            Err(why) => failures.push(format!(
                "mutant {i} ({} bytes, starts {:02x?}): {why}",
                input.len(),
                &input[..input.len().min(32)]
            )),
        }
    }
    eprintln!("mutated streams: agreed closed/eof/reject = {agreed:?}");
    for (k, n) in KNOWN_DIFFERENCES.iter().zip(&differences) {
        eprintln!("  known difference {}: {n}", k.name);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The mutants must reach both accepting and rejecting paths, or they test little.
    assert!(agreed[2] > 300, "only {} agreed rejections", agreed[2]);
    assert!(
        agreed[0] + agreed[1] > 100,
        "only {agreed:?} agreed acceptances"
    );
}
