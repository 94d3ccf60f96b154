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
use mywebsocket_files_proto::{Chunk, Control, Reason, TransferId};

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

/// A download under way; [`Files::route`] feeds it.
pub(crate) struct RecvState {
    id: TransferId,
    name: String,
    media_type: String,
    size: u64,
    sha256: [u8; 32],
    window: u64,
    max_chunk: u64,
    /// The next offset expected: every byte below it is hashed and kept.
    pub(crate) expected: u64,
    /// The last offset acknowledged.
    acked: u64,
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

    /// The §3 rules for the next chunk.
    fn check(&self, offset: u64, len: u64) -> Result<(), String> {
        if offset != self.expected {
            return Err(format!(
                "chunk at offset {offset}, expected {}",
                self.expected
            ));
        }
        if len > self.max_chunk {
            return Err(format!(
                "chunk of {len} bytes, max_chunk is {}",
                self.max_chunk
            ));
        }
        let end = offset.saturating_add(len);
        if end > self.size {
            return Err(format!("chunk ends at {end}, past the size {}", self.size));
        }
        if end - self.acked > self.window {
            return Err(format!(
                "chunk ends at {end}, past the window of {} beyond {}",
                self.window, self.acked
            ));
        }
        Ok(())
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
            self.files
                .send_control(&Control::Reject {
                    id: self.id,
                    reason: Reason::Policy,
                    message: message.to_owned(),
                })
                .await;
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
        let accept = {
            let mut inner = files.inner.borrow_mut();
            match inner.undecided.remove(&id) {
                Some(None) => {}
                Some(Some((reason, message))) => {
                    return Err(FileError::Cancelled {
                        by: Side::Remote,
                        reason,
                        message,
                    })
                }
                None => return Err(FileError::ConnectionLost { confirmed: 0 }),
            }
            let (window, max_chunk) = (inner.options.window, inner.options.max_chunk);
            inner.recvs.insert(
                id,
                RecvState {
                    id,
                    name: std::mem::take(&mut self.name),
                    media_type: std::mem::take(&mut self.media_type),
                    size: self.size,
                    sha256: self.sha256,
                    window,
                    max_chunk,
                    expected: 0,
                    acked: 0,
                    hasher: Sha256::new(),
                    parts: Array::new(),
                    options: options.clone(),
                    outcome: Rc::clone(&outcome),
                },
            );
            Control::Accept {
                id,
                offset: 0,
                window,
                max_chunk,
            }
        };
        let guard = RecvGuard {
            files: files.clone(),
            id,
        };
        if let Err(e) = files.writer.write_string(accept.to_text()).await {
            files.inner.borrow_mut().take_recv(id);
            return Err(FileError::Connection(e));
        }
        options.report(0, self.size);
        if self.size == 0 {
            let state = files.inner.borrow_mut().take_recv(id);
            if let Some(state) = state {
                complete(&files, state).await;
            }
        }
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
            self.files.send_control_detached(Control::Reject {
                id: self.id,
                reason: Reason::Policy,
                message: "the page ignored the offer".into(),
            });
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
        let running = self.files.inner.borrow_mut().take_recv(self.id);
        if running.is_some() {
            self.files.send_control_detached(Control::Cancel {
                id: self.id,
                reason: Reason::Cancelled,
                message: "cancelled by the receiver".into(),
            });
        }
    }
}

/// What a chunk leads to, decided while the state is borrowed and done after.
enum Step {
    Ack(u64, u64, TransferOptions),
    Complete(RecvState),
    Bad(RecvState, String),
}

/// Checks a chunk, hashes and keeps its data, and acknowledges it; completes the download
/// with its last chunk.
pub(crate) async fn handle_chunk(files: &Files, chunk: Chunk) {
    let known = files.inner.borrow().recvs.contains_key(&chunk.id);
    if !known {
        // Ended here (its chunks may still be in flight: ignored) or never known.
        let message = format!("no transfer {} is being received here", chunk.id);
        return files.refuse_chunk(chunk.id, message).await;
    }
    let step = {
        let mut inner = files.inner.borrow_mut();
        let state = inner.recvs.get_mut(&chunk.id).expect("checked just above");
        let len = chunk.data.len() as u64;
        if let Err(message) = state.check(chunk.offset, len) {
            let state = inner.take_recv(chunk.id).expect("just found");
            Step::Bad(state, message)
        } else {
            state.hasher.update(&chunk.data);
            state.parts.push(&Uint8Array::from(&chunk.data[..]));
            state.expected += len;
            if state.expected == state.size {
                Step::Complete(inner.take_recv(chunk.id).expect("just found"))
            } else {
                // Every byte received so far is kept and nothing else waits (this runs
                // synchronously), so the rule "ack when idle" means: ack every chunk.
                state.acked = state.expected;
                Step::Ack(state.expected, state.size, state.options.clone())
            }
        }
    };
    match step {
        Step::Ack(offset, size, options) => {
            options.report(offset, size);
            files
                .send_control(&Control::Ack {
                    id: chunk.id,
                    offset,
                })
                .await;
        }
        Step::Complete(state) => complete(files, state).await,
        Step::Bad(state, message) => {
            files
                .send_control(&Control::Cancel {
                    id: chunk.id,
                    reason: Reason::BadChunk,
                    message: message.clone(),
                })
                .await;
            let waker = state.finish(Err(FileError::Protocol {
                reason: Reason::BadChunk,
                message,
            }));
            waker.into_iter().for_each(Waker::wake);
        }
    }
}

/// Every byte arrived: verifies the SHA-256, builds the `Blob`, and tells the sender.
async fn complete(files: &Files, mut state: RecvState) {
    let digest: [u8; 32] = std::mem::take(&mut state.hasher).finalize().into();
    let result = if digest == state.sha256 {
        match build_blob(&state.parts, &state.media_type) {
            Ok(blob) => {
                state.options.report(state.size, state.size);
                let sha256 = hex::encode(digest);
                files
                    .send_control(&Control::Ack {
                        id: state.id,
                        offset: state.size,
                    })
                    .await;
                files
                    .send_control(&Control::Done {
                        id: state.id,
                        sha256: sha256.clone(),
                    })
                    .await;
                Ok(ReceivedFile {
                    id: state.id,
                    name: state.name.clone(),
                    size: state.size,
                    media_type: state.media_type.clone(),
                    sha256,
                    blob,
                })
            }
            Err(e) => {
                files
                    .send_control(&Control::Cancel {
                        id: state.id,
                        reason: Reason::Io,
                        message: "the receiver could not store the file".into(),
                    })
                    .await;
                Err(FileError::Read(e))
            }
        }
    } else {
        let expected = hex::encode(state.sha256);
        let actual = hex::encode(digest);
        files
            .send_control(&Control::Cancel {
                id: state.id,
                reason: Reason::ChecksumMismatch,
                message: format!(
                    "SHA-256 of the received bytes is {actual}, the offer said {expected}"
                ),
            })
            .await;
        Err(FileError::ChecksumMismatch { expected, actual })
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
