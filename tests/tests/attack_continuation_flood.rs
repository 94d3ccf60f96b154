//! A message sent as 100,000 one-byte frames (a text frame without FIN, then 99,999
//! continuations, the last with FIN): seven bytes on the wire for every byte of message. With
//! a 50,000-byte message limit the server closes with 1009 as soon as the message passes it;
//! with the default limit the message arrives whole and in order. Either way the server
//! holds no more than a small multiple of the message, however many frames it came in.
//!
//! Memory is measured with a counting global allocator, so this file holds one test: the peak
//! it reads covers everything the binary allocated.

use std::alloc::System;

use cap::Cap;
use mywebsocket::{Config, Error, Initiator, Message, Upgrader};
use mywebsocket_tests::{
    assert_closed_by, assert_same_bytes, bounded, encode_frame, our_server_and_raw_client,
    raw_frame, take_frame, text_pattern, Task,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// Capped from the start: `Cap::set_limit` called while the runtime's threads allocate can
/// leave `max_allocated` at nearly `usize::MAX` (between its two updates another thread
/// reads the old limit against the new remainder).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

const FRAMES: usize = 100_000;
const LIMIT: usize = 50_000;
const KEY: Option<[u8; 4]> = Some([0x21, 0x43, 0x65, 0x87]);
/// The server's read buffer, bookkeeping and the runtime; the client's frames are encoded
/// before the baseline.
const SLACK: usize = 128 << 10;
/// A regression must fail the test, not take the machine's memory.
const HARD_CAP: usize = 1 << 30;

/// `text` as one-byte frames: the first a text frame without FIN, the last a continuation
/// with FIN.
fn one_byte_frames(text: &str) -> Vec<u8> {
    let last = text.len() - 1;
    let mut wire = Vec::with_capacity(text.len() * 7);
    for (i, byte) in text.bytes().enumerate() {
        let opcode = if i == 0 { Data::Text } else { Data::Continue };
        wire.extend(encode_frame(raw_frame(
            i == last,
            OpCode::Data(opcode),
            vec![byte],
            KEY,
        )));
    }
    wire
}

fn close_1000() -> Vec<u8> {
    encode_frame(raw_frame(
        true,
        OpCode::Control(Control::Close),
        1000u16.to_be_bytes().to_vec(),
        KEY,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_one_byte_frames_is_limited_or_assembled_within_bounded_memory() {
    bounded(async {
        let text = text_pattern(FRAMES, 3);
        let wire = one_byte_frames(&text);

        // Past the limit: closed with 1009 once byte 50,001 arrives.
        let config = Config::default().no_heartbeat().max_message_size(LIMIT);
        let (mut server, peer) = our_server_and_raw_client(Upgrader::new(config)).await;
        let server = Task::spawn(async move { server.read_msg().await });
        let (tcp, mut buf) = peer.into_parts();
        let (mut rx, mut tx) = tcp.into_split();
        buf.reserve(4096);
        let baseline = ALLOCATOR.allocated();
        let send = async {
            // The server stops reading at the limit and then closes: the rest may not fit.
            let _ = tx.write_all(&wire).await;
        };
        let answer = async {
            loop {
                if let Some(frame) = take_frame(&mut buf) {
                    return frame;
                }
                let n = rx.read_buf(&mut buf).await.expect("read the close");
                assert!(n > 0, "the stream ended without a close frame");
            }
        };
        let ((), close) = tokio::join!(send, answer);
        let (code, reason) = close.close_code().expect("a close frame with a code");
        assert_eq!(code, 1009, "{reason}");
        match server.join().await {
            Err(Error::MessageTooBig { size, limit }) => {
                assert_eq!((size, limit), (LIMIT as u64 + 1, LIMIT));
            }
            other => panic!("expected MessageTooBig, got {other:?}"),
        }
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
        let bound = 2 * LIMIT + SLACK;
        eprintln!(
            "{FRAMES} one-byte frames against a {LIMIT}-byte limit: peak {} KiB above \
             baseline (bound {} KiB)",
            peak >> 10,
            bound >> 10
        );
        assert!(peak <= bound, "peak {peak} bytes over the bound {bound}");
        drop((rx, tx, buf));

        // Within the default limit: the message arrives whole.
        let config = Config::default().no_heartbeat();
        let (mut server, peer) = our_server_and_raw_client(Upgrader::new(config)).await;
        let server = Task::spawn(async move {
            let message = server.read_msg().await;
            let end = server.read_msg().await.expect_err("closed");
            (message, end)
        });
        let (mut tcp, mut buf) = peer.into_parts();
        let close = close_1000();
        let baseline = ALLOCATOR.allocated();
        tcp.write_all(&wire).await.expect("the frames");
        tcp.write_all(&close).await.expect("close");
        let (message, end) = server.join().await;
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
        match message.expect("the message") {
            Message::Text(got) => assert_same_bytes(got.as_bytes(), text.as_bytes(), "message"),
            other => panic!("expected a text message, got {other:?}"),
        }
        assert_closed_by(&end, Initiator::Remote);
        let mut rest = Vec::new();
        tcp.read_to_end(&mut rest).await.expect("the close answer");
        buf.extend_from_slice(&rest);
        let answer = take_frame(&mut buf).expect("the close answer");
        assert_eq!(answer.close_code(), Some((1000, String::new())));

        let bound = 3 * FRAMES + SLACK;
        eprintln!(
            "{FRAMES} one-byte frames within the default limit: peak {} KiB above baseline \
             (bound {} KiB)",
            peak >> 10,
            bound >> 10
        );
        assert!(peak <= bound, "peak {peak} bytes over the bound {bound}");
    })
    .await;
}
