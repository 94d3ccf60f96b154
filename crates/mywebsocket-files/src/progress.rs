//! Progress of one transfer, shared between its task and the application.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A snapshot of a transfer's progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Bytes confirmed so far (acknowledged by the receiver; written, when receiving).
    pub bytes: u64,
    /// The file's size in bytes.
    pub total: u64,
    /// Average rate since this connection's part of the transfer started, in bytes per second
    /// (bytes resumed from an earlier connection do not count).
    pub bytes_per_sec: f64,
    /// Time since this connection's part of the transfer started.
    pub elapsed: Duration,
}

/// The counter behind [`Progress`]: one atomic, so reading it never waits for the transfer.
#[derive(Debug)]
pub(crate) struct ProgressCounter {
    bytes: AtomicU64,
    start_bytes: AtomicU64,
    total: u64,
    started: Instant,
}

impl ProgressCounter {
    pub(crate) fn new(total: u64) -> Self {
        Self {
            bytes: AtomicU64::new(0),
            start_bytes: AtomicU64::new(0),
            total,
            started: Instant::now(),
        }
    }

    /// Marks where this connection's part started (the resume offset).
    pub(crate) fn start_at(&self, offset: u64) {
        self.start_bytes.store(offset, Ordering::Relaxed);
        self.bytes.store(offset, Ordering::Relaxed);
    }

    pub(crate) fn set(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Progress {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let moved = bytes.saturating_sub(self.start_bytes.load(Ordering::Relaxed));
        let elapsed = self.started.elapsed();
        let secs = elapsed.as_secs_f64();
        Progress {
            bytes,
            total: self.total,
            bytes_per_sec: if secs > 0.0 { moved as f64 / secs } else { 0.0 },
            elapsed,
        }
    }
}
