//! A client that sends masked 125-byte pings as fast as it can and never reads: every ping
//! owes a pong (RFC 6455 §5.5.2), so without a bound the pongs would pile up for ever. The
//! pongs must stay within `Config::write_buffer_size` (RFC 6455 §5.5.3 lets a server answer
//! only the latest ping when it cannot keep up), the server's memory within twice that, and
//! the write timeout must then end the connection as it ends any peer that does not read.
//! (A client that does read gets every pong, in order: `attack_ping_order.rs`.)
//!
//! Memory is measured with a counting global allocator, so this file holds one test: the peak
//! it reads covers everything the binary allocated.

use std::alloc::System;
use std::io;
use std::time::Duration;

use cap::Cap;
use mywebsocket::{Error, TimeoutKind, Upgrader};
use mywebsocket_tests::{
    bounded, encode_frame, non_reading_config, our_server_and_raw_client, raw_frame, Task,
};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::{Control, OpCode};

/// Capped from the start: `Cap::set_limit` called while the runtime's threads allocate can
/// leave `max_allocated` at nearly `usize::MAX` (between its two updates another thread
/// reads the old limit against the new remainder).
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

const WRITE_BUFFER: usize = 64 << 10;
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pings in the client's one pre-encoded buffer, written again and again: the flood allocates
/// nothing, so every byte counted above the baseline is the server's.
const PINGS_PER_WRITE: usize = 512;
/// The connection must be over this long after the write timeout, counted from the start of
/// the flood: time for the flood to fill both sockets' kernel buffers (megabytes of pongs on
/// loopback, at a debug build's speed) and for the end to reach the client.
const MARGIN: Duration = Duration::from_secs(3);
/// What the server may hold beyond twice the write buffer: a record per queued pong beside
/// its bytes, the read buffers queued pong payloads still share, the frame being decoded, and
/// the runtime's own allocations during the flood.
const SLACK: usize = 256 << 10;
/// A regression must fail the test, not take the machine's memory: past this, allocations
/// fail and the binary aborts.
const HARD_CAP: usize = 1 << 30;

/// `PINGS_PER_WRITE` masked pings with 125-byte payloads, back to back.
fn ping_burst() -> Vec<u8> {
    let ping = encode_frame(raw_frame(
        true,
        OpCode::Control(Control::Ping),
        vec![b'p'; 125],
        Some([0x37, 0xfa, 0x21, 0x3d]),
    ));
    ping.repeat(PINGS_PER_WRITE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_from_a_non_reading_client_stays_within_the_write_buffer_then_is_dropped() {
    bounded(async {
        let config = non_reading_config(WRITE_BUFFER, WRITE_TIMEOUT);
        let (mut server, peer) = our_server_and_raw_client(Upgrader::new(config)).await;
        let server = Task::spawn(async move {
            let end = server
                .read_msg()
                .await
                .expect_err("the client sends no data message");
            (end, Instant::now())
        });
        let (mut tcp, _) = peer.into_parts();
        let burst = ping_burst();

        let baseline = ALLOCATOR.allocated();
        let start = Instant::now();
        let mut sent = 0usize;
        let mut sampled = 0usize;
        let flood = async {
            loop {
                if let Err(e) = tcp.write_all(&burst).await {
                    return (e, Instant::now());
                }
                sent += burst.len();
                sampled = sampled.max(ALLOCATOR.allocated().saturating_sub(baseline));
            }
        };
        let outcome = tokio::time::timeout_at(start + WRITE_TIMEOUT + MARGIN, async {
            tokio::join!(flood, server.join())
        })
        .await;
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
        let bound = 2 * WRITE_BUFFER + SLACK;
        eprintln!(
            "ping flood: {} KiB of pings sent; server memory above baseline: {} KiB at most \
             while flooding (sampled), peak {} KiB (bound {} KiB)",
            sent >> 10,
            sampled >> 10,
            peak >> 10,
            bound >> 10
        );
        let Ok(((client_error, client_end), (server_error, server_end))) = outcome else {
            panic!(
                "the connection was still open {:?} after the flood started ({} KiB of pings \
                 sent, peak {} KiB above baseline): the server must end it at the write \
                 timeout ({WRITE_TIMEOUT:?})",
                start.elapsed(),
                sent >> 10,
                peak >> 10
            );
        };
        eprintln!(
            "server's read ended after {:?} with {server_error:?}; the client's writes failed \
             after {:?} with {client_error}",
            server_end - start,
            client_end - start
        );
        assert!(
            matches!(
                server_error,
                Error::Timeout(TimeoutKind::Write)
                    | Error::Io(_)
                    | Error::Closed { .. }
                    | Error::AlreadyClosed
            ),
            "{server_error:?}"
        );
        assert!(
            matches!(
                client_error.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ),
            "{client_error:?}"
        );
        assert!(
            sampled <= bound,
            "sampled {sampled} bytes over the bound {bound}"
        );
        assert!(peak <= bound, "peak {peak} bytes over the bound {bound}");
    })
    .await;
}
