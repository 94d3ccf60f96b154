//! Settings: limits for files this page receives, and per-transfer progress and cancellation.

use mywebsocket_files_proto::{
    TransferId, DEFAULT_ANSWER_TIMEOUT, DEFAULT_MAX_CHUNK, DEFAULT_WINDOW,
};
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::cancel::CancelToken;

/// Limits and flow control for files this page receives, given to
/// [`Files::new`](super::Files::new). Each field gives its default and unit.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FilesOptions {
    /// Largest file this page accepts, in bytes; larger offers are rejected with `too_large`.
    /// A received file is held by the browser as a `Blob` until the page lets it go.
    /// Default: 1 GiB.
    pub max_file_size: u64,
    /// Most offers waiting for [`Files::next_offer`](super::Files::next_offer) or a decision,
    /// and downloads running, together; more are rejected with `busy`. Default: 8.
    pub max_incoming: usize,
    /// Bytes a sender may have in flight beyond this page's last ack. Default:
    /// [`DEFAULT_WINDOW`] (2 MiB), the protocol's, which the Rust server uses too.
    pub window: u64,
    /// Largest data length of one chunk this page accepts, in bytes. Default: 256 KiB.
    pub max_chunk: u64,
    /// How long a file this page sends waits for an answer it is owed (to its offer, for
    /// bytes in flight, the `done` after the last byte) before it ends with `cancel{timeout}`
    /// and [`FileError::Cancelled`](super::FileError::Cancelled). Default:
    /// [`DEFAULT_ANSWER_TIMEOUT`] (60 s).
    pub answer_timeout: Duration,
}

impl Default for FilesOptions {
    fn default() -> Self {
        Self {
            max_file_size: 1 << 30,
            max_incoming: 8,
            window: DEFAULT_WINDOW,
            max_chunk: DEFAULT_MAX_CHUNK,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
        }
    }
}

impl FilesOptions {
    /// Sets [`FilesOptions::max_file_size`].
    #[must_use]
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// Sets [`FilesOptions::max_incoming`].
    #[must_use]
    pub fn max_incoming(mut self, transfers: usize) -> Self {
        self.max_incoming = transfers;
        self
    }

    /// Sets [`FilesOptions::window`] (at least 1).
    #[must_use]
    pub fn window(mut self, bytes: u64) -> Self {
        self.window = bytes.max(1);
        self
    }

    /// Sets [`FilesOptions::max_chunk`] (at least 1).
    #[must_use]
    pub fn max_chunk(mut self, bytes: u64) -> Self {
        self.max_chunk = bytes.max(1);
        self
    }

    /// Sets [`FilesOptions::answer_timeout`].
    #[must_use]
    pub fn answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }
}

/// A progress callback: bytes done and the total.
pub(crate) type ProgressFn = Rc<RefCell<dyn FnMut(u64, u64)>>;

/// Progress reporting and cancellation for one transfer, either direction.
///
/// ```
/// use mywebsocket_wasm::files::{CancelToken, TransferOptions};
///
/// let stop = CancelToken::new();
/// let options = TransferOptions::default()
///     .on_progress(|done, total| println!("{done} of {total} bytes"))
///     .cancel_token(stop.clone());
/// // ... later, from a button's handler:
/// stop.cancel();
/// # let _ = options;
/// ```
#[derive(Clone, Default)]
pub struct TransferOptions {
    pub(crate) progress: Option<ProgressFn>,
    pub(crate) cancel: CancelToken,
    pub(crate) id: Option<TransferId>,
}

impl fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransferOptions")
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .field("id", &self.id)
            .finish()
    }
}

impl TransferOptions {
    /// Calls `callback(done, total)` as the transfer moves: when sending, with the bytes the
    /// receiver acknowledged; when receiving, with the bytes received and hashed. The last
    /// call has `done == total`. It is never called while the transfer's state is borrowed,
    /// so it may use [`Files`](super::Files) freely.
    #[must_use]
    pub fn on_progress(mut self, callback: impl FnMut(u64, u64) + 'static) -> Self {
        self.progress = Some(Rc::new(RefCell::new(callback)));
        self
    }

    /// Cancels the transfer when `token` is cancelled.
    #[must_use]
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// Offers an upload under `id` instead of a fresh one. Sending the same file under the
    /// same id again after the connection was lost resumes it: the receiver accepts at the
    /// bytes it already has and only the rest is sent (a receiver that kept nothing starts at
    /// 0). Make one with [`new_transfer_id`](super::new_transfer_id) and keep it with the file.
    #[must_use]
    pub fn id(mut self, id: TransferId) -> Self {
        self.id = Some(id);
        self
    }

    pub(crate) fn report(&self, done: u64, total: u64) {
        if let Some(progress) = &self.progress {
            (progress.borrow_mut())(done, total);
        }
    }
}
