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
use mywebsocket_proto::{CloseFrame, Fragments, Frame, FrameHeader, OpCode, Role};

use super::options::WriteOptions;
use tokio::sync::Notify;

use crate::error::Error;
use crate::info::ConnectionInfo;
use crate::tracker::ConnectionGuard;

pub(crate) use super::failure::Failure;

#[derive(Debug, Default)]
pub(crate) struct Queue {
    frames: VecDeque<Frame>,
    /// What is queued or being written, charged as [`cost`] says (wire bytes plus the
    /// bookkeeping of each frame).
    pub(crate) bytes: usize,
    /// Frames ever queued and ever written, for `flush`.
    pub(crate) enqueued: u64,
    pub(crate) written: u64,
    /// A close frame has been queued: no more data frames may follow (RFC 6455 §5.5.1).
    pub(crate) close_queued: bool,
    /// The close frame's place in `enqueued`: it is on the socket once `written` reaches it.
    close_seq: Option<u64>,
    /// The reader, waiting to learn that our close frame went out, so it can give the peer's
    /// answer [`Config::close_timeout`](crate::Config::close_timeout) and no longer.
    close_watcher: Option<Waker>,
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
    unsent_pong: Option<usize>,
}

impl Queue {
    fn push(&mut self, frame: Frame) {
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
    }

    /// Drops everything queued and not yet taken; returns its [`cost`].
    pub(crate) fn drop_frames(&mut self) -> usize {
        self.unsent_pong = None;
        let dropped: usize = self.frames.drain(..).map(|f| cost(&f)).sum();
        self.bytes -= dropped;
        dropped
    }

    /// Whether the close frame, if one was queued, has been written.
    fn close_written(&self) -> bool {
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
        if self.close_queued || self.shutdown || self.finished {
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
            queue: Mutex::new(Queue {
                handles: 2,
                ..Queue::default()
            }),
            work: Notify::new(),
            progress: Notify::new(),
            guard: OnceLock::new(),
            info: ConnectionInfo::default(),
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
        self.role.masks_outgoing().then(rand::random::<[u8; 4]>)
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
            EncodedMessage::One(frame) => q.push(frame),
            EncodedMessage::Many(list) => list.into_iter().for_each(|f| q.push(f)),
        }
        drop(q);
        self.work.notify_one();
        Ok(true)
    }

    /// Queues the answer to a ping, within the write budget: a peer that pings and never reads
    /// must not make us queue without end (RFC 6455 §5.5.3 lets us answer only the most recent
    /// of several pings).
    ///
    /// The pong goes behind what is queued (pongs keep their order, and with room in the
    /// budget every ping is answered: Autobahn 2.10 checks both), even past the budget when no
    /// other pong is waiting, so a full queue of application data never delays a keepalive.
    /// When the budget is full and a pong is already waiting, the new one takes its place
    /// ([`PongOutcome::Replaced`]): the peer pings faster than it reads, and the reader should
    /// stop reading until [`Shared::wait_pong_taken`]. So at most one pong is ever queued
    /// beyond the budget. Once a close is queued no pong follows it ([`PongOutcome::Dropped`]).
    ///
    /// # Errors
    /// The write side failed or timed out: the peer can no longer be answered.
    pub(crate) fn push_pong(&self, frame: Frame) -> Result<PongOutcome, Error> {
        let mut q = self.lock();
        if let Err(e) = q.check_writable() {
            return match e {
                Error::AlreadyClosed => Ok(PongOutcome::Dropped),
                e => Err(e),
            };
        }
        let waiting = q.unsent_pong.filter(|&i| i < q.frames.len());
        match waiting {
            Some(i) if q.bytes + cost(&frame) > self.write_buffer_size => {
                let replaced = std::mem::replace(&mut q.frames[i], frame);
                let added = cost(&q.frames[i]);
                q.bytes = q.bytes - cost(&replaced) + added;
                Ok(PongOutcome::Replaced)
            }
            _ => {
                q.unsent_pong = Some(q.frames.len());
                q.push(frame);
                drop(q);
                self.work.notify_one();
                Ok(PongOutcome::Queued)
            }
        }
    }

    /// A pong answering a ping with `payload`. The decoder gives control payloads an
    /// allocation of their own, so the pong does not keep the read buffer alive.
    pub(crate) fn pong_frame(&self, payload: Bytes) -> Frame {
        Frame::single(OpCode::Pong, payload, self.mask())
    }

    /// Waits until the write task has taken the pong waiting in the queue (or the connection
    /// can no longer write).
    ///
    /// # Errors
    /// The write side failed or timed out; [`Error::AlreadyClosed`] once a close is queued.
    pub(crate) async fn wait_pong_taken(&self) -> Result<(), Error> {
        self.wait_until(|q| q.unsent_pong.is_none()).await
    }

    /// Queues a ping behind what is already queued.
    pub(crate) fn push_ping(&self, payload: bytes::Bytes) -> Result<(), Error> {
        let frame = Frame::single(OpCode::Ping, payload, self.mask());
        let mut q = self.lock();
        q.check_writable()?;
        q.push(frame);
        drop(q);
        self.work.notify_one();
        Ok(())
    }

    /// Queues a close frame behind what is already queued, unless one already is. With `fail`,
    /// the connection is failing and the socket is shut down once the close is written. Data
    /// accepted before the failure is still sent: the peer gets every answer it was owed
    /// (Autobahn's "strict" behaviour in sections 3-5). Returns whether this call queued the
    /// close.
    pub(crate) fn push_close(&self, frame: Option<&CloseFrame>, fail: bool) -> bool {
        let payload = frame.map(CloseFrame::encode).unwrap_or_default();
        let frame = Frame::single(OpCode::Close, payload, self.mask());
        let mut q = self.lock();
        if q.close_queued || q.finished {
            if fail {
                q.shutdown = true;
                drop(q);
                self.work.notify_one();
            }
            return false;
        }
        q.close_queued = true;
        if fail {
            q.shutdown = true;
        }
        q.push(frame);
        q.close_seq = Some(q.enqueued);
        drop(q);
        self.work.notify_one();
        self.progress.notify_waiters();
        true
    }

    /// Whether our close frame is on the socket. If not, `waker` is woken once it is: a close
    /// started by a writer handle (`Writer::close`, a `Message::Close`, the `Sink`'s close)
    /// reaches the reader that way, and the peer's answer gets the close timeout from the
    /// moment it could first be sent (not from when it was queued behind data the peer is
    /// still reading).
    pub(crate) fn close_written_or_watch(&self, waker: &Waker) -> bool {
        let mut q = self.lock();
        if q.close_written() {
            return true;
        }
        if !q.close_watcher.as_ref().is_some_and(|w| w.will_wake(waker)) {
            q.close_watcher = Some(waker.clone());
        }
        false
    }

    /// Asks the write task to write what is queued, then shut the socket down.
    pub(crate) fn request_shutdown(&self) {
        self.lock().shutdown = true;
        self.work.notify_one();
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
    async fn wait_until(&self, ready: impl Fn(&Queue) -> bool) -> Result<(), Error> {
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

/// What became of a pong offered to [`Shared::push_pong`].
#[derive(Debug)]
pub(crate) enum PongOutcome {
    /// Queued behind what was queued.
    Queued,
    /// The budget is full: put in the place of an older pong not yet written. The reader
    /// should stop reading until that one is taken.
    Replaced,
    /// A close frame is queued: nothing may follow it.
    Dropped,
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
const PER_FRAME_OVERHEAD: usize = 96;

/// Locks a mutex whose data stays consistent even if a holder panicked (every update is a
/// single push or field store, or a whole compression), so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pong(shared: &Shared, byte: u8) -> Frame {
        shared.pong_frame(Bytes::from(vec![byte; 100]))
    }

    fn payloads(q: &Queue) -> Vec<u8> {
        q.frames.iter().map(|f| f.payload()[0]).collect()
    }

    /// Every ping is answered while there is room; past the budget one pong may wait, and
    /// newer pings replace it (RFC 6455 §5.5.3) until the write task takes it.
    #[test]
    fn pongs_stay_within_the_budget_plus_one() {
        let one = cost(&pong(&Shared::new(Role::Server, 0, 0, None), 0));
        let shared = Shared::new(Role::Server, 3 * one, 1 << 20, None);
        for i in 0..3 {
            assert!(matches!(
                shared.push_pong(pong(&shared, i)),
                Ok(PongOutcome::Queued)
            ));
        }
        // Full, and the last pong still waits: the newest answer takes its place.
        for i in 3..10 {
            assert!(matches!(
                shared.push_pong(pong(&shared, i)),
                Ok(PongOutcome::Replaced)
            ));
        }
        assert_eq!(
            shared.lock().bytes,
            3 * one,
            "replacing does not grow the queue"
        );
        assert_eq!(payloads(&shared.lock()), [0, 1, 9]);
        // The write task takes them; while it writes they still count, so the budget is full,
        // but no pong waits: the next goes past the budget (a full queue never delays a
        // keepalive), and the one after replaces it.
        let mut batch = VecDeque::new();
        shared.lock().take_frames(&mut batch);
        assert!(matches!(
            shared.push_pong(pong(&shared, 10)),
            Ok(PongOutcome::Queued)
        ));
        assert!(matches!(
            shared.push_pong(pong(&shared, 11)),
            Ok(PongOutcome::Replaced)
        ));
        assert_eq!(payloads(&shared.lock()), [11]);
        assert_eq!(
            shared.lock().bytes,
            4 * one,
            "one pong past the budget at most"
        );
    }

    #[test]
    fn no_pong_follows_a_close() {
        let shared = Shared::new(Role::Server, 1 << 20, 1 << 20, None);
        assert!(shared.push_close(None, false));
        assert!(matches!(
            shared.push_pong(pong(&shared, 0)),
            Ok(PongOutcome::Dropped)
        ));
        assert_eq!(shared.lock().frames.len(), 1);
    }
}
