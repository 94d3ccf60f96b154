//! permessage-deflate (RFC 7692) end to end with a raw peer: which offers our server declines
//! or accepts, what a frame with RSV1 means with and without the extension, corrupt
//! compressed data, the responses our client refuses, and the per-call switch to send a
//! message uncompressed. The raw peer compresses and decompresses with flate2 directly, not
//! with our codec. Round trips against another implementation are in `deflate_interop.rs`,
//! the decompression bomb in `deflate_bomb.rs`.

use mywebsocket::{
    Config, DeflateConfig, Error, HandshakeError, ProtocolError, Upgrader, WebSocket, WriteOptions,
};
use mywebsocket_tests::{
    assert_same_bytes, bounded, deflate_message, echo, find_header, inflate_message, json_text,
    listen, raw_frame, rsv1_frame, spawn_accept, ws_url, RawPeer, Task, DEFLATE_TAIL,
};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::Frame;

const KEY: Option<[u8; 4]> = Some([0x5a, 0x01, 0xc3, 0x7e]);

const TEXT: OpCode = OpCode::Data(Data::Text);
const BINARY: OpCode = OpCode::Data(Data::Binary);
const CONTINUE: OpCode = OpCode::Data(Data::Continue);

/// Our server with `config`, and a raw client that offered `offer` (no header for `None`).
/// Returns the client, the server's `Sec-WebSocket-Extensions` answer and the server's end.
async fn raw_client(config: Config, offer: Option<&str>) -> (RawPeer, Option<String>, WebSocket) {
    let (addr, accept) = spawn_accept(Upgrader::new(config)).await;
    let extra = offer
        .map(|offer| format!("Sec-WebSocket-Extensions: {offer}\r\n"))
        .unwrap_or_default();
    let (peer, headers) = RawPeer::connect_with(addr, &extra, &[]).await;
    let server = accept.join().await.expect("our server's handshake");
    let answer = find_header(&headers, "sec-websocket-extensions").map(str::to_owned);
    (peer, answer, server)
}

/// Our server with the default config, and a raw client whose plain `permessage-deflate`
/// offer it accepted as it is.
async fn deflate_client() -> (RawPeer, WebSocket) {
    let (peer, answer, server) = raw_client(Config::default(), Some("permessage-deflate")).await;
    assert_eq!(answer.as_deref(), Some("permessage-deflate"));
    assert!(server.is_compressed());
    (peer, server)
}

/// The parameters of a `Sec-WebSocket-Extensions` value, spaces removed and sorted, so
/// answers compare whatever the order.
fn params(value: &str) -> Vec<String> {
    let mut params: Vec<String> = value.split(';').map(|p| p.replace(' ', "")).collect();
    params.sort();
    params
}

/// A raw deflater for a client's messages: raw deflate with `bits` window bits.
fn client_deflater(bits: u8) -> flate2::Compress {
    flate2::Compress::new_with_window_bits(flate2::Compression::new(6), false, bits)
}

/// A raw inflater for a server's messages.
fn raw_inflater() -> flate2::Decompress {
    flate2::Decompress::new_with_window_bits(false, 15)
}

/// Sends a masked close 1000 and waits for the answer.
async fn close_normally(peer: &mut RawPeer) {
    peer.send_frame(raw_frame(
        true,
        OpCode::Control(Control::Close),
        1000u16.to_be_bytes().to_vec(),
        KEY,
    ))
    .await;
    assert_eq!(peer.read_close().await.0, 1000);
}

#[tokio::test]
async fn malformed_or_duplicated_offers_are_declined_and_the_connection_goes_on_uncompressed() {
    bounded(async {
        for offer in [
            // Repeated parameters (RFC 7692 §7.1: decline).
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            // Invalid values.
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; client_max_window_bits=0x0f",
            "permessage-deflate; server_no_context_takeover=true",
            // Unknown parameter.
            "permessage-deflate; max_window_bits=10",
            // Broken header grammar.
            "permessage-deflate; server_max_window_bits=\"10",
            "permessage-deflate; client_max_window_bits=\"1 0\"",
            "permessage-deflate;; =",
            // Other extensions only.
            "x-webkit-deflate-frame",
            "permessage-deflate-x",
        ] {
            let (mut peer, answer, server) = raw_client(Config::default(), Some(offer)).await;
            assert_eq!(answer, None, "offer {offer:?} should be declined");
            assert!(!server.is_compressed(), "offer {offer:?}");
            let echo = Task::spawn(echo(server));

            // Long enough to be compressed had the offer been accepted.
            let text = json_text(1 << 10, 1);
            peer.send_frame(raw_frame(true, TEXT, text.clone().into_bytes(), KEY))
                .await;
            let frames = peer.read_message_frames().await;
            assert_eq!(frames.len(), 1, "offer {offer:?}");
            assert!(!frames[0].header.rsv1, "offer {offer:?}: compressed echo");
            assert_same_bytes(&frames[0].payload, text.as_bytes(), offer);
            close_normally(&mut peer).await;
            let end = echo.join().await;
            assert!(end.is_closed(), "offer {offer:?}: {end:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn the_first_acceptable_offer_wins() {
    bounded(async {
        for extra in [
            // One header with two offers, the first invalid.
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7, \
             permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n",
            // Two headers, the first with a repeated parameter.
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9; \
             client_max_window_bits=9\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_max_window_bits=10\r\n",
            // An unknown extension first.
            "Sec-WebSocket-Extensions: x-unknown; a=1, permessage-deflate; \
             server_no_context_takeover; client_max_window_bits=10\r\n",
        ] {
            let (addr, accept) = spawn_accept(Upgrader::default()).await;
            let (mut peer, headers) = RawPeer::connect_with(addr, extra, &[]).await;
            let server = accept.join().await.expect("our server's handshake");
            assert!(server.is_compressed(), "{extra:?}");
            let answer = find_header(&headers, "sec-websocket-extensions")
                .unwrap_or_else(|| panic!("{extra:?}: no extension accepted"));
            assert_eq!(
                params(answer),
                params("permessage-deflate; server_no_context_takeover; client_max_window_bits=10"),
                "{extra:?}: answer {answer:?}"
            );
            let echo = Task::spawn(echo(server));

            // We compress with the 10-bit window the server asked for and keep our context
            // (we did not promise otherwise); the server resets its context after each
            // message, so a fresh inflater reads each echo.
            let text = json_text(4 << 10, 2);
            let mut deflater = client_deflater(10);
            let mut echoes = Vec::new();
            for _ in 0..2 {
                let compressed = deflate_message(&mut deflater, text.as_bytes());
                peer.send_frame(rsv1_frame(true, TEXT, compressed, KEY))
                    .await;
                let frames = peer.read_message_frames().await;
                assert_eq!(frames.len(), 1);
                assert!(frames[0].header.rsv1, "{extra:?}: echo not compressed");
                let inflated = inflate_message(&mut raw_inflater(), &frames[0].payload);
                assert_same_bytes(&inflated, text.as_bytes(), extra);
                echoes.push(frames[0].payload.clone());
            }
            assert_eq!(
                echoes[0], echoes[1],
                "server_no_context_takeover: the same message compresses the same"
            );
            close_normally(&mut peer).await;
            assert!(echo.join().await.is_closed());
        }
    })
    .await;
}

/// RSV1 where it is not allowed: a protocol error, closed with 1002 (RFC 7692 §6.1).
const RESERVED_BITS: (ProtocolError, u16) = (ProtocolError::ReservedBits, 1002);

/// Sends `frames` from `peer` and expects our `server` to fail the connection with the
/// error and close code of `expected`, then end TCP; `what` names the case.
async fn fails_with(
    peer: &mut RawPeer,
    server: &mut WebSocket,
    frames: Vec<Frame>,
    expected: (ProtocolError, u16),
    what: &str,
) {
    let (error, code) = expected;
    for frame in frames {
        peer.send_frame(frame).await;
    }
    let err = server.read_msg().await.unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(e) if *e == error),
        "{what}: {err:?}"
    );
    assert_eq!(peer.read_close().await.0, code, "{what}");
    peer.expect_eof().await;
}

#[tokio::test]
async fn rsv1_without_negotiation_closes_with_1002() {
    bounded(async {
        let cases = [
            ("compression on, nothing offered", Config::default(), None),
            (
                "compression off, offered",
                Config::default().deflate(None),
                Some("permessage-deflate"),
            ),
        ];
        for (what, config, offer) in cases {
            let (mut peer, answer, mut server) = raw_client(config, offer).await;
            assert_eq!(answer, None, "{what}");
            let compressed = deflate_message(&mut client_deflater(15), b"Hello, Hello, Hello");
            let frames = vec![rsv1_frame(true, TEXT, compressed, KEY)];
            fails_with(&mut peer, &mut server, frames, RESERVED_BITS, what).await;
        }
    })
    .await;
}

#[tokio::test]
async fn rsv1_where_rfc_7692_does_not_allow_it_closes_with_1002() {
    bounded(async {
        let mut deflater = client_deflater(15);
        let first = deflate_message(&mut deflater, &json_text(300, 3).into_bytes());
        let (head, tail) = first.split_at(first.len() / 2);
        let cases = [
            // RSV1 marks the first frame of a message only (§6.1).
            (
                "RSV1 on a continuation frame",
                vec![
                    rsv1_frame(false, TEXT, head.to_vec(), KEY),
                    rsv1_frame(true, CONTINUE, tail.to_vec(), KEY),
                ],
            ),
            // permessage-deflate compresses data frames only.
            (
                "RSV1 on a ping",
                vec![rsv1_frame(
                    true,
                    OpCode::Control(Control::Ping),
                    b"ping".to_vec(),
                    KEY,
                )],
            ),
        ];
        for (what, frames) in cases {
            let (mut peer, mut server) = deflate_client().await;
            fails_with(&mut peer, &mut server, frames, RESERVED_BITS, what).await;
        }
    })
    .await;
}

#[tokio::test]
async fn corrupt_compressed_data_closes_with_1007() {
    bounded(async {
        let cases = [
            // BFINAL=1 with the reserved block type 11.
            (
                "invalid block type",
                rsv1_frame(true, BINARY, vec![0xff; 16], KEY),
                ProtocolError::InvalidCompressedData,
            ),
            // A stored block whose length and its complement disagree.
            (
                "stored block length mismatch",
                rsv1_frame(
                    true,
                    BINARY,
                    vec![0x00, 0x05, 0x00, 0x00, 0x00, 1, 2, 3],
                    KEY,
                ),
                ProtocolError::InvalidCompressedData,
            ),
            // Valid deflate, but the text it holds is not UTF-8.
            (
                "compressed text that is not UTF-8",
                rsv1_frame(
                    true,
                    TEXT,
                    deflate_message(&mut client_deflater(15), b"caf\xc3\x28 bad"),
                    KEY,
                ),
                ProtocolError::InvalidUtf8,
            ),
        ];
        for (what, frame, expected) in cases {
            let (mut peer, mut server) = deflate_client().await;
            fails_with(&mut peer, &mut server, vec![frame], (expected, 1007), what).await;
        }
    })
    .await;
}

#[tokio::test]
async fn our_client_refuses_an_extension_it_did_not_offer_or_allow() {
    bounded(async {
        let cases = [
            ("nothing offered", None, "permessage-deflate"),
            (
                "unknown extension",
                Some(DeflateConfig::default()),
                "x-custom-extension",
            ),
            (
                "accepted twice",
                Some(DeflateConfig::default()),
                "permessage-deflate, permessage-deflate",
            ),
            (
                "client window without a value",
                Some(DeflateConfig::default()),
                "permessage-deflate; client_max_window_bits",
            ),
            (
                "server window over what we allowed",
                Some(DeflateConfig::default().server_max_window_bits(10)),
                "permessage-deflate; server_max_window_bits=12",
            ),
            // A client window over what we offered is not refused: we keep to ours (see
            // `client_keeps_its_window_when_the_server_allows_more` in the proto crate).
            (
                "unknown parameter",
                Some(DeflateConfig::default()),
                "permessage-deflate; mystery",
            ),
        ];
        for (what, deflate, answer) in cases {
            let (listener, addr) = listen().await;
            let extra = format!("Sec-WebSocket-Extensions: {answer}\r\n");
            let server =
                Task::spawn(async move { RawPeer::accept_with(&listener, &extra, &[]).await });
            let config = Config::default().deflate(deflate);
            let err = mywebsocket::connect_config(&ws_url(addr), config)
                .await
                .map(|_| ())
                .unwrap_err();
            assert!(
                matches!(err, Error::Handshake(HandshakeError::UnexpectedExtension)),
                "{what}: {err:?}"
            );
            let (mut peer, request) = server.join().await;
            assert_eq!(
                find_header(&request, "sec-websocket-extensions").is_some(),
                deflate.is_some(),
                "{what}: offer {request:?}"
            );
            // The client gave up: no frame, the connection ends.
            peer.expect_eof().await;
        }
    })
    .await;
}

#[tokio::test]
async fn compress_false_sends_a_frame_without_rsv1_from_our_server() {
    bounded(async {
        let (mut peer, server) = deflate_client().await;
        let mut inflater = raw_inflater();
        let text = json_text(1 << 10, 4);

        server
            .write_string_with(text.clone(), &WriteOptions::default().compress(false))
            .await
            .unwrap();
        let frames = peer.read_message_frames().await;
        assert_eq!(frames.len(), 1);
        assert!(!frames[0].header.rsv1, "compress(false) sent RSV1");
        assert_same_bytes(&frames[0].payload, text.as_bytes(), "uncompressed");

        // The default compresses it, and the context is intact after the plain message.
        server.write_string(text.clone()).await.unwrap();
        let frames = peer.read_message_frames().await;
        assert!(frames[0].header.rsv1);
        assert!(frames[0].payload.len() < text.len() / 2);
        let inflated = inflate_message(&mut inflater, &frames[0].payload);
        assert_same_bytes(&inflated, text.as_bytes(), "compressed");

        // Under the threshold: plain by default, compressed on request.
        server.write_string("hi").await.unwrap();
        let frames = peer.read_message_frames().await;
        assert!(!frames[0].header.rsv1, "under the threshold");
        assert_eq!(&frames[0].payload[..], b"hi");
        server
            .write_string_with("hi", &WriteOptions::default().compress(true))
            .await
            .unwrap();
        let frames = peer.read_message_frames().await;
        assert!(frames[0].header.rsv1, "compress(true)");
        assert_eq!(inflate_message(&mut inflater, &frames[0].payload), b"hi");

        // Fragmented and uncompressed: no RSV1 on any frame.
        server
            .write_string_with(
                text.clone(),
                &WriteOptions::default().compress(false).fragment_size(100),
            )
            .await
            .unwrap();
        let frames = peer.read_message_frames().await;
        assert!(frames.len() > 1);
        assert!(frames.iter().all(|f| !f.header.rsv1));
        let whole: Vec<u8> = frames.iter().flat_map(|f| f.payload.to_vec()).collect();
        assert_same_bytes(&whole, text.as_bytes(), "fragmented");
    })
    .await;
}

#[tokio::test]
async fn compress_false_sends_a_frame_without_rsv1_from_our_client() {
    bounded(async {
        let (listener, addr) = listen().await;
        let server = Task::spawn(async move {
            RawPeer::accept_with(
                &listener,
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                &[],
            )
            .await
        });
        let (client, _) = mywebsocket::connect_config(&ws_url(addr), Config::default())
            .await
            .unwrap();
        let (mut peer, request) = server.join().await;
        assert!(client.is_compressed());
        assert_eq!(
            find_header(&request, "sec-websocket-extensions"),
            Some("permessage-deflate; client_max_window_bits=13"),
            "our client's default offer"
        );
        let text = json_text(1 << 10, 5);

        client
            .write_string_with(text.clone(), &WriteOptions::default().compress(false))
            .await
            .unwrap();
        let frames = peer.read_message_frames().await;
        assert_eq!(frames.len(), 1);
        assert!(frames[0].header.mask.is_some());
        assert!(!frames[0].header.rsv1, "compress(false) sent RSV1");
        assert_same_bytes(&frames[0].payload, text.as_bytes(), "uncompressed");

        client.write_string(text.clone()).await.unwrap();
        let frames = peer.read_message_frames().await;
        assert!(frames[0].header.rsv1);
        let inflated = inflate_message(&mut raw_inflater(), &frames[0].payload);
        assert_same_bytes(&inflated, text.as_bytes(), "compressed");
    })
    .await;
}

/// Sends each message (its frames) from a raw client over a connection that negotiated
/// `offer`, and expects our server to read `expected` from each, in order.
async fn raw_compressed_messages(offer: &str, messages: Vec<(Vec<Frame>, &str)>) {
    let (mut peer, answer, mut server) = raw_client(Config::default(), Some(offer)).await;
    assert!(answer.is_some(), "offer {offer:?} declined");
    for (i, (frames, expected)) in messages.into_iter().enumerate() {
        for frame in frames {
            peer.send_frame(frame).await;
        }
        let message = server
            .read_msg()
            .await
            .unwrap_or_else(|e| panic!("message {i} ({expected:?}): {e}"));
        assert_eq!(message.as_text(), Some(expected), "message {i}");
    }
    // Our server answers the close only while it reads.
    let ((), end) = tokio::join!(close_normally(&mut peer), server.read_msg());
    let end = end.unwrap_err();
    assert!(end.is_closed(), "{end:?}");
}

/// A whole compressed text message in one masked frame.
fn one_compressed_frame(payload: &[u8]) -> Vec<Frame> {
    vec![rsv1_frame(true, TEXT, payload.to_vec(), KEY)]
}

#[tokio::test]
async fn rfc_7692_sample_payloads_decode() {
    bounded(async {
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        raw_compressed_messages(
            "permessage-deflate",
            vec![
                // §7.2.3.1: "Hello" compressed, in one frame and in two.
                (one_compressed_frame(&hello), "Hello"),
                (
                    vec![
                        rsv1_frame(false, TEXT, hello[..3].to_vec(), KEY),
                        raw_frame(true, CONTINUE, hello[3..].to_vec(), KEY),
                    ],
                    "Hello",
                ),
                // §7.2.3.2: a second "Hello" that points back into the shared window.
                (
                    one_compressed_frame(&[0xf2, 0x00, 0x11, 0x00, 0x00]),
                    "Hello",
                ),
                // §7.2.3.3: a stored (uncompressed) block.
                (
                    one_compressed_frame(&[
                        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                    ]),
                    "Hello",
                ),
                // §7.2.3.5: two blocks in one message.
                (
                    one_compressed_frame(&[
                        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
                        0x00,
                    ]),
                    "Hello",
                ),
                // §7.2.3.6: an empty last fragment. Only the message's end drops the sync
                // flush's 00 00 ff ff, so the first fragment keeps it.
                (
                    vec![
                        rsv1_frame(false, TEXT, [&hello[..], &DEFLATE_TAIL].concat(), KEY),
                        raw_frame(true, CONTINUE, vec![0x00], KEY),
                    ],
                    "Hello",
                ),
                // An empty message (a lone empty stored-block header).
                (one_compressed_frame(&[0x00]), ""),
                (one_compressed_frame(&hello), "Hello"),
            ],
        )
        .await;
    })
    .await;
}

/// RFC 7692 §7.2.3.4: "Hello" in a DEFLATE block with BFINAL set, then the header byte of an
/// empty stored block, so that the tail the receiver appends completes that block.
const HELLO_BFINAL: [u8; 8] = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];

/// The messages for the BFINAL tests: [`HELLO_BFINAL`] twice, then "Hello" without BFINAL.
/// The finished block must not leave the inflater stuck, with or without context takeover.
fn hello_bfinal_messages() -> Vec<(Vec<Frame>, &'static str)> {
    vec![
        (one_compressed_frame(&HELLO_BFINAL), "Hello"),
        (one_compressed_frame(&HELLO_BFINAL), "Hello"),
        (
            one_compressed_frame(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
            "Hello",
        ),
    ]
}

#[tokio::test]
async fn rfc_7692_bfinal_sample_decodes_without_context_takeover() {
    bounded(raw_compressed_messages(
        "permessage-deflate; client_no_context_takeover",
        hello_bfinal_messages(),
    ))
    .await;
}

#[tokio::test]
async fn rfc_7692_bfinal_sample_decodes_with_context_takeover() {
    bounded(raw_compressed_messages(
        "permessage-deflate",
        hello_bfinal_messages(),
    ))
    .await;
}
