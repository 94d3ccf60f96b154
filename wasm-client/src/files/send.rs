//! Sending a `Blob` or `File`: hash it, offer it, then chunks within the receiver's window.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Poll, Waker};

use web_sys::{Blob, File};

use super::blob::{hash_blob, read_slice};
use super::engine::Files;
use super::error::FileError;
use super::options::TransferOptions;
use super::Side;
use crate::timer::sleep;
use mywebsocket_files_proto::{chunk_buffer, End, Reason, TransferId, CHUNK_HEADER_LEN};

/// What the machine has said about an outgoing transfer; [`Files::route`] updates it.
#[derive(Debug, Default)]
pub(crate) struct SendState {
    /// The receiver's `accept`: offset, window, max_chunk.
    accepted: Option<(u64, u64, u64)>,
    acked: u64,
    end: Option<End>,
    /// Bumped on every change, so the sending future knows when to look again.
    version: u64,
    pub(crate) waker: Option<Waker>,
}

impl SendState {
    pub(crate) fn accepted(&mut self, offset: u64, window: u64, max_chunk: u64) {
        self.accepted.get_or_insert((offset, window, max_chunk));
        self.acked = offset;
        self.version += 1;
    }

    pub(crate) fn acked(&mut self, offset: u64) {
        self.acked = self.acked.max(offset);
        self.version += 1;
    }

    /// Records the end, unless the transfer already ended.
    pub(crate) fn end_with(&mut self, end: End) {
        self.end.get_or_insert(end);
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

/// The longest chunk this sender writes, whatever `max_chunk` the receiver announces (as the
/// Rust sender's `SEND_CHUNK`): a chunk is read into one buffer, and a receiver announcing a
/// window and `max_chunk` of 2^53 - 1 must not make the browser read a whole file at once.
pub(crate) const SEND_CHUNK: u64 = 256 << 10;

/// How long the next chunk is: what the window allows, at most `max_chunk` and
/// [`SEND_CHUNK`].
fn chunk_len(max_chunk: u64, room: u64) -> u64 {
    max_chunk.min(room).min(SEND_CHUNK)
}

/// How a sending transfer finishes, if it does: the machine's end comes first, so a `done`
/// that arrived before the user cancelled is a success; otherwise a cancel ends it.
fn finished(end: Option<End>, cancelled: bool) -> Option<Result<(), FileError>> {
    match end {
        Some(End::Done) => Some(Ok(())),
        Some(end) => Some(Err(FileError::from_end(end))),
        None if cancelled => Some(Err(FileError::Cancelled {
            by: Side::Local,
            reason: Reason::Cancelled,
            message: "cancelled by the sender".into(),
        })),
        None => None,
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
        self.files.inner.borrow_mut().sends.remove(&self.id);
        if self.armed {
            let id = self.id;
            let cancelled = self
                .files
                .step(|m, _| m.cancel(id, Reason::Cancelled, "the sender stopped"));
            if cancelled {
                self.files.flush_detached();
            }
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
        self.inner
            .borrow_mut()
            .sends
            .insert(id, SendState::default());
        // Taken before hashing, so a second send under the same id is refused at once; the
        // guard gives it back however this ends.
        let mut guard = SendGuard {
            files: self.clone(),
            id,
            armed: false,
        };
        let digest = hash_blob(blob, size, &options.cancel).await?;
        let sha256 = hex::encode(digest);
        let media_type = blob.type_();
        let offered = self.step(|m, now| m.offer(now, id, name, size, &media_type, digest));
        if offered.is_err() {
            return Err(FileError::Protocol {
                reason: Reason::DuplicateId,
                message: format!("transfer {id} ran on this connection; send under a new id"),
            });
        }
        guard.armed = true;
        self.flush().await;
        let result = self.stream(blob, id, size, options).await;
        if let Err(error) = &result {
            // Ours to tell the peer (a read error, a cancel here); the machine already told
            // it of what the peer did wrong, and sends nothing for a transfer that ended.
            let message = match error {
                FileError::Cancelled { message, .. } | FileError::Protocol { message, .. } => {
                    message.clone()
                }
                other => other.to_string(),
            };
            let reason = error.reason();
            if self.step(|m, _| m.cancel(id, reason, message)) {
                self.flush().await;
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
        let mut reported = None;
        let mut timer = self.timer();
        loop {
            let (accepted, acked, end, version) = {
                let inner = self.inner.borrow();
                let state = inner.sends.get(&id).expect("the guard keeps the state");
                (
                    state.accepted,
                    state.acked,
                    state.end.clone(),
                    state.version,
                )
            };
            // The end first: a `done` that arrived before the user cancelled means the
            // receiver has the file, and the transfer succeeded.
            if let Some(result) = finished(end, options.cancel.is_cancelled()) {
                if result.is_ok() && reported != Some(size) {
                    options.report(size, size);
                }
                return result;
            }
            if let Some((_, _, max_chunk)) = accepted {
                if reported != Some(acked) {
                    options.report(acked, size);
                    reported = Some(acked);
                }
                let room = self.inner.borrow().machine.send_room(id);
                if let Some((sent, room)) = room.filter(|&(_, room)| room > 0) {
                    let len = chunk_len(max_chunk, room);
                    // `read_slice` ends with a Read error unless it read exactly `len` bytes
                    // (a `File` that shrank on disk since it was hashed), so the chunk's
                    // offsets stay those the machine counts.
                    let data = read_slice(blob, sent, sent + len).await?;
                    let data_len = usize::try_from(len).expect("at most SEND_CHUNK");
                    let mut message = chunk_buffer(id, sent, data_len);
                    message.resize(CHUNK_HEADER_LEN + data_len, 0);
                    data.copy_to(&mut message[CHUNK_HEADER_LEN..]);
                    let room_now = self.inner.borrow().machine.send_room(id);
                    if !room_now.is_some_and(|(next, room)| next == sent && room >= len) {
                        continue; // ended while reading: the state says how
                    }
                    self.writer
                        .write_binary(message)
                        .await
                        .map_err(FileError::Connection)?;
                    // Counted once the browser took the chunk, so the answer timeout runs
                    // from when the bytes were written, not while the write waited for
                    // `bufferedAmount` to drain. Nothing runs between the browser taking the
                    // chunk and this line (the write completes in the poll that sends), so
                    // no ack for these bytes can come first.
                    let _ = self.step(|m, now| m.chunk_sent(now, id, sent, len));
                    continue;
                }
            }
            self.changed(id, version, options, &mut timer).await;
        }
    }

    /// A timer that fires at the machine's next deadline (or after the answer timeout when
    /// it has none: firing early does no harm).
    fn timer(&self) -> Pin<Box<dyn Future<Output = ()>>> {
        let wait = {
            let mut inner = self.inner.borrow_mut();
            let now = inner.now();
            let fallback = inner.machine.config().answer_timeout;
            inner
                .machine
                .poll_timeout()
                .map_or(fallback, |deadline| deadline.saturating_sub(now))
        };
        Box::pin(sleep(wait))
    }

    /// Waits until the transfer's state changes from `version`, the transfer is cancelled,
    /// or `timer` fires (then the machine acts on the time and `timer` is set again).
    async fn changed(
        &self,
        id: TransferId,
        version: u64,
        options: &TransferOptions,
        timer: &mut Pin<Box<dyn Future<Output = ()>>>,
    ) {
        let fired = poll_fn(|cx| {
            if options.cancel.poll_cancelled(cx) {
                return Poll::Ready(false);
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            let mut inner = self.inner.borrow_mut();
            let Some(state) = inner.sends.get_mut(&id) else {
                return Poll::Ready(false);
            };
            if state.version != version {
                return Poll::Ready(false);
            }
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        if fired {
            self.step(|m, now| m.handle_timeout(now));
            self.flush().await;
            *timer = self.timer();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_at_most_256_kib_whatever_the_receiver_allows() {
        let huge = (1 << 53) - 1;
        assert_eq!(chunk_len(huge, huge), SEND_CHUNK);
        assert_eq!(chunk_len(huge, 10), 10);
        assert_eq!(chunk_len(1000, huge), 1000);
        assert_eq!(chunk_len(SEND_CHUNK + 1, SEND_CHUNK + 1), 256 << 10);
    }

    #[test]
    fn a_done_that_arrived_wins_over_a_later_cancel() {
        assert!(matches!(finished(Some(End::Done), true), Some(Ok(()))));
        assert!(matches!(
            finished(None, true),
            Some(Err(FileError::Cancelled {
                by: Side::Local,
                ..
            }))
        ));
        assert!(finished(None, false).is_none());
        let remote = End::Cancelled {
            by: Side::Remote,
            reason: Reason::Policy,
            message: String::new(),
        };
        assert!(matches!(
            finished(Some(remote), true),
            Some(Err(FileError::Cancelled {
                by: Side::Remote,
                ..
            }))
        ));
    }
}
