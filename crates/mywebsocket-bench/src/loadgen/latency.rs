//! Round-trip latency with one message in flight: write a frame, read until its echo is
//! complete, repeat.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::Conn;
use super::counter::FrameCounter;
use super::frames::{client_frame, payload, MASK_KEY, OP_BINARY};
use super::{Timing, STALL_TIMEOUT};

/// Round trips of `payload_len`-byte binary messages on `conn`; returns the measured ones in
/// nanoseconds, sorted.
///
/// # Errors
/// A socket error, a bad echo, a stall longer than [`STALL_TIMEOUT`], or no round trip at all.
pub async fn run(conn: &mut Conn, payload_len: usize, timing: Timing) -> Result<Vec<u64>, String> {
    let frame = client_frame(OP_BINARY, false, &payload(payload_len), MASK_KEY);
    let mut counter = FrameCounter::new(Some(payload_len as u64));
    counter.feed(&conn.leftover).map_err(|e| e.to_string())?;
    let mut buf = vec![0; 256 << 10];
    let counting_from = Instant::now() + timing.warmup;
    let end = counting_from + timing.measure;
    let mut samples = Vec::new();
    loop {
        let sent_at = Instant::now();
        if sent_at >= end {
            break;
        }
        let round_trip = async {
            conn.stream.write_all(&frame).await?;
            loop {
                let n = conn.stream.read(&mut buf).await?;
                if n == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                }
                let tally = counter.feed(&buf[..n]).map_err(std::io::Error::other)?;
                if tally.messages > 0 {
                    return Ok::<(), std::io::Error>(());
                }
            }
        };
        match tokio::time::timeout(STALL_TIMEOUT, round_trip).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no echo within the stall timeout".into()),
        }
        if sent_at >= counting_from {
            samples.push(sent_at.elapsed().as_nanos() as u64);
        }
    }
    if samples.is_empty() {
        return Err("no round trip completed".into());
    }
    samples.sort_unstable();
    Ok(samples)
}
