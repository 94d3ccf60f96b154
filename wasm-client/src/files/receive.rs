//! Receiving an offered file into a `Blob`: accept, hash and keep each chunk, acknowledge,
//! verify the SHA-256.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use js_sys::{Array, Uint8Array};
use sha2::{Digest, Sha256};
use web_sys::{Blob, BlobPropertyBag};

use super::engine::Files;
use super::error::FileError;
use super::options::TransferOptions;
use super::Side;
use mywebsocket_files_proto::{Chunk, Reason, TransferId};

/// A file the peer offers, from [`Files::next_offer`]. Look at its name, size and type, then
/// [`accept`](IncomingOffer::accept) or [`reject`](IncomingOffer::reject) it; dropping it
/// rejects it.
pub struct IncomingOffer {
    pub(crate) files: Files,
    pub(crate) id: TransferId,
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) media_type: String,
    pub(crate) sha256: [u8; 32],
    pub(crate) decided: bool,
}

impl fmt::Debug for IncomingOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingOffer")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("size", &self.size)
            .field("media_type", &self.media_type)
            .finish_non_exhaustive()
    }
}

/// A file that arrived whole and matched the SHA-256 of its offer.
#[derive(Debug, Clone)]
pub struct ReceivedFile {
    /// The transfer.
    pub id: TransferId,
    /// The name the sender gave (no path: offers with separators are rejected).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// The sender's media type, possibly empty; also the blob's `type`.
    pub media_type: String,
    /// The verified SHA-256, 64 lowercase hex digits.
    pub sha256: String,
    /// The content, built from the received chunks.
    pub blob: Blob,
}

impl ReceivedFile {
    /// A `blob:` URL of the content, for a download link (`<a href=... download=name>`).
    /// Release it with `URL.revokeObjectURL` when the link goes.
    ///
    /// # Errors
    /// The browser's exception.
    pub fn object_url(&self) -> Result<String, crate::Error> {
        web_sys::Url::create_object_url_with_blob(&self.blob).map_err(|e| crate::Error::from_js(&e))
    }
}

/// Where a download's result goes, for the future waiting in [`IncomingOffer::accept`].
#[derive(Default)]
pub(crate) struct Outcome {
    result: Option<Result<ReceivedFile, FileError>>,
    waker: Option<Waker>,
}

/// A download under way; [`Files::route`] feeds it the chunks the machine let through.
pub(crate) struct RecvState {
    name: String,
    media_type: String,
    size: u64,
    sha256: [u8; 32],
    /// Every byte below it is hashed and kept.
    received: u64,
    hasher: Sha256,
    /// The received data, as `Uint8Array`s in JavaScript memory, to become the `Blob`.
    parts: Array,
    options: TransferOptions,
    outcome: Rc<RefCell<Outcome>>,
}

impl RecvState {
    /// Ends the download with `result`; the waker to call once nothing is borrowed.
    pub(crate) fn finish(self, result: Result<ReceivedFile, FileError>) -> Option<Waker> {
        let mut outcome = self.outcome.borrow_mut();
        outcome.result.get_or_insert(result);
        outcome.waker.take()
    }
}

impl IncomingOffer {
    /// The transfer id.
    pub fn id(&self) -> TransferId {
        self.id
    }

    /// The file name the sender gave.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes (within [`FilesOptions::max_file_size`](super::FilesOptions)).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The media type the sender gave, possibly empty.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The SHA-256 the sender announced, 64 lowercase hex digits.
    pub fn sha256(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Declines the offer (reason `policy`, with `message` for the sender's user).
    pub async fn reject(mut self, message: &str) {
        self.decided = true;
        let still_offered = self.files.inner.borrow_mut().undecided.remove(&self.id);
        if matches!(still_offered, Some(None)) {
            let id = self.id;
            let _ = self
                .files
                .step(|m, _| m.reject(id, Reason::Policy, message));
            self.files.flush().await;
        }
    }

    /// Takes the file: receives it into a `Blob`, verifies its SHA-256, and returns it once
    /// the sender has been told (`done`).
    ///
    /// Progress reports the bytes received. Dropping the future cancels the download (the
    /// sender is told).
    ///
    /// # Errors
    /// [`FileError::ChecksumMismatch`] when the bytes are corrupt, [`FileError::Cancelled`]
    /// when either end cancels, [`FileError::Protocol`] when the sender breaks the protocol
    /// (`bad_chunk`), [`FileError::Connection`] or [`FileError::ConnectionLost`] when the
    /// connection fails.
    pub async fn accept(mut self, options: &TransferOptions) -> Result<ReceivedFile, FileError> {
        self.decided = true;
        let files = self.files.clone();
        let id = self.id;
        let outcome = Rc::new(RefCell::new(Outcome::default()));
        {
            let mut inner = files.inner.borrow_mut();
            match inner.undecided.remove(&id) {
                Some(None) => {}
                Some(Some(end)) => return Err(FileError::from_end(end)),
                None => return Err(FileError::ConnectionLost { confirmed: 0 }),
            }
            inner.recvs.insert(
                id,
                RecvState {
                    name: std::mem::take(&mut self.name),
                    media_type: std::mem::take(&mut self.media_type),
                    size: self.size,
                    sha256: self.sha256,
                    received: 0,
                    hasher: Sha256::new(),
                    parts: Array::new(),
                    options: options.clone(),
                    outcome: Rc::clone(&outcome),
                },
            );
        }
        let guard = RecvGuard {
            files: files.clone(),
            id,
        };
        if let Err(error) = files.step(|m, _| m.accept(id, 0)) {
            files.inner.borrow_mut().recvs.remove(&id);
            return Err(FileError::Protocol {
                reason: Reason::Protocol,
                message: error.to_string(),
            });
        }
        options.report(0, self.size);
        if self.size == 0 {
            // No chunk will come: compare the SHA-256 of no bytes at once (§5).
            complete(&files, id);
        }
        files.flush().await;
        let result = poll_fn(|cx| {
            let mut outcome = outcome.borrow_mut();
            if let Some(result) = outcome.result.take() {
                return Poll::Ready(Some(result));
            }
            if options.cancel.poll_cancelled(cx) {
                return Poll::Ready(None);
            }
            outcome.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        // Dropping the guard now cancels, with the peer told, a download still running.
        drop(guard);
        result.unwrap_or_else(|| {
            Err(FileError::Cancelled {
                by: Side::Local,
                reason: Reason::Cancelled,
                message: "cancelled by the receiver".into(),
            })
        })
    }
}

impl Drop for IncomingOffer {
    fn drop(&mut self) {
        if self.decided {
            return;
        }
        let still_offered = self.files.inner.borrow_mut().undecided.remove(&self.id);
        if matches!(still_offered, Some(None)) {
            let id = self.id;
            let _ = self
                .files
                .step(|m, _| m.reject(id, Reason::Policy, "the page ignored the offer"));
            self.files.flush_detached();
        }
    }
}

/// Cancels a download whose future ends (is dropped, or cancelled) while it still runs.
struct RecvGuard {
    files: Files,
    id: TransferId,
}

impl Drop for RecvGuard {
    fn drop(&mut self) {
        let running = self.files.inner.borrow_mut().recvs.remove(&self.id);
        if running.is_some() {
            let id = self.id;
            let cancelled = self
                .files
                .step(|m, _| m.cancel(id, Reason::Cancelled, "cancelled by the receiver"));
            if cancelled {
                self.files.flush_detached();
            }
        }
    }
}

/// Hashes and keeps the data of a chunk the machine let through, tells the machine (which
/// acks: every chunk here, since nothing else waits while this runs), and completes the
/// download with its last chunk. The caller flushes.
pub(crate) fn take_chunk(files: &Files, chunk: Chunk) {
    let id = chunk.id;
    let progress = {
        let mut inner = files.inner.borrow_mut();
        let Some(state) = inner.recvs.get_mut(&id) else {
            return;
        };
        state.hasher.update(&chunk.data);
        state.parts.push(&Uint8Array::from(&chunk.data[..]));
        state.received += chunk.data.len() as u64;
        (state.received, state.size, state.options.clone())
    };
    let (received, size, options) = progress;
    let _ = files.step(|m, _| m.confirmed(id, received));
    options.report(received, size);
    if received == size {
        complete(files, id);
    }
}

/// Every byte arrived: the machine compares the SHA-256, the `Blob` is built, and `done` (or
/// the `cancel`) is queued. The caller flushes.
fn complete(files: &Files, id: TransferId) {
    let Some(mut state) = files.inner.borrow_mut().recvs.remove(&id) else {
        return;
    };
    let digest: [u8; 32] = std::mem::take(&mut state.hasher).finalize().into();
    let result = match files.step(|m, _| m.verify(id, digest)) {
        Ok(true) => match build_blob(&state.parts, &state.media_type) {
            Ok(blob) => {
                let _ = files.step(|m, _| m.complete(id));
                Ok(ReceivedFile {
                    id,
                    name: state.name.clone(),
                    size: state.size,
                    media_type: state.media_type.clone(),
                    sha256: hex::encode(digest),
                    blob,
                })
            }
            Err(e) => {
                files
                    .step(|m, _| m.cancel(id, Reason::Io, "the receiver could not store the file"));
                Err(FileError::Read(e))
            }
        },
        // The machine queued `cancel{checksum_mismatch}`.
        Ok(false) => Err(FileError::ChecksumMismatch {
            expected: hex::encode(state.sha256),
            actual: hex::encode(digest),
        }),
        Err(error) => Err(FileError::Protocol {
            reason: Reason::Protocol,
            message: error.to_string(),
        }),
    };
    // The data now lives in the Blob (or nowhere): let the parts go.
    state.parts = Array::new();
    let waker = state.finish(result);
    waker.into_iter().for_each(Waker::wake);
}

/// A `Blob` of `media_type` from the received parts.
fn build_blob(parts: &Array, media_type: &str) -> Result<Blob, crate::Error> {
    let bag = BlobPropertyBag::new();
    bag.set_type(media_type);
    Blob::new_with_u8_array_sequence_and_options(parts, &bag).map_err(|e| crate::Error::from_js(&e))
}
