//! Connection setup: connect, handshake, receive the `101`, reset; many at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::conn::connect;
use super::Timing;

/// Handshakes completed per second by `parallel` loops of connect, handshake and reset.
///
/// # Errors
/// The first failed handshake, or none completed in the measured interval.
pub async fn run(addr: SocketAddr, parallel: usize, timing: Timing) -> Result<f64, String> {
    let done = Arc::new(AtomicU64::new(0));
    let failure = Arc::new(Mutex::new(None::<String>));
    let tasks: Vec<_> = (0..parallel)
        .map(|_| {
            let done = Arc::clone(&done);
            let failure = Arc::clone(&failure);
            tokio::spawn(async move {
                loop {
                    match connect(addr, false).await {
                        // Dropped with zero linger: a reset, no TIME_WAIT left behind.
                        Ok(conn) => drop(conn),
                        Err(e) => {
                            failure
                                .lock()
                                .expect("never poisoned")
                                .get_or_insert(e.to_string());
                            return;
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(timing.warmup).await;
    let start = done.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(timing.measure).await;
    let count = done.load(Ordering::Relaxed) - start;
    let secs = started.elapsed().as_secs_f64();
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    if let Some(why) = failure.lock().expect("never poisoned").take() {
        return Err(why);
    }
    if count == 0 {
        return Err("no handshake completed in the measured interval".into());
    }
    Ok(count as f64 / secs)
}
