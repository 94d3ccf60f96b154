//! One message in flight per connection, many connections: each sends a message, waits for
//! its echo, then sends the next, as request/response traffic (chat, games, RPC) does and as
//! uWebSockets' `load_test.c` measures. Yields messages per second, round-trip percentiles and
//! the server's CPU time per message.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, Interest};

use super::conn::Conn;
use super::counter::FrameCounter;
use super::{Timing, STALL_TIMEOUT};
use crate::stats::percentile;

/// What a run measured.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    /// Round trips completed per second, all connections together.
    pub messages_per_s: f64,
    /// Median round trip, microseconds.
    pub p50_us: f64,
    /// 99th percentile round trip, microseconds.
    pub p99_us: f64,
    /// The server's CPU time (user and system, all threads) per round trip, microseconds.
    pub server_cpu_us: f64,
}

/// One connection's round trips that completed inside the measured interval.
struct Tally {
    messages: u64,
    /// Round-trip times in nanoseconds.
    samples: Vec<u64>,
}

/// Runs `conns`, each sending `frame` (a masked client frame whose echo carries `expect` payload
/// bytes) again as soon as its echo is in. Warms up for `timing.warmup`, then counts for
/// `timing.measure`; `server_cpu` reads the server's CPU time at both ends of the count.
///
/// # Errors
/// A connection's failure (socket error, bad echo, more echoes than messages sent), a
/// connection stalled longer than [`STALL_TIMEOUT`], an unreadable CPU time, or no round trip.
pub async fn run(
    conns: Vec<Conn>,
    frame: Arc<Vec<u8>>,
    expect: u64,
    timing: Timing,
    server_cpu: impl Fn() -> Result<Duration, String>,
) -> Result<Rates, String> {
    let counting_from = Instant::now() + timing.warmup;
    let end = counting_from + timing.measure;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let frame = Arc::clone(&frame);
            tokio::spawn(async move {
                let drive = drive(conn, &frame, expect, counting_from, end);
                // A connection keeps going until its first echo after `end`: the deadline is
                // the end plus the stall timeout.
                let deadline = tokio::time::Instant::from_std(end) + STALL_TIMEOUT;
                match tokio::time::timeout_at(deadline, drive).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err("no echo within the stall timeout".to_owned()),
                }
            })
        })
        .collect();
    tokio::time::sleep_until(counting_from.into()).await;
    let cpu_start = server_cpu();
    tokio::time::sleep_until(end.into()).await;
    let cpu_end = server_cpu();
    let mut messages = 0;
    let mut samples = Vec::new();
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok(tally)) => {
                messages += tally.messages;
                samples.extend(tally.samples);
            }
            Ok(Err(why)) => {
                failure.get_or_insert(why);
            }
            Err(e) => {
                failure.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(why) = failure {
        return Err(why);
    }
    if messages == 0 {
        return Err("no round trip completed in the measured interval".into());
    }
    let cpu = cpu_end?.saturating_sub(cpu_start?);
    samples.sort_unstable();
    let us = |q| percentile(&samples, q).expect("at least one sample") as f64 / 1e3;
    Ok(Rates {
        messages_per_s: messages as f64 / timing.measure.as_secs_f64(),
        p50_us: us(0.5),
        p99_us: us(0.99),
        server_cpu_us: cpu.as_secs_f64() * 1e6 / messages as f64,
    })
}

/// One connection: write the frame (reading at the same time, so a server that echoes while
/// the frame still arrives never blocks on a full socket), read until its echo is complete,
/// repeat until the first echo after `end`. Counts the round trips that ended in
/// `counting_from..=end`.
async fn drive(
    conn: Conn,
    frame: &[u8],
    expect: u64,
    counting_from: Instant,
    end: Instant,
) -> Result<Tally, String> {
    let Conn {
        mut stream,
        leftover,
        ..
    } = conn;
    let mut counter = FrameCounter::new(Some(expect));
    if counter.feed(&leftover).map_err(|e| e.to_string())?.messages > 0 {
        return Err("server sent a message before any was sent".into());
    }
    let mut buf = vec![0; frame.len().clamp(4 << 10, 256 << 10)];
    let mut tally = Tally {
        messages: 0,
        samples: Vec::new(),
    };
    let mut sent = 0;
    let mut sent_at = Instant::now();
    loop {
        // Write first without waiting: the socket is nearly always writable.
        if sent < frame.len() {
            match stream.try_write(&frame[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let n = if sent < frame.len() {
            // Part of the frame waits for room: read what comes meanwhile.
            let interest = Interest::READABLE | Interest::WRITABLE;
            let ready = stream.ready(interest).await.map_err(|e| e.to_string())?;
            if !ready.is_readable() {
                continue;
            }
            match stream.try_read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.to_string()),
            }
        } else {
            // `AsyncRead` forgets the readiness after a short read, so waiting for the next
            // echo costs no read that would block.
            stream.read(&mut buf).await.map_err(|e| e.to_string())?
        };
        if n == 0 {
            return Err("server closed the connection".into());
        }
        let echoed = counter.feed(&buf[..n]).map_err(|e| e.to_string())?;
        if echoed.closed {
            return Err("server sent a close frame".into());
        }
        match echoed.messages {
            0 => {}
            1 if sent == frame.len() => {
                let now = Instant::now();
                if now >= counting_from && now <= end {
                    tally.messages += 1;
                    tally.samples.push((now - sent_at).as_nanos() as u64);
                }
                if now >= end {
                    return Ok(tally);
                }
                sent = 0;
                sent_at = now;
            }
            _ => return Err("more echoes than messages sent".into()),
        }
    }
}
