//! What browser connections cost a server with permessage-deflate on (the default): every
//! Chromium offers it, so a chat server's connections all negotiate it. Ten thousand
//! connections offer it exactly as Chromium does and then sit idle, as most connections of a
//! chat server do; then each sends one chat-sized compressed JSON message, which the server
//! echoes compressed (so both its decompressor and its compressor run once). Per connection
//! the server may hold 16 KiB idle and 24 KiB after the message: the compression state lives
//! only while a message is compressed or decompressed, and what is kept between messages is
//! the history later messages may refer to.
//!
//! The connections are in-memory streams (`tokio::io::duplex`) rather than sockets, so the
//! test needs no file descriptors; a duplex allocates nothing up front and its buffers hold
//! only the bytes in flight, a few hundred bytes per connection that stand in for the
//! kernel's socket buffers. The clients allocate nothing per connection beyond it: one
//! request, one pre-compressed message frame and stack buffers serve them all.
//!
//! Memory is measured with a counting global allocator, so this file holds one test: the peak
//! it reads covers everything the binary allocated.

use std::alloc::System;
use std::time::Instant;

use cap::Cap;
use mywebsocket::{Config, Upgrader};
use mywebsocket_tests::{
    bounded, echo, encode_frame, first_message_compressed, inflate_message, rsv1_frame,
    upgrade_request, Task, SAMPLE_KEY,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tungstenite::protocol::frame::coding::{Data, OpCode};

/// Capped from the start: `Cap::set_limit` called while the runtime's threads allocate can
/// leave `max_allocated` at nearly `usize::MAX` (between its two updates another thread
/// reads the old limit against the new remainder).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

const CONNECTIONS: usize = 10_000;
/// Connections are opened and measured a batch at a time, so that a regression fails at the
/// first batch instead of taking the machine's memory for all of them.
const BATCH: usize = 1_000;
const IDLE_BOUND: usize = 16 << 10;
const CHATTED_BOUND: usize = 24 << 10;
/// The most a duplex buffers in each direction; it allocates only what is in flight.
const DUPLEX_CAPACITY: usize = 64 << 10;
/// A regression must fail the test, not take the machine's memory.
const HARD_CAP: usize = 4 << 30;
/// Chromium's offer, byte for byte.
const CHROMIUM_OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
const KEY: Option<[u8; 4]> = Some([0x3c, 0x5a, 0x96, 0xe1]);
/// A chat message as a chat page sends it, about 200 bytes of JSON.
const CHAT: &str = r#"{"type":"message","room":"general","user":{"id":48213,"name":"alice"},"text":"Deploy finished, dashboards look green. Ping me if anything looks off!","ts":1718035200123,"reply_to":null,"edited":false}"#;

/// Reads an HTTP head into `buf` and returns its length.
async fn read_head(stream: &mut DuplexStream, buf: &mut [u8]) -> usize {
    let mut len = 0;
    while !buf[..len].ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut buf[len..]).await.expect("read response");
        assert!(n > 0, "the server ended the stream during the handshake");
        len += n;
    }
    len
}

/// The window a `Sec-WebSocket-Extensions` answer lets the client compress with: its
/// `client_max_window_bits`, or 15 without one (RFC 7692 §7.1.2.2).
fn client_window_bits(answer: &[u8]) -> u8 {
    const PARAM: &[u8] = b"client_max_window_bits=";
    answer
        .windows(PARAM.len())
        .position(|w| w == PARAM)
        .map_or(15, |at| {
            answer[at + PARAM.len()..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0, |bits, digit| bits * 10 + (digit - b'0'))
        })
}

/// Opens one connection: the server task accepts it and echoes; the client sends the
/// request and checks that the `101` accepts permessage-deflate. Returns the client's end,
/// the server's task and the window the client may compress with.
async fn open(upgrader: &Upgrader, request: &[u8]) -> (DuplexStream, Task<mywebsocket::Error>, u8) {
    let (mut client, server_end) = tokio::io::duplex(DUPLEX_CAPACITY);
    let upgrader = upgrader.clone();
    let server = Task::spawn(async move {
        let ws = upgrader.accept(server_end).await.expect("server handshake");
        assert!(ws.is_compressed());
        echo(ws).await
    });
    client.write_all(request).await.expect("request");
    let mut head = [0u8; 1024];
    let len = read_head(&mut client, &mut head).await;
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    assert!(response
        .parse(&head[..len])
        .expect("valid response")
        .is_complete());
    assert_eq!(response.code, Some(101));
    let answer = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|h| h.value)
        .filter(|v| v.starts_with(b"permessage-deflate"))
        .unwrap_or_else(|| {
            panic!(
                "the server did not accept permessage-deflate: {:?}",
                String::from_utf8_lossy(&head[..len])
            )
        });
    let bits = client_window_bits(answer);
    (client, server, bits)
}

/// Sends the compressed message and reads the server's compressed echo, checking it.
async fn chat(client: &mut DuplexStream, frame: &[u8], inflater: &mut flate2::Decompress) {
    client.write_all(frame).await.expect("message");
    let mut buf = [0u8; 512];
    loop {
        client.read_exact(&mut buf[..2]).await.expect("echo header");
        let (first, mut len) = (buf[0], usize::from(buf[1]));
        if len == 126 {
            client.read_exact(&mut buf[..2]).await.expect("echo length");
            len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
        }
        assert!(
            len <= buf.len(),
            "an unmasked frame of at most 512 bytes, got {len}"
        );
        let payload = &mut buf[..len];
        client.read_exact(payload).await.expect("echo payload");
        if first & 0x08 != 0 {
            continue; // A ping from the heartbeat: nothing to answer for this test.
        }
        assert_eq!(
            first,
            0x80 | 0x40 | 0x01,
            "a compressed text frame with FIN"
        );
        inflater.reset(false);
        let echoed = inflate_message(inflater, payload);
        assert_eq!(echoed, CHAT.as_bytes());
        return;
    }
}

fn kib(bytes: usize, per: usize) -> f64 {
    bytes as f64 / per as f64 / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_connections_with_permessage_deflate_cost_kilobytes() {
    bounded(async {
        let upgrader = Upgrader::new(Config::default());
        let request = upgrade_request(Some(SAMPLE_KEY), "13", CHROMIUM_OFFER).into_bytes();
        // One connection before the baseline learns the window the server lets clients use
        // (a browser compresses with what the answer allows); it stays open, uncounted.
        let (probe, probe_server, bits) = open(&upgrader, &request).await;
        let compressed = first_message_compressed(bits, CHAT.as_bytes());
        let frame = encode_frame(rsv1_frame(
            true,
            OpCode::Data(Data::Text),
            compressed.clone(),
            KEY,
        ));
        // The checking inflater is used once before the baseline, so its window is counted
        // there.
        let mut inflater = flate2::Decompress::new_with_window_bits(false, 15);
        assert_eq!(inflate_message(&mut inflater, &compressed), CHAT.as_bytes());
        let mut clients = Vec::with_capacity(CONNECTIONS);
        let mut servers = Vec::with_capacity(CONNECTIONS);

        let started = Instant::now();
        let baseline = ALLOCATOR.allocated();
        let mut idle_total = 0;
        for batch in 0..CONNECTIONS / BATCH {
            let before = ALLOCATOR.allocated();
            for _ in 0..BATCH {
                let (client, server, answered) = open(&upgrader, &request).await;
                assert_eq!(answered, bits, "the server's answer changed");
                clients.push(client);
                servers.push(server);
            }
            let idle = ALLOCATOR.allocated().saturating_sub(before);
            for client in &mut clients[batch * BATCH..] {
                chat(client, &frame, &mut inflater).await;
            }
            let chatted = ALLOCATOR.allocated().saturating_sub(before);
            idle_total += idle;
            let (idle_kib, chatted_kib) = (kib(idle, BATCH), kib(chatted, BATCH));
            assert!(
                idle <= BATCH * IDLE_BOUND && chatted <= BATCH * CHATTED_BOUND,
                "connections {}..{}: {idle_kib:.2} KiB per connection idle (bound {} KiB), \
                 {chatted_kib:.2} KiB after one message each (bound {} KiB)",
                batch * BATCH,
                (batch + 1) * BATCH,
                IDLE_BOUND >> 10,
                CHATTED_BOUND >> 10
            );
        }
        let chatted_total = ALLOCATOR.allocated().saturating_sub(baseline);
        eprintln!(
            "{CONNECTIONS} browser connections with permessage-deflate, in {:.1} s: \
             {:.2} KiB per connection idle, {:.2} KiB after one compressed message each \
             (bounds {} and {} KiB; client window {bits} bits)",
            started.elapsed().as_secs_f64(),
            kib(idle_total, CONNECTIONS),
            kib(chatted_total, CONNECTIONS),
            IDLE_BOUND >> 10,
            CHATTED_BOUND >> 10
        );
        assert!(idle_total <= CONNECTIONS * IDLE_BOUND);
        assert!(chatted_total <= CONNECTIONS * CHATTED_BOUND);
        assert_eq!(upgrader.live_connections(), CONNECTIONS + 1);

        // Each server task ends when its client goes; dropping the tasks stops them all.
        drop((clients, probe));
        drop((servers, probe_server));
    })
    .await;
}
