//! Conformance over HTTP/2 (RFC 8441): Autobahn does not speak HTTP/2, so the cross-checks the
//! HTTP/1.1 tests run are run here over HTTP/2 streams, in both roles, with the same tables
//! (`mywebsocket_tests::cases`):
//!
//! - our server (`h2::serve_connection`) against the h2 crate's client sending frames by hand
//!   ([`H2Client`], [`H2Peer`]): the differential scripts (`differential.rs`), read as
//!   tokio-tungstenite reads them over an HTTP/2 stream too, and every rule break with its
//!   error and close code (`violations.rs`);
//! - our client (`Http2Connection`) against the h2 crate's server answering by hand
//!   ([`H2Server`]): the same, with a server's (unmasked) frames;
//! - our client against our server on one connection: pings with each payload both ways
//!   (`ping_pong.rs`), fragmented writes arriving whole (`fragmentation.rs`), the closing
//!   handshake and the codes that may not be sent (`close.rs`), and 1009 over the limit.
//!
//! Each role runs every case of a table as a stream of one HTTP/2 connection, so a stream that
//! fails must not disturb the next.

use std::net::SocketAddr;
use std::time::Duration;

use h2::Reason;
use mywebsocket::h2::Http2Connection;
use mywebsocket::{
    CloseCode, Config, Error, HandshakeError, Initiator, Message, Upgrader, WebSocket, WriteOptions,
};
use mywebsocket_tests::cases::{
    check_fragments, exchange_cases, multibyte_text, ping_payloads, read_ours, read_tungstenite,
    tungstenite_config, violations, Keys, Outcome, Violation, LIMIT, UNSENDABLE_CLOSE_CODES,
};
use mywebsocket_tests::{
    assert_closed, assert_closed_by, assert_closed_without_frame, assert_same_bytes, bounded,
    encode_frame, listen, pattern, raw_frame, spawn_our_h2_server, H2Client, H2Peer, H2Server,
    Task,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::Role;

fn limited() -> Config {
    Config::default().max_message_size(LIMIT)
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// A server by hand and a client by hand, on one HTTP/2 connection.
async fn raw_pair() -> (H2Server, H2Client) {
    let (listener, addr) = listen().await;
    let server = Task::spawn(async move { H2Server::accept(&listener).await });
    let client = H2Client::connect(addr).await;
    (server.join().await, client)
}

/// Reads the raw peer's side until the other side's close frame (its answer, or the close
/// that fails the connection), as a server does before it ends the connection; every frame
/// must be masked exactly when `masked` (from a client).
async fn until_close(peer: &mut H2Peer, masked: bool) {
    while let Ok(Some(frame)) = peer.read_frame().await {
        assert_eq!(frame.header.mask.is_some(), masked, "{:?}", frame.header);
        if frame.header.opcode == OpCode::Control(Control::Close) {
            break;
        }
    }
}

/// Asserts that ours and tungstenite agreed on every case: `(name, ours, theirs)`.
fn assert_agree(outcomes: &[(&str, Outcome, Outcome)]) {
    let disagreements: Vec<String> = outcomes
        .iter()
        .filter(|(_, ours, theirs)| ours != theirs)
        .map(|(name, ours, theirs)| format!("{name}:\n  ours   {ours:?}\n  theirs {theirs:?}"))
        .collect();
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[tokio::test]
async fn our_h2_server_reads_the_exchange_table_like_tungstenite() {
    bounded(async {
        // Ours: serve_connection, every case a stream of one connection from a raw client.
        let (addr, _server, mut accepted) = spawn_our_h2_server(Upgrader::new(limited())).await;
        let ours_client = H2Client::connect(addr).await;
        // Theirs: tungstenite as the server of streams answered by hand.
        let (mut their_server, their_client) = raw_pair().await;

        let cases = exchange_cases(&Keys::CLIENT);
        assert_eq!(
            cases.len(),
            30,
            "the exchange table changed: update the report"
        );
        let mut outcomes = Vec::new();
        for (name, frames) in cases {
            let bytes = frames.concat();
            let mut peer = ours_client.websocket("/").await;
            let mut ws = accepted.recv().await.expect("our server's WebSocket");
            peer.send_bytes(&bytes).await;
            let ours = read_ours(&mut ws).await;
            // What our server sent on the stream (its close, a pong) is unmasked.
            until_close(&mut peer, false).await;
            // The same bytes a byte per DATA frame read the same.
            let mut peer = ours_client.websocket("/").await;
            let mut ws = accepted.recv().await.expect("our server's WebSocket");
            peer.send_bytes_in_chunks(&bytes, 1).await;
            let ours_bytewise = read_ours(&mut ws).await;
            until_close(&mut peer, false).await;

            let ((io, _), mut peer) = tokio::join!(
                their_server.websocket_with(&[], &[]),
                their_client.websocket("/")
            );
            peer.send_bytes(&bytes).await;
            let mut ws =
                WebSocketStream::from_raw_socket(io, Role::Server, Some(tungstenite_config()))
                    .await;
            let theirs = read_tungstenite(&mut ws).await;
            assert_eq!(ours, ours_bytewise, "{name}: a byte per DATA frame");
            outcomes.push((name, ours, theirs));
        }
        assert_agree(&outcomes);
    })
    .await;
}

#[tokio::test]
async fn our_h2_client_reads_the_exchange_table_like_tungstenite() {
    bounded(async {
        // Ours: Http2Connection, every case a stream of one connection to a raw server.
        let (listener, addr) = listen().await;
        let accept = Task::spawn(async move { H2Server::accept(&listener).await });
        let connection = Http2Connection::connect(&url(addr)).await.unwrap();
        let mut our_server = accept.join().await;
        let (mut their_server, their_client) = raw_pair().await;

        let cases = exchange_cases(&Keys::SERVER);
        assert_eq!(
            cases.len(),
            30,
            "the exchange table changed: update the report"
        );
        let target = url(addr);
        let mut outcomes = Vec::new();
        for (name, frames) in cases {
            let bytes = frames.concat();
            let (opened, mut peer) = tokio::join!(
                connection.websocket(&target, limited()),
                our_server.websocket(&bytes)
            );
            let (mut ws, response) = opened.unwrap();
            assert_eq!(response.status(), 200);
            // The server ends the stream once it has our close, as it would end TCP; our
            // client waits for that before its read ends.
            let (ours, ()) = tokio::join!(read_ours(&mut ws), async move {
                until_close(&mut peer, true).await;
                drop(peer);
            });

            // The same bytes a byte per DATA frame read the same.
            let (opened, mut peer) = tokio::join!(
                connection.websocket(&target, limited()),
                our_server.websocket(&[])
            );
            let (mut ws, _) = opened.unwrap();
            let chunked = &bytes;
            let (ours_bytewise, ()) = tokio::join!(read_ours(&mut ws), async move {
                peer.send_bytes_in_chunks(chunked, 1).await;
                until_close(&mut peer, true).await;
                drop(peer);
            });
            assert_eq!(ours, ours_bytewise, "{name}: a byte per DATA frame");

            let (mut peer, client) =
                tokio::join!(their_server.websocket(&bytes), their_client.websocket("/"));
            let mut ws = WebSocketStream::from_raw_socket(
                client.into_io(),
                Role::Client,
                Some(tungstenite_config()),
            )
            .await;
            let theirs = read_tungstenite(&mut ws).await;
            drop(ws);
            until_close(&mut peer, true).await;
            outcomes.push((name, ours, theirs));
        }
        assert_agree(&outcomes);
    })
    .await;
}

/// Asserts that our read on `ws` fails as `violation` says, soon.
async fn assert_fails(ws: &mut WebSocket, violation: &Violation) {
    let name = violation.name;
    let err = tokio::time::timeout(Duration::from_secs(5), ws.read_msg())
        .await
        .unwrap_or_else(|_| panic!("{name}: no error within 5 s"))
        .unwrap_err();
    assert!(
        violation.expected.matches(&err),
        "{name}: expected {:?}, got {err:?}",
        violation.expected
    );
}

#[tokio::test]
async fn rule_breaks_from_a_raw_h2_client_get_their_close_codes() {
    bounded(async {
        let (addr, _server, mut accepted) = spawn_our_h2_server(Upgrader::new(limited())).await;
        let client = H2Client::connect(addr).await;
        let table = violations(&Keys::CLIENT);
        assert_eq!(table.len(), 21, "the table changed: update the report");
        for violation in table {
            let mut peer = client.websocket("/").await;
            let mut ws = accepted.recv().await.expect("our server's WebSocket");
            for frame in violation.frames.iter().cloned() {
                peer.send_frame(frame).await;
            }
            assert_fails(&mut ws, &violation).await;
            let (code, _) = peer.read_close().await;
            assert_eq!(code, violation.code, "{}: close code", violation.name);
            // Then our server ends the stream, as it ends TCP over HTTP/1.1.
            peer.expect_eof().await;
        }
        // The connection outlived every failed stream.
        let mut peer = client.websocket("/").await;
        let mut ws = accepted.recv().await.unwrap();
        peer.send_frame(raw_frame(
            true,
            OpCode::Data(Data::Text),
            &b"still here"[..],
            Keys::CLIENT.proper,
        ))
        .await;
        assert_eq!(ws.read_msg().await.unwrap(), Message::text("still here"));
    })
    .await;
}

#[tokio::test]
async fn rule_breaks_from_a_raw_h2_server_get_their_close_codes() {
    bounded(async {
        let (listener, addr) = listen().await;
        let accept = Task::spawn(async move { H2Server::accept(&listener).await });
        let connection = Http2Connection::connect(&url(addr)).await.unwrap();
        let mut server = accept.join().await;
        let target = url(addr);
        let table = violations(&Keys::SERVER);
        assert_eq!(table.len(), 21, "the table changed: update the report");
        for violation in table {
            let bytes: Vec<u8> = violation
                .frames
                .iter()
                .cloned()
                .flat_map(encode_frame)
                .collect();
            let (opened, mut peer) = tokio::join!(
                connection.websocket(&target, limited()),
                server.websocket(&bytes)
            );
            let (mut ws, _) = opened.unwrap();
            assert_fails(&mut ws, &violation).await;
            let (code, _) = peer.read_close().await;
            assert_eq!(code, violation.code, "{}: close code", violation.name);
            peer.expect_eof().await;
        }
    })
    .await;
}

/// Our client and our server over one HTTP/2 connection: `pairs` opens a WebSocket and
/// returns both ends.
struct OursOverH2 {
    connection: Http2Connection,
    accepted: UnboundedReceiver<WebSocket>,
    addr: SocketAddr,
    _server: Task<()>,
}

impl OursOverH2 {
    async fn start(upgrader: Upgrader) -> Self {
        let (addr, server, accepted) = spawn_our_h2_server(upgrader).await;
        let connection = Http2Connection::connect(&url(addr)).await.unwrap();
        Self {
            connection,
            accepted,
            addr,
            _server: server,
        }
    }

    /// (client, server)
    async fn pair(&mut self, config: Config) -> (WebSocket, WebSocket) {
        let (client, response) = self
            .connection
            .websocket(&url(self.addr), config)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let server = self.accepted.recv().await.expect("our server's WebSocket");
        (client, server)
    }
}

/// A config whose pings and pongs are each sent to a receiver.
fn recording() -> (
    Config,
    UnboundedReceiver<Vec<u8>>,
    UnboundedReceiver<Vec<u8>>,
) {
    let (ping_tx, pings) = unbounded_channel();
    let (pong_tx, pongs) = unbounded_channel();
    let config = Config::default()
        .on_ping(move |p: &[u8]| {
            let _ = ping_tx.send(p.to_vec());
        })
        .on_pong(move |p: &[u8]| {
            let _ = pong_tx.send(p.to_vec());
        });
    (config, pings, pongs)
}

/// `from` pings `to` with every payload; `to` sees each ping and answers, and the pong
/// reaches `from`'s handler, with both reading.
async fn pings_get_pongs(
    from: &mut WebSocket,
    from_pongs: &mut UnboundedReceiver<Vec<u8>>,
    to: &mut WebSocket,
    to_pings: &mut UnboundedReceiver<Vec<u8>>,
) -> usize {
    let payloads = ping_payloads();
    for payload in &payloads {
        from.ping(payload.clone()).await.unwrap();
        let got = tokio::select! {
            got = from_pongs.recv() => got.unwrap(),
            other = from.read_msg() => panic!("read ended first: {other:?}"),
            other = to.read_msg() => panic!("read ended first: {other:?}"),
        };
        assert_eq!(&got, payload);
        assert_eq!(&to_pings.recv().await.unwrap(), payload);
    }
    payloads.len()
}

#[tokio::test]
async fn our_client_and_server_over_h2_ping_with_every_payload() {
    bounded(async {
        let (server_config, mut server_pings, mut server_pongs) = recording();
        let mut ours = OursOverH2::start(Upgrader::new(server_config)).await;
        let (client_config, mut client_pings, mut client_pongs) = recording();
        let (mut client, mut server) = ours.pair(client_config).await;
        let n = pings_get_pongs(
            &mut client,
            &mut client_pongs,
            &mut server,
            &mut server_pings,
        )
        .await;
        let m = pings_get_pongs(
            &mut server,
            &mut server_pongs,
            &mut client,
            &mut client_pings,
        )
        .await;
        assert_eq!((n, m), (4, 4));
        // Payloads over 125 bytes are refused on both sides, which stay open.
        for ws in [&client, &server] {
            assert!(matches!(
                ws.ping(vec![0u8; 126]).await,
                Err(Error::InvalidInput(_))
            ));
        }
        client.write_string("after").await.unwrap();
        assert_eq!(server.read_msg().await.unwrap(), Message::text("after"));
    })
    .await;
}

/// Fragment sizes each direction writes with: 1 byte, sizes that split code points, about a
/// frame's worth, and more than the message.
const FRAGMENT_SIZES: [usize; 6] = [1, 7, 13, 999, 4096, 1 << 20];

#[tokio::test]
async fn fragmented_writes_arrive_whole_over_h2_both_ways() {
    bounded(async {
        let mut ours = OursOverH2::start(Upgrader::default()).await;
        let text = multibyte_text(5000);
        let data = pattern(100_000, 8);
        for size in FRAGMENT_SIZES {
            let (mut client, mut server) = ours.pair(Config::default()).await;
            let opts = WriteOptions::default().fragment_size(size);
            for client_writes in [true, false] {
                let (from, to) = if client_writes {
                    (&mut client, &mut server)
                } else {
                    (&mut server, &mut client)
                };
                from.write_string_with(text.as_str(), &opts).await.unwrap();
                from.write_binary_with(data.clone(), &opts).await.unwrap();
                assert_eq!(to.read_msg().await.unwrap(), Message::text(text.as_str()));
                let msg = to.read_msg().await.unwrap();
                assert!(msg.is_binary(), "fragment size {size}");
                assert_same_bytes(msg.as_bytes(), &data, "binary over h2");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_closing_handshake_over_h2_both_ways() {
    bounded(async {
        let mut ours = OursOverH2::start(Upgrader::default()).await;
        // (code, reason sent, reason received: cut to 123 bytes at a char boundary)
        let long = "é".repeat(100);
        let cut = "é".repeat(61);
        let cases = [
            (4000, "server bye", "server bye"),
            (1000, "", ""),
            (4002, "client bye ✓", "client bye ✓"),
            (1001, long.as_str(), cut.as_str()),
        ];
        for client_starts in [false, true] {
            for (code, reason, received) in cases {
                let (mut client, mut server) = ours.pair(Config::default()).await;
                let (closer, other) = if client_starts {
                    (&mut client, &mut server)
                } else {
                    (&mut server, &mut client)
                };
                closer.write_string("last words").await.unwrap();
                // `close` waits for the answer, which the other side sends as it reads.
                let reads = async {
                    assert_eq!(other.read_msg().await.unwrap(), Message::text("last words"));
                    other.read_msg().await.unwrap_err()
                };
                let (closed, end) = tokio::join!(closer.close(CloseCode::new(code), reason), reads);
                closed.unwrap();
                assert_closed(&end, code, received, Initiator::Remote);
                // Our answer echoes the code.
                let end = closer.read_msg().await.unwrap_err();
                assert_closed_by(&end, Initiator::Local);
                assert!(
                    matches!(&end, Error::Closed { frame: Some(f), .. } if f.code.as_u16() == code),
                    "{end:?}"
                );
                assert!(matches!(
                    closer.write_string("late").await,
                    Err(Error::AlreadyClosed)
                ));
            }
        }
        // Codes that may not be sent are refused, and the WebSocket stays open.
        let (mut client, mut server) = ours.pair(Config::default()).await;
        for code in UNSENDABLE_CLOSE_CODES {
            for ws in [&mut client, &mut server] {
                assert!(
                    matches!(
                        ws.close(CloseCode::new(code), "").await,
                        Err(Error::InvalidInput(_))
                    ),
                    "code {code}"
                );
            }
        }
        client.write_string("alive").await.unwrap();
        assert_eq!(server.read_msg().await.unwrap(), Message::text("alive"));
    })
    .await;
}

#[tokio::test]
async fn a_message_over_the_limit_over_h2_closes_with_1009_both_ways() {
    bounded(async {
        let mut ours = OursOverH2::start(Upgrader::new(limited())).await;
        // Client to a limited server. Permessage-deflate is agreed, so the size at the
        // failure is where inflating crossed the limit, not the message's.
        let (mut client, mut server) = ours.pair(Config::default()).await;
        client.write_binary(vec![1u8; LIMIT]).await.unwrap();
        assert_eq!(server.read_msg().await.unwrap().len(), LIMIT);
        client.write_binary(vec![2u8; 2000]).await.unwrap();
        let err = server.read_msg().await.unwrap_err();
        assert!(
            matches!(err, Error::MessageTooBig { size, limit: LIMIT } if size > LIMIT as u64),
            "{err:?}"
        );
        let end = client.read_msg().await.unwrap_err();
        assert!(
            matches!(&end, Error::Closed { frame: Some(f), initiator: Initiator::Remote } if f.code.as_u16() == 1009),
            "{end:?}"
        );
        // Server to a limited client.
        let (mut client, mut server) = ours.pair(limited()).await;
        server.write_string("x".repeat(2000)).await.unwrap();
        let err = client.read_msg().await.unwrap_err();
        assert!(
            matches!(err, Error::MessageTooBig { size, limit: LIMIT } if size > LIMIT as u64),
            "{err:?}"
        );
        let end = server.read_msg().await.unwrap_err();
        assert!(
            matches!(&end, Error::Closed { frame: Some(f), initiator: Initiator::Remote } if f.code.as_u16() == 1009),
            "{end:?}"
        );
    })
    .await;
}

/// How a peer leaves without the closing handshake over HTTP/2, where over HTTP/1.1 it would
/// drop TCP (`close.rs`).
#[derive(Debug, Clone, Copy)]
enum Vanish {
    /// END_STREAM: the end of its side, as TCP's FIN.
    EndStream,
    /// RST_STREAM with this reason.
    Reset(Reason),
}

const VANISHES: [Vanish; 4] = [
    Vanish::EndStream,
    Vanish::Reset(Reason::CANCEL),
    Vanish::Reset(Reason::NO_ERROR),
    Vanish::Reset(Reason::INTERNAL_ERROR),
];

impl Vanish {
    async fn apply(self, peer: &mut H2Peer) {
        match self {
            Self::EndStream => peer.end_stream().await,
            Self::Reset(reason) => peer.reset(reason),
        }
    }
}

/// `ws` read "hi", then its peer left as `how`: the next read is an I/O error (the end of the
/// stream without a close frame reads as `UnexpectedEof`, as over TCP; so does a reset with
/// `CANCEL` or `NO_ERROR`), then the WebSocket is closed by the peer without a frame, and
/// writing fails.
async fn assert_vanished(ws: &mut WebSocket, how: Vanish) {
    match ws.read_msg().await {
        Err(Error::Io(e)) => {
            // A reset that says nothing went wrong is the end of the stream, as END_STREAM;
            // one with an error reason is that error.
            let clean = matches!(
                how,
                Vanish::EndStream | Vanish::Reset(Reason::CANCEL | Reason::NO_ERROR)
            );
            assert_eq!(
                e.kind() == std::io::ErrorKind::UnexpectedEof,
                clean,
                "{how:?}: {e}"
            );
        }
        other => panic!("{how:?}: expected an I/O error, got {other:?}"),
    }
    let again = ws.read_msg().await.unwrap_err();
    assert_closed_without_frame(&again, Initiator::Remote);
    assert!(ws.write_string("anyone?").await.is_err(), "{how:?}");
}

#[tokio::test]
async fn a_peer_vanishing_without_close_over_h2_is_an_io_error_in_both_roles() {
    bounded(async {
        // A raw client leaves our server.
        let (addr, _server, mut accepted) = spawn_our_h2_server(Upgrader::default()).await;
        let client = H2Client::connect(addr).await;
        for how in VANISHES {
            let mut peer = client.websocket("/").await;
            let mut ws = accepted.recv().await.expect("our server's WebSocket");
            peer.send_frame(raw_frame(
                true,
                OpCode::Data(Data::Text),
                &b"hi"[..],
                Keys::CLIENT.proper,
            ))
            .await;
            assert_eq!(ws.read_msg().await.unwrap(), Message::text("hi"));
            how.apply(&mut peer).await;
            assert_vanished(&mut ws, how).await;
        }
        // A raw server leaves our client.
        let (listener, addr) = listen().await;
        let accept = Task::spawn(async move { H2Server::accept(&listener).await });
        let connection = Http2Connection::connect(&url(addr)).await.unwrap();
        let mut server = accept.join().await;
        let target = url(addr);
        let hi = encode_frame(raw_frame(true, OpCode::Data(Data::Text), &b"hi"[..], None));
        for how in VANISHES {
            let (opened, mut peer) = tokio::join!(
                connection.websocket(&target, Config::default()),
                server.websocket(&hi)
            );
            let (mut ws, _) = opened.unwrap();
            assert_eq!(ws.read_msg().await.unwrap(), Message::text("hi"));
            how.apply(&mut peer).await;
            assert_vanished(&mut ws, how).await;
        }
        // Both connections outlived their streams.
        let mut peer = client.websocket("/").await;
        let ws = accepted.recv().await.unwrap();
        ws.write_string("still here").await.unwrap();
        let frame = peer.read_frame().await.unwrap().unwrap();
        assert_eq!(&frame.payload[..], b"still here");
        let (opened, _peer) = tokio::join!(
            connection.websocket(&target, Config::default()),
            server.websocket(&hi)
        );
        let (mut ws, _) = opened.unwrap();
        assert_eq!(ws.read_msg().await.unwrap(), Message::text("hi"));
    })
    .await;
}

/// Extended CONNECTs (and other requests) our server must refuse, each with its status, as
/// `handshake.rs` checks over HTTP/1.1; the refusals are valid HTTP/2 answers (no
/// connection-specific header, which would make the h2 crate reset the stream instead) and the
/// connection serves the next stream. Subprotocols are chosen as over HTTP/1.1.
#[tokio::test]
async fn bad_extended_connects_over_h2_get_their_status() {
    bounded(async {
        let config = Config::default()
            .protocols(["chat", "v2"])
            .allowed_origins(["https://good.example"]);
        let (addr, _server, mut accepted) = spawn_our_h2_server(Upgrader::new(config)).await;
        let client = H2Client::connect(addr).await;
        let connect = |headers: &[(&str, &str)]| {
            let mut request = http::Request::builder()
                .method(http::Method::CONNECT)
                .uri("http://localhost/chat");
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request.body(()).unwrap()
        };
        let v13 = ("sec-websocket-version", "13");
        let cases: Vec<(&str, http::Request<()>, Option<&str>, u16)> = vec![
            ("no version", connect(&[]), Some("websocket"), 426),
            (
                "version 8",
                connect(&[("sec-websocket-version", "8")]),
                Some("websocket"),
                426,
            ),
            (
                "another :protocol",
                connect(&[v13]),
                Some("webtransport"),
                400,
            ),
            (
                "GET",
                http::Request::get("http://localhost/chat")
                    .header(v13.0, v13.1)
                    .body(())
                    .unwrap(),
                None,
                405,
            ),
            (
                "origin refused",
                connect(&[v13, ("origin", "https://evil.example")]),
                Some("websocket"),
                403,
            ),
        ];
        for (name, request, protocol, status) in cases {
            let (response, stream) = client.send(request, protocol).await;
            assert_eq!(response.status(), status, "{name}: {response:?}");
            assert!(stream.is_none(), "{name}");
            for header in ["connection", "upgrade", "sec-websocket-accept"] {
                assert!(
                    !response.headers().contains_key(header),
                    "{name}: {response:?}"
                );
            }
        }
        // Subprotocols: the server's first that the client offered, or none.
        for (offer, chosen) in [
            ("other, v2, chat", Some("chat")),
            ("v2", Some("v2")),
            ("Chat, other", None),
        ] {
            let (response, stream) = client
                .open(
                    "/",
                    &[
                        ("sec-websocket-protocol", offer),
                        ("origin", "https://good.example"),
                    ],
                )
                .await;
            assert_eq!(response.status(), 200, "{offer}");
            assert!(stream.is_some());
            let got = response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap());
            assert_eq!(got, chosen, "{offer}");
            let ws = accepted.recv().await.unwrap();
            assert_eq!(ws.protocol(), chosen, "{offer}");
        }
    })
    .await;
}

/// Our fragmented writes on an HTTP/2 stream, frame by frame (`fragmentation.rs` over TCP):
/// the fragments of each size, unmasked from our server, masked from our client with a key
/// per frame.
#[tokio::test]
async fn fragmented_writes_are_several_frames_on_an_h2_stream() {
    bounded(async {
        let writes = [
            (Data::Text, multibyte_text(1000).into_bytes(), 64),
            (Data::Binary, pattern(10_000, 3), 1000),
            (Data::Binary, pattern(70_000, 6), 30_000),
        ];
        let write = |ws: &WebSocket, first: Data, bytes: &[u8], size: usize| {
            let opts = WriteOptions::default().fragment_size(size);
            let (ws, bytes) = (ws.writer(), bytes.to_vec());
            async move {
                match first {
                    Data::Text => ws
                        .write_string_with(String::from_utf8(bytes).unwrap(), &opts)
                        .await
                        .unwrap(),
                    _ => ws.write_binary_with(bytes, &opts).await.unwrap(),
                }
            }
        };

        // Our server to a raw client.
        let (addr, _server, mut accepted) = spawn_our_h2_server(Upgrader::default()).await;
        let client = H2Client::connect(addr).await;
        let mut peer = client.websocket("/").await;
        let server = accepted.recv().await.unwrap();
        for (first, bytes, size) in &writes {
            write(&server, *first, bytes, *size).await;
            let frames = peer.read_message_frames().await;
            check_fragments(&frames, *first, bytes, *size, false);
        }

        // Our client to a raw server.
        let (listener, addr) = listen().await;
        let accept = Task::spawn(async move { H2Server::accept(&listener).await });
        let connection = Http2Connection::connect(&url(addr)).await.unwrap();
        let mut server = accept.join().await;
        let target = url(addr);
        let (opened, mut peer) = tokio::join!(
            connection.websocket(&target, Config::default()),
            server.websocket(&[])
        );
        let (client, _) = opened.unwrap();
        for (first, bytes, size) in &writes {
            write(&client, *first, bytes, *size).await;
            let frames = peer.read_message_frames().await;
            check_fragments(&frames, *first, bytes, *size, true);
            let keys: std::collections::HashSet<_> = frames.iter().map(|f| f.header.mask).collect();
            assert!(
                keys.len() > 1,
                "all {} frames used one mask key",
                frames.len()
            );
        }
    })
    .await;
}

/// Our client refuses a wrong answer to its extended CONNECT (as `handshake.rs` checks over
/// HTTP/1.1: a refusal, a subprotocol or an extension it did not offer) and a stream the server
/// resets, each with its error; the connection serves the next WebSocket.
#[tokio::test]
async fn our_h2_client_refuses_wrong_answers() {
    bounded(async {
        let (listener, addr) = listen().await;
        let accept = Task::spawn(async move { H2Server::accept(&listener).await });
        let connection = Http2Connection::connect(&url(addr)).await.unwrap();
        let mut server = accept.join().await;
        let target = url(addr);
        let offer = || Config::default().protocols(["chat"]).deflate(None);
        type Check = fn(&Error) -> bool;
        // (what, status, headers, or a reset instead, the error expected)
        type WrongAnswer = (
            &'static str,
            u16,
            &'static [(&'static str, &'static str)],
            Option<Reason>,
            Check,
        );
        let cases: [WrongAnswer; 6] = [
            ("403", 403, &[], None, |e| {
                matches!(e, Error::Handshake(HandshakeError::UnexpectedStatus(403)))
            }),
            ("404", 404, &[], None, |e| {
                matches!(e, Error::Handshake(HandshakeError::UnexpectedStatus(404)))
            }),
            (
                "a subprotocol not offered",
                200,
                &[("sec-websocket-protocol", "other")],
                None,
                |e| matches!(e, Error::Handshake(HandshakeError::UnexpectedProtocol)),
            ),
            (
                "deflate not offered",
                200,
                &[("sec-websocket-extensions", "permessage-deflate")],
                None,
                |e| matches!(e, Error::Handshake(HandshakeError::UnexpectedExtension)),
            ),
            (
                "an unknown extension",
                200,
                &[("sec-websocket-extensions", "x-unknown")],
                None,
                |e| matches!(e, Error::Handshake(HandshakeError::UnexpectedExtension)),
            ),
            (
                "refused stream",
                200,
                &[],
                Some(Reason::REFUSED_STREAM),
                |e| matches!(e, Error::Io(_)),
            ),
        ];
        for (name, status, headers, reset, check) in cases {
            let status = http::StatusCode::from_u16(status).unwrap();
            let (opened, request) = tokio::join!(
                connection.websocket(&target, offer()),
                server.answer(status, headers, reset)
            );
            assert_eq!(request.method(), http::Method::CONNECT, "{name}");
            let err = opened.map(|_| ()).unwrap_err();
            assert!(check(&err), "{name}: {err:?}");
        }
        let (opened, _peer) = tokio::join!(
            connection.websocket(&target, offer()),
            server.websocket(&[])
        );
        let (ws, response) = opened.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(ws.protocol(), None);
    })
    .await;
}

/// Frames a client sends right after its extended CONNECT, before the `200` (as
/// `pipelining.rs` sends them after an HTTP/1.1 request), reach our server's WebSocket in
/// order, and so do frames our server writes the moment it has accepted.
#[tokio::test]
async fn frames_sent_before_the_200_are_read_over_h2() {
    bounded(async {
        let (addr, _server, mut accepted) = spawn_our_h2_server(Upgrader::default()).await;
        let client = H2Client::connect(addr).await;
        let key = Keys::CLIENT.proper;
        let mut early = Vec::new();
        for text in ["one", "two", "three"] {
            early.extend(encode_frame(raw_frame(
                true,
                OpCode::Data(Data::Text),
                text.as_bytes().to_vec(),
                key,
            )));
        }
        let mut peer = client.websocket_pipelined("/", &early).await;
        let mut ws = accepted.recv().await.unwrap();
        for text in ["one", "two", "three"] {
            assert_eq!(ws.read_msg().await.unwrap(), Message::text(text));
        }
        ws.write_string("four").await.unwrap();
        let frame = peer.read_frame().await.unwrap().unwrap();
        assert_eq!(&frame.payload[..], b"four");
    })
    .await;
}

/// A peer that resets its stream while we write (a large message at a time, past its window)
/// ends our writes with an I/O error at once, in both roles, as a TCP reset would.
#[tokio::test]
async fn a_reset_while_we_write_over_h2_ends_our_writes_in_both_roles() {
    /// Writes 256 KiB messages until a write fails; returns the error.
    fn flood(ws: &WebSocket) -> Task<Error> {
        let writer = ws.writer();
        Task::spawn(async move {
            let chunk = bytes::Bytes::from(pattern(256 * 1024, 1));
            loop {
                if let Err(e) = writer.write_binary(chunk.clone()).await {
                    return e;
                }
            }
        })
    }
    bounded(async {
        // A raw client resets our server's stream.
        let (addr, _server, mut accepted) = spawn_our_h2_server(Upgrader::default()).await;
        let client = H2Client::connect(addr).await;
        let mut peer = client.websocket("/").await;
        let ws = accepted.recv().await.unwrap();
        let writes = flood(&ws);
        peer.read_frame().await.unwrap().expect("the first frame");
        peer.reset(Reason::CANCEL);
        let err = writes.join().await;
        assert!(matches!(err, Error::Io(_)), "{err:?}");

        // A raw server resets our client's stream.
        let (listener, addr) = listen().await;
        let accept = Task::spawn(async move { H2Server::accept(&listener).await });
        let connection = Http2Connection::connect(&url(addr)).await.unwrap();
        let mut server = accept.join().await;
        let target = url(addr);
        let (opened, mut peer) = tokio::join!(
            connection.websocket(&target, Config::default().deflate(None)),
            server.websocket(&[])
        );
        let (ws, _) = opened.unwrap();
        let writes = flood(&ws);
        peer.read_frame().await.unwrap().expect("the first frame");
        peer.reset(Reason::CANCEL);
        let err = writes.join().await;
        assert!(matches!(err, Error::Io(_)), "{err:?}");
    })
    .await;
}
