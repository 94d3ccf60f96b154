//! Sending a `Blob` or `File`: hash it, offer it, then chunks within the receiver's window.

use std::future::poll_fn;
use std::task::{Poll, Waker};

use web_sys::{Blob, File};

use super::blob::{hash_blob, read_slice};
use super::engine::Files;
use super::error::FileError;
use super::options::TransferOptions;
use super::Side;
use mywebsocket_files_proto::{chunk_buffer, Control, Reason, TransferId, CHUNK_HEADER_LEN};

/// The receiver's `accept`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    offset: u64,
    window: u64,
    max_chunk: u64,
}

/// How an outgoing transfer ended, from the peer's side (or the connection's).
#[derive(Debug, Clone)]
pub(crate) enum SendEnd {
    Done,
    Rejected(Reason, String),
    Cancelled(Reason, String),
    Lost,
}

/// What the peer has said about an outgoing transfer; [`Files::route`] updates it.
#[derive(Debug)]
pub(crate) struct SendState {
    accepted: Option<Accepted>,
    acked: u64,
    end: Option<SendEnd>,
    /// The peer broke the protocol (§4.2): the sending future cancels with this and stops.
    violation: Option<(Reason, String)>,
    /// Bumped on every change, so the sending future knows when to look again.
    version: u64,
    pub(crate) waker: Option<Waker>,
}

impl SendState {
    /// Records the end, unless the transfer already ended.
    pub(crate) fn end_with(&mut self, end: SendEnd) {
        if self.end.is_none() {
            self.end = Some(end);
        }
        self.version += 1;
    }

    /// Records a protocol violation, unless the transfer already ended.
    pub(crate) fn violate(&mut self, reason: Reason, message: String) {
        if self.end.is_none() && self.violation.is_none() {
            self.violation = Some((reason, message));
        }
        self.version += 1;
    }
}

/// A file the receiver confirmed: every byte arrived and matched the SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The transfer.
    pub id: TransferId,
    /// The file's size in bytes.
    pub size: u64,
    /// Its SHA-256, 64 lowercase hex digits, as the receiver confirmed it.
    pub sha256: String,
}

/// Applies `accept`, `ack`, `done` and `reject` to the outgoing transfer they name.
pub(crate) fn handle_control(files: &Files, control: Control) {
    let waker = {
        let mut inner = files.inner.borrow_mut();
        let id = match &control {
            Control::Accept { id, .. }
            | Control::Ack { id, .. }
            | Control::Done { id, .. }
            | Control::Reject { id, .. } => *id,
            Control::Offer { .. } | Control::Cancel { .. } => return,
        };
        let Some(state) = inner.sends.get_mut(&id) else {
            return;
        };
        let accepted = state.accepted.is_some();
        match control {
            Control::Accept {
                offset,
                window,
                max_chunk,
                ..
            } if !accepted => {
                state.accepted = Some(Accepted {
                    offset,
                    window,
                    max_chunk,
                });
                state.acked = offset;
            }
            Control::Accept { .. } => state.violate(Reason::Protocol, "a second accept".into()),
            Control::Ack { offset, .. } if accepted && offset >= state.acked => {
                state.acked = offset;
            }
            Control::Ack { offset, .. } if accepted => {
                let message = format!("ack of {offset} after an ack of {}", state.acked);
                state.violate(Reason::Protocol, message);
            }
            Control::Ack { .. } => state.violate(Reason::Protocol, "ack before accept".into()),
            Control::Done { .. } if accepted => state.end_with(SendEnd::Done),
            Control::Done { .. } => state.violate(Reason::Protocol, "done before accept".into()),
            Control::Reject {
                reason, message, ..
            } if !accepted => state.end_with(SendEnd::Rejected(reason, message)),
            Control::Reject { .. } => state.violate(
                Reason::Protocol,
                "reject after accept (an accepted transfer ends with cancel)".into(),
            ),
            Control::Offer { .. } | Control::Cancel { .. } => {}
        }
        state.version += 1;
        state.waker.take()
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Forgets the transfer however the sending future ends; if it is dropped before the
/// transfer ended, tells the peer it was cancelled.
struct SendGuard {
    files: Files,
    id: TransferId,
    armed: bool,
}

impl Drop for SendGuard {
    fn drop(&mut self) {
        {
            let mut inner = self.files.inner.borrow_mut();
            inner.sends.remove(&self.id);
            inner.used.insert(self.id);
        }
        if self.armed {
            self.files.send_control_detached(Control::Cancel {
                id: self.id,
                reason: Reason::Cancelled,
                message: "the sender stopped".into(),
            });
        }
    }
}

impl Files {
    /// Sends a `File` under its own name and media type; see [`Files::send_blob`].
    ///
    /// # Errors
    /// As [`Files::send_blob`].
    pub async fn send_file(
        &self,
        file: &File,
        options: &TransferOptions,
    ) -> Result<Sent, FileError> {
        self.send_blob(file, &file.name(), options).await
    }

    /// Sends `blob` as a file called `name`, with the blob's media type, and returns once the
    /// receiver confirmed it (`done`: every byte arrived and the SHA-256 matched).
    ///
    /// The blob is read a slice at a time, twice: once to compute the SHA-256 the offer
    /// carries, then chunk by chunk as the receiver's window allows; it is never whole in
    /// memory. Progress reports the bytes the receiver acknowledged. Dropping the future
    /// cancels the transfer (the peer is told).
    ///
    /// # Errors
    /// [`FileError::Rejected`] when the receiver declines, [`FileError::Cancelled`] when
    /// either end cancels (a corrupt upload comes back as `reason: ChecksumMismatch`),
    /// [`FileError::Read`] when the browser cannot read the blob, [`FileError::Connection`] or
    /// [`FileError::ConnectionLost`] when the connection fails, [`FileError::Protocol`] when
    /// the receiver breaks the protocol, or (`reason: DuplicateId`) when
    /// [`TransferOptions::id`] names a transfer this connection is already sending.
    pub async fn send_blob(
        &self,
        blob: &Blob,
        name: &str,
        options: &TransferOptions,
    ) -> Result<Sent, FileError> {
        // A blob's size is an integer below 2^53: exact in f64 and in u64.
        let size = blob.size() as u64;
        let id = options.id.unwrap_or_else(super::random::new_transfer_id);
        if self.inner.borrow().sends.contains_key(&id) {
            return Err(FileError::Protocol {
                reason: Reason::DuplicateId,
                message: format!("transfer {id} is already being sent on this connection"),
            });
        }
        self.inner.borrow_mut().sends.insert(
            id,
            SendState {
                accepted: None,
                acked: 0,
                end: None,
                violation: None,
                version: 0,
                waker: None,
            },
        );
        // Taken before hashing, so a second send under the same id is refused at once; the
        // guard gives it back however this ends.
        let mut guard = SendGuard {
            files: self.clone(),
            id,
            armed: false,
        };
        let sha256 = hex::encode(hash_blob(blob, size, &options.cancel).await?);
        let offer = Control::Offer {
            id,
            name: name.to_owned(),
            size,
            media_type: blob.type_(),
            sha256: sha256.clone(),
        };
        self.writer
            .write_string(offer.to_text())
            .await
            .map_err(FileError::Connection)?;
        guard.armed = true;
        let result = self.stream(blob, id, size, options).await;
        match &result {
            // The peer ended it (or the connection is gone): nothing to tell.
            Ok(()) | Err(FileError::Rejected { .. }) | Err(FileError::ConnectionLost { .. }) => {}
            Err(FileError::Cancelled {
                by: Side::Remote, ..
            })
            | Err(FileError::Connection(_)) => {}
            Err(error) => {
                let message = match error {
                    FileError::Cancelled { message, .. } | FileError::Protocol { message, .. } => {
                        message.clone()
                    }
                    other => other.to_string(),
                };
                self.send_control(&Control::Cancel {
                    id,
                    reason: error.reason(),
                    message,
                })
                .await;
            }
        }
        guard.armed = false;
        result.map(|()| Sent { id, size, sha256 })
    }

    /// Sends the chunks as the window allows, until `done` or the end.
    async fn stream(
        &self,
        blob: &Blob,
        id: TransferId,
        size: u64,
        options: &TransferOptions,
    ) -> Result<(), FileError> {
        let mut next: Option<u64> = None;
        let mut reported = None;
        loop {
            if options.cancel.is_cancelled() {
                return Err(FileError::Cancelled {
                    by: Side::Local,
                    reason: Reason::Cancelled,
                    message: "cancelled by the sender".into(),
                });
            }
            let (accepted, acked, end, violation, version) = {
                let inner = self.inner.borrow();
                let state = inner.sends.get(&id).expect("the guard keeps the state");
                (
                    state.accepted,
                    state.acked,
                    state.end.clone(),
                    state.violation.clone(),
                    state.version,
                )
            };
            if let Some((reason, message)) = violation {
                return Err(FileError::Protocol { reason, message });
            }
            match end {
                None => {}
                Some(SendEnd::Done) if next == Some(size) && acked <= size => {
                    if reported != Some(size) {
                        options.report(size, size);
                    }
                    return Ok(());
                }
                Some(SendEnd::Done) => return Err(protocol("done before every byte was sent")),
                Some(SendEnd::Rejected(reason, message)) => {
                    return Err(FileError::Rejected { reason, message })
                }
                Some(SendEnd::Cancelled(reason, message)) => {
                    return Err(FileError::Cancelled {
                        by: Side::Remote,
                        reason,
                        message,
                    })
                }
                Some(SendEnd::Lost) => return Err(FileError::ConnectionLost { confirmed: acked }),
            }
            if let Some(accepted) = accepted {
                if accepted.offset > size {
                    return Err(protocol(&format!(
                        "accept at offset {} past the size {size}",
                        accepted.offset
                    )));
                }
                let sent = *next.get_or_insert(accepted.offset);
                if acked > sent {
                    return Err(protocol(&format!("ack of {acked} bytes, only {sent} sent")));
                }
                if reported != Some(acked) {
                    options.report(acked, size);
                    reported = Some(acked);
                }
                let in_flight = sent - acked;
                if sent < size && in_flight < accepted.window {
                    let len = accepted
                        .max_chunk
                        .min(size - sent)
                        .min(accepted.window - in_flight);
                    let data = read_slice(blob, sent, sent + len).await?;
                    let data_len = data.length() as usize;
                    let mut message = chunk_buffer(id, sent, data_len);
                    message.resize(CHUNK_HEADER_LEN + data_len, 0);
                    data.copy_to(&mut message[CHUNK_HEADER_LEN..]);
                    self.writer
                        .write_binary(message)
                        .await
                        .map_err(FileError::Connection)?;
                    next = Some(sent + len);
                    continue;
                }
            }
            self.changed(id, version, options).await;
        }
    }

    /// Waits until the transfer's state changes from `version`, or the transfer is cancelled.
    async fn changed(&self, id: TransferId, version: u64, options: &TransferOptions) {
        poll_fn(|cx| {
            if options.cancel.poll_cancelled(cx) {
                return Poll::Ready(());
            }
            let mut inner = self.inner.borrow_mut();
            let Some(state) = inner.sends.get_mut(&id) else {
                return Poll::Ready(());
            };
            if state.version != version {
                return Poll::Ready(());
            }
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

fn protocol(message: &str) -> FileError {
    FileError::Protocol {
        reason: Reason::Protocol,
        message: message.to_owned(),
    }
}
