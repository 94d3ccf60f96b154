//! The write queue a connection's writers share: encoded frames waiting for the write task.
//!
//! Writers encode outside the lock and push whole messages (all fragments at once) under it,
//! so messages from different tasks never interleave. One write task per connection drains
//! everything queued in one go, which batches many messages into one syscall.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::Waker;

use bytes::Bytes;
use mywebsocket_proto::deflate::Deflater;
use mywebsocket_proto::{Control, Fragments, Frame, FrameHeader, OpCode, Role};

use super::direct::{Direct, IoSlot};
use super::options::WriteOptions;
use tokio::sync::Notify;

use crate::error::Error;
use crate::info::ConnectionInfo;
use crate::tracker::ConnectionGuard;

pub(crate) use super::failure::Failure;

#[derive(Debug)]
pub(crate) struct Queue {
    /// The protocol's decisions: which replies are owed, where the closing handshake is.
    /// Kept under this lock because writers on any task may start the close, and the replies
    /// it owes must take their place in `frames` in the order they were decided.
    pub(crate) control: Control,
    /// The write budget, in [`cost`] units: a pong waits for room beyond it.
    pub(crate) budget: usize,
    pub(crate) frames: VecDeque<Frame>,
    /// What is queued or being written, charged as [`cost`] says (wire bytes plus the
    /// bookkeeping of each frame).
    pub(crate) bytes: usize,
    /// Frames ever queued and ever written, for `flush`.
    pub(crate) enqueued: u64,
    pub(crate) written: u64,
    /// The close frame's place in `enqueued`: it is on the socket once `written` reaches it.
    pub(crate) close_seq: Option<u64>,
    /// The reader, waiting to learn that our close frame went out, so it can give the peer's
    /// answer [`Config::close_timeout`](crate::Config::close_timeout) and no longer.
    pub(crate) close_watcher: Option<Waker>,
    /// The write task should write what is queued, shut the socket down and stop.
    pub(crate) shutdown: bool,
    /// The write task should stop now, dropping what is queued and any write in progress
    /// (a graceful shutdown's deadline passed with the peer not reading).
    pub(crate) aborted: bool,
    /// The write task stopped because the socket failed.
    pub(crate) failure: Option<Failure>,
    /// The write task has stopped.
    pub(crate) finished: bool,
    /// Live reader and writer handles; the write task stops when none is left.
    pub(crate) handles: usize,
    /// Where in `frames` a pong waits that the write task has not taken yet: a newer ping's
    /// answer may replace it when the budget is full (RFC 6455 §5.5.3).
    pub(crate) unsent_pong: Option<usize>,
    /// The socket is being written: by the write task (a batch) or by a writer (a direct
    /// write, `direct.rs`). Whoever sets it has the socket to itself.
    pub(crate) writing: bool,
    /// The rest of a frame a direct write left half-written: it goes before `frames`.
    pub(crate) prefix: VecDeque<Bytes>,
    /// What that frame is charged in `bytes`.
    pub(crate) prefix_cost: usize,
    /// Frames written directly into a stream that still has to flush them (TLS): the write
    /// task flushes, then counts them written.
    pub(crate) unflushed: u64,
}

impl Queue {
    fn new(role: Role, budget: usize) -> Self {
        Self {
            control: Control::new(role),
            budget,
            frames: VecDeque::new(),
            bytes: 0,
            enqueued: 0,
            written: 0,
            close_seq: None,
            close_watcher: None,
            shutdown: false,
            aborted: false,
            failure: None,
            finished: false,
            handles: 2,
            unsent_pong: None,
            writing: false,
            prefix: VecDeque::new(),
            prefix_cost: 0,
            unflushed: 0,
        }
    }

    pub(crate) fn push(&mut self, frame: Frame) {
        self.bytes += cost(&frame);
        self.enqueued += 1;
        self.frames.push_back(frame);
    }

    /// Whether frames wait for the write task.
    pub(crate) fn has_frames(&self) -> bool {
        !self.frames.is_empty()
    }

    /// Hands everything queued to the write task (swapped with its empty `batch`).
    pub(crate) fn take_frames(&mut self, batch: &mut VecDeque<Frame>) {
        std::mem::swap(&mut self.frames, batch);
        self.unsent_pong = None;
        // A pong that waited for room may now follow.
        self.queue_replies();
    }

    /// Drops everything queued and not yet taken; returns its [`cost`].
    pub(crate) fn drop_frames(&mut self) -> usize {
        self.unsent_pong = None;
        let dropped: usize = self.frames.drain(..).map(|f| cost(&f)).sum::<usize>()
            + std::mem::take(&mut self.prefix_cost);
        self.prefix.clear();
        self.unflushed = 0;
        self.bytes -= dropped;
        dropped
    }

    /// Whether the close frame, if one was queued, has been written.
    pub(crate) fn close_written(&self) -> bool {
        self.close_seq.is_some_and(|seq| self.written >= seq)
    }

    /// Counts `frames` more as written; gives back the reader's waker when that put our close
    /// frame on the socket.
    pub(crate) fn mark_written(&mut self, frames: u64) -> Option<Waker> {
        self.written += frames;
        if self.close_written() {
            self.close_watcher.take()
        } else {
            None
        }
    }

    /// Whether data may still be queued; the error says why not.
    pub(crate) fn check_writable(&self) -> Result<(), Error> {
        if let Some(failure) = &self.failure {
            return Err(failure.to_error());
        }
        if !self.control.state().can_send() || self.shutdown || self.finished {
            return Err(Error::AlreadyClosed);
        }
        Ok(())
    }
}

/// State shared by a connection's reader, its writer handles and its write task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) role: Role,
    pub(crate) write_buffer_size: usize,
    pub(crate) fragment_size: usize,
    queue: Mutex<Queue>,
    /// Present when permessage-deflate was negotiated. Locked before `queue` when both are
    /// held: a message is compressed and queued under this lock, so the peer receives
    /// messages in the order their compression context saw them.
    deflater: Option<Mutex<Deflater>>,
    /// Wakes the write task.
    pub(crate) work: Notify,
    /// Wakes writers waiting for queue space or for a flush.
    pub(crate) progress: Notify,
    /// A server connection's place in its upgrader's registry and connection limit, released
    /// with the last handle.
    guard: OnceLock<ConnectionGuard>,
    /// What the stream told when the connection was made.
    pub(crate) info: ConnectionInfo,
    /// The socket's write half, between batches of the write task (which puts it here when it
    /// starts, and takes it for each batch). Whoever holds the queue's `writing` token may use
    /// it; the lock itself is never contended.
    pub(crate) io: IoSlot,
    /// The reader handed out a message with more bytes already buffered behind it: more
    /// messages of the same burst are coming, so their answers should go out as one batch
    /// from the write task rather than one direct write each.
    pub(crate) more_input: std::sync::atomic::AtomicBool,
    /// The task that last read this connection (`direct::task_key`; 0, no task's key, before
    /// the first read): only that task writes directly, see `direct.rs`.
    pub(crate) reader_task: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        role: Role,
        write_buffer_size: usize,
        fragment_size: usize,
        deflater: Option<Deflater>,
    ) -> Self {
        Self {
            role,
            write_buffer_size,
            fragment_size,
            deflater: deflater.map(Mutex::new),
            queue: Mutex::new(Queue::new(role, write_buffer_size)),
            work: Notify::new(),
            progress: Notify::new(),
            guard: OnceLock::new(),
            info: ConnectionInfo::default(),
            io: IoSlot::default(),
            more_input: std::sync::atomic::AtomicBool::new(false),
            reader_task: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Sets what the stream told when the connection was made.
    pub(crate) fn with_info(mut self, info: ConnectionInfo) -> Self {
        self.info = info;
        self
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves the queue consistent (every update is a
        // single push or field store), so a poisoned lock is still usable.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fresh masking key for a client frame, `None` for a server frame.
    ///
    /// RFC 6455 §5.3 requires keys a page's script cannot predict (a predictable key lets it
    /// shape the bytes on the wire to poison proxies). `rand::random` draws from `ThreadRng`, a
    /// ChaCha12 CSPRNG seeded, and periodically reseeded, from the operating system.
    pub(crate) fn mask(&self) -> Option<[u8; 4]> {
        mask(self.role)
    }

    /// Encodes a data message into frames of at most `fragment_size` payload bytes, masked for
    /// a client, with RSV1 on the first frame when `compressed`.
    pub(crate) fn encode(
        &self,
        opcode: OpCode,
        payload: Bytes,
        fragment_size: usize,
        compressed: bool,
    ) -> EncodedMessage {
        if payload.len() <= fragment_size {
            let mut header = FrameHeader::new(opcode, payload.len() as u64);
            header.mask = self.mask();
            header.rsv1 = compressed;
            return EncodedMessage::One(Frame::new(header, payload));
        }
        let frames = Fragments::new(opcode, payload, fragment_size, compressed, || self.mask());
        EncodedMessage::Many(frames.collect())
    }

    /// Whether a message of `len` bytes goes out compressed.
    pub(crate) fn should_compress(&self, len: usize, opts: &WriteOptions) -> bool {
        match (&self.deflater, opts.compress) {
            (None, _) | (_, Some(false)) => false,
            (Some(_), Some(true)) => true,
            (Some(deflater), None) => lock(deflater).should_compress(len),
        }
    }

    /// Compresses a message and queues it, ignoring the queue limit (the caller waited for
    /// room first).
    pub(crate) fn push_compressed(
        &self,
        opcode: OpCode,
        payload: &[u8],
        fragment_size: usize,
    ) -> Result<(), Error> {
        let deflater = self.deflater.as_ref().ok_or(Error::AlreadyClosed)?;
        let mut deflater = lock(deflater);
        // Refuse before compressing: a message compressed but not sent would leave the peer's
        // context behind ours.
        self.lock().check_writable()?;
        let compressed = deflater.compress(payload);
        let mut encoded = self.encode(opcode, compressed, fragment_size, true);
        self.push_data(&mut encoded, true).map(drop)
    }

    /// Queues already-encoded data frames of one message, if there is room (or regardless,
    /// with `over_limit`).
    ///
    /// Returns `Ok(false)` when the queue is over its limit: the caller waits for progress.
    pub(crate) fn push_data(
        &self,
        frames: &mut EncodedMessage,
        over_limit: bool,
    ) -> Result<bool, Error> {
        let mut q = self.lock();
        q.check_writable()?;
        if q.bytes >= self.write_buffer_size && !over_limit {
            return Ok(false);
        }
        match std::mem::take(frames) {
            EncodedMessage::Empty => {}
            EncodedMessage::One(frame) => match self.try_write_direct(q, frame) {
                Direct::Done(result) => return result.map(|()| true),
                Direct::Queue(mut locked, frame) => {
                    locked.push(frame);
                    q = locked;
                }
            },
            EncodedMessage::Many(list) => list.into_iter().for_each(|f| q.push(f)),
        }
        drop(q);
        self.work.notify_one();
        Ok(true)
    }

    /// Whether our close frame is on the socket. If not, `waker` is woken when it is, or
    /// when the write side finishes without writing it.
    ///
    /// # Errors
    /// The write side finished (it failed, or timed out) with our close frame queued but
    /// unwritten: it never will be, so the peer's time to answer never starts.
    pub(crate) fn close_written_or_watch(&self, waker: &Waker) -> Result<bool, Error> {
        let mut q = self.lock();
        if q.close_written() {
            return Ok(true);
        }
        if q.finished && q.close_seq.is_some() {
            return Err(q
                .failure
                .as_ref()
                .map_or(Error::AlreadyClosed, Failure::to_error));
        }
        if !q.close_watcher.as_ref().is_some_and(|w| w.will_wake(waker)) {
            q.close_watcher = Some(waker.clone());
        }
        Ok(false)
    }

    /// A reader or writer handle went away.
    pub(crate) fn release_handle(&self) {
        let mut q = self.lock();
        q.handles -= 1;
        if q.handles == 0 {
            q.shutdown = true;
        }
        drop(q);
        self.work.notify_one();
    }

    /// Keeps `guard` for as long as the connection exists.
    pub(crate) fn hold(&self, guard: ConnectionGuard) {
        // Set once, right after the connection is made; a second guard would be a bug, and
        // dropping it just releases its slot.
        let _ = self.guard.set(guard);
    }

    /// Whether the write task has stopped (the socket is shut down or failed).
    pub(crate) fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// Waits until the write task has stopped.
    pub(crate) async fn finished(&self) {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_finished() {
                return;
            }
            notified.await;
        }
    }

    /// Ends the connection now: what is queued is dropped, a write blocked on a peer that
    /// does not read is given up, and the socket is shut down.
    pub(crate) fn abort(&self) {
        let mut q = self.lock();
        q.aborted = true;
        q.shutdown = true;
        drop(q);
        self.work.notify_waiters();
        self.work.notify_one();
    }

    /// Waits until the queue has room for more data.
    pub(crate) async fn wait_for_space(&self) -> Result<(), Error> {
        self.wait_until(|q| q.bytes < self.write_buffer_size).await
    }

    /// Waits until `ready` holds for the queue, woken by the write task's progress.
    ///
    /// # Errors
    /// As [`Queue::check_writable`], checked first on every wake-up.
    pub(crate) async fn wait_until(&self, ready: impl Fn(&Queue) -> bool) -> Result<(), Error> {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let q = self.lock();
                q.check_writable()?;
                if ready(&q) {
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Waits until every frame queued before this call has been written to the socket.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let target = self.lock().enqueued;
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let q = self.lock();
                if q.written >= target {
                    return Ok(());
                }
                if let Some(failure) = &q.failure {
                    return Err(failure.to_error());
                }
                if q.finished {
                    return Err(Error::AlreadyClosed);
                }
            }
            notified.await;
        }
    }
}

/// The frames of one message, encoded before the queue is locked. One frame, the common case,
/// needs no allocation beyond the frame itself.
#[derive(Debug, Default)]
pub(crate) enum EncodedMessage {
    #[default]
    Empty,
    One(Frame),
    Many(Vec<Frame>),
}

/// What a queued frame is charged against the write budget: its bytes on the wire, plus what
/// holding it costs beyond them (its place in the queue, the payload's own allocation), so
/// that many tiny frames cannot hold several times the budget in memory.
pub(crate) fn cost(frame: &Frame) -> usize {
    frame.wire_len() + PER_FRAME_OVERHEAD
}

/// The memory a queued frame holds beyond its wire bytes, roughly: the `Frame` in the queue
/// (56 bytes) and the allocator's header and rounding of its payload.
pub(crate) const PER_FRAME_OVERHEAD: usize = 96;

/// A fresh masking key for a frame sent by `role` (see [`Shared::mask`]).
pub(crate) fn mask(role: Role) -> Option<[u8; 4]> {
    role.masks_outgoing().then(rand::random::<[u8; 4]>)
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every update is a
/// single push or field store, or a whole compression), so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
