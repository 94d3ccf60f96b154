//! The sending side of one transfer: offer, then chunks within the window until `done`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mywebsocket::{WriteOptions, Writer};
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::progress::ProgressCounter;
use crate::read_ahead::ReadAhead;
use crate::Control;
use crate::CHUNK_HEADER_LEN;
use crate::{FileMeta, Progress, Reason, Side, TransferError, TransferId};

/// Data length of chunks this end sends, if the receiver allows it: large enough that the
/// 28-byte header and per-message costs vanish, small enough that chat messages queued behind
/// a chunk wait well under a millisecond on a fast link.
pub(crate) const SEND_CHUNK: u64 = 256 << 10;

/// Unacknowledged bytes all outgoing transfers of one connection may have together. Whatever
/// the number of transfers, an application message then waits behind at most this much file
/// data (about 10 ms at 400 MB/s), and the semaphore's FIFO order makes the transfers take
/// turns chunk by chunk.
pub(crate) const SEND_BUDGET: usize = 4 << 20;

/// What the peer has said about an outgoing transfer; `route` updates it, the task watches it.
#[derive(Debug, Default)]
pub(crate) struct SendSignal {
    pub(crate) accepted: Option<Accepted>,
    pub(crate) acked: u64,
    pub(crate) end: Option<SendEnd>,
    /// The peer broke the protocol (§4.2): the task sends `cancel` with this and stops.
    pub(crate) violation: Option<(Reason, String)>,
}

impl SendSignal {
    /// Applies an answer from the receiver (`accept`, `ack`, `done`, `reject`) in the state the
    /// transfer is in; an answer the state does not allow is a violation.
    pub(crate) fn apply(&mut self, answer: Control) {
        if self.end.is_some() || self.violation.is_some() {
            return;
        }
        let accepted = self.accepted.is_some();
        match answer {
            Control::Accept {
                offset,
                window,
                max_chunk,
                ..
            } if !accepted => {
                self.accepted = Some(Accepted {
                    offset,
                    window,
                    max_chunk,
                });
                self.acked = offset;
            }
            Control::Accept { .. } => self.violate(Reason::Protocol, "a second accept".into()),
            Control::Ack { offset, .. } if accepted && offset >= self.acked => self.acked = offset,
            Control::Ack { offset, .. } if accepted => self.violate(
                Reason::Protocol,
                format!("ack of {offset} after an ack of {}", self.acked),
            ),
            Control::Ack { .. } => self.violate(Reason::Protocol, "ack before accept".into()),
            Control::Done { .. } if accepted => self.end_with(SendEnd::Done),
            Control::Done { .. } => self.violate(Reason::Protocol, "done before accept".into()),
            Control::Reject {
                reason, message, ..
            } if !accepted => self.end_with(SendEnd::Rejected(reason, message)),
            Control::Reject { .. } => self.violate(
                Reason::Protocol,
                "reject after accept (an accepted transfer ends with cancel)".into(),
            ),
            Control::Offer { .. } | Control::Cancel { .. } => {}
        }
    }

    /// Records how the peer ended the transfer, unless it already ended.
    pub(crate) fn end_with(&mut self, end: SendEnd) {
        self.end.get_or_insert(end);
    }

    /// Records a protocol violation, unless the transfer already ended.
    pub(crate) fn violate(&mut self, reason: Reason, message: String) {
        if self.end.is_none() {
            self.violation.get_or_insert((reason, message));
        }
    }
}

/// The receiver's `accept`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    pub(crate) offset: u64,
    pub(crate) window: u64,
    pub(crate) max_chunk: u64,
}

/// How the peer ended the transfer.
#[derive(Debug)]
pub(crate) enum SendEnd {
    Done,
    Rejected(Reason, String),
    Cancelled(Reason, String),
}

/// Where the bytes come from; [`ReadAhead`] reads either.
pub(crate) enum Source {
    File(tokio::fs::File),
    Reader(Box<dyn AsyncRead + Unpin + Send>),
}

/// A finished outgoing transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The transfer.
    pub id: TransferId,
    /// The file's size.
    pub size: u64,
    /// Where this connection started (non-zero when resumed).
    pub resumed_from: u64,
    /// Time from offer to `done`.
    pub elapsed: Duration,
}

/// An outgoing transfer under way: progress, cancellation and its result.
#[derive(Debug)]
pub struct SendHandle {
    id: TransferId,
    progress: Arc<ProgressCounter>,
    cancel: Arc<CancelFlag>,
    task: JoinHandle<Result<Sent, TransferError>>,
}

impl SendHandle {
    pub(crate) fn new(
        id: TransferId,
        progress: Arc<ProgressCounter>,
        cancel: Arc<CancelFlag>,
        task: JoinHandle<Result<Sent, TransferError>>,
    ) -> Self {
        Self {
            id,
            progress,
            cancel,
            task,
        }
    }

    /// The transfer id; keep it to resume after a reconnect.
    pub fn id(&self) -> TransferId {
        self.id
    }

    /// Bytes acknowledged by the receiver and the rate so far.
    pub fn progress(&self) -> Progress {
        self.progress.snapshot()
    }

    /// Stops the transfer and tells the receiver (`cancel`, reason `cancelled`).
    pub fn cancel(&self) {
        self.cancel.set.store(true, Ordering::Relaxed);
        self.cancel.notify.notify_one();
    }

    /// Waits until the receiver confirmed the file (`done`) or the transfer failed.
    ///
    /// # Errors
    /// [`TransferError`] says why: rejected, cancelled (a checksum mismatch is a cancel with
    /// [`Reason::ChecksumMismatch`]), connection lost, or file I/O.
    pub async fn finish(self) -> Result<Sent, TransferError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(TransferError::Io(std::io::Error::other(e))),
        }
    }
}

/// Everything the sending task needs.
pub(crate) struct SendTask {
    pub(crate) meta: FileMeta,
    /// Taken by the read-ahead task once the receiver accepted.
    pub(crate) source: Option<Source>,
    pub(crate) writer: Writer,
    pub(crate) signal: watch::Receiver<SendSignal>,
    pub(crate) progress: Arc<ProgressCounter>,
    pub(crate) cancel: Arc<CancelFlag>,
    pub(crate) budget: Arc<Semaphore>,
}

/// This transfer's share of the connection's [`SEND_BUDGET`]: permits for its unacked bytes,
/// given back as acks arrive and all at once when the transfer ends, however it ends.
struct InFlight {
    budget: Arc<Semaphore>,
    held: u64,
}

impl InFlight {
    /// Gives back the permits of bytes no longer unacked.
    fn settle(&mut self, unacked: u64) {
        if self.held > unacked {
            self.budget
                .add_permits(usize::try_from(self.held - unacked).expect("≤ SEND_BUDGET"));
            self.held = unacked;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.settle(0);
    }
}

/// Set by [`SendHandle::cancel`]; a flag plus a wake-up, so dropping the handle cancels nothing.
#[derive(Debug, Default)]
pub(crate) struct CancelFlag {
    set: AtomicBool,
    notify: Notify,
}

impl CancelFlag {
    fn is_set(&self) -> bool {
        self.set.load(Ordering::Relaxed)
    }
}

impl SendTask {
    pub(crate) async fn run(mut self) -> Result<Sent, TransferError> {
        let started = std::time::Instant::now();
        let id = self.meta.id;
        let offer = Control::Offer {
            id,
            name: self.meta.name.clone(),
            size: self.meta.size,
            media_type: self.meta.media_type.clone(),
            sha256: hex::encode(self.meta.sha256),
        };
        self.send_control(&offer).await?;
        let accepted = self.wait_accept().await?;
        self.progress.start_at(accepted.offset);
        if accepted.offset > self.meta.size {
            return Err(self
                .fail(Reason::Protocol, "accept offset past the end")
                .await);
        }
        let chunk_len = accepted.max_chunk.min(accepted.window).clamp(1, SEND_CHUNK);
        let source = self.source.take().expect("run once");
        let mut chunks = ReadAhead::start(source, id, accepted.offset, self.meta.size, chunk_len);
        let mut next = accepted.offset;
        let mut ready: Option<Bytes> = None;
        let mut in_flight_budget = InFlight {
            budget: self.budget.clone(),
            held: 0,
        };
        loop {
            if self.cancel.is_set() {
                return Err(self
                    .fail(Reason::Cancelled, "cancelled by the sender")
                    .await);
            }
            let (acked, broken) = {
                let signal = self.signal.borrow();
                if let Some(end) = &signal.end {
                    if !matches!(end, SendEnd::Done) || next == self.meta.size {
                        return self.ended(end, next, accepted.offset, started);
                    }
                }
                // `next` is counted before this look, so an ack can only be past it if the
                // receiver acknowledged bytes it never got.
                let broken = match (&signal.violation, &signal.end) {
                    (Some(violation), _) => Some(violation.clone()),
                    (None, Some(SendEnd::Done)) => Some((
                        Reason::Protocol,
                        format!("done after {next} of {} bytes", self.meta.size),
                    )),
                    (None, _) if signal.acked > next => Some((
                        Reason::Protocol,
                        format!("ack of {} with {next} bytes sent", signal.acked),
                    )),
                    (None, _) => None,
                };
                (signal.acked.max(accepted.offset), broken)
            };
            if let Some((reason, message)) = broken {
                return Err(self.fail(reason, &message).await);
            }
            self.progress.set(acked);
            let in_flight = next.saturating_sub(acked);
            in_flight_budget.settle(in_flight);
            if next < self.meta.size && ready.is_none() {
                // The read-ahead task has usually read this chunk while the last one was sent.
                tokio::select! {
                    chunk = chunks.next() => match chunk {
                        Ok(chunk) => ready = Some(chunk),
                        Err(e) => {
                            let _ = self
                                .fail(Reason::Io, "the sender could not read the file")
                                .await;
                            return Err(e.into());
                        }
                    },
                    changed = self.signal.changed() => {
                        if changed.is_err() {
                            return Err(TransferError::ConnectionLost { confirmed: acked });
                        }
                    }
                    () = self.cancel.notify.notified() => {}
                }
                continue;
            }
            let len = ready
                .as_ref()
                .map_or(0, |c| (c.len() - CHUNK_HEADER_LEN) as u64);
            // A whole chunk goes out once the window has room for all of it.
            if len > 0 && in_flight + len <= accepted.window {
                let permits = u32::try_from(len).expect("at most SEND_CHUNK");
                // Wait for room in the connection's budget, but keep taking acks meanwhile:
                // our own acks may be what frees it.
                tokio::select! {
                    permit = self.budget.acquire_many(permits) => {
                        permit.expect("the semaphore is never closed").forget();
                        in_flight_budget.held += len;
                    }
                    changed = self.signal.changed() => {
                        if changed.is_err() {
                            return Err(TransferError::ConnectionLost { confirmed: acked });
                        }
                        continue;
                    }
                    () = self.cancel.notify.notified() => continue,
                }
                let chunk = ready.take().expect("checked above");
                // File data is usually compressed already (media, archives), and deflating it on the
                // connection's writer would cost far more than it saves (measured: 35 MB/s with
                // permessage-deflate on random data, the raw copy 820 MB/s).
                let no_deflate = WriteOptions::default().compress(false);
                if self
                    .writer
                    .write_binary_with(chunk, &no_deflate)
                    .await
                    .is_err()
                {
                    return Err(TransferError::ConnectionLost { confirmed: acked });
                }
                next += len;
                continue;
            }
            tokio::select! {
                changed = self.signal.changed() => {
                    if changed.is_err() {
                        return Err(TransferError::ConnectionLost { confirmed: acked });
                    }
                }
                () = self.cancel.notify.notified() => {}
            }
        }
    }

    async fn wait_accept(&mut self) -> Result<Accepted, TransferError> {
        loop {
            if self.cancel.is_set() {
                return Err(self
                    .fail(Reason::Cancelled, "cancelled by the sender")
                    .await);
            }
            let broken = {
                let signal = self.signal.borrow();
                // Accepted first: whatever came after the accept is the sending loop's to judge.
                if let Some(accepted) = signal.accepted {
                    return Ok(accepted);
                }
                if let Some(end) = &signal.end {
                    return Err(end_error(end));
                }
                signal.violation.clone()
            };
            if let Some((reason, message)) = broken {
                return Err(self.fail(reason, &message).await);
            }
            tokio::select! {
                changed = self.signal.changed() => {
                    if changed.is_err() {
                        return Err(TransferError::ConnectionLost { confirmed: 0 });
                    }
                }
                () = self.cancel.notify.notified() => {}
            }
        }
    }

    fn ended(
        &self,
        end: &SendEnd,
        sent: u64,
        resumed_from: u64,
        started: std::time::Instant,
    ) -> Result<Sent, TransferError> {
        match end {
            SendEnd::Done if sent == self.meta.size => {
                self.progress.set(self.meta.size);
                Ok(Sent {
                    id: self.meta.id,
                    size: self.meta.size,
                    resumed_from,
                    elapsed: started.elapsed(),
                })
            }
            end => Err(end_error(end)),
        }
    }

    /// Tells the peer we stop, and returns the matching error.
    async fn fail(&mut self, reason: Reason, message: &str) -> TransferError {
        let cancel = Control::Cancel {
            id: self.meta.id,
            reason,
            message: message.into(),
        };
        let _ = self.writer.write_string(cancel.to_text()).await;
        TransferError::Cancelled {
            by: Side::Local,
            reason,
            message: message.into(),
        }
    }

    async fn send_control(&mut self, control: &Control) -> Result<(), TransferError> {
        self.writer
            .write_string(control.to_text())
            .await
            .map_err(|_| TransferError::ConnectionLost { confirmed: 0 })
    }
}

/// The error for a peer's end of the transfer (`done` reaches here only before `accept`,
/// which [`SendSignal::apply`] makes a violation instead).
fn end_error(end: &SendEnd) -> TransferError {
    match end {
        SendEnd::Done => TransferError::Cancelled {
            by: Side::Remote,
            reason: Reason::Protocol,
            message: "done before all bytes were sent".into(),
        },
        SendEnd::Rejected(reason, message) => TransferError::Rejected {
            reason: *reason,
            message: message.clone(),
        },
        SendEnd::Cancelled(reason, message) => TransferError::Cancelled {
            by: Side::Remote,
            reason: *reason,
            message: message.clone(),
        },
    }
}

/// SHA-256 and size of a file, read in 1 MiB pieces on a blocking thread.
pub(crate) async fn hash_file(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok((hasher.finalize().into(), size));
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
    })
    .await
    .map_err(std::io::Error::other)?
}
