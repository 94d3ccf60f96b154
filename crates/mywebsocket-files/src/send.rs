//! The sending side of one transfer: offer, then chunks within the window until `done`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use mywebsocket::{WriteOptions, Writer};
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::driver::{timer, Inner, SendSignal};
use crate::progress::ProgressCounter;
use crate::read_ahead::ReadAhead;
use crate::CHUNK_HEADER_LEN;
use crate::{FileMeta, Progress, Reason, Side, TransferError, TransferId};
use mywebsocket_files_proto::{CommandError, End};

/// Data length of chunks this end sends, if the receiver allows it: large enough that the
/// 28-byte header and per-message costs vanish, small enough that chat messages queued behind
/// a chunk wait well under a millisecond on a fast link.
pub(crate) const SEND_CHUNK: u64 = 256 << 10;

/// Unacknowledged bytes all outgoing transfers of one connection may have together. Whatever
/// the number of transfers, an application message then waits behind at most this much file
/// data (about 10 ms at 400 MB/s), and the semaphore's FIFO order makes the transfers take
/// turns chunk by chunk.
pub(crate) const SEND_BUDGET: usize = 4 << 20;

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
    pub(crate) inner: Weak<Inner>,
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

/// What woke the sending task.
enum Woken {
    /// The machine said something about the transfer, or the user cancelled, or time passed.
    Look,
    /// The connection's transfers are gone.
    Lost,
}

impl SendTask {
    pub(crate) async fn run(mut self) -> Result<Sent, TransferError> {
        let started = std::time::Instant::now();
        let id = self.meta.id;
        let Some(inner) = self.inner.upgrade() else {
            return Err(TransferError::ConnectionLost { confirmed: 0 });
        };
        let meta = &self.meta;
        let offered = inner.run(|m, now| {
            m.offer(
                now,
                id,
                &meta.name,
                meta.size,
                &meta.media_type,
                meta.sha256,
            )
        });
        match offered {
            Ok(()) => inner.flush(),
            Err(CommandError::IdInUse(_)) => {
                return Err(TransferError::Cancelled {
                    by: Side::Local,
                    reason: Reason::DuplicateId,
                    message: format!(
                        "transfer {id} runs or ran on this connection; send under a new id"
                    ),
                })
            }
            Err(_) => return Err(TransferError::ConnectionLost { confirmed: 0 }),
        }
        drop(inner);
        let (offset, window, max_chunk) = self.wait_accept().await?;
        self.progress.start_at(offset);
        let chunk_len = max_chunk.min(window).clamp(1, SEND_CHUNK);
        let source = self.source.take().expect("run once");
        let mut chunks = ReadAhead::start(source, id, offset, self.meta.size, chunk_len);
        let mut next = offset;
        let mut ready: Option<Bytes> = None;
        let mut in_flight_budget = InFlight {
            budget: self.budget.clone(),
            held: 0,
        };
        loop {
            let (acked, end) = {
                let signal = self.signal.borrow_and_update();
                (signal.acked.max(offset), signal.end.clone())
            };
            // The end first: a `done` that arrived before the user's cancel was looked at
            // means the receiver has the file.
            if let Some(end) = end {
                return self.ended(end, offset, started);
            }
            if self.cancel.is_set() {
                return match self.user_cancel().await {
                    Some(end) => self.ended(end, offset, started),
                    None => Err(cancelled_locally()),
                };
            }
            self.progress.set(acked);
            let in_flight = next.saturating_sub(acked);
            in_flight_budget.settle(in_flight);
            if next < self.meta.size && ready.is_none() {
                // The read-ahead task has usually read this chunk while the last one was sent.
                let woken = tokio::select! {
                    chunk = chunks.next() => match chunk {
                        Ok(chunk) => {
                            ready = Some(chunk);
                            Woken::Look
                        }
                        Err(e) => {
                            let _ = self
                                .fail(Reason::Io, "the sender could not read the file")
                                .await;
                            return Err(e.into());
                        }
                    },
                    woken = self.woken() => woken,
                };
                if let Woken::Lost = woken {
                    return Err(TransferError::ConnectionLost { confirmed: acked });
                }
                continue;
            }
            let len = ready
                .as_ref()
                .map_or(0, |c| (c.len() - CHUNK_HEADER_LEN) as u64);
            let room = self
                .inner
                .upgrade()
                .and_then(|inner| lock_room(&inner, id))
                .map_or(0, |(_, room)| room);
            // A whole chunk goes out once the window has room for all of it.
            if len > 0 && len <= room {
                let permits = u32::try_from(len).expect("at most SEND_CHUNK");
                // Wait for room in the connection's budget, but keep taking acks meanwhile:
                // our own acks may be what frees it.
                let budget = self.budget.clone();
                tokio::select! {
                    permit = budget.acquire_many(permits) => {
                        permit.expect("the semaphore is never closed").forget();
                        in_flight_budget.held += len;
                    }
                    woken = self.woken() => {
                        if let Woken::Lost = woken {
                            return Err(TransferError::ConnectionLost { confirmed: acked });
                        }
                        continue;
                    }
                }
                // Counted before the write: the ack for these bytes may arrive before the
                // write returns.
                let counted = self
                    .inner
                    .upgrade()
                    .map(|inner| inner.run(|m, now| m.chunk_sent(now, id, next, len)));
                match counted {
                    Some(Ok(())) => {}
                    // Ended meanwhile: the signal says how.
                    Some(Err(_)) => continue,
                    None => return Err(TransferError::ConnectionLost { confirmed: acked }),
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
                // The chunk left this end's queue: only now does the receiver owe an answer
                // for it (§5), so waiting for queue room behind other transfers is not
                // counted against it.
                if let Some(inner) = self.inner.upgrade() {
                    inner.run(|m, now| m.written(now, id));
                }
                next += len;
                continue;
            }
            if let Woken::Lost = self.woken().await {
                return Err(TransferError::ConnectionLost { confirmed: acked });
            }
        }
    }

    /// Waits for the receiver's `accept`: offset, window and max_chunk.
    async fn wait_accept(&mut self) -> Result<(u64, u64, u64), TransferError> {
        loop {
            if self.cancel.is_set() {
                return Err(match self.user_cancel().await {
                    Some(end) => end_error(end),
                    None => cancelled_locally(),
                });
            }
            let (accepted, end) = {
                let signal = self.signal.borrow_and_update();
                (signal.accepted, signal.end.clone())
            };
            // Accepted first: whatever came after the accept is the sending loop's to judge.
            if let Some(accepted) = accepted {
                return Ok(accepted);
            }
            if let Some(end) = end {
                return Err(end_error(end));
            }
            if let Woken::Lost = self.woken().await {
                return Err(TransferError::ConnectionLost { confirmed: 0 });
            }
        }
    }

    /// Waits for news from the machine, a cancel from the user, or the machine's deadline.
    async fn woken(&mut self) -> Woken {
        tokio::select! {
            changed = self.signal.changed() => match changed {
                Ok(()) => Woken::Look,
                Err(_) => Woken::Lost,
            },
            () = self.cancel.notify.notified() => Woken::Look,
            () = timer(&self.inner) => Woken::Look,
        }
    }

    /// The transfer ended as the machine says.
    fn ended(
        &self,
        end: End,
        resumed_from: u64,
        started: std::time::Instant,
    ) -> Result<Sent, TransferError> {
        match end {
            End::Done => {
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

    /// The user cancelled: tells the peer, unless the machine ended the transfer already
    /// (a `done`, a cancel from the peer routed meanwhile); then that end counts.
    async fn user_cancel(&mut self) -> Option<End> {
        let id = self.meta.id;
        let inner = self.inner.upgrade()?;
        let running = inner.run(|m, _| m.cancel(id, Reason::Cancelled, CANCELLED_BY_SENDER));
        inner.flush();
        if running {
            return None;
        }
        // The machine's events are dispatched under its lock: the end is in the signal.
        let end = self.signal.borrow_and_update().end.clone();
        Some(end.unwrap_or(End::ConnectionLost {
            confirmed: self.progress.snapshot().bytes,
        }))
    }

    /// Tells the peer we stop, and returns the matching error.
    async fn fail(&mut self, reason: Reason, message: &str) -> TransferError {
        let id = self.meta.id;
        if let Some(inner) = self.inner.upgrade() {
            inner.run(|m, _| m.cancel(id, reason, message));
            inner.flush();
        }
        TransferError::Cancelled {
            by: Side::Local,
            reason,
            message: message.into(),
        }
    }
}

const CANCELLED_BY_SENDER: &str = "cancelled by the sender";

/// The error of a transfer the user cancelled.
fn cancelled_locally() -> TransferError {
    TransferError::Cancelled {
        by: Side::Local,
        reason: Reason::Cancelled,
        message: CANCELLED_BY_SENDER.into(),
    }
}

/// The window room of an outgoing transfer, if it runs.
fn lock_room(inner: &Inner, id: TransferId) -> Option<(u64, u64)> {
    inner.run(|m, _| m.send_room(id))
}

/// The error for a transfer the machine ended otherwise than with `done`.
pub(crate) fn end_error(end: End) -> TransferError {
    match end {
        End::Rejected { reason, message } => TransferError::Rejected { reason, message },
        End::Cancelled {
            by,
            reason,
            message,
        } => TransferError::Cancelled {
            by,
            reason,
            message,
        },
        End::ConnectionLost { confirmed } => TransferError::ConnectionLost { confirmed },
        End::Done => TransferError::Cancelled {
            by: Side::Remote,
            reason: Reason::Protocol,
            message: "done".into(),
        },
        _ => TransferError::Cancelled {
            by: Side::Local,
            reason: Reason::Other,
            message: "the transfer ended".into(),
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
