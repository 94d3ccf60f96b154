//! A client that sends a close frame and then keeps sending close frames and data frames
//! without ever reading: the server answers the first close once, reports `Error::Closed` for
//! it (nothing sent after it is delivered or answered), ends the connection well within the
//! close timeout, and holds no memory for what keeps arriving.
//!
//! Memory is measured with a counting global allocator, so this file holds one test: the peak
//! it reads covers everything the binary allocated.

use std::alloc::System;
use std::io;
use std::time::Duration;

use cap::Cap;
use mywebsocket::{Config, Initiator, Upgrader};
use mywebsocket_tests::{
    assert_closed, bounded, encode_frame, our_server_and_raw_client, raw_frame, take_frame, Task,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// Capped from the start: `Cap::set_limit` called while the runtime's threads allocate can
/// leave `max_allocated` at nearly `usize::MAX` (between its two updates another thread
/// reads the old limit against the new remainder).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Time for the end of the connection to reach the client on a debug build.
const MARGIN: Duration = Duration::from_secs(1);
const KEY: Option<[u8; 4]> = Some([0x6d, 0x1e, 0x42, 0x99]);
/// Frames of each kind in the client's one pre-encoded buffer, written again and again.
const REPEATS: usize = 64;
/// The server stops reading at the first close, so only the runtime and the close answer
/// count above the baseline.
const SLACK: usize = 128 << 10;
/// A regression must fail the test, not take the machine's memory.
const HARD_CAP: usize = 1 << 30;

fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    encode_frame(raw_frame(
        true,
        OpCode::Control(Control::Close),
        payload,
        KEY,
    ))
}

/// What follows the first close: more closes with other codes, texts and binary messages.
fn aftermath() -> Vec<u8> {
    let mut chunk = close_frame(1001, "again");
    chunk.extend(encode_frame(raw_frame(
        true,
        OpCode::Data(Data::Text),
        b"after the close".to_vec(),
        KEY,
    )));
    chunk.extend(encode_frame(raw_frame(
        true,
        OpCode::Data(Data::Binary),
        vec![0xab; 1024],
        KEY,
    )));
    chunk.repeat(REPEATS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_flood_gets_one_answer_and_the_connection_ends() {
    bounded(async {
        let config = Config::default()
            .no_heartbeat()
            .close_timeout(CLOSE_TIMEOUT);
        let (mut server, peer) = our_server_and_raw_client(Upgrader::new(config)).await;
        let server = Task::spawn(async move {
            let mut delivered = Vec::new();
            let end = loop {
                match server.read_msg().await {
                    Ok(message) => delivered.push(message),
                    Err(e) => break e,
                }
            };
            // Every later read reports the same end, not the closes that came after.
            let again = server.read_msg().await.expect_err("still closed");
            (delivered, end, again)
        });
        let (mut tcp, mut buf) = peer.into_parts();
        let first = close_frame(1000, "first");
        let rest = aftermath();

        let baseline = ALLOCATOR.allocated();
        let start = Instant::now();
        let mut sent = 0usize;
        let mut sampled = 0usize;
        let flood = async {
            tcp.write_all(&first).await.expect("the first close");
            loop {
                if let Err(e) = tcp.write_all(&rest).await {
                    return (e, start.elapsed());
                }
                sent += rest.len();
                sampled = sampled.max(ALLOCATOR.allocated().saturating_sub(baseline));
            }
        };
        let outcome = tokio::time::timeout_at(start + CLOSE_TIMEOUT + MARGIN, flood).await;
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
        let bound = SLACK;
        eprintln!(
            "close flood: {} KiB sent after the first close; memory above baseline {} KiB at \
             most while flooding (sampled), peak {} KiB (bound {} KiB)",
            sent >> 10,
            sampled >> 10,
            peak >> 10,
            bound >> 10
        );
        let Ok((write_error, ended_after)) = outcome else {
            panic!(
                "the client could still write {:?} after its close ({} KiB sent): the server \
                 must end the connection within the close timeout ({CLOSE_TIMEOUT:?})",
                start.elapsed(),
                sent >> 10
            );
        };
        eprintln!("the client's writes failed after {ended_after:?} with {write_error}");
        assert!(
            matches!(
                write_error.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{write_error:?}"
        );

        let (delivered, end, again) = server.join().await;
        assert!(
            delivered.is_empty(),
            "delivered after a close: {delivered:?}"
        );
        assert_closed(&end, 1000, "first", Initiator::Remote);
        assert_closed(&again, 1000, "first", Initiator::Remote);

        // What the client never read: exactly one close frame, the answer to the first.
        loop {
            match tcp.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading what the server sent: {e}"),
            }
        }
        let answer = take_frame(&mut buf).expect("the answer to the first close");
        assert_eq!(
            answer.close_code(),
            Some((1000, String::new())),
            "{answer:?}"
        );
        assert!(
            buf.is_empty(),
            "{} bytes after the close answer: {:?}",
            buf.len(),
            take_frame(&mut buf)
        );
        assert!(peak <= bound, "peak {peak} bytes over the bound {bound}");
        assert!(
            sampled <= bound,
            "sampled {sampled} bytes over the bound {bound}"
        );
    })
    .await;
}
