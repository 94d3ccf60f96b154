//! The receiving side of one transfer: a task that owns the temp file, hashes and writes the
//! chunks `route` hands it (through the hashing and writing stages), acknowledges, verifies
//! and moves the file into place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mywebsocket_files_proto::{CommandError, Connection, End};
use sha2::{Digest, Sha256};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, watch};

use crate::driver::Inner;
use crate::part_lock;
use crate::place::place;
use crate::progress::ProgressCounter;
use crate::send::end_error;
use crate::stage::{self, Stage};
use crate::{Reason, TransferError, TransferId};

/// How long a resumed transfer waits for an earlier connection's task to let go of its part
/// file (that task ends when its connection's end is noticed) before it is refused as busy.
const PART_BUSY_WAIT: Duration = Duration::from_secs(10);

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
    /// Data of the chunks the machine let through, in order.
    pub(crate) rx: mpsc::Receiver<Bytes>,
    /// How the machine ended the transfer, when it did (a cancel, a bad chunk).
    pub(crate) end: watch::Receiver<Option<End>>,
    pub(crate) progress: Arc<ProgressCounter>,
    pub(crate) inner: Weak<Inner>,
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
    /// Runs the transfer: opens the part file, accepts, writes and hashes what arrives,
    /// reports it to the machine (which acks), verifies and puts the file in place.
    pub(crate) async fn run(mut self) -> Result<Received, TransferError> {
        let started = Instant::now();
        let part = part_path(&self.dir, self.id, &self.sha256);
        // Held until this task ends, however it ends. An earlier connection's task still
        // holding it ends once its connection is known to be gone.
        // Until `accept` goes out the offer is unanswered, so a refusal is a `reject`: it
        // leaves no trace, and the same id may be offered again on this connection (§4.2).
        let Ok(_writing) = tokio::time::timeout(PART_BUSY_WAIT, part_lock::lock(&part)).await
        else {
            let message = "an earlier connection is still writing this transfer; offer it again";
            return Err(self.refuse(Reason::Busy, message).await);
        };
        let (file, hasher, offset) = match self.open_part(&part).await {
            Ok(opened) => opened,
            Err(e) => {
                let _ = self
                    .refuse(Reason::Io, "the receiver could not open its file")
                    .await;
                return Err(e.into());
            }
        };
        let id = self.id;
        if self.tell(|m| m.accept(id, offset)).await.is_err() {
            // Cancelled (or the connection lost) while the part file was opened.
            return Err(self.ended());
        }
        self.progress.start_at(offset);
        let mut hash = stage::hasher(offset, hasher);
        let mut disk = stage::writer(offset, file.into_std().await);
        // Bytes handed to the stages, and the last count reported to the machine.
        let mut received = offset;
        let mut reported = offset;
        loop {
            // An ack promises that the bytes are both hashed and in the file.
            let confirmed = hash.processed().min(disk.processed());
            if confirmed > reported {
                // The machine acks as §5 says: every quarter window, and whatever is
                // confirmed when nothing else it let through is waiting.
                reported = confirmed;
                self.progress.set(confirmed);
                if self.tell(|m| m.confirmed(id, confirmed)).await.is_err() {
                    let _ = hash.finish().await;
                    let _ = disk.finish().await;
                    return Err(self.stopped(&part).await);
                }
            }
            if confirmed == self.size {
                break;
            }
            tokio::select! {
                input = self.rx.recv(), if received < self.size => match input {
                    Some(data) => {
                        received += data.len() as u64;
                        if !hash.push(data.clone()).await || !disk.push(data).await {
                            return Err(self.stages_failed(hash, disk, &part).await);
                        }
                    }
                    None => return Err(lost(hash, disk, received).await),
                },
                changed = self.end.changed() => {
                    let lost_connection = changed.is_err()
                        || matches!(*self.end.borrow(), Some(End::ConnectionLost { .. }));
                    if lost_connection {
                        return Err(lost(hash, disk, received).await);
                    }
                    let _ = hash.finish().await;
                    let _ = disk.finish().await;
                    return Err(self.stopped(&part).await);
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
        match self.tell(|m| m.verify(id, digest)).await {
            Ok(true) => {}
            // A mismatch: the machine sent `cancel{checksum_mismatch}`.
            Ok(false) | Err(_) => return Err(self.stopped(&part).await),
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
        #[cfg(test)]
        tests::after_place(id).await;
        // A cancel (the peer's, or ours for a stray chunk) that came while the file was put
        // in place ended the transfer: no `done` can follow it (§4.2), so the file is not
        // received on either side and goes, as a cancelled transfer's part file would.
        if self.tell(|m| m.complete(id)).await.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(self.ended());
        }
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

    /// Runs a command on the machine and writes what it queued.
    async fn tell<R>(
        &self,
        command: impl FnOnce(&mut Connection) -> Result<R, CommandError>,
    ) -> Result<R, CommandError> {
        let Some(inner) = self.inner.upgrade() else {
            return Err(CommandError::ConnectionLost);
        };
        let result = inner.run(|m, _| command(m));
        // Not waiting for the write: this task must keep taking chunks meanwhile, or the
        // read loop that hands them over would wait on the connection's writes.
        inner.flush();
        result
    }

    /// How the machine ended the transfer, as an error.
    fn ended(&self) -> TransferError {
        match self.end.borrow().clone() {
            Some(end) => end_error(end),
            None => TransferError::ConnectionLost { confirmed: 0 },
        }
    }

    /// The machine ended the transfer (a cancel either way, a bad chunk, a checksum
    /// mismatch): the partial file goes.
    async fn stopped(&self, part: &Path) -> TransferError {
        let error = self.ended();
        if !matches!(error, TransferError::ConnectionLost { .. }) {
            let _ = tokio::fs::remove_file(part).await;
        }
        error
    }

    /// Declines the offer before `accept` (`reject`, no trace left).
    async fn refuse(&self, reason: Reason, message: &str) -> TransferError {
        let id = self.id;
        let _ = self.tell(|m| m.reject(id, reason, message)).await;
        TransferError::Rejected {
            reason,
            message: message.into(),
        }
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
        let id = self.id;
        if let Some(inner) = self.inner.upgrade() {
            inner.run(|m, _| m.cancel(id, reason, message));
            inner.flush();
        }
    }
}

/// The connection is gone: keep what reached disk for a resume.
async fn lost(hash: Stage<[u8; 32]>, disk: Stage<()>, received: u64) -> TransferError {
    let _ = hash.finish().await;
    let written = disk.processed();
    let confirmed = match disk.finish().await {
        Ok(()) => received,
        Err(_) => written,
    };
    TransferError::ConnectionLost { confirmed }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use mywebsocket::{connect, Message, Upgrader};
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    use super::Incoming;
    use crate::{
        chunk_buffer, Control, Reason, ReceiveOptions, Side, TransferError, TransferId, Transfers,
    };

    /// A receiving task of this id stops once its file is in place, says so, and goes on
    /// when told.
    struct AfterPlace {
        id: TransferId,
        placed: oneshot::Sender<()>,
        go: oneshot::Receiver<()>,
    }

    static AFTER_PLACE: Mutex<Vec<AfterPlace>> = Mutex::new(Vec::new());

    pub(super) async fn after_place(id: TransferId) {
        let hook = {
            let mut hooks = AFTER_PLACE.lock().unwrap();
            let at = hooks.iter().position(|h| h.id == id);
            at.map(|i| hooks.swap_remove(i))
        };
        if let Some(hook) = hook {
            let _ = hook.placed.send(());
            let _ = hook.go.await;
        }
    }

    #[tokio::test]
    async fn a_cancel_while_the_verified_file_is_placed_fails_the_transfer_without_done() {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            Upgrader::default().accept(tcp).await.unwrap()
        });
        let (mut raw, _) = connect(&url).await.unwrap();
        // This test is the receiver's read loop: it routes each message itself.
        let (mut reader, writer) = server.await.unwrap().split();
        let files = Transfers::new(writer, ReceiveOptions::default().dest_dir(dir.path()));

        let id = TransferId::random();
        let (placed_tx, placed) = oneshot::channel();
        let (go, go_rx) = oneshot::channel();
        AFTER_PLACE.lock().unwrap().push(AfterPlace {
            id,
            placed: placed_tx,
            go: go_rx,
        });
        let content = b"placed, then cancelled";
        let offer = Control::Offer {
            id,
            name: "data.bin".into(),
            size: content.len() as u64,
            media_type: String::new(),
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content)),
        };
        raw.write_string(offer.to_text()).await.unwrap();
        assert!(files
            .route(reader.read_msg().await.unwrap())
            .await
            .is_none());
        let accept = raw.read_msg().await.unwrap();
        assert!(accept.as_text().unwrap().contains("accept"), "{accept:?}");
        let mut chunk = chunk_buffer(id, 0, content.len());
        chunk.extend_from_slice(content);
        raw.write_binary(chunk.freeze()).await.unwrap();
        assert!(files
            .route(reader.read_msg().await.unwrap())
            .await
            .is_none());

        // Verified and in place; the peer's cancel comes before the `done` is sent.
        placed.await.unwrap();
        let cancel = Control::Cancel {
            id,
            reason: Reason::Cancelled,
            message: "changed my mind".into(),
        };
        assert!(files
            .route(Message::Text(cancel.to_text().into()))
            .await
            .is_none());
        go.send(()).unwrap();

        match files.next_incoming().await {
            Some(Incoming::Failed {
                error:
                    TransferError::Cancelled {
                        by: Side::Remote,
                        reason: Reason::Cancelled,
                        ..
                    },
                ..
            }) => {}
            other => panic!("expected a failed transfer, got {other:?}"),
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "the placed file goes: {left:?}");
        // No `done` went out: the next message is the answer to a probe.
        raw.write_string(r#"{"ft":"offer","id":"x"}"#)
            .await
            .unwrap();
        assert!(files
            .route(reader.read_msg().await.unwrap())
            .await
            .is_none());
        loop {
            let next = raw.read_msg().await.unwrap();
            let next = next.as_text().unwrap();
            if next.contains(r#""ft":"ack""#) {
                continue;
            }
            assert!(next.contains(r#""ft":"reject""#), "{next}");
            break;
        }
    }
}
