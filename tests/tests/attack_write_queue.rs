//! Clients that never read while the server writes 1 GiB to each: the write queue stays
//! within `Config::write_buffer_size` (writers wait), the server's memory stays within that
//! bound per connection, and the write timeout then drops the connection.
//!
//! Memory is measured with a counting global allocator, so this file holds one test: the peak
//! it reads covers everything the binary allocated.

use std::alloc::System;
use std::time::{Duration, Instant};

use cap::Cap;
use mywebsocket::{Error, TimeoutKind, Upgrader};
use mywebsocket_tests::{bounded, listen, non_reading_config, RawPeer, Task};
use tokio::io::AsyncReadExt;

#[global_allocator]
/// Capped from the start: `Cap::set_limit` called while the runtime's threads allocate can
/// leave `max_allocated` at nearly `usize::MAX`.
static ALLOCATOR: Cap<System> = Cap::new(System, HARD_CAP);

const CONNECTIONS: usize = 20;
const WRITE_BUFFER: usize = 1 << 20;
const MESSAGE: usize = 64 << 10;
const ATTEMPTED: usize = 1 << 30;
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// What one connection may hold beyond its queue: the message waiting to be queued, the one
/// that went over the limit, read buffers and bookkeeping.
const PER_CONNECTION_EXTRA: usize = 2 * MESSAGE + (64 << 10);
/// The runtime, the test's own tasks and the allocator's granularity.
const SLACK: usize = 4 << 20;
/// A regression must fail the test, not take the machine's memory: past this, allocations
/// fail and the binary aborts.
const HARD_CAP: usize = 1 << 30;

/// Writes fresh 64 KiB messages (each a new allocation, as a real server's would be) until
/// 1 GiB is sent or a write fails; returns the bytes the writer accepted and the error.
async fn write_a_gibibyte(ws: mywebsocket::WebSocket) -> (usize, Option<Error>) {
    let mut accepted = 0;
    while accepted < ATTEMPTED {
        if let Err(e) = ws.write_binary(vec![accepted as u8; MESSAGE]).await {
            return (accepted, Some(e));
        }
        accepted += MESSAGE;
    }
    (accepted, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_reading_clients_keep_server_memory_within_the_write_buffer_then_get_dropped() {
    bounded(async {
        let config = non_reading_config(WRITE_BUFFER, WRITE_TIMEOUT);
        let upgrader = Upgrader::new(config);
        let (listener, addr) = listen().await;
        let server = Task::spawn(async move {
            let mut writers = Vec::new();
            for _ in 0..CONNECTIONS {
                let (tcp, _) = listener.accept().await.expect("accept");
                let ws = upgrader.accept(tcp).await.expect("handshake");
                writers.push(tokio::spawn(async move {
                    let start = Instant::now();
                    let (accepted, error) = write_a_gibibyte(ws).await;
                    (accepted, error, start.elapsed())
                }));
            }
            let mut results = Vec::new();
            for writer in writers {
                results.push(writer.await.expect("writer"));
            }
            results
        });

        let baseline = ALLOCATOR.allocated();
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            clients.push(RawPeer::connect(addr).await);
        }
        let results = server.join().await;
        let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);

        for (accepted, error, took) in &results {
            assert!(
                matches!(error, Some(Error::Timeout(TimeoutKind::Write))),
                "writer ended with {error:?} after {accepted} bytes"
            );
            // Backpressure: the writer waited instead of queueing the gibibyte.
            assert!(*accepted < 64 << 20, "{accepted} bytes accepted");
            assert!(*took >= WRITE_TIMEOUT, "{took:?}");
        }
        let bound = CONNECTIONS * (WRITE_BUFFER + PER_CONNECTION_EXTRA) + SLACK;
        eprintln!(
            "{CONNECTIONS} non-reading clients: peak {} KiB above baseline ({} KiB per \
             connection; bound {} KiB); accepted per writer before the timeout: {:?} KiB",
            peak >> 10,
            (peak / CONNECTIONS) >> 10,
            bound >> 10,
            results.iter().map(|r| r.0 >> 10).collect::<Vec<_>>(),
        );
        assert!(peak <= bound, "peak {peak} bytes over the bound {bound}");

        // Each client finds the connection ended once it drains what reached its socket.
        for client in clients {
            let (mut tcp, _) = client.into_parts();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    })
    .await;
}
