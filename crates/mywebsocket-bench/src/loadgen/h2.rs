//! The HTTP/2 workload's load generator: WebSockets opened with MyWebsocket's own client,
//! either as streams of ONE HTTP/2 connection (`mywebsocket::h2::Http2Connection`, cleartext
//! with prior knowledge, each WebSocket an extended CONNECT, RFC 8441) or, for the comparison,
//! one TCP connection each over HTTP/1.1 (`mywebsocket::connect_config`). Both transports are
//! driven by the same client code, so a ratio between them is the transport's cost, not the
//! load generator's.
//!
//! Unlike the raw-frame load generator of the other workloads ([`super::echo`],
//! [`super::one_in_flight`]) this one pays for a full client (HTTP/2 framing and flow control
//! cannot be skipped), so its figures compare with each other, not with those tables.
//!
//! With a window of 1 each WebSocket sends a message, waits for its echo and sends the next
//! (as [`super::one_in_flight`]); with a larger window a writer keeps that many messages in
//! flight and a reader takes the echoes (as [`super::echo`]). Either way every echo's round
//! trip is timed, from just before its message was written.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use mywebsocket::h2::Http2Connection;
use mywebsocket::{Config, Message, Reader, WebSocket, Writer};
use tokio::sync::{mpsc, Semaphore};

use super::one_in_flight::Rates;
use super::{Timing, STALL_TIMEOUT};
use crate::stats::percentile;

/// How the WebSockets reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One TCP connection per WebSocket, HTTP/1.1 upgrade.
    Http1,
    /// One TCP connection for all, HTTP/2 with prior knowledge, a stream per WebSocket.
    Http2,
}

/// How many WebSockets [`open`] opens at once.
const PARALLEL_OPENS: usize = 64;

/// The client's settings: no heartbeat and no permessage-deflate offer (the servers' settings
/// too), everything else MyWebsocket's defaults.
pub fn client_config() -> Config {
    Config::default().no_heartbeat().deflate(None)
}

/// Opens `count` WebSockets to `addr` over `transport`.
///
/// # Errors
/// The first failure (the server refusing HTTP/2 or extended CONNECT, a refused handshake),
/// or a timeout after three times [`STALL_TIMEOUT`].
pub async fn open(
    addr: SocketAddr,
    transport: Transport,
    count: usize,
) -> Result<Vec<WebSocket>, String> {
    let url = format!("ws://{addr}/");
    let config = client_config();
    let all = async {
        match transport {
            Transport::Http2 => {
                let connection = Http2Connection::connect_config(&url, &config)
                    .await
                    .map_err(|e| format!("HTTP/2 connection: {e}"))?;
                futures_util::stream::iter(0..count)
                    .map(|_| connection.websocket(&url, config.clone()))
                    .buffer_unordered(PARALLEL_OPENS)
                    .map_ok(|(ws, _response)| ws)
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|e| format!("extended CONNECT: {e}"))
            }
            Transport::Http1 => futures_util::stream::iter(0..count)
                .map(|_| mywebsocket::connect_config(&url, config.clone()))
                .buffer_unordered(PARALLEL_OPENS)
                .map_ok(|(ws, _response)| ws)
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| format!("connect: {e}")),
        }
    };
    tokio::time::timeout(STALL_TIMEOUT * 3, all)
        .await
        .unwrap_or_else(|_| Err(format!("opening {count} WebSockets timed out")))
}

/// One WebSocket's round trips that completed inside the measured interval.
#[derive(Default)]
struct Tally {
    messages: u64,
    /// Round-trip times in nanoseconds.
    samples: Vec<u64>,
}

impl Tally {
    /// Counts a round trip that ended `now` if that is inside `counting_from..=end`.
    fn record(&mut self, sent_at: Instant, now: Instant, counting_from: Instant, end: Instant) {
        if now >= counting_from && now <= end {
            self.messages += 1;
            self.samples.push((now - sent_at).as_nanos() as u64);
        }
    }
}

/// Runs `sockets`, each echoing `payload`-byte binary messages with `window` in flight. Warms
/// up for `timing.warmup`, then counts for `timing.measure`; `server_cpu` reads the server's
/// CPU time at both ends of the count.
///
/// # Errors
/// A WebSocket's failure (an I/O or protocol error, a wrong echo), one stalled longer than
/// [`STALL_TIMEOUT`], an unreadable CPU time, or no round trip.
pub async fn run(
    sockets: Vec<WebSocket>,
    payload: usize,
    window: usize,
    timing: Timing,
    server_cpu: impl Fn() -> Result<Duration, String>,
) -> Result<Rates, String> {
    let message = Bytes::from(super::frames::payload(payload));
    let counting_from = Instant::now() + timing.warmup;
    let end = counting_from + timing.measure;
    // Each WebSocket keeps going until its first echo after `end`.
    let deadline = tokio::time::Instant::from_std(end) + STALL_TIMEOUT;
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| {
            let message = message.clone();
            tokio::spawn(async move {
                let drive = async {
                    if window <= 1 {
                        one_at_a_time(ws, message, counting_from, end).await
                    } else {
                        let (reader, writer) = ws.split();
                        pipelined(reader, writer, message, window, counting_from, end).await
                    }
                };
                tokio::time::timeout_at(deadline, drive)
                    .await
                    .unwrap_or_else(|_| Err("no echo within the stall timeout".to_owned()))
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

/// Whether `msg` is the echo of `sent`: binary, of its length.
fn check_echo(msg: &Message, sent: &Bytes) -> Result<(), String> {
    match msg {
        Message::Binary(data) if data.len() == sent.len() => Ok(()),
        Message::Binary(data) => Err(format!(
            "echo of {} bytes for a {}-byte message",
            data.len(),
            sent.len()
        )),
        other => Err(format!("unexpected echo {other:?}")),
    }
}

/// Write, read the echo, repeat until the first echo after `end`.
async fn one_at_a_time(
    mut ws: WebSocket,
    message: Bytes,
    counting_from: Instant,
    end: Instant,
) -> Result<Tally, String> {
    let mut tally = Tally::default();
    loop {
        let sent_at = Instant::now();
        ws.write_binary(message.clone())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let msg = ws.read_msg().await.map_err(|e| format!("read: {e}"))?;
        check_echo(&msg, &message)?;
        let now = Instant::now();
        tally.record(sent_at, now, counting_from, end);
        if now >= end {
            return Ok(tally);
        }
    }
}

/// A writer task keeps `window` messages in flight (a permit per message, returned by the
/// reader with each echo); the reader times each echo against its message's send time, in
/// order, until the first echo after `end`.
async fn pipelined(
    mut reader: Reader,
    writer: Writer,
    message: Bytes,
    window: usize,
    counting_from: Instant,
    end: Instant,
) -> Result<Tally, String> {
    let permits = Arc::new(Semaphore::new(window));
    let (stamps_tx, mut stamps) = mpsc::unbounded_channel();
    let mut sending = {
        let permits = Arc::clone(&permits);
        let message = message.clone();
        tokio::spawn(async move {
            loop {
                permits.acquire().await.map_err(|e| e.to_string())?.forget();
                if stamps_tx.send(Instant::now()).is_err() {
                    return Ok(());
                }
                writer
                    .write_binary(message.clone())
                    .await
                    .map_err(|e| format!("write: {e}"))?;
            }
        })
    };
    let reading = async {
        let mut tally = Tally::default();
        loop {
            let msg = reader.read_msg().await.map_err(|e| format!("read: {e}"))?;
            check_echo(&msg, &message)?;
            let now = Instant::now();
            let sent_at = stamps
                .try_recv()
                .map_err(|_| "more echoes than messages sent".to_owned())?;
            permits.add_permits(1);
            tally.record(sent_at, now, counting_from, end);
            if now >= end {
                return Ok(tally);
            }
        }
    };
    let outcome = tokio::select! {
        read = reading => read,
        sent = &mut sending => match sent {
            Ok(Ok(())) => Err("the writer stopped".to_owned()),
            Ok(Err(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        },
    };
    sending.abort();
    outcome
}
