//! Broadcast: one connection sends a trigger, the server sends it to every connection; the
//! time from sending the trigger until the last connection has received it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use super::conn::Conn;
use super::counter::FrameCounter;
use super::frames::{client_frame, OP_BINARY};
use super::STALL_TIMEOUT;
use crate::servers::{trigger_payload, TRIGGER_LEN};

/// Deliveries of the current round, shared by the reading tasks.
#[derive(Default)]
struct Progress {
    delivered: AtomicU64,
    /// The delivery count that completes the round in progress.
    target: AtomicU64,
    last_arrival: Mutex<Option<Instant>>,
    done: Notify,
    failure: Mutex<Option<String>>,
}

/// Runs `rounds` broadcasts to all of `conns`; returns each round's time until the last
/// delivery.
///
/// # Errors
/// A connection's failure, or a round that did not complete within [`STALL_TIMEOUT`].
pub async fn run(conns: Vec<Conn>, rounds: usize) -> Result<Vec<Duration>, String> {
    let count = conns.len();
    let progress = Arc::new(Progress::default());
    let mut readers = Vec::with_capacity(count);
    // Every write half stays open: dropping one would half-close its connection.
    let mut writers = Vec::with_capacity(count);
    for conn in conns {
        let (read, write) = conn.stream.into_split();
        writers.push(write);
        let progress = Arc::clone(&progress);
        readers.push(tokio::spawn(read_deliveries(read, conn.leftover, progress)));
    }
    let writer = writers.first_mut().ok_or("no connections")?;
    // The zero key leaves the count readable for the TCP ceiling, which forwards raw bytes.
    let trigger = client_frame(OP_BINARY, false, &trigger_payload(count), [0; 4]);
    let mut times = Vec::with_capacity(rounds);
    let mut outcome = Ok(());
    for round in 1..=rounds as u64 {
        let target = round * count as u64;
        progress.target.store(target, Ordering::SeqCst);
        let sent_at = Instant::now();
        if let Err(e) = writer.write_all(&trigger).await {
            outcome = Err(format!("sending the trigger: {e}"));
            break;
        }
        let all_in = async {
            while progress.delivered.load(Ordering::SeqCst) < target {
                progress.done.notified().await;
            }
        };
        if tokio::time::timeout(STALL_TIMEOUT, all_in).await.is_err() {
            let got = progress.delivered.load(Ordering::SeqCst) - (round - 1) * count as u64;
            let why = progress.failure.lock().expect("never poisoned").clone();
            outcome = Err(why.unwrap_or(format!("only {got} of {count} deliveries arrived")));
            break;
        }
        let last = progress.last_arrival.lock().expect("never poisoned").take();
        times.push(last.unwrap_or_else(Instant::now) - sent_at);
    }
    for reader in &readers {
        reader.abort();
    }
    for reader in readers {
        let _ = reader.await;
    }
    outcome.map(|()| times)
}

async fn read_deliveries(
    mut read: tokio::net::tcp::OwnedReadHalf,
    leftover: Vec<u8>,
    progress: Arc<Progress>,
) {
    let mut counter = FrameCounter::new(Some(TRIGGER_LEN as u64));
    let mut buf = vec![0; 4096];
    let mut input = leftover;
    loop {
        match counter.feed(&input) {
            Ok(tally) if tally.messages > 0 => {
                let before = progress
                    .delivered
                    .fetch_add(tally.messages, Ordering::SeqCst);
                let target = progress.target.load(Ordering::SeqCst);
                if before < target && before + tally.messages >= target {
                    *progress.last_arrival.lock().expect("never poisoned") = Some(Instant::now());
                    progress.done.notify_one();
                }
            }
            Ok(_) => {}
            Err(e) => {
                progress
                    .failure
                    .lock()
                    .expect("never poisoned")
                    .get_or_insert(e.to_string());
                return;
            }
        }
        match read.read(&mut buf).await {
            Ok(n) if n > 0 => input = buf[..n].to_vec(),
            _ => return,
        }
    }
}
