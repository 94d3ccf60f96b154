//! The per-connection engine: passes messages to the protocol's state machine, starts the
//! sending and receiving tasks, and hands them what the machine decided.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mywebsocket::{Message, Writer};
use mywebsocket_files_proto::OfferInfo;
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, watch};

use crate::driver::{lock, Inner, RecvEntry, SendEntry};
use crate::progress::ProgressCounter;
use crate::receive::{Incoming, RecvTask};
use crate::send::{hash_file, CancelFlag, SendHandle, SendTask, Source, SEND_BUDGET};
use crate::{is_chunk, is_control};
use crate::{Decision, FileMeta, Offer, Progress, Reason, ReceiveOptions, TransferId};

/// How many finished incoming transfers wait for [`Transfers::next_incoming`] before later
/// ones are dropped (bounded, so an application that never asks leaks nothing).
const INCOMING_QUEUE: usize = 64;

/// Room for this many chunks between `route` and a receiving task; the window bounds the bytes.
const RECV_QUEUE: usize = 64;

/// File transfers on one connection, both directions.
///
/// Cheap to clone. Feed every message the connection reads to [`Transfers::route`]; it keeps
/// file-transfer messages and gives back the application's. Drop every clone (or call
/// [`Transfers::connection_lost`]) when the connection ends, so running transfers end with
/// [`TransferError::ConnectionLost`](crate::TransferError::ConnectionLost) and partial files
/// stay for a resume.
///
/// The protocol's decisions (offer and chunk checks, windows and acks, which answer is
/// allowed when, the sender's answer timeout) are made by
/// [`mywebsocket_files_proto::Connection`], the same state machine the browser client runs.
#[derive(Clone)]
pub struct Transfers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Transfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfers")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Transfers {
    /// File transfers over the connection `writer` writes to, receiving under `options`.
    pub fn new(writer: Writer, options: ReceiveOptions) -> Self {
        Self {
            inner: Arc::new(Inner::new(
                writer,
                options,
                mpsc::channel(INCOMING_QUEUE),
                SEND_BUDGET,
            )),
        }
    }

    /// Whether a message belongs to file transfer (docs/file-transfer.md §2). A
    /// [`Message::Close`] never does.
    pub fn is_file_message(message: &Message) -> bool {
        match message {
            Message::Text(text) => is_control(text.as_str()),
            Message::Binary(data) => is_chunk(data),
            _ => false,
        }
    }

    /// Handles a file-transfer message, or gives an application message (or a
    /// [`Message::Close`], from a `Stream`) back untouched.
    ///
    /// Waits only when a receiving task is behind on disk writes (bounded backpressure).
    /// Malformed messages get the answer §4.1 and §3 give them; none closes the connection.
    pub async fn route(&self, message: Message) -> Option<Message> {
        if !Self::is_file_message(&message) {
            return Some(message);
        }
        let inner = &self.inner;
        match message {
            Message::Text(text) => {
                let ((), offers) = inner.step(|m, now| m.handle_text(now, text.as_str()));
                for offer in offers {
                    self.decide(offer);
                }
                // Never waits for the writes: a read path that did could deadlock two peers
                // whose write queues are full of chunks.
                inner.flush();
            }
            Message::Binary(data) => {
                let chunk = inner.run(|m, now| m.handle_binary(now, data));
                inner.flush();
                if let Some(chunk) = chunk {
                    let tx = lock(&inner.recvs).get(&chunk.id).map(|e| e.tx.clone());
                    if let Some(tx) = tx {
                        let _ = tx.send(chunk.data).await;
                    }
                }
            }
            // `is_file_message` holds only for text and binary.
            other => return Some(other),
        }
        None
    }

    /// Sends the file at `path`: hashes it first (one read), then offers it under its file
    /// name. `meta_id` resumes an earlier transfer of the same file when given.
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub async fn send_path(
        &self,
        path: impl AsRef<Path>,
        media_type: &str,
        id: Option<TransferId>,
    ) -> std::io::Result<SendHandle> {
        let path = path.as_ref();
        let (sha256, size) = hash_file(path).await?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut meta = FileMeta::new(name, size, sha256).media_type(media_type);
        if let Some(id) = id {
            meta = meta.id(id);
        }
        let file = tokio::fs::File::open(path).await?;
        Ok(self.send_file(file, meta))
    }

    /// Sends `meta.size` bytes of an open file from its start, for a caller that already
    /// knows its SHA-256 (a content store, an earlier [`Transfers::send_path`]). Faster than
    /// [`Transfers::send_reader`] with the same file: the file is read by a blocking thread
    /// straight into the chunks, and a resume seeks instead of reading the skipped bytes.
    pub fn send_file(&self, file: tokio::fs::File, meta: FileMeta) -> SendHandle {
        self.start_send(meta, Source::File(file))
    }

    /// Sends `meta.size` bytes read from `reader`. On a resume the reader must start at byte 0
    /// again; the bytes before the receiver's offset are read and skipped.
    pub fn send_reader(
        &self,
        reader: impl AsyncRead + Unpin + Send + 'static,
        meta: FileMeta,
    ) -> SendHandle {
        self.start_send(meta, Source::Reader(Box::new(reader)))
    }

    /// The next incoming transfer that finished, received or failed.
    pub async fn next_incoming(&self) -> Option<Incoming> {
        self.inner.incoming_rx.lock().await.recv().await
    }

    /// Progress of a transfer running on this connection, either direction.
    pub fn progress(&self, id: TransferId) -> Option<Progress> {
        if let Some(entry) = lock(&self.inner.sends).get(&id) {
            return Some(entry.progress.snapshot());
        }
        lock(&self.inner.recvs)
            .get(&id)
            .map(|e| e.progress.snapshot())
    }

    /// Ends every running transfer as
    /// [`TransferError::ConnectionLost`](crate::TransferError::ConnectionLost), keeping
    /// partial files.
    pub fn connection_lost(&self) {
        self.inner.run(|m, _| m.connection_lost());
        lock(&self.inner.sends).clear();
        lock(&self.inner.recvs).clear();
    }

    fn start_send(&self, meta: FileMeta, source: Source) -> SendHandle {
        let id = meta.id;
        let progress = Arc::new(ProgressCounter::new(meta.size));
        let (signal_tx, signal_rx) = watch::channel(Default::default());
        let cancel = Arc::new(CancelFlag::default());
        // A second send under an id that runs keeps the first one's entry; the machine
        // refuses the second offer.
        lock(&self.inner.sends).entry(id).or_insert(SendEntry {
            signal: signal_tx,
            progress: progress.clone(),
        });
        let task = SendTask {
            meta,
            source: Some(source),
            writer: self.inner.writer.clone(),
            signal: signal_rx,
            progress: progress.clone(),
            cancel: cancel.clone(),
            budget: self.inner.send_budget.clone(),
            inner: Arc::downgrade(&self.inner),
        };
        let weak = Arc::downgrade(&self.inner);
        let entry_progress = progress.clone();
        let join = tokio::spawn(async move {
            let result = task.run().await;
            if let Some(inner) = weak.upgrade() {
                {
                    let mut sends = lock(&inner.sends);
                    if sends
                        .get(&id)
                        .is_some_and(|e| Arc::ptr_eq(&e.progress, &entry_progress))
                    {
                        sends.remove(&id);
                    }
                }
                // A cancel this task queued leaves before the result is reported.
                inner.flushed().await;
            }
            result
        });
        SendHandle::new(id, progress, cancel, join)
    }

    /// The application's policy decides on an offer the machine let through: a `reject`, or
    /// a task that receives it.
    fn decide(&self, info: OfferInfo) {
        let id = info.id;
        let offer = Offer {
            id,
            offered_name: info.offered_name,
            name: info.name,
            size: info.size,
            media_type: info.media_type,
            sha256: info.sha256,
        };
        let options = &self.inner.options;
        let dir = match (options.policy)(&offer) {
            Decision::Accept => options.dest_dir.clone(),
            Decision::AcceptInto(dir) => dir,
            Decision::Reject(message) => {
                let _ = self.inner.run(|m, _| m.reject(id, Reason::Policy, message));
                return;
            }
        };
        let (tx, rx) = mpsc::channel(RECV_QUEUE);
        let (end_tx, end_rx) = watch::channel(None);
        let progress = Arc::new(ProgressCounter::new(offer.size));
        let serial = self.inner.next_serial.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.recvs).insert(
            id,
            RecvEntry {
                serial,
                tx,
                end: end_tx,
                progress: progress.clone(),
            },
        );
        let task = RecvTask {
            id,
            name: offer.name.clone(),
            size: offer.size,
            media_type: offer.media_type,
            sha256: offer.sha256,
            dir,
            rx,
            end: end_rx,
            progress,
            inner: Arc::downgrade(&self.inner),
        };
        let weak = Arc::downgrade(&self.inner);
        let name = offer.name;
        tokio::spawn(async move {
            let result = task.run().await;
            let Some(inner) = weak.upgrade() else { return };
            // The task's last word (`done`, `cancel`, `reject`) leaves before it is reported.
            inner.flushed().await;
            {
                let mut recvs = lock(&inner.recvs);
                if recvs.get(&id).is_some_and(|e| e.serial == serial) {
                    recvs.remove(&id);
                }
            }
            let event = match result {
                Ok(received) => Incoming::Received(received),
                Err(error) => Incoming::Failed { id, name, error },
            };
            let _ = inner.incoming_tx.try_send(event);
        });
    }
}
