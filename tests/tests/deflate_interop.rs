//! permessage-deflate (RFC 7692) against an independent implementation, yawc, in both roles
//! (yawc client ↔ our server, our client ↔ yawc server) and with every combination of
//! `server_no_context_takeover` × `client_no_context_takeover` × `server_max_window_bits` ∈
//! {8, 9, 12, 15} × `client_max_window_bits` ∈ {8, 9, 12, 15}.
//!
//! For each combination our end sends a script of messages (compressible JSON-like text of
//! 1 KiB and 64 KiB, random binary, empty messages, a message repeated for context takeover,
//! fragmented ones, one sent uncompressed on request) and yawc echoes each one back; the echo
//! must be byte-exact. yawc fragments what it sends at 8 KiB, so our inflater also sees a
//! compressed message split by someone else. A [`Recorder`] under the client keeps the bytes
//! on the wire, and the test checks from them that the agreed parameters are the combination
//! (the response header), that both ends really set RSV1, and that each sender resets its
//! compressor after every message exactly when the parameters say so (the repeated message
//! compresses to the same bytes every time) and keeps it otherwise.
//!
//! What yawc 0.5 cannot express (see `yawc::compression::WebSocketExtensions`'s `Display`): a
//! window of 8 bits. It writes `server_max_window_bits=8` and `client_max_window_bits=8` as
//! the bare parameter names. In an offer, a bare `client_max_window_bits` still means "I can
//! limit my window" (so our server asks for 8), but a bare `server_max_window_bits` is invalid
//! (our server declines such an offer, RFC 7692 §7.1.2.1); in a response both are invalid (our
//! client fails the handshake). So 8 bits is configured on our side, and against a yawc server
//! the handshake for those combinations is written by the test, after which yawc's codec runs
//! with the agreed header (`WebSocket::from_stream_with_extensions`). yawc compresses with 9
//! bits when 8 was agreed, as we do: zlib never emits a distance over 250 with 9 bits.

use std::convert::Infallible;
use std::net::SocketAddr;

use futures_util::SinkExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mywebsocket::{CloseCode, Config, DeflateConfig, Message, Upgrader, WebSocket, WriteOptions};
use mywebsocket_tests::{
    assert_same_bytes, bounded, find_header, group_messages, json_text, listen, random_bytes,
    spawn_accept, split_recording, ws_url, RawFrame, RawPeer, Recorder, Task,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use yawc::frame::OpCode as YawcOpCode;

/// Our [`DeflateConfig::threshold`] default: shorter messages go out uncompressed.
const THRESHOLD: usize = 64;

/// yawc splits what it sends into frames of this many (uncompressed) bytes.
const YAWC_FRAGMENT_SIZE: usize = 8 << 10;

/// The indices of the repeated message in [`script`].
const REPEATED: std::ops::Range<usize> = 7..10;

/// The four negotiated parameters of RFC 7692 §7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
}

impl Params {
    /// Every combination under test.
    fn all() -> Vec<Self> {
        let mut all = Vec::new();
        for server_no_context_takeover in [false, true] {
            for client_no_context_takeover in [false, true] {
                for server_max_window_bits in [8, 9, 12, 15] {
                    for client_max_window_bits in [8, 9, 12, 15] {
                        all.push(Self {
                            server_no_context_takeover,
                            client_no_context_takeover,
                            server_max_window_bits,
                            client_max_window_bits,
                        });
                    }
                }
            }
        }
        all
    }

    /// Whether yawc can write every parameter of this combination (no 8-bit window).
    fn yawc_can_express(&self) -> bool {
        self.server_max_window_bits > 8 && self.client_max_window_bits > 8
    }

    /// The parameters a `Sec-WebSocket-Extensions` response agrees on; an absent window
    /// parameter means 15 bits.
    ///
    /// # Panics
    /// If the response is not exactly one permessage-deflate with valid parameters.
    fn from_response(value: &str) -> Self {
        let mut params = value.split(';').map(str::trim);
        assert_eq!(
            params.next(),
            Some("permessage-deflate"),
            "response {value:?}"
        );
        let mut agreed = Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        for param in params {
            let (key, bits) = match param.split_once('=') {
                Some((key, bits)) => {
                    let bits = bits.trim().trim_matches('"');
                    let bits = bits
                        .parse()
                        .unwrap_or_else(|_| panic!("window bits in {value:?}"));
                    (key.trim(), Some(bits))
                }
                None => (param, None),
            };
            match (key, bits) {
                ("server_no_context_takeover", None) => agreed.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => agreed.client_no_context_takeover = true,
                ("server_max_window_bits", Some(bits)) => agreed.server_max_window_bits = bits,
                ("client_max_window_bits", Some(bits)) => agreed.client_max_window_bits = bits,
                _ => panic!("unexpected parameter {param:?} in response {value:?}"),
            }
        }
        agreed
    }

    /// Our configuration asking for (client) or imposing (server) all four parameters.
    fn our_config(&self) -> DeflateConfig {
        DeflateConfig::default()
            .server_no_context_takeover(self.server_no_context_takeover)
            .client_no_context_takeover(self.client_no_context_takeover)
            .server_max_window_bits(self.server_max_window_bits)
            .client_max_window_bits(self.client_max_window_bits)
    }

    /// A response header agreeing on exactly these parameters, written by the test.
    fn response_header(&self) -> String {
        let mut value = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        value.push_str(&format!(
            "; server_max_window_bits={}; client_max_window_bits={}",
            self.server_max_window_bits, self.client_max_window_bits
        ));
        value
    }
}

/// yawc's compression settings: level 1, every message compressed except empty ones
/// (threshold 1). yawc 0.5 loops forever compressing an empty message after a message when it
/// keeps its context: the second sync flush in a row makes zlib return `BufError` without
/// output, and `Deflate::flush` waits for the flush tail that never comes.
fn yawc_deflate(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
) -> yawc::Options {
    let deflate = yawc::DeflateOptions {
        level: yawc::CompressionLevel::fast(),
        server_max_window_bits,
        client_max_window_bits,
        server_no_context_takeover,
        client_no_context_takeover,
        compression_threshold: 1,
        pool: None,
    };
    yawc::Options {
        compression: Some(deflate),
        ..yawc::Options::default()
    }
    .with_utf8()
    .with_max_fragment_size(YAWC_FRAGMENT_SIZE)
}

/// One message our end sends, and how.
struct Step {
    what: &'static str,
    message: Message,
    opts: WriteOptions,
}

impl Step {
    fn new(what: &'static str, message: Message, opts: WriteOptions) -> Self {
        Self {
            what,
            message,
            opts,
        }
    }

    /// Whether our end compresses it.
    fn compressed(&self) -> bool {
        self.opts
            .compress
            .unwrap_or(self.message.len() >= THRESHOLD)
    }
}

/// The messages our end sends in every combination.
fn script() -> Vec<Step> {
    let default = WriteOptions::default();
    // Random hex: no match inside the message, so only the previous copy (context takeover)
    // can make a repeat smaller.
    let repeated: String = random_bytes(512, 7)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let steps = vec![
        Step::new("1 KiB JSON", Message::text(json_text(1 << 10, 1)), default),
        Step::new(
            "64 KiB JSON",
            Message::text(json_text(64 << 10, 2)),
            default,
        ),
        Step::new(
            "16 KiB random binary",
            Message::binary(random_bytes(16 << 10, 3)),
            default,
        ),
        Step::new("empty binary", Message::binary(Vec::new()), default),
        Step::new("empty text", Message::text(""), default),
        Step::new(
            "empty binary, compress(true)",
            Message::binary(Vec::new()),
            default.compress(true),
        ),
        Step::new("2 bytes, under the threshold", Message::text("hi"), default),
        Step::new(
            "repeated 1 KiB, 1st",
            Message::text(repeated.clone()),
            default,
        ),
        Step::new(
            "repeated 1 KiB, 2nd",
            Message::text(repeated.clone()),
            default,
        ),
        Step::new("repeated 1 KiB, 3rd", Message::text(repeated), default),
        Step::new(
            "64 KiB JSON in 1000-byte fragments",
            Message::text(json_text(64 << 10, 4)),
            default.fragment_size(1000),
        ),
        Step::new(
            "20 KiB random binary in 4 KiB fragments",
            Message::binary(random_bytes(20 << 10, 5)),
            default.fragment_size(4 << 10),
        ),
        Step::new(
            "1 KiB JSON, compress(false)",
            Message::text(json_text(1 << 10, 6)),
            default.compress(false),
        ),
        Step::new(
            "4 KiB JSON, compress(false), in 1000-byte fragments",
            Message::text(json_text(4 << 10, 8)),
            default.compress(false).fragment_size(1000),
        ),
        Step::new(
            "4 bytes, compress(true)",
            Message::text("tiny"),
            default.compress(true),
        ),
    ];
    assert!(steps[REPEATED.start].what.starts_with("repeated"));
    steps
}

/// Sends every step, checks each echo byte for byte, then closes.
async fn drive(ws: &mut WebSocket, steps: &[Step], ctx: &str) {
    let writer = ws.writer();
    for step in steps {
        writer
            .write_message_with(step.message.clone(), &step.opts)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: {}: write: {e}", step.what));
        let echo = ws
            .read_msg()
            .await
            .unwrap_or_else(|e| panic!("{ctx}: {}: read the echo: {e}", step.what));
        assert_eq!(
            echo.is_text(),
            step.message.is_text(),
            "{ctx}: {}: message type",
            step.what
        );
        assert_same_bytes(
            echo.as_bytes(),
            step.message.as_bytes(),
            &format!("{ctx}: {}", step.what),
        );
    }
    ws.close(CloseCode::NORMAL, "done")
        .await
        .unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
}

/// yawc's side: echoes every data message until the peer's close, which yawc answers.
async fn yawc_echo<S>(mut ws: yawc::WebSocket<S>) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut closed = false;
    loop {
        match ws.next_frame().await {
            Ok(frame) => match frame.opcode() {
                YawcOpCode::Text | YawcOpCode::Binary => {
                    ws.send(frame)
                        .await
                        .map_err(|e| format!("yawc send: {e}"))?;
                }
                YawcOpCode::Close => closed = true,
                _ => {}
            },
            // Returned once the close answer is flushed.
            Err(yawc::WebSocketError::ConnectionClosed) if closed => return Ok(()),
            Err(e) => return Err(format!("yawc read: {e}")),
        }
    }
}

/// The total payload size of a message's frames.
fn wire_len(frames: &[RawFrame]) -> usize {
    frames.iter().map(|f| f.payload.len()).sum()
}

/// Checks one sender's repeated message: the same compressed bytes each time when it must
/// reset its context, and much smaller repeats when it keeps it and the window holds the
/// previous copy.
fn check_context_takeover(messages: &[Vec<RawFrame>], resets: bool, bits: u8, who: &str) {
    let copies: Vec<&[RawFrame]> = REPEATED.map(|i| messages[i].as_slice()).collect();
    let sizes: Vec<usize> = copies.iter().map(|m| wire_len(m)).collect();
    if resets {
        for copy in &copies[1..] {
            assert_eq!(
                copy[0].payload, copies[0][0].payload,
                "{who}: no context takeover, so a repeated message compresses the same \
                 (sizes {sizes:?})"
            );
        }
    } else if bits >= 12 {
        assert!(
            sizes[1] * 4 < sizes[0] && sizes[2] * 4 < sizes[0],
            "{who}: context takeover with {bits} window bits should make repeats small: \
             sizes {sizes:?}"
        );
    }
}

/// What the wire must show: every message of ours and every echo, with RSV1 on the first
/// frame exactly when the message was compressed, fragments where asked for, and each
/// sender's context handling as agreed.
fn check_wire(
    steps: &[Step],
    ours: &[RawFrame],
    theirs: &[RawFrame],
    agreed: Params,
    we_are_server: bool,
    ctx: &str,
) {
    let ours = group_messages(ours);
    let theirs = group_messages(theirs);
    assert_eq!(ours.len(), steps.len(), "{ctx}: messages we sent");
    assert_eq!(theirs.len(), steps.len(), "{ctx}: messages yawc echoed");
    for (i, step) in steps.iter().enumerate() {
        let what = format!("{ctx}: {}", step.what);
        assert_eq!(
            ours[i][0].header.rsv1,
            step.compressed(),
            "{what}: RSV1 on our first frame"
        );
        assert!(
            ours[i][1..].iter().all(|f| !f.header.rsv1),
            "{what}: RSV1 on a continuation frame"
        );
        if step.opts.fragment_size.is_some() {
            assert!(
                ours[i].len() > 1,
                "{what}: we sent one frame, not fragments"
            );
        }
        // yawc compresses everything but empty messages (threshold 1).
        if !step.message.is_empty() {
            assert!(
                theirs[i][0].header.rsv1,
                "{what}: yawc's echo not compressed"
            );
        }
        if step.message.len() > YAWC_FRAGMENT_SIZE {
            assert!(theirs[i].len() > 1, "{what}: yawc's echo not fragmented");
        }
    }
    let (server, client) = if we_are_server {
        (&ours, &theirs)
    } else {
        (&theirs, &ours)
    };
    check_context_takeover(
        server,
        agreed.server_no_context_takeover,
        agreed.server_max_window_bits,
        &format!("{ctx}: server"),
    );
    check_context_takeover(
        client,
        agreed.client_no_context_takeover,
        agreed.client_max_window_bits,
        &format!("{ctx}: client"),
    );
}

/// Who states the parameters in the handshake.
#[derive(Debug, Clone, Copy)]
enum Asker {
    /// The client offers the combination (where it can express it); the server accepts.
    Client,
    /// The client offers permessage-deflate without restrictions (only
    /// `client_max_window_bits=15`, so that a smaller client window may be asked for); our
    /// server's configuration imposes the combination.
    Server,
}

/// yawc client ↔ our server, for one combination.
async fn yawc_client_round_trip(params: Params, asker: Asker) {
    let ctx = format!("yawc client, our server, {asker:?} asks, {params:?}");
    let (ours, theirs) = match asker {
        Asker::Client => (
            // yawc cannot write server_max_window_bits=8 (it sends a bare, invalid parameter),
            // so 8 bits for the server is our server's own limit; for the client it sends a
            // bare client_max_window_bits ("I can limit my window"), and our server asks for 8.
            DeflateConfig::default()
                .server_max_window_bits(if params.server_max_window_bits == 8 {
                    8
                } else {
                    15
                })
                .client_max_window_bits(if params.client_max_window_bits == 8 {
                    8
                } else {
                    15
                }),
            yawc_deflate(
                params.server_no_context_takeover,
                params.client_no_context_takeover,
                (params.server_max_window_bits > 8).then_some(params.server_max_window_bits),
                Some(params.client_max_window_bits),
            ),
        ),
        // The offer says `client_max_window_bits=15`, which lets our server choose a smaller
        // client window.
        Asker::Server => (
            params.our_config(),
            yawc_deflate(false, false, None, Some(15)),
        ),
    };
    let config = Config::default().no_heartbeat().deflate(Some(ours));
    let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (tcp, recording) = Recorder::new(tcp);
    let url = ws_url(addr).parse().expect("a ws:// URL");
    let client = yawc::WebSocket::handshake(url, tcp, theirs)
        .await
        .unwrap_or_else(|e| panic!("{ctx}: yawc handshake: {e}"));
    let mut server = accept.join().await.expect("our server's handshake");
    assert!(
        server.is_compressed(),
        "{ctx}: our server did not negotiate"
    );
    let echo = Task::spawn(yawc_echo(client));
    let steps = script();
    drive(&mut server, &steps, &ctx).await;
    echo.join()
        .await
        .unwrap_or_else(|e| panic!("{ctx}: yawc: {e}"));

    let (response, from_us) = split_recording(&recording.read());
    let (_, from_yawc) = split_recording(&recording.written());
    let header = find_header(&response, "sec-websocket-extensions")
        .unwrap_or_else(|| panic!("{ctx}: our response has no Sec-WebSocket-Extensions"));
    let agreed = Params::from_response(header);
    assert_eq!(agreed, params, "{ctx}: our response {header:?}");
    check_wire(&steps, &from_us, &from_yawc, agreed, true, &ctx);
}

/// A yawc server behind hyper for one connection, echoing.
async fn spawn_yawc_server(options: yawc::Options) -> (SocketAddr, Task<Result<(), String>>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let tx = tx.clone();
            let options = options.clone();
            async move {
                let response = match yawc::WebSocket::upgrade_with_options(&mut req, options) {
                    Ok((response, upgrade)) => {
                        let _ = tx.send(upgrade);
                        response
                    }
                    Err(e) => panic!("yawc refused the upgrade: {e}"),
                };
                Ok::<_, Infallible>(response)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        let session = async move {
            let upgrade = rx.recv().await.ok_or("no upgrade request")?;
            let ws = upgrade.await.map_err(|e| format!("hyper upgrade: {e}"))?;
            yawc_echo(ws).await
        };
        let (served, outcome) = tokio::join!(conn, session);
        served.map_err(|e| format!("hyper: {e}"))?;
        outcome
    });
    (addr, task)
}

/// A yawc server for one connection whose handshake is written by the test, answering with
/// `params`: for what yawc cannot write itself.
async fn spawn_yawc_server_by_hand(
    params: Params,
    options: yawc::Options,
) -> (SocketAddr, Task<Result<(), String>>) {
    let (listener, addr) = listen().await;
    let task = Task::spawn(async move {
        let header = params.response_header();
        let (peer, _request) = RawPeer::accept_with(
            &listener,
            &format!("Sec-WebSocket-Extensions: {header}\r\n"),
            &[],
        )
        .await;
        let (tcp, rest) = peer.into_parts();
        // Our client waits for the response before it sends a frame.
        assert!(rest.is_empty(), "bytes after the request");
        let ws = yawc::WebSocket::from_stream_with_extensions(
            tcp,
            yawc::Role::Server,
            Some(&header),
            options,
        )
        .map_err(|e| format!("yawc from_stream: {e}"))?;
        yawc_echo(ws).await
    });
    (addr, task)
}

/// Who states the parameters against a yawc server.
#[derive(Debug, Clone, Copy)]
enum ServerSide {
    /// Our client offers the combination; yawc accepts what it is offered.
    ClientAsks,
    /// Our client offers permessage-deflate without restrictions (the default offer with a
    /// 15-bit window, where the default asks for 13);
    /// yawc's configuration imposes the combination.
    ServerImposes,
    /// Our client offers the combination; the test writes the response (8-bit windows).
    ByHand,
}

/// Our client ↔ yawc server, for one combination.
async fn yawc_server_round_trip(params: Params, side: ServerSide) {
    let ctx = format!("our client, yawc server, {side:?}, {params:?}");
    let (ours, (addr, server)) = match side {
        // `client_max_window_bits: Some(15)`: yawc answers our bare offer with 15 rather than
        // its default of 9, and keeps what we offer otherwise.
        ServerSide::ClientAsks => (
            params.our_config(),
            spawn_yawc_server(yawc_deflate(false, false, None, Some(15))).await,
        ),
        ServerSide::ServerImposes => (
            DeflateConfig::default().client_max_window_bits(15),
            spawn_yawc_server(yawc_deflate(
                params.server_no_context_takeover,
                params.client_no_context_takeover,
                Some(params.server_max_window_bits),
                Some(params.client_max_window_bits),
            ))
            .await,
        ),
        ServerSide::ByHand => (
            params.our_config(),
            spawn_yawc_server_by_hand(params, yawc_deflate(false, false, None, None)).await,
        ),
    };
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (tcp, recording) = Recorder::new(tcp);
    let request = http::Request::get(ws_url(addr))
        .body(())
        .expect("a request");
    let config = Config::default().no_heartbeat().deflate(Some(ours));
    let (mut client, response) = mywebsocket::connect_with(tcp, request, config)
        .await
        .unwrap_or_else(|e| panic!("{ctx}: our client's handshake: {e}"));
    assert!(
        client.is_compressed(),
        "{ctx}: our client did not negotiate"
    );
    let header = response
        .headers()
        .get(http::header::SEC_WEBSOCKET_EXTENSIONS)
        .unwrap_or_else(|| panic!("{ctx}: yawc's response has no Sec-WebSocket-Extensions"))
        .to_str()
        .expect("ASCII header");
    let agreed = Params::from_response(header);
    assert_eq!(agreed, params, "{ctx}: yawc's response {header:?}");
    let steps = script();
    drive(&mut client, &steps, &ctx).await;
    server
        .join()
        .await
        .unwrap_or_else(|e| panic!("{ctx}: yawc: {e}"));

    let (_, from_us) = split_recording(&recording.written());
    let (_, from_yawc) = split_recording(&recording.read());
    check_wire(&steps, &from_us, &from_yawc, agreed, false, &ctx);
}

/// The combinations with both no-context-takeover flags as given.
fn combos(server_no_context_takeover: bool, client_no_context_takeover: bool) -> Vec<Params> {
    Params::all()
        .into_iter()
        .filter(|p| {
            p.server_no_context_takeover == server_no_context_takeover
                && p.client_no_context_takeover == client_no_context_takeover
        })
        .collect()
}

/// Both roles and every way of stating the parameters, for the combinations with the given
/// context-takeover flags; each connection is bounded on its own.
async fn all_round_trips(server_no_context_takeover: bool, client_no_context_takeover: bool) {
    for params in combos(server_no_context_takeover, client_no_context_takeover) {
        bounded(yawc_client_round_trip(params, Asker::Client)).await;
        bounded(yawc_client_round_trip(params, Asker::Server)).await;
        if params.yawc_can_express() {
            bounded(yawc_server_round_trip(params, ServerSide::ClientAsks)).await;
            bounded(yawc_server_round_trip(params, ServerSide::ServerImposes)).await;
        } else {
            bounded(yawc_server_round_trip(params, ServerSide::ByHand)).await;
        }
    }
}

#[tokio::test]
async fn round_trips_with_context_takeover_both_ways() {
    all_round_trips(false, false).await;
}

#[tokio::test]
async fn round_trips_with_server_no_context_takeover() {
    all_round_trips(true, false).await;
}

#[tokio::test]
async fn round_trips_with_client_no_context_takeover() {
    all_round_trips(false, true).await;
}

#[tokio::test]
async fn round_trips_with_no_context_takeover_both_ways() {
    all_round_trips(true, true).await;
}
