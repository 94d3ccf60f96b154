//! The receiving side of one transfer: a task that owns the temp file, hashes and writes the
//! chunks `route` hands it (through the hashing and writing stages), acknowledges, verifies
//! and moves the file into place.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mywebsocket::Writer;
use sha2::{Digest, Sha256};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use crate::part_lock;
use crate::place::place;
use crate::progress::ProgressCounter;
use crate::stage::{self, Stage};
use crate::{AckSchedule, Control};
use crate::{Reason, Side, TransferError, TransferId};

/// How long a resumed transfer waits for an earlier connection's task to let go of its part
/// file (that task ends when its connection's end is noticed) before it is refused as busy.
const PART_BUSY_WAIT: Duration = Duration::from_secs(10);

/// What `route` hands the task.
#[derive(Debug)]
pub(crate) enum RecvInput {
    /// The next bytes, already checked to be in order and within the window.
    Data(Bytes),
    /// The transfer stops: delete the partial file.
    Stop(TransferError),
}

/// Per-transfer state `route` checks chunks against, without waiting for the task.
#[derive(Debug)]
pub(crate) struct RecvEntry {
    /// Tells this entry from a later one with the same id (after a reject, say).
    pub(crate) serial: u64,
    pub(crate) tx: mpsc::Sender<RecvInput>,
    /// Next offset expected; `None` until the task has sent `accept`.
    pub(crate) expected: Option<u64>,
    pub(crate) confirmed: Arc<AtomicU64>,
    pub(crate) size: u64,
    pub(crate) window: u64,
    pub(crate) max_chunk: u64,
    pub(crate) progress: Arc<ProgressCounter>,
}

/// A file that arrived and passed its SHA-256 check, or a transfer that failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Incoming {
    /// The file is in place.
    Received(Received),
    /// The transfer ended without a file (checksum mismatch, cancel, I/O error).
    Failed {
        /// The transfer.
        id: TransferId,
        /// The sanitized name it would have had.
        name: String,
        /// Why.
        error: TransferError,
    },
}

/// A received, verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The transfer.
    pub id: TransferId,
    /// Where it was written (the sanitized name, made unique in its directory).
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// The sender's media type.
    pub media_type: String,
    /// The verified SHA-256.
    pub sha256: [u8; 32],
    /// Bytes already on disk from an earlier connection.
    pub resumed_from: u64,
    /// Time from offer to verified file.
    pub elapsed: Duration,
}

/// Everything the receiving task needs.
pub(crate) struct RecvTask {
    pub(crate) id: TransferId,
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) media_type: String,
    pub(crate) sha256: [u8; 32],
    pub(crate) dir: PathBuf,
    pub(crate) window: u64,
    pub(crate) max_chunk: u64,
    pub(crate) writer: Writer,
    pub(crate) rx: mpsc::Receiver<RecvInput>,
    pub(crate) confirmed: Arc<AtomicU64>,
    pub(crate) progress: Arc<ProgressCounter>,
}

/// The name of a transfer's partial file in its destination directory, `.ID.SHA256.part`:
/// unique per id and content (§6), hidden. An application that keeps partial files for a
/// resume across connections deletes them by this name once it gives up on them.
pub fn part_file_name(id: TransferId, sha256: &[u8; 32]) -> String {
    format!(".{id}.{}.part", hex::encode(sha256))
}

fn part_path(dir: &Path, id: TransferId, sha256: &[u8; 32]) -> PathBuf {
    dir.join(part_file_name(id, sha256))
}

impl RecvTask {
    /// Runs the transfer; `set_expected` tells `route` the resume offset before `accept` goes out.
    pub(crate) async fn run(
        mut self,
        set_expected: impl FnOnce(u64),
    ) -> Result<Received, TransferError> {
        let started = Instant::now();
        let part = part_path(&self.dir, self.id, &self.sha256);
        // Held until this task ends, however it ends. An earlier connection's task still
        // holding it ends once its connection is known to be gone.
        // Until `accept` goes out the offer is unanswered, so a refusal is a `reject`: it
        // leaves no trace, and the same id may be offered again on this connection (§4.2).
        let Ok(_writing) = tokio::time::timeout(PART_BUSY_WAIT, part_lock::lock(&part)).await
        else {
            let message = "an earlier connection is still writing this transfer; offer it again";
            self.send(&Control::Reject {
                id: self.id,
                reason: Reason::Busy,
                message: message.into(),
            })
            .await;
            return Err(TransferError::Rejected {
                reason: Reason::Busy,
                message: message.into(),
            });
        };
        let (file, hasher, offset) = match self.open_part(&part).await {
            Ok(opened) => opened,
            Err(e) => {
                self.send(&Control::Reject {
                    id: self.id,
                    reason: Reason::Io,
                    message: "the receiver could not open its file".into(),
                })
                .await;
                return Err(e.into());
            }
        };
        self.confirmed.store(offset, Ordering::Relaxed);
        self.progress.start_at(offset);
        set_expected(offset);
        let accept = Control::Accept {
            id: self.id,
            offset,
            window: self.window,
            max_chunk: self.max_chunk,
        };
        self.send(&accept).await;
        let mut hash = stage::hasher(offset, hasher);
        let mut disk = stage::writer(offset, file.into_std().await);
        let mut acks = AckSchedule::new(offset, self.window);
        // Bytes handed to the stages.
        let mut received = offset;
        loop {
            // An ack promises that the bytes are both hashed and in the file.
            let confirmed = hash.processed().min(disk.processed());
            // Also ack whenever everything received is done and nothing more is waiting: a
            // sender short of window (or of its connection-wide budget) may be waiting for
            // exactly these bytes to be confirmed.
            let caught_up = confirmed == received && self.rx.is_empty();
            while let Some(offset) = acks.next_ack(confirmed, caught_up, self.size) {
                self.confirmed.store(offset, Ordering::Relaxed);
                self.progress.set(offset);
                self.send(&Control::Ack {
                    id: self.id,
                    offset,
                })
                .await;
            }
            if confirmed == self.size {
                break;
            }
            tokio::select! {
                input = self.rx.recv(), if received < self.size => match input {
                    Some(RecvInput::Data(data)) => {
                        received += data.len() as u64;
                        acks.received(received);
                        if !hash.push(data.clone()).await || !disk.push(data).await {
                            return Err(self.stages_failed(hash, disk, &part).await);
                        }
                    }
                    Some(RecvInput::Stop(error)) => {
                        let _ = hash.finish().await;
                        let _ = disk.finish().await;
                        let _ = tokio::fs::remove_file(&part).await;
                        return Err(error);
                    }
                    None => {
                        // The connection is gone: keep what reached disk for a resume.
                        let _ = hash.finish().await;
                        let written = disk.processed();
                        let confirmed = match disk.finish().await {
                            Ok(()) => received,
                            Err(_) => written,
                        };
                        return Err(TransferError::ConnectionLost { confirmed });
                    }
                },
                running = hash.changed() => if !running {
                    return Err(self.stages_failed(hash, disk, &part).await);
                },
                running = disk.changed() => if !running {
                    return Err(self.stages_failed(hash, disk, &part).await);
                },
            }
        }
        let digest = hash.finish().await;
        let closed = disk.finish().await;
        let digest = match (digest, closed) {
            (Ok(digest), Ok(())) => digest,
            (Err(e), _) | (_, Err(e)) => return Err(self.io_failed(&part, e).await),
        };
        if digest != self.sha256 {
            let _ = tokio::fs::remove_file(&part).await;
            let message = format!(
                "SHA-256 of the received bytes is {}, the offer said {}",
                hex::encode(digest),
                hex::encode(self.sha256)
            );
            self.cancel(Reason::ChecksumMismatch, &message).await;
            return Err(TransferError::Cancelled {
                by: Side::Local,
                reason: Reason::ChecksumMismatch,
                message,
            });
        }
        let path = match place(&part, &self.dir, &self.name).await {
            Ok(path) => path,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                self.cancel(Reason::Io, "the receiver could not rename its file")
                    .await;
                return Err(e.into());
            }
        };
        self.send(&Control::Done {
            id: self.id,
            sha256: hex::encode(digest),
        })
        .await;
        Ok(Received {
            id: self.id,
            path,
            size: self.size,
            media_type: self.media_type.clone(),
            sha256: digest,
            resumed_from: offset,
            elapsed: started.elapsed(),
        })
    }

    /// Opens (or creates) the partial file and hashes what it already holds.
    async fn open_part(&self, part: &Path) -> std::io::Result<(File, Sha256, u64)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(part)
            .await?;
        let mut len = file.metadata().await?.len();
        if len > self.size {
            file.set_len(0).await?;
            len = 0;
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 256 << 10];
        let mut hashed = 0;
        while hashed < len {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            hashed += n as u64;
        }
        file.seek(std::io::SeekFrom::Start(hashed)).await?;
        Ok((file, hasher, hashed))
    }

    /// A stage stopped early: collects its error and gives up the transfer.
    async fn stages_failed(
        &self,
        hash: Stage<[u8; 32]>,
        disk: Stage<()>,
        part: &Path,
    ) -> TransferError {
        let hashed = hash.finish().await.err();
        let written = disk.finish().await.err();
        let e = written
            .or(hashed)
            .unwrap_or_else(|| std::io::Error::other("a receiving stage stopped"));
        self.io_failed(part, e).await
    }

    async fn io_failed(&self, part: &Path, e: std::io::Error) -> TransferError {
        let _ = tokio::fs::remove_file(part).await;
        self.cancel(Reason::Io, "the receiver could not write its file")
            .await;
        e.into()
    }

    async fn cancel(&self, reason: Reason, message: &str) {
        self.send(&Control::Cancel {
            id: self.id,
            reason,
            message: message.into(),
        })
        .await;
    }

    /// Failures here mean the connection is gone; the sender learns of it on its own.
    async fn send(&self, control: &Control) {
        let _ = self.writer.write_string(control.to_text()).await;
    }
}
