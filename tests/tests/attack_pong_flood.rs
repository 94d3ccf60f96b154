//! A client that floods the server with unsolicited pongs (RFC 6455 §5.5.3 allows them; they
//! need no answer) while sending a text message now and then: the server keeps echoing the
//! texts, in order, its pong handler sees every pong, and its memory stays flat.
//!
//! Memory is measured with a counting global allocator, so this file holds one test: the peak
//! it reads covers everything the binary allocated.

use std::alloc::System;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use cap::Cap;
use mywebsocket::{Config, Initiator, Upgrader};
use mywebsocket_tests::{
    assert_closed_by, bounded, echo, encode_frame, our_server_and_raw_client, raw_frame,
    take_frame, Task,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// Capped from the start: `Cap::set_limit` called while the runtime's threads allocate can
/// leave `max_allocated` at nearly `usize::MAX` (between its two updates another thread
/// reads the old limit against the new remainder).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

/// Each round is this many pongs and then one text message.
const PONGS_PER_ROUND: usize = 256;
const ROUNDS: usize = 2_000;
const PONG_PAYLOAD: usize = 125;
const PONG_KEY: [u8; 4] = [0x91, 0x0c, 0x5e, 0xa7];
const TEXT_KEY: [u8; 4] = [0x13, 0x57, 0x9b, 0xdf];
/// The text of round `n` is `tick-` and `n` in six digits.
const TICK_LEN: usize = 11;
/// The client's read buffer, allocated before the baseline.
const READ_BUFFER: usize = 64 << 10;
/// Everything above the baseline: the server's read buffer, the texts in flight and the
/// runtime; nothing grows with the number of pongs. An echo waiting to be written keeps the
/// read buffer (8 KiB) its payload was sliced from, and a few dozen may wait when the write
/// task runs late, so this allows for them.
const SLACK: usize = 512 << 10;
/// A regression must fail the test, not take the machine's memory.
const HARD_CAP: usize = 1 << 30;

/// The text of round `n`, without allocating.
fn tick(n: usize) -> [u8; TICK_LEN] {
    let mut text = *b"tick-000000";
    let mut rest = n;
    for digit in text[5..].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    text
}

/// One round on the wire: the pongs, then a masked text frame whose payload is the last
/// [`TICK_LEN`] bytes.
fn round() -> Vec<u8> {
    let pong = encode_frame(raw_frame(
        true,
        OpCode::Control(Control::Pong),
        vec![b'q'; PONG_PAYLOAD],
        Some(PONG_KEY),
    ));
    let mut round = pong.repeat(PONGS_PER_ROUND);
    round.extend(encode_frame(raw_frame(
        true,
        OpCode::Data(Data::Text),
        tick(0).to_vec(),
        Some(TEXT_KEY),
    )));
    round
}

/// Writes round `n`'s text, masked, over the end of `round`.
fn set_tick(round: &mut [u8], n: usize) {
    let start = round.len() - TICK_LEN;
    for (i, (slot, byte)) in round[start..].iter_mut().zip(tick(n)).enumerate() {
        *slot = byte ^ TEXT_KEY[i % 4];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pong_flood_leaves_texts_answered_and_memory_flat() {
    bounded(async {
        let pongs = Arc::new(AtomicUsize::new(0));
        let odd_pongs = Arc::new(AtomicUsize::new(0));
        let config = {
            let (pongs, odd_pongs) = (Arc::clone(&pongs), Arc::clone(&odd_pongs));
            Config::default().no_heartbeat().on_pong(move |payload| {
                pongs.fetch_add(1, Ordering::Relaxed);
                if payload.len() != PONG_PAYLOAD || payload.iter().any(|&b| b != b'q') {
                    odd_pongs.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let (server, peer) = our_server_and_raw_client(Upgrader::new(config)).await;
        let server = Task::spawn(echo(server));
        let (tcp, _) = peer.into_parts();
        let (mut rx, mut tx) = tcp.into_split();
        let mut round = round();
        let mut buf = vec![0u8; READ_BUFFER];

        let baseline = ALLOCATOR.allocated();
        let mut sampled = 0usize;
        let flood = async {
            for n in 0..ROUNDS {
                set_tick(&mut round, n);
                tx.write_all(&round).await.expect("flood");
                sampled = sampled.max(ALLOCATOR.allocated().saturating_sub(baseline));
            }
        };
        // Every echo is the same size: a two-byte header and the tick. They are read into a
        // fixed buffer and checked in place, so reading allocates nothing either.
        let echoes = async {
            const ECHO: usize = 2 + TICK_LEN;
            let mut next = 0;
            let mut filled = 0;
            while next < ROUNDS {
                let n = rx.read(&mut buf[filled..]).await.expect("read echoes");
                assert!(n > 0, "the server ended the stream after {next} echoes");
                filled += n;
                let whole = filled / ECHO * ECHO;
                for echo in buf[..whole].chunks_exact(ECHO) {
                    assert_eq!(echo[..2], [0x81, TICK_LEN as u8], "echo {next}: {echo:?}");
                    assert_eq!(echo[2..], tick(next), "echo {next}");
                    next += 1;
                }
                buf.copy_within(whole..filled, 0);
                filled -= whole;
            }
            assert_eq!(filled, 0, "more than {ROUNDS} echoes");
        };
        tokio::join!(flood, echoes);
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);

        // The close handshake: the server has handled every pong before it.
        tx.write_all(&encode_frame(raw_frame(
            true,
            OpCode::Control(Control::Close),
            1000u16.to_be_bytes().to_vec(),
            Some(TEXT_KEY),
        )))
        .await
        .expect("close");
        assert_closed_by(&server.join().await, Initiator::Remote);
        let mut rest = Vec::new();
        rx.read_to_end(&mut rest).await.expect("the close answer");
        let mut rest = BytesMut::from(&rest[..]);
        let answer = take_frame(&mut rest).expect("a close frame");
        assert_eq!(answer.close_code(), Some((1000, String::new())));
        assert!(rest.is_empty(), "{} bytes after the close", rest.len());

        let bound = SLACK;
        eprintln!(
            "{} pongs and {ROUNDS} texts: memory above baseline {} KiB at most while flooding \
             (sampled), peak {} KiB (bound {} KiB)",
            ROUNDS * PONGS_PER_ROUND,
            sampled >> 10,
            peak >> 10,
            bound >> 10
        );
        assert_eq!(pongs.load(Ordering::Relaxed), ROUNDS * PONGS_PER_ROUND);
        assert_eq!(odd_pongs.load(Ordering::Relaxed), 0);
        assert!(
            sampled <= bound,
            "sampled {sampled} bytes over the bound {bound}"
        );
        assert!(peak <= bound, "peak {peak} bytes over the bound {bound}");
    })
    .await;
}
