//! Echo throughput: every connection keeps a window of messages in flight, writing as many
//! pre-built frames as the window allows in one `write` and counting echoes as they come back.
//!
//! Each connection is one task that waits for readiness and then uses non-blocking
//! `try_read` / `try_write`, so reading and writing share no lock and no channel.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::Interest;

use super::conn::Conn;
use super::counter::FrameCounter;
use super::Timing;

/// What every connection of a run sends.
#[derive(Debug)]
pub struct EchoPlan {
    /// `window` copies of the frame, back to back.
    batch: Vec<u8>,
    frame_len: usize,
    window: usize,
    /// The payload length each echo must have (`None` when the server may compress).
    expect: Option<u64>,
}

impl EchoPlan {
    /// A plan sending `frame` with up to `window` messages in flight per connection.
    pub fn new(frame: &[u8], window: usize, expect: Option<u64>) -> Self {
        let window = window.max(1);
        Self {
            batch: super::frames::repeated(frame, window),
            frame_len: frame.len(),
            window,
            expect,
        }
    }
}

/// Totals across all connections of a run.
#[derive(Debug, Default)]
pub struct Counters {
    messages: AtomicU64,
    payload_bytes: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    failure: Mutex<Option<String>>,
}

/// A moment's copy of the [`Counters`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Messages echoed.
    pub messages: u64,
    /// Their payload bytes.
    pub payload_bytes: u64,
    /// Bytes read from the sockets (headers included).
    pub bytes_read: u64,
    /// Bytes written to the sockets.
    pub bytes_written: u64,
}

impl Counters {
    /// The totals now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            messages: self.messages.load(Ordering::Relaxed),
            payload_bytes: self.payload_bytes.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
        }
    }

    /// The first failure of any connection.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("never poisoned").clone()
    }

    fn fail(&self, why: String) {
        self.failure
            .lock()
            .expect("never poisoned")
            .get_or_insert(why);
    }
}

/// Rates over the measured interval.
#[derive(Debug, Clone, Copy)]
pub struct EchoRates {
    /// Messages echoed per second.
    pub messages_per_s: f64,
    /// Echoed payload in MB (10^6 bytes) per second.
    pub megabytes_per_s: f64,
    /// Bytes the server sent per message, headers included.
    pub wire_down_per_msg: f64,
    /// Bytes the client sent per message, headers included.
    pub wire_up_per_msg: f64,
}

/// Runs `conns` with `plan`: warms up, measures, then closes every connection.
///
/// # Errors
/// The first connection's failure, or no echo at all in the measured interval.
pub async fn run(
    conns: Vec<Conn>,
    plan: Arc<EchoPlan>,
    timing: Timing,
) -> Result<EchoRates, String> {
    let counters = Arc::new(Counters::default());
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| tokio::spawn(drive(conn, Arc::clone(&plan), Arc::clone(&counters))))
        .collect();
    tokio::time::sleep(timing.warmup).await;
    let start = counters.snapshot();
    let started = Instant::now();
    tokio::time::sleep(timing.measure).await;
    let end = counters.snapshot();
    let secs = started.elapsed().as_secs_f64();
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    if let Some(why) = counters.failure() {
        return Err(why);
    }
    let messages = end.messages - start.messages;
    if messages == 0 {
        return Err("no message echoed in the measured interval".into());
    }
    let per_msg = |a: u64, b: u64| (b - a) as f64 / messages as f64;
    Ok(EchoRates {
        messages_per_s: messages as f64 / secs,
        megabytes_per_s: (end.payload_bytes - start.payload_bytes) as f64 / secs / 1e6,
        wire_down_per_msg: per_msg(start.bytes_read, end.bytes_read),
        wire_up_per_msg: per_msg(start.bytes_written, end.bytes_written),
    })
}

/// One connection's loop; records its failure in `counters`.
async fn drive(conn: Conn, plan: Arc<EchoPlan>, counters: Arc<Counters>) {
    if let Err(why) = drive_inner(conn, &plan, &counters).await {
        counters.fail(why);
    }
}

async fn drive_inner(conn: Conn, plan: &EchoPlan, counters: &Counters) -> Result<(), String> {
    let Conn {
        stream, leftover, ..
    } = conn;
    let mut counter = FrameCounter::new(plan.expect);
    // Room for the whole window, within 16 to 256 KiB: few reads, and buffers small enough
    // to stay in cache with a thousand connections.
    let mut buf = vec![0; (plan.frame_len * plan.window).clamp(16 << 10, 256 << 10)];
    let frame_len = plan.frame_len as u64;
    let mut received = counter.feed(&leftover).map_err(|e| e.to_string())?.messages;
    let mut sent: u64 = 0;
    let to_write = |received: u64, sent: u64| (received + plan.window as u64) * frame_len - sent;
    loop {
        let interest = if to_write(received, sent) > 0 {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let ready = stream.ready(interest).await.map_err(|e| e.to_string())?;
        if ready.is_readable() {
            match stream.try_read(&mut buf) {
                Ok(0) => return Err("server closed the connection".into()),
                Ok(n) => {
                    let tally = counter.feed(&buf[..n]).map_err(|e| e.to_string())?;
                    if tally.closed {
                        return Err("server sent a close frame".into());
                    }
                    received += tally.messages;
                    counters.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                    counters
                        .payload_bytes
                        .fetch_add(tally.payload_bytes, Ordering::Relaxed);
                    if tally.messages > 0 {
                        counters
                            .messages
                            .fetch_add(tally.messages, Ordering::Relaxed);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let want = to_write(received, sent);
        if ready.is_writable() && want > 0 {
            // The window's bytes not yet written start `pos` bytes into a frame and fit in the
            // batch, which holds a whole window.
            let pos = (sent % frame_len) as usize;
            let end = (pos as u64 + want).min(plan.batch.len() as u64) as usize;
            match stream.try_write(&plan.batch[pos..end]) {
                Ok(n) => {
                    sent += n as u64;
                    counters
                        .bytes_written
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}
