//! The write queue a connection's writers share: encoded frames waiting for the write task.
//!
//! Writers encode outside the lock and push whole messages (all fragments at once) under it,
//! so messages from different tasks never interleave. One write task per connection drains
//! everything queued in one go, which batches many messages into one syscall.

use std::collections::VecDeque;
use std::io;
use std::sync::{Mutex, MutexGuard};

use mywebsocket_proto::{CloseFrame, Frame, OpCode, Role};
use tokio::sync::Notify;

use crate::error::{Error, TimeoutKind};

/// Why the write task stopped early.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    Io(io::ErrorKind, String),
    Timeout,
}

impl Failure {
    pub(crate) fn to_error(&self) -> Error {
        match self {
            Self::Io(kind, msg) => Error::Io(io::Error::new(*kind, msg.clone())),
            Self::Timeout => Error::Timeout(TimeoutKind::Write),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(crate) frames: VecDeque<Frame>,
    /// Wire bytes queued or being written.
    pub(crate) bytes: usize,
    /// Frames ever queued and ever written, for `flush`.
    pub(crate) enqueued: u64,
    pub(crate) written: u64,
    /// A close frame has been queued: no more data frames may follow (RFC 6455 §5.5.1).
    pub(crate) close_queued: bool,
    /// The write task should write what is queued, shut the socket down and stop.
    pub(crate) shutdown: bool,
    /// The write task stopped because the socket failed.
    pub(crate) failure: Option<Failure>,
    /// The write task has stopped.
    pub(crate) finished: bool,
    /// Live reader and writer handles; the write task stops when none is left.
    pub(crate) handles: usize,
}

impl Queue {
    fn push(&mut self, frame: Frame) {
        self.bytes += frame.wire_len();
        self.enqueued += 1;
        self.frames.push_back(frame);
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
    /// Wakes the write task.
    pub(crate) work: Notify,
    /// Wakes writers waiting for queue space or for a flush.
    pub(crate) progress: Notify,
}

impl Shared {
    pub(crate) fn new(role: Role, write_buffer_size: usize, fragment_size: usize) -> Self {
        Self {
            role,
            write_buffer_size,
            fragment_size,
            queue: Mutex::new(Queue {
                handles: 2,
                ..Queue::default()
            }),
            work: Notify::new(),
            progress: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves the queue consistent (every update is a
        // single push or field store), so a poisoned lock is still usable.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A fresh masking key for a client frame, `None` for a server frame.
    pub(crate) fn mask(&self) -> Option<[u8; 4]> {
        self.role.masks_outgoing().then(rand::random::<[u8; 4]>)
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

    /// Queues a pong. Pongs keep their order (Autobahn 2.10 checks it), so they go behind
    /// what is queued rather than ahead of it.
    pub(crate) fn push_pong(&self, payload: bytes::Bytes) {
        let frame = Frame::single(OpCode::Pong, payload, self.mask());
        let mut q = self.lock();
        if q.check_writable().is_ok() {
            q.push(frame);
            drop(q);
            self.work.notify_one();
        }
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
        drop(q);
        self.work.notify_one();
        self.progress.notify_waiters();
        true
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

    /// Waits until the queue has room for more data.
    pub(crate) async fn wait_for_space(&self) -> Result<(), Error> {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let q = self.lock();
                q.check_writable()?;
                if q.bytes < self.write_buffer_size {
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
