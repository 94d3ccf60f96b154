//! The per-connection engine: routes messages, starts sending and receiving tasks.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mywebsocket::{Message, Writer};
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::progress::ProgressCounter;
use crate::receive::{Incoming, RecvEntry, RecvInput, RecvTask};
use crate::send::{
    hash_file, CancelFlag, SendEnd, SendHandle, SendSignal, SendTask, Source, SEND_BUDGET,
};
use crate::{check_offer, is_chunk, Answer, BadChunk, Chunk};
use crate::{is_control, Control};
use crate::{
    sanitize_name, Decision, FileMeta, Offer, Progress, Reason, ReceiveOptions, Side,
    TransferError, TransferId,
};
use mywebsocket_files_proto::UsedIds;

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
/// [`TransferError::ConnectionLost`] and partial files stay for a resume.
#[derive(Clone)]
pub struct Transfers {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Writer,
    options: ReceiveOptions,
    sends: Mutex<HashMap<TransferId, SendEntry>>,
    recvs: Mutex<HashMap<TransferId, RecvEntry>>,
    incoming_tx: mpsc::Sender<Incoming>,
    incoming_rx: tokio::sync::Mutex<mpsc::Receiver<Incoming>>,
    send_budget: Arc<Semaphore>,
    /// Ids whose transfer ended on this connection, either direction.
    used: Mutex<UsedIds>,
    /// Tells a receiving entry from a later one with the same id.
    next_serial: AtomicU64,
}

struct SendEntry {
    signal: watch::Sender<SendSignal>,
    progress: Arc<ProgressCounter>,
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
        let (incoming_tx, incoming_rx) = mpsc::channel(INCOMING_QUEUE);
        Self {
            inner: Arc::new(Inner {
                writer,
                options,
                sends: Mutex::default(),
                recvs: Mutex::default(),
                incoming_tx,
                incoming_rx: tokio::sync::Mutex::new(incoming_rx),
                send_budget: Arc::new(Semaphore::new(SEND_BUDGET)),
                used: Mutex::default(),
                next_serial: AtomicU64::new(0),
            }),
        }
    }

    /// Whether a message belongs to file transfer (docs/file-transfer.md §2).
    pub fn is_file_message(message: &Message) -> bool {
        match message {
            Message::Text(text) => is_control(text.as_str()),
            Message::Binary(data) => is_chunk(data),
        }
    }

    /// Handles a file-transfer message, or gives an application message back untouched.
    ///
    /// Waits only when a receiving task is behind on disk writes (bounded backpressure).
    /// Malformed messages get the answer §4.1 and §3 give them; none closes the connection.
    pub async fn route(&self, message: Message) -> Option<Message> {
        if !Self::is_file_message(&message) {
            return Some(message);
        }
        match message {
            Message::Text(text) => match Control::parse(text.as_str()) {
                Ok(control) => self.handle_control(control).await,
                Err(malformed) => match malformed.answer() {
                    Answer::Reject(reply) => {
                        let _ = self.inner.writer.write_string(reply).await;
                    }
                    Answer::CancelIfRunning { id, message } => {
                        self.stop_running(id, Reason::Protocol, message).await;
                    }
                    Answer::Ignore => {}
                },
            },
            Message::Binary(data) => match Chunk::parse(data) {
                Ok(chunk) => self.handle_chunk(chunk).await,
                Err(BadChunk {
                    id: Some(id),
                    message,
                }) => self.refuse_chunk(id, message).await,
                // Shorter than an id: it names no transfer to cancel.
                Err(BadChunk { id: None, .. }) => {}
            },
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

    /// Ends every running transfer as [`TransferError::ConnectionLost`], keeping partial files.
    pub fn connection_lost(&self) {
        lock(&self.inner.sends).clear();
        lock(&self.inner.recvs).clear();
    }

    fn start_send(&self, meta: FileMeta, source: Source) -> SendHandle {
        let id = meta.id;
        let progress = Arc::new(ProgressCounter::new(meta.size));
        let (signal_tx, signal_rx) = watch::channel(SendSignal::default());
        lock(&self.inner.sends).insert(
            id,
            SendEntry {
                signal: signal_tx,
                progress: progress.clone(),
            },
        );
        let cancel = Arc::new(CancelFlag::default());
        let task = SendTask {
            meta,
            source: Some(source),
            writer: self.inner.writer.clone(),
            signal: signal_rx,
            progress: progress.clone(),
            cancel: cancel.clone(),
            budget: self.inner.send_budget.clone(),
        };
        let weak = Arc::downgrade(&self.inner);
        let join = tokio::spawn(async move {
            let result = task.run().await;
            if let Some(inner) = weak.upgrade() {
                lock(&inner.sends).remove(&id);
                lock(&inner.used).insert(id);
            }
            result
        });
        SendHandle::new(id, progress, cancel, join)
    }

    async fn handle_control(&self, control: Control) {
        match control {
            Control::Offer {
                id,
                name,
                size,
                media_type,
                sha256,
            } => self.handle_offer(id, name, size, media_type, &sha256).await,
            Control::Cancel {
                id,
                reason,
                message,
            } => {
                let entry = self.take_recv(id, None);
                if let Some(entry) = entry {
                    lock(&self.inner.used).insert(id);
                    let error = TransferError::Cancelled {
                        by: Side::Remote,
                        reason,
                        message,
                    };
                    let _ = entry.tx.send(RecvInput::Stop(error)).await;
                } else {
                    self.signal(id, |s| s.end_with(SendEnd::Cancelled(reason, message)));
                }
            }
            // Answers to a sender. Sent to the receiving end of a transfer they make no sense.
            answer => {
                let id = answer.id();
                if lock(&self.inner.recvs).contains_key(&id) {
                    let message = format!(
                        "{} is an answer to a sender; this end receives {id}",
                        kind_name(&answer)
                    );
                    self.stop_running(id, Reason::Protocol, message).await;
                } else {
                    self.signal(id, |s| s.apply(answer));
                }
            }
        }
    }

    fn signal(&self, id: TransferId, update: impl FnOnce(&mut SendSignal)) {
        if let Some(entry) = lock(&self.inner.sends).get(&id) {
            entry.signal.send_modify(update);
        }
    }

    /// Ends a transfer this end runs with `cancel{reason}`; `false` when none runs with `id`.
    async fn stop_running(&self, id: TransferId, reason: Reason, message: String) -> bool {
        if let Some(entry) = self.take_recv(id, None) {
            self.cancel_recv(id, entry, reason, message).await;
            return true;
        }
        let sending = lock(&self.inner.sends).contains_key(&id);
        // The sending task sends the cancel and ends.
        self.signal(id, |s| s.violate(reason, message));
        sending
    }

    /// Tells the sender a transfer this end received is over, and stops its task.
    async fn cancel_recv(&self, id: TransferId, entry: RecvEntry, reason: Reason, message: String) {
        lock(&self.inner.used).insert(id);
        let cancel = Control::Cancel {
            id,
            reason,
            message: message.clone(),
        };
        let _ = self.inner.writer.write_string(cancel.to_text()).await;
        let error = TransferError::Cancelled {
            by: Side::Local,
            reason,
            message,
        };
        let _ = entry.tx.send(RecvInput::Stop(error)).await;
    }

    /// Removes a receiving entry (only the one numbered `serial`, when given); ids that got
    /// an `accept` are used up on this connection from then on.
    fn take_recv(&self, id: TransferId, serial: Option<u64>) -> Option<RecvEntry> {
        let mut recvs = lock(&self.inner.recvs);
        if serial.is_some_and(|serial| recvs.get(&id).is_some_and(|e| e.serial != serial)) {
            return None;
        }
        let entry = recvs.remove(&id)?;
        if entry.expected.is_some() {
            lock(&self.inner.used).insert(id);
        }
        Some(entry)
    }

    /// A chunk that broke §3 and names `id`: the transfer it names ends with
    /// `cancel{bad_chunk}`; one that already ended is not answered again (its chunks may
    /// still be in flight); one never seen here gets the cancel once.
    async fn refuse_chunk(&self, id: TransferId, message: String) {
        if self
            .stop_running(id, Reason::BadChunk, message.clone())
            .await
        {
            return;
        }
        if !lock(&self.inner.used).insert(id) {
            return;
        }
        let cancel = Control::Cancel {
            id,
            reason: Reason::BadChunk,
            message,
        };
        let _ = self.inner.writer.write_string(cancel.to_text()).await;
    }

    async fn handle_offer(
        &self,
        id: TransferId,
        offered_name: String,
        size: u64,
        media_type: String,
        sha256: &str,
    ) {
        let options = &self.inner.options;
        let checked = check_offer(size, sha256, options.max_file_size).and_then(|digest| {
            let name =
                sanitize_name(&offered_name).map_err(|why| (Reason::BadName, why.to_owned()))?;
            Ok((digest, name))
        });
        let (digest, name) = match checked {
            Ok(checked) => checked,
            Err((reason, message)) => return self.reject(id, reason, message).await,
        };
        let (tx, rx) = mpsc::channel(RECV_QUEUE);
        let confirmed = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(ProgressCounter::new(size));
        // The id is claimed before the policy runs, so the policy sees each offer that will
        // get a task, exactly once, and chunks sent too early meet an entry (§3).
        let serial = self.inner.next_serial.fetch_add(1, Ordering::Relaxed);
        let entry = RecvEntry {
            serial,
            tx,
            expected: None,
            confirmed: confirmed.clone(),
            size,
            window: options.window,
            max_chunk: options.max_chunk,
            progress: progress.clone(),
        };
        if let Err((reason, message)) = self.claim(id, entry) {
            return self.reject(id, reason, message).await;
        }
        let offer = Offer {
            id,
            offered_name,
            name,
            size,
            media_type,
            sha256: digest,
        };
        let dir = match (options.policy)(&offer) {
            Decision::Accept => options.dest_dir.clone(),
            Decision::AcceptInto(dir) => dir,
            Decision::Reject(message) => {
                self.take_recv(id, Some(serial));
                return self.reject(id, Reason::Policy, message).await;
            }
        };
        let task = RecvTask {
            id,
            name: offer.name.clone(),
            size,
            media_type: offer.media_type,
            sha256: digest,
            dir,
            window: options.window,
            max_chunk: options.max_chunk,
            writer: self.inner.writer.clone(),
            rx,
            confirmed,
            progress,
        };
        let weak = Arc::downgrade(&self.inner);
        let name = offer.name;
        tokio::spawn(async move {
            let set_weak = weak.clone();
            let set_expected = move |offset| {
                if let Some(inner) = set_weak.upgrade() {
                    if let Some(entry) = lock(&inner.recvs).get_mut(&id) {
                        if entry.serial == serial {
                            entry.expected = Some(offset);
                        }
                    }
                }
            };
            let result = task.run(set_expected).await;
            let Some(inner) = weak.upgrade() else { return };
            let files = Transfers { inner };
            files.take_recv(id, Some(serial));
            let event = match result {
                Ok(received) => Incoming::Received(received),
                Err(error) => Incoming::Failed { id, name, error },
            };
            let _ = files.inner.incoming_tx.try_send(event);
        });
    }

    /// Enters an offered transfer, unless its id is taken (running here either way, or
    /// used up on this connection, §4.2) or too many run.
    fn claim(&self, id: TransferId, entry: RecvEntry) -> Result<(), (Reason, String)> {
        let mut recvs = lock(&self.inner.recvs);
        if recvs.contains_key(&id) || lock(&self.inner.sends).contains_key(&id) {
            return Err((
                Reason::DuplicateId,
                "the id is in use on this connection".to_owned(),
            ));
        }
        if lock(&self.inner.used).contains(id) {
            return Err((
                Reason::DuplicateId,
                "a transfer with this id already ended on this connection; offer under a new id"
                    .to_owned(),
            ));
        }
        let max = self.inner.options.max_concurrent;
        if recvs.len() >= max {
            return Err((
                Reason::Busy,
                format!("{} transfers are running already", recvs.len()),
            ));
        }
        recvs.insert(id, entry);
        Ok(())
    }

    async fn handle_chunk(&self, chunk: Chunk) {
        let len = chunk.data.len() as u64;
        let verdict = {
            let mut recvs = lock(&self.inner.recvs);
            match recvs.get_mut(&chunk.id) {
                None => None,
                Some(entry) => {
                    let confirmed = entry.confirmed.load(Ordering::Relaxed);
                    match check_chunk(entry, chunk.offset, len, confirmed) {
                        Ok(()) => {
                            entry.expected = Some(chunk.offset + len);
                            Some(Ok(entry.tx.clone()))
                        }
                        Err(message) => Some(Err(message)),
                    }
                }
            }
        };
        match verdict {
            Some(Ok(tx)) => {
                let _ = tx.send(RecvInput::Data(chunk.data)).await;
            }
            Some(Err(message)) => self.refuse_chunk(chunk.id, message).await,
            None => {
                let message = format!("no transfer {} is being received here", chunk.id);
                self.refuse_chunk(chunk.id, message).await;
            }
        }
    }

    async fn reject(&self, id: TransferId, reason: Reason, message: String) {
        let reject = Control::Reject {
            id,
            reason,
            message,
        };
        let _ = self.inner.writer.write_string(reject.to_text()).await;
    }
}

/// The §3 rules for a chunk of a known transfer.
fn check_chunk(entry: &RecvEntry, offset: u64, len: u64, confirmed: u64) -> Result<(), String> {
    let Some(expected) = entry.expected else {
        return Err("chunk before accept".into());
    };
    if offset != expected {
        return Err(format!("chunk at offset {offset}, expected {expected}"));
    }
    if len > entry.max_chunk {
        return Err(format!(
            "chunk of {len} bytes, max_chunk is {}",
            entry.max_chunk
        ));
    }
    let end = offset.saturating_add(len);
    if end > entry.size {
        return Err(format!("chunk ends at {end}, past the size {}", entry.size));
    }
    if end.saturating_sub(confirmed) > entry.window {
        return Err(format!(
            "chunk ends at {end}, past the window of {} beyond {confirmed}",
            entry.window
        ));
    }
    Ok(())
}

/// The `ft` of an answer, for messages.
fn kind_name(control: &Control) -> &'static str {
    match control {
        Control::Offer { .. } => "offer",
        Control::Accept { .. } => "accept",
        Control::Reject { .. } => "reject",
        Control::Ack { .. } => "ack",
        Control::Done { .. } => "done",
        Control::Cancel { .. } => "cancel",
    }
}

/// Locks a map no code panics while holding, so poisoning cannot happen.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
