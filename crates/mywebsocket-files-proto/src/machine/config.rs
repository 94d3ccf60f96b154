//! The limits and timings one connection's [`Connection`](super::Connection) works under.

use std::time::Duration;

/// The window a receiver announces unless configured otherwise: 2 MiB (docs/file-transfer.md
/// §5). Both implementations use it (the browser used 4 MiB before). It is the window the
/// Rust figures of `bench-files` were measured with, which keeps a loopback link busy, and
/// it bounds what one transfer can make a receiver hold: a server receiving many uploads at
/// once (the chat: 16 connections of 4 uploads) holds at most 128 MiB in flight. It caps one
/// transfer at `window / RTT` (40 MB/s at 50 ms): a receiver on long paths may configure more.
pub const DEFAULT_WINDOW: u64 = 2 << 20;

/// The largest chunk a receiver accepts unless configured otherwise: 256 KiB, small enough
/// that a chat message queued behind a chunk waits well under a millisecond on a fast link.
pub const DEFAULT_MAX_CHUNK: u64 = 256 << 10;

/// How long a sender waits for an answer it is owed (an `accept` or `reject` to its offer, an
/// `ack` for bytes in flight, the `done` after the last byte) before it gives up with
/// `cancel{timeout}` (docs/file-transfer.md §5): 60 s. A receiver that resumes a large part
/// file hashes it before it accepts (about 1.4 GB/s), and one still held by a lost
/// connection answers `busy` within 10 s, so a healthy receiver answers well within this.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Limits for incoming transfers and the sender's patience, for one connection.
///
/// ```
/// use std::time::Duration;
/// use mywebsocket_files_proto::{Config, DEFAULT_WINDOW};
///
/// let config = Config::default().max_incoming(4).answer_timeout(Duration::from_secs(10));
/// assert_eq!(config.window, DEFAULT_WINDOW);
/// assert_eq!(config.max_incoming, 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest file accepted, in bytes; larger offers get `reject{too_large}`. Default: 4 GiB.
    pub max_file_size: u64,
    /// Most incoming transfers at once, offered (not yet decided) or running; more get
    /// `reject{busy}`. 0 counts as 1 (a receiver's limit is at least 1, §5). Default: 8.
    pub max_incoming: usize,
    /// The window announced in `accept`, in bytes (at least 1). Default: [`DEFAULT_WINDOW`].
    pub window: u64,
    /// The `max_chunk` announced in `accept`, in bytes (at least 1). Default:
    /// [`DEFAULT_MAX_CHUNK`].
    pub max_chunk: u64,
    /// How long an outgoing transfer waits for an answer it is owed. Default:
    /// [`DEFAULT_ANSWER_TIMEOUT`].
    pub answer_timeout: Duration,
    /// Whether the driver reports each offer and chunk of an outgoing transfer once it is
    /// written to the connection ([`Connection::written`](super::Connection::written)). The
    /// answer clock then counts from those writes, not from [`Connection::offer`](super::Connection::offer)
    /// and [`Connection::chunk_sent`](super::Connection::chunk_sent), so time a message spends
    /// waiting in the sender's own queue is not held against the receiver (§5). Default: `false`.
    pub report_writes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_file_size: 4 << 30,
            max_incoming: 8,
            window: DEFAULT_WINDOW,
            max_chunk: DEFAULT_MAX_CHUNK,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
            report_writes: false,
        }
    }
}

impl Config {
    /// Sets [`Config::max_file_size`].
    #[must_use]
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// Sets [`Config::max_incoming`] (at least 1).
    #[must_use]
    pub fn max_incoming(mut self, transfers: usize) -> Self {
        self.max_incoming = transfers.max(1);
        self
    }

    /// Sets [`Config::window`] (at least 1).
    #[must_use]
    pub fn window(mut self, bytes: u64) -> Self {
        self.window = bytes.max(1);
        self
    }

    /// Sets [`Config::max_chunk`] (at least 1).
    #[must_use]
    pub fn max_chunk(mut self, bytes: u64) -> Self {
        self.max_chunk = bytes.max(1);
        self
    }

    /// Sets [`Config::answer_timeout`].
    #[must_use]
    pub fn answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }

    /// Sets [`Config::report_writes`].
    #[must_use]
    pub fn report_writes(mut self, report: bool) -> Self {
        self.report_writes = report;
        self
    }
}
