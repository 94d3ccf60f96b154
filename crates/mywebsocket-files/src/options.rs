//! What the application decides: receive limits and policy, and what it sends.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mywebsocket_files_proto::{DEFAULT_ANSWER_TIMEOUT, DEFAULT_MAX_CHUNK, DEFAULT_WINDOW};

use crate::TransferId;

/// An offer as the receiving application's policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The transfer.
    pub id: TransferId,
    /// The name the sender gave.
    pub offered_name: String,
    /// The name the file will get (already checked, see [`crate::sanitize_name`]).
    pub name: String,
    /// Size in bytes (already within [`ReceiveOptions::max_file_size`]).
    pub size: u64,
    /// The media type the sender gave, possibly empty.
    pub media_type: String,
    /// The SHA-256 the sender announced; with [`Offer::id`] it names the transfer's partial
    /// file, so a resumed offer can be told from a new one.
    pub sha256: [u8; 32],
}

/// What the policy answers to an [`Offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Take it into [`ReceiveOptions::dest_dir`].
    Accept,
    /// Take it into this directory instead. Answer the same for the same offer so a resumed
    /// transfer finds its partial file.
    AcceptInto(PathBuf),
    /// Decline; the message reaches the sender with reason `policy`.
    Reject(String),
}

/// The application's accept-or-reject callback.
pub type Policy = Arc<dyn Fn(&Offer) -> Decision + Send + Sync>;

/// Limits and policy for files this end receives, and flow control for both directions.
#[derive(Clone)]
#[non_exhaustive]
pub struct ReceiveOptions {
    /// Where received files go. Default: the system temporary directory.
    pub dest_dir: PathBuf,
    /// Largest file accepted, in bytes. Default: 4 GiB.
    pub max_file_size: u64,
    /// Most incoming transfers at once on one connection; 0 counts as 1 (a receiver's limit
    /// is at least 1, docs/file-transfer.md §5). Default: 8.
    pub max_concurrent: usize,
    /// Bytes a sender may have in flight beyond the last ack. Default:
    /// [`DEFAULT_WINDOW`] (2 MiB), the protocol's, which the browser client uses too: enough
    /// to keep loopback and LAN links busy, small enough that memory stays bounded per
    /// transfer.
    pub window: u64,
    /// Largest data length of one chunk, in bytes. Default: 256 KiB.
    pub max_chunk: u64,
    /// Accept or reject each offer that passed the limits. Default: accept everything.
    pub policy: Policy,
    /// How long a transfer this end sends waits for an answer it is owed (to its offer, for
    /// bytes in flight, the `done` after the last byte) before it ends with
    /// `cancel{timeout}` and [`TransferError::Cancelled`](crate::TransferError::Cancelled).
    /// Default: [`DEFAULT_ANSWER_TIMEOUT`] (60 s).
    pub answer_timeout: Duration,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        Self {
            dest_dir: std::env::temp_dir(),
            max_file_size: 4 << 30,
            max_concurrent: 8,
            window: DEFAULT_WINDOW,
            max_chunk: DEFAULT_MAX_CHUNK,
            policy: Arc::new(|_| Decision::Accept),
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
        }
    }
}

impl fmt::Debug for ReceiveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiveOptions")
            .field("dest_dir", &self.dest_dir)
            .field("max_file_size", &self.max_file_size)
            .field("max_concurrent", &self.max_concurrent)
            .field("window", &self.window)
            .field("max_chunk", &self.max_chunk)
            .field("answer_timeout", &self.answer_timeout)
            .finish_non_exhaustive()
    }
}

impl ReceiveOptions {
    /// Sets [`ReceiveOptions::dest_dir`].
    pub fn dest_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dest_dir = dir.into();
        self
    }

    /// Sets [`ReceiveOptions::max_file_size`].
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// Sets [`ReceiveOptions::max_concurrent`] (at least 1).
    pub fn max_concurrent(mut self, transfers: usize) -> Self {
        self.max_concurrent = transfers.max(1);
        self
    }

    /// Sets [`ReceiveOptions::window`] (at least 1).
    pub fn window(mut self, bytes: u64) -> Self {
        self.window = bytes.max(1);
        self
    }

    /// Sets [`ReceiveOptions::max_chunk`] (at least 1).
    pub fn max_chunk(mut self, bytes: u64) -> Self {
        self.max_chunk = bytes.max(1);
        self
    }

    /// Sets [`ReceiveOptions::answer_timeout`].
    pub fn answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }

    /// Sets [`ReceiveOptions::policy`].
    pub fn policy(mut self, policy: impl Fn(&Offer) -> Decision + Send + Sync + 'static) -> Self {
        self.policy = Arc::new(policy);
        self
    }
}

/// What a sent file is called and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The name offered to the receiver.
    pub name: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Media type, e.g. `image/png`; may be empty.
    pub media_type: String,
    /// SHA-256 of the whole content; the receiver checks it before keeping the file.
    pub sha256: [u8; 32],
    /// The transfer id: reuse the one from a transfer cut off by a lost connection to resume
    /// it. Default: a fresh random id.
    pub id: TransferId,
}

impl FileMeta {
    /// Metadata with a fresh id and no media type.
    pub fn new(name: impl Into<String>, size: u64, sha256: [u8; 32]) -> Self {
        Self {
            name: name.into(),
            size,
            media_type: String::new(),
            sha256,
            id: TransferId::random(),
        }
    }

    /// Sets [`FileMeta::media_type`].
    pub fn media_type(mut self, media_type: impl Into<String>) -> Self {
        self.media_type = media_type.into();
        self
    }

    /// Sets [`FileMeta::id`].
    pub fn id(mut self, id: TransferId) -> Self {
        self.id = id;
        self
    }
}
